"""Purchase-100 (Shokri et al. 2017): 197,324 shoppers' records of 600 binary features (bought a
product or not), in 100 classes of purchase style; read from ``<data.root>/purchase100/`` (or
``data.path``, a folder): the published ``dataset_purchase`` (label first) or ``purchase100.npz``."""

from __future__ import annotations

from ticketleak.datasets._tabular import Published

NUM_CLASSES = 100
TABULAR = True
DATA = Published(
    "purchase100", 600, NUM_CLASSES,
    (("label_first", ("dataset_purchase",)), ("npz", ("purchase100.npz",))),
    "unpack dataset_purchase.tgz (privacytrustlab's datasets repository on GitHub) there",
)
load, check = DATA.load, DATA.check
