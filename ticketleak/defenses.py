"""Defenses against membership inference (ALGORITHMS.md section 4).

Training-time defenses change how target and shadows are trained (the attacker adapts):

| name            | settings                  | what changes                                                   |
|-----------------|---------------------------|----------------------------------------------------------------|
| none            |                           | nothing                                                        |
| l2              | lam                       | ``+ lam * sum w^2`` over Conv/Linear weights (seed 004)        |
| dropout         | rate                      | hidden-layer dropout rate (seed 003)                           |
| label_smoothing | epsilon                   | CE against ``(1 - eps) * onehot + eps / C`` (Szegedy 2016)     |
| ppb             | lam                       | ``+ lam * training.ppb_penalty(z)``, pair-based posterior balancing (seed 002) |
| distill         | alpha, temperature        | ``training.distillation_loss``: ``KL(t/T || s/T) T^2 alpha + CE (1 - alpha)`` (seed 004) |
| advreg          | theta, steps              | ``CE - theta * BCE(h([p, y]), 1)`` vs an inference model h (Nasr 2018) |
| early_stop      | patience                  | keep the best-validation epoch, stop after ``patience`` (seed 002) |
| dpsgd           | clip, noise, delta        | DP-SGD through Opacus (:func:`ticketleak.privacy.fit_private`) |

The loss-side knobs reach training through :func:`recipe_with` (one line for callers); the
others are read by the caller: ``dropout`` when building the model, ``patience`` with ``val``
for :func:`ticketleak.training.fit`, ``private`` to call ``fit_private(..., dp_clip, dp_noise,
dp_delta)`` instead of ``fit``; ``distill`` needs teacher logits (``fit(teacher_logits=)``) and
``advreg`` a non-member reference set (``fit(reference=)``).

Release-time defenses change only what the model releases: ``topk`` keeps the k largest
probabilities, renormalised (k = 1 releases the label); ``round`` rounds every probability to
``decimals`` decimals (not renormalised).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch stays unimported for release-time users (plots, attacks)
    from ticketleak.training import Recipe


@dataclass(frozen=True)
class TrainingDefense:
    """What one training-time defense changes. Every field's default leaves training as it is."""

    l2: float = 0.0
    dropout: float | None = None  # None keeps model.dropout
    label_smoothing: float = 0.0
    ppb: float = 0.0
    distill_alpha: float = 0.0
    distill_temperature: float = 1.0
    advreg_theta: float = 0.0
    advreg_steps: int = 1
    patience: int | None = None  # early stopping: fit(val=..., patience=...)
    dp_clip: float | None = None  # DP-SGD: per-sample clipping norm C (None: not private)
    dp_noise: float | None = None  # DP-SGD: noise multiplier sigma
    dp_delta: float | None = None  # DP-SGD: delta at which epsilon is reported

    @property
    def private(self) -> bool:
        """True when training must go through :func:`ticketleak.privacy.fit_private`."""
        return self.dp_clip is not None

    @property
    def needs_teacher(self) -> bool:
        return self.distill_alpha > 0

    @property
    def needs_reference(self) -> bool:
        return self.advreg_theta > 0


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"defense.{name}: {message}")


