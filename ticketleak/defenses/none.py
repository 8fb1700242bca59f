"""No defense: the undefended baseline (plain cross-entropy training)."""

WHEN = "train"
