"""Shokri attack models: one module per scikit-learn classifier, each with ``make(hidden, max_iter, seed)``.

The registry (:data:`ticketleak.core.registry.CLASSIFIERS`) names them from their files; seed 003
compares all of them, seed 000 uses the MLP. scikit-learn is imported when a model is made.
"""

from ticketleak.core.registry import CLASSIFIERS


def make(name: str, hidden: list[int], max_iter: int, seed: int):
    """A fresh, seeded attack model ``name``."""
    return CLASSIFIERS.get(name).make(hidden, max_iter, seed)
