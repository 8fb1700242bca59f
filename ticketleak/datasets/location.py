"""Location (Shokri et al. 2017, from Foursquare check-ins in Bangkok): 5,010 users' records of 446
binary features (visited a region or kind of place), in 30 classes of geosocial type; read from
``<data.root>/location/`` (or ``data.path``, a folder): the published label-first text file
``bangkok`` or ``data_complete.npz`` (``x`` and ``y``)."""

from __future__ import annotations

from ticketleak.datasets._tabular import Published

NUM_CLASSES = 30
TABULAR = True
DATA = Published(
    "location", 446, NUM_CLASSES,
    (("label_first", ("bangkok",)), ("npz", ("data_complete.npz",))),
    "unpack dataset_location.tgz (privacytrustlab's datasets repository on GitHub) there",
)
load, check = DATA.load, DATA.check