def training_defense(name: str, settings: object) -> TrainingDefense:
    """The change that defense ``name`` (with its params section ``settings``) makes to training."""
    s = settings
    if name == "none":
        return TrainingDefense()
    if name == "l2":
        _check(s.lam > 0, name, f"lam must be positive, got {s.lam}")  # type: ignore[attr-defined]
        return TrainingDefense(l2=float(s.lam))  # type: ignore[attr-defined]
    if name == "dropout":
        _check(0 < s.rate < 1, name, f"rate must be in (0, 1), got {s.rate}")  # type: ignore[attr-defined]
        return TrainingDefense(dropout=float(s.rate))  # type: ignore[attr-defined]
    if name == "label_smoothing":
        _check(0 <= s.epsilon < 1, name, f"epsilon must be in [0, 1), got {s.epsilon}")  # type: ignore[attr-defined]
        return TrainingDefense(label_smoothing=float(s.epsilon))  # type: ignore[attr-defined]
    if name == "ppb":
        _check(s.lam >= 0, name, f"lam must be >= 0, got {s.lam}")  # type: ignore[attr-defined]
        return TrainingDefense(ppb=float(s.lam))  # type: ignore[attr-defined]
    if name == "distill":
        a, t = s.alpha, s.temperature  # type: ignore[attr-defined]
        _check(0 <= a <= 1 and t > 0, name, f"need 0 <= alpha <= 1 and temperature > 0, got {a}, {t}")
        return TrainingDefense(distill_alpha=float(a), distill_temperature=float(t))
    if name == "advreg":
        theta, steps = s.theta, s.steps  # type: ignore[attr-defined]
        _check(theta >= 0 and int(steps) >= 1, name, f"need theta >= 0 and steps >= 1, got {theta}, {steps}")
        return TrainingDefense(advreg_theta=float(theta), advreg_steps=int(steps))
    if name == "early_stop":
        _check(int(s.patience) >= 1, name, f"patience must be >= 1, got {s.patience}")  # type: ignore[attr-defined]
        return TrainingDefense(patience=int(s.patience))  # type: ignore[attr-defined]
    if name == "dpsgd":
        c, n, d = s.clip, s.noise, s.delta  # type: ignore[attr-defined]
        _check(c > 0 and n > 0 and 0 < d < 1, name, f"need clip > 0, noise > 0, 0 < delta < 1; got {c}, {n}, {d}")
        return TrainingDefense(dp_clip=float(c), dp_noise=float(n), dp_delta=float(d))
    raise ValueError(f"defense.train: unknown training-time defense '{name}'")


def recipe_with(recipe: Recipe, defense: TrainingDefense) -> Recipe:
    """``recipe`` with the defense's loss-side knobs applied (l2, label smoothing, PPB,
    distillation, adversarial regularisation). Dropout, early stopping and DP-SGD are not
    recipe fields: see the module docstring."""
    return replace(
        recipe,
        l2=defense.l2,
        label_smoothing=defense.label_smoothing,
        ppb=defense.ppb,
        distill_alpha=defense.distill_alpha,
        distill_temperature=defense.distill_temperature,
        advreg_theta=defense.advreg_theta,
        advreg_steps=defense.advreg_steps,
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """Keep each row's k largest probabilities (ties by class index), zero the rest, renormalise."""
    k = min(k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    out = np.zeros_like(probs)
    rows = np.arange(len(probs))[:, None]
    out[rows, order] = probs[rows, order]
    return out / out.sum(axis=1, keepdims=True)


def round_posteriors(probs: np.ndarray, decimals: int) -> np.ndarray:
    """Round every probability to ``decimals`` decimals (posterior rounding / coarsening, a
    confidence-masking defense; e.g. decimals = 1 releases 0.0, 0.1, ..., 1.0).

    Not renormalised: renormalising would bring the dropped digits back. Rows therefore sum to 1
    only up to C * 0.5 * 10^-decimals, and a row whose entries all round to 0 stays all zero."""
    if int(decimals) != decimals or decimals < 0:
        raise ValueError(f"defense.round: decimals must be a non-negative integer, got {decimals}")
    return np.round(probs, int(decimals))


def release(logits: np.ndarray, name: str, settings: object | None = None) -> np.ndarray:
    """The posteriors a model releases under release-time defense ``name`` (``none``: all of them)."""
    probs = softmax(logits)
    if name == "none":
        return probs
    if name == "topk":
        return top_k(probs, settings.k)  # type: ignore[attr-defined]
    if name == "round":
        return round_posteriors(probs, settings.decimals)  # type: ignore[attr-defined]
    raise ValueError(f"defense.release: unknown release-time defense '{name}'")
