"""PPB as seed 002 applies it: pair-based posterior balancing (``ppb.py``) only while a pruned
model is fine-tuned or retrained; the dense model trains undefended, exactly as under ``none``.

The kind ``ppb`` applies the same penalty to the dense training too (this project's earlier
reading, kept under its own name). Because stages are named by variant, the dense model of a
``ppb_finetune`` variant is trained again under that name: the same weights as the ``none``
variant's (same seed, same recipe, no penalty), at the cost of one more dense training per model.
"""

from __future__ import annotations

from ticketleak.defenses.ppb import Settings, hook

WHEN = "train"
PHASES = ("retrain",)  # applied while pruned models are retrained, not to the dense training

__all__ = ["PHASES", "Settings", "WHEN", "hook"]
