"""Defenses against membership inference (docs/algorithms.md section 4): one module per kind.

Training-time defenses (``WHEN = "train"``) change how target and shadows are trained (the
attacker adapts); release-time ones (``WHEN = "release"``) change only what a model releases.

| kind            | settings           | what changes                                                          |
|-----------------|--------------------|-----------------------------------------------------------------------|
| none            |                    | nothing                                                               |
| l2              | lam                | ``+ lam * sum w^2`` over Conv/Linear weights (seed 004)               |
| dropout         | rate               | hidden-layer dropout rate (seed 003)                                  |
| early_stop      | patience           | keep the best-validation epoch, stop after ``patience`` (seed 002)    |
| label_smoothing | epsilon            | CE against ``(1 - eps) * onehot + eps / C`` (Szegedy 2016)             |
| distill         | alpha, temperature | ``KL(t/T || s/T) T^2 alpha + CE (1 - alpha)`` vs the undefended teacher (seed 004) |
| advreg          | theta, steps       | ``CE - theta * BCE(h([p, y]), 1)`` vs an inference model h (Nasr 2018) |
| ppb             | lam                | ``+ lam * ppb_penalty(z)``, pair-based posterior balancing, dense training and retraining |
| ppb_finetune    | lam                | the same, only while pruned models are retrained: seed 002's PPB       |
| dpsgd           | clip, noise, delta | DP-SGD through Opacus (its own training loop)                         |
| topk            | k                  | release the k largest probabilities, renormalised (k = 1: the label) |
| round           | decimals           | release every probability rounded to ``decimals`` decimals           |

A kind is one module (the registry :data:`ticketleak.core.registry.DEFENSES` finds it), holding:

* ``WHEN`` (``"train"`` or ``"release"``) and ``Settings`` (a :class:`ticketleak.core.schema.Section`
  whose ``check`` validates the strength; none for ``none``);
* release-time: ``release(probs, settings) -> probs`` (numpy only: no torch import);
* training-time, each optional: ``hook(settings, data, recipe, gen, device)`` returning a
  :class:`ticketleak.training.Hook` (its loss, loss term and per-step action),
  ``patience(settings)`` (early stopping on ``data.val``), ``dropout(settings)`` (the model's
  dropout rate), ``NEEDS_TEACHER = True`` (``data.teacher``: the undefended model's logits),
  ``fit(model, data, recipe, settings, gen, device, **kw)`` to replace the training loop, and
  ``PHASES`` (default ``("dense", "retrain")``: where it applies; outside them the model trains
  as under ``none``).

So adding a kind is adding one file. Stages train through :func:`fit_defended` (in
``_train.py``, loaded with torch on first use) and release through :func:`release`, which
imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ticketleak.core.registry import DEFENSES
from ticketleak.tensors import softmax

if TYPE_CHECKING:
    from ticketleak.defenses._train import Data, fit_defended  # noqa: F401
    from ticketleak.core.params import Variant

__all__ = ["Data", "dropout_rate", "fit_defended", "needs_teacher", "release"]


def release(logits: np.ndarray, variant: Variant | None = None) -> np.ndarray:
    """The posteriors a model releases under release-time ``variant`` (None: all of them, the
    softmax; the string ``"none"`` is accepted for None)."""
    probs = softmax(logits)
    if variant is None or isinstance(variant, str) and variant == "none":
        return probs
    module = DEFENSES.get(variant.kind)
    if module.WHEN != "release":
        raise ValueError(f"defense '{variant.kind}' is not a release-time defense")
    return module.release(probs, variant.settings)


def needs_teacher(variant: Variant) -> bool:
    """Whether training under ``variant`` needs the undefended teacher's logits (``Data.teacher``)."""
    return bool(getattr(DEFENSES.get(variant.kind), "NEEDS_TEACHER", False))


def dropout_rate(variant: Variant, default: float) -> float:
    """The dropout rate of a model trained under ``variant`` (``default``: ``model.dropout``)."""
    rate = getattr(DEFENSES.get(variant.kind), "dropout", None)
    return default if rate is None else rate(variant.settings)


def __getattr__(name: str) -> Any:  # the trainer needs torch: loaded on first use
    if name in ("Data", "fit_defended"):
        from ticketleak.defenses import _train

        return getattr(_train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
