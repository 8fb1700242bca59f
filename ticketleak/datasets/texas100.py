"""Texas-100 (Shokri et al. 2017): 67,330 hospital discharge records of 6,169 binary features, in
100 classes of main procedure; read from ``<data.root>/texas100/`` (or ``data.path``, a folder):
the published ``texas/100/feats`` and ``texas/100/labels`` (or the two files at the top), or
``texas100.npz``."""

from __future__ import annotations

from ticketleak.datasets._tabular import Published

NUM_CLASSES = 100
TABULAR = True
DATA = Published(
    "texas100", 6169, NUM_CLASSES,
    (("feats_labels", ("texas/100/feats", "texas/100/labels")), ("feats_labels", ("feats", "labels")),
     ("npz", ("texas100.npz",))),
    "unpack dataset_texas.tgz (privacytrustlab's datasets repository on GitHub) there",
)
load, check = DATA.load, DATA.check
