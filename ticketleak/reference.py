"""Reference-model attacks: LiRA (Carlini et al. 2022) and RMIA (Zarifzadeh et al. 2024).

Reference models are trained on random halves of the target's candidates (its members and
non-members); ``membership_matrix`` records which sample each model saw (models x samples). Arrays of reference outputs are laid out
models x samples [x augmentations]. Every score is oriented so that higher = more likely member.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from ticketleak.attacks import best_threshold
from ticketleak.metrics import auc
from ticketleak.splits import reference_half

STD_FLOOR = 1e-8


def membership_matrix(n_models: int, n_samples: int, seed: int) -> np.ndarray:
    """The (models x samples) IN matrix of reference models ``0 .. n_models - 1`` (n_models even;
    rows from :func:`ticketleak.splits.reference_half`)."""
    if n_models < 2 or n_models % 2:
        raise ValueError(f"n_models must be even and >= 2, got {n_models}")
    return np.stack([reference_half(i, n_samples, seed) for i in range(n_models)])


def lira_statistic(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """LiRA's statistic ``phi = log p_y - log sum_{y' != y} p_y'`` = ``z_y - logsumexp(z_{-y})``
    (stable; equals log(p_y / (1 - p_y))). ``logits`` (N, C) -> (N,), or (N, A, C) -> (N, A) for
    A query augmentations; ``labels`` (N,)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels).reshape((-1,) + (1,) * (z.ndim - 1))
    y = np.broadcast_to(y, z.shape[:-1] + (1,))
    z_y = np.take_along_axis(z, y, axis=-1)[..., 0]
    rest = z.copy()
    np.put_along_axis(rest, y, -np.inf, axis=-1)
    return z_y - logsumexp(rest, axis=-1)


def _gaussians(ref_phi: np.ndarray, mask: np.ndarray, fixed_variance: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample (per-augmentation) mean and std of ``ref_phi`` over the models where ``mask``.

    Samples with no such model take the side's global mean; with fewer than two, the global std.
    The global std (also the one used when ``fixed_variance``) pools the within-sample variances
    (the authors' code takes the std of all values, which adds the spread of the sample means)."""
    ref_phi = np.asarray(ref_phi, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    mask = np.broadcast_to(mask.reshape(mask.shape + (1,) * (ref_phi.ndim - 2)), ref_phi.shape)
    if not mask.any():
        raise ValueError("no reference model on this side (IN or OUT) for any sample")
    count = mask.sum(axis=0)
    mu = np.where(mask, ref_phi, 0.0).sum(axis=0) / np.maximum(count, 1)
    var = np.where(mask, (ref_phi - mu) ** 2, 0.0).sum(axis=0) / np.maximum(count, 1)
    ok = count >= 2
    global_var = var[ok].mean() if ok.any() else ref_phi[mask].var()
    mu = np.where(count > 0, mu, ref_phi[mask].mean())
    var = np.full_like(var, global_var) if fixed_variance else np.where(ok, var, global_var)
    return mu, np.maximum(np.sqrt(var), STD_FLOOR)


def lira_online(target_phi: np.ndarray, ref_phi: np.ndarray, ref_in: np.ndarray, fixed_variance: bool) -> np.ndarray:
    """Online LiRA (Carlini et al. 2022): per sample, Gaussians over the reference models where it
    was IN and where it was OUT (mean; per-sample std, or one pooled std per side when
    ``fixed_variance``); score = mean over augmentations of
    ``log N(phi; mu_in, s_in) - log N(phi; mu_out, s_out)``. ``target_phi`` (N[, A]),
    ``ref_phi`` (M, N[, A]), ``ref_in`` (M, N) bool."""
    ref_in = np.asarray(ref_in, dtype=bool)
    mu_in, s_in = _gaussians(ref_phi, ref_in, fixed_variance)
    mu_out, s_out = _gaussians(ref_phi, ~ref_in, fixed_variance)
    llr = norm.logpdf(target_phi, mu_in, s_in) - norm.logpdf(target_phi, mu_out, s_out)
    return llr.reshape(len(llr), -1).mean(axis=1)


def one_sided_log_odds(z: np.ndarray) -> np.ndarray:
    """``log(Phi(z) / (1 - Phi(z)))``, exact on both tails: ``logcdf(z) - logsf(z)``.

    ``log Phi(z)`` alone rounds to exactly 0 once ``1 - Phi(z)`` is below float64's resolution
    next to 1 (z above about 38, reached when a per-sample sd over two OUT models is tiny), so
    confident members tie; ``logsf`` keeps that tail (about ``-z^2 / 2``) and ``logcdf`` the
    other. Increasing in z, so for one query it ranks exactly as the paper's ``Phi(z)``."""
    z = np.asarray(z, dtype=np.float64)
    return norm.logcdf(z) - norm.logsf(z)


def lira_offline(target_phi: np.ndarray, ref_phi: np.ndarray, ref_in: np.ndarray, fixed_variance: bool) -> np.ndarray:
    """Offline LiRA, the paper's one-sided test (Carlini et al. 2022, not the authors' code's
    negative two-sided density): OUT models only, ``z = (phi - mu_out) / s_out``, score = mean over
    augmentations of the log-odds of ``Phi(z)`` (:func:`one_sided_log_odds`: the paper's ranking
    for one query, without ties where ``Phi`` rounds to 1)."""
    mu_out, s_out = _gaussians(ref_phi, ~np.asarray(ref_in, dtype=bool), fixed_variance)
    log_odds = one_sided_log_odds((np.asarray(target_phi, dtype=np.float64) - mu_out) / s_out)
    return log_odds.reshape(len(log_odds), -1).mean(axis=1)


def _mean_out(ref_py: np.ndarray, ref_in: np.ndarray) -> np.ndarray:
    """Mean over the OUT reference models per sample; samples never OUT take the global OUT mean."""
    out = ~np.asarray(ref_in, dtype=bool)
    if not out.any():
        raise ValueError("RMIA offline needs OUT reference models")
    count = out.sum(axis=0)
    mean = np.where(out, ref_py, 0.0).sum(axis=0) / np.maximum(count, 1)
    return np.where(count > 0, mean, np.asarray(ref_py)[out].mean())


def rmia_offline(
    target_py: np.ndarray,
    ref_py: np.ndarray,
    ref_in: np.ndarray,
    pop_target_py: np.ndarray,
    pop_ref_py: np.ndarray,
    pop_ref_in: np.ndarray,
    a: float,
    gamma: float = 1.0,
    tie_break: bool = False,
) -> np.ndarray:
    """Offline RMIA (Zarifzadeh et al. 2024) on the signal p_y: ``p_hat(x) = ((1 + a) / 2) mean_OUT(x)
    + (1 - a) / 2``, ``r(x) = p(x | target) / p_hat(x)``; score(x) = the fraction of population
    samples z with ``r(x) / r(z) > gamma`` (strict), the paper's score. Candidates: ``target_py``
    (N,), ``ref_py`` and ``ref_in`` (M, N); population: ``pop_target_py`` (Z,), ``pop_ref_py`` and
    ``pop_ref_in`` (M, Z).

    The fraction takes only Z + 1 values, so with a small population many candidates tie (all
    those above every population sample score 1, which makes TPR at low FPR read 0). With
    ``tie_break`` (the ``rmia_offline_ratio`` row, not the paper's), a term below 1 / Z,
    increasing in ``r(x)``, is added: candidates are ordered by (fraction, r(x)), every strict
    order of the fractions is kept, and within a tie the ranking is that of ``r(x)`` alone."""

    def ratio(py: np.ndarray, rpy: np.ndarray, rin: np.ndarray) -> np.ndarray:
        return np.asarray(py, dtype=np.float64) / ((1 + a) / 2 * _mean_out(rpy, rin) + (1 - a) / 2)

    r_x = ratio(target_py, ref_py, ref_in)
    r_z = np.sort(ratio(pop_target_py, pop_ref_py, pop_ref_in))
    # r(x) / r(z) > gamma  <=>  r(z) < r(x) / gamma   (all ratios positive)
    t = r_x / gamma
    fraction = np.searchsorted(r_z, t, side="left").astype(np.float64)
    return (fraction + t / (1 + t) if tie_break else fraction) / len(r_z)


def tune_rmia_a(
    ref_py: np.ndarray,
    ref_in: np.ndarray,
    pop_ref_py: np.ndarray,
    pop_ref_in: np.ndarray,
    grid: np.ndarray | None = None,
    gamma: float = 1.0,
    target_model: int = 0,
) -> tuple[float, dict[float, float]]:
    """RMIA's ``a`` (Zarifzadeh et al. 2024): treat reference model ``target_model`` as the target,
    the others as references, and keep the ``a`` of ``grid`` (default 0, 0.1, ..., 1) with the best
    AUC on its known membership (smallest ``a`` on ties). Returns (a, {a: AUC})."""
    grid = np.round(np.linspace(0, 1, 11), 10) if grid is None else np.asarray(grid)
    if len(ref_py) < 2:
        raise ValueError("tuning a needs at least two reference models")
    rest = np.arange(len(ref_py)) != target_model
    member = np.asarray(ref_in, dtype=bool)[target_model]
    candidates = (ref_py[target_model], ref_py[rest], ref_in[rest])
    population = (pop_ref_py[target_model], pop_ref_py[rest], pop_ref_in[rest])
    aucs = {float(a): auc(member, rmia_offline(*candidates, *population, a, gamma)) for a in grid}
    best = max(aucs, key=lambda k: (aucs[k], -k))
    return best, aucs


def mirror(x: torch.Tensor) -> torch.Tensor:
    """LiRA's mirror query: flip images (..., H, W) horizontally."""
    return torch.flip(x, dims=[-1])


ATTACKS = ("lira_online", "lira_online_fixed", "lira_offline", "lira_offline_fixed", "rmia_offline", "rmia_offline_ratio")


def true_class_prob(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``p_y`` of the first query (logits ``(..., N, A, C)``, labels ``(N,)``) -> ``(..., N)``."""
    z = np.asarray(logits, dtype=np.float64)[..., 0, :]
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    y = np.broadcast_to(np.asarray(labels)[:, None], p.shape[:-1] + (1,))
    return np.take_along_axis(p, y, axis=-1)[..., 0]


def attack_scores(
    target: np.ndarray,
    ref: np.ndarray,
    ref_in: np.ndarray,
    labels: np.ndarray,
    pop_target: np.ndarray,
    pop_ref: np.ndarray,
    pop_labels: np.ndarray,
    a: float,
) -> dict[str, np.ndarray]:
    """Every reference attack's membership score for the candidates (higher = member).

    ``target`` (N, A, C): the attacked model's logits on the N candidates and A queries (A = 2 with
    the mirror query); ``ref`` (M, N, A, C) and ``ref_in`` (M, N): the reference models' logits
    and which candidates each trained on; ``pop_*``: the same on Z population samples that no
    model trained on (RMIA's z). RMIA uses the first query only, with its ``a``."""
    phi, ref_phi = lira_statistic(target, labels), np.stack([lira_statistic(r, labels) for r in ref])
    out = {
        f"lira_{mode}{'_fixed' if fixed else ''}": fn(phi, ref_phi, ref_in, fixed)
        for mode, fn in (("online", lira_online), ("offline", lira_offline))
        for fixed in (False, True)
    }
    pop_in = np.zeros(pop_ref.shape[:2], dtype=bool)
    rmia_args = (true_class_prob(target, labels), true_class_prob(ref, labels), ref_in,
                 true_class_prob(pop_target, pop_labels), true_class_prob(pop_ref, pop_labels), pop_in, a)
    out["rmia_offline"] = rmia_offline(*rmia_args)  # the paper's score
    out["rmia_offline_ratio"] = rmia_offline(*rmia_args, tie_break=True)  # ties broken by r(x)
    return out


def calibrated_thresholds(
    ref: np.ndarray, ref_in: np.ndarray, labels: np.ndarray, pop_ref: np.ndarray, pop_labels: np.ndarray, a: float
) -> dict[str, float]:
    """Each attack's decision threshold, chosen without the target's membership: reference model 0
    plays the target (the others are its references) and the threshold maximising the balanced
    accuracy on its known halves is kept (the attack's AUC and ROC do not depend on it)."""
    if len(ref) < 3:
        raise ValueError("calibrating thresholds needs at least three reference models (use 4 or more)")
    pseudo = attack_scores(ref[0], ref[1:], ref_in[1:], labels, pop_ref[0], pop_ref[1:], pop_labels, a)
    member = np.asarray(ref_in[0], dtype=bool)
    return {name: best_threshold(s[member], s[~member]) for name, s in pseudo.items()}
