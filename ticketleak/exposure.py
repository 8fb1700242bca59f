"""Per-sample membership risk: every attack's score for every evaluation sample, which samples
the attacks expose most, and how exposure splits by class and by whether the target classifies
the sample correctly.

The evaluation samples are the target's members, then as many non-members, in the order of
``data/prepared/target.npz`` (``position`` 0 .. N-1; ``dataset_index`` is the sample's index in
the dataset the split was drawn from). Scores are oriented higher = more likely member. Where an
attack's score maps to a p-value of "not a member", the table has it too:

* offline LiRA (``lira_offline``, ``lira_offline_fixed``): the one-sided test's
  ``1 - Phi(z)``, from the score (the log-odds of ``Phi(z)``: ``p = 1 / (1 + exp(score))``; with
  the mirror query the score is the mean over the two queries, and p that of the mean);
* RMIA (``rmia_offline``, the paper's score): ``1 - score``, the share of population samples
  that x does not beat.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
from scipy.special import expit

from ticketleak.metrics import auc

P_VALUES = {
    "lira_offline": lambda s: expit(-s),
    "lira_offline_fixed": lambda s: expit(-s),
    "rmia_offline": lambda s: 1.0 - s,
}
TOP = 10  # most exposed samples listed per level in the report


def table(split: dict[str, np.ndarray], logits: np.ndarray, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The per-sample table of one (defense, level): ``split`` is ``data/prepared/target.npz``,
    ``logits`` the target's (N, C) logits on its members then non-members, ``scores`` attack name
    -> (N,) score. Columns: position, dataset_index, class, member, correct, each attack's score,
    and ``<attack>_p`` where :data:`P_VALUES` has one."""
    n_in, n_out = len(split["members_y"]), len(split["nonmembers_y"])
    labels = np.concatenate([split["members_y"], split["nonmembers_y"]])
    if len(logits) != n_in + n_out:
        raise ValueError(f"{len(logits)} logits for {n_in + n_out} evaluation samples")
    out: dict[str, np.ndarray] = {
        "position": np.arange(n_in + n_out),
        "dataset_index": np.concatenate([split["members_idx"], split["nonmembers_idx"]]),
        "class": labels,
        "member": np.r_[np.ones(n_in, bool), np.zeros(n_out, bool)],
        "correct": np.asarray(logits).argmax(axis=1) == labels,
    }
    for name, score in scores.items():
        score = np.asarray(score, dtype=np.float64)
        if score.shape != (n_in + n_out,):
            raise ValueError(f"attack {name}: {score.shape} scores for {n_in + n_out} samples")
        out[name] = score
        if name in P_VALUES:
            out[f"{name}_p"] = P_VALUES[name](score)
    return out


def to_csv(columns: dict[str, np.ndarray]) -> str:
    """The table as CSV: integers and booleans as they are, floats to 6 significant digits."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    cells = []
    for values in columns.values():
        if values.dtype == bool:
            cells.append([str(int(v)) for v in values])
        elif np.issubdtype(values.dtype, np.integer):
            cells.append([str(v) for v in values])
        else:
            cells.append([f"{v:.6g}" for v in values])
    writer.writerows(zip(*cells))
    return buf.getvalue()


def most_exposed(columns: dict[str, np.ndarray], attack: str, k: int = TOP) -> np.ndarray:
    """Positions of the ``k`` highest ``attack`` scores (ties by position)."""
    return np.lexsort((columns["position"], -columns[attack]))[:k]


def slices(columns: dict[str, np.ndarray], attack: str) -> list[tuple[str, int, float]]:
    """(slice, samples, AUC of ``attack``) by class and by correct / misclassified; a slice
    without both members and non-members has AUC nan."""
    member, score = columns["member"], columns[attack]
    out = []
    groups = [(f"class {c}", columns["class"] == c) for c in np.unique(columns["class"])]
    groups += [("classified correctly", columns["correct"]), ("misclassified", ~columns["correct"])]
    for name, sel in groups:
        both = member[sel].any() and (~member[sel]).any()
        out.append((name, int(sel.sum()), auc(member[sel], score[sel]) if both else float("nan")))
    return out


def report_lines(tables: dict[str, dict[str, np.ndarray]], attack: str, classes: Sequence[str],
                 seed: int | None = None, images: bool = True) -> list[str]:
    """The report section: per level (``tables``: level -> table), the most exposed samples under
    ``attack`` (the headline) and its AUC by slice; ``seed`` names the training seed the tables
    are of, when there are several; ``images``: whether the samples are images (pictured)."""
    which = f", training seed {seed}" if seed is not None else ""
    lines = ["", f"## Per-sample exposure (undefended, full posterior, `{attack}`{which})", "",
             "The samples the headline attack ranks highest, and its AUC by class and by whether the",
             "target classifies the sample correctly. Every attack's score for every sample is in",
             "`reports/exposure/seed-<k>/<defense>-<level>.csv`"
             + ("; `plots/most_exposed.png` shows the images." if images else " (tabular records: no pictures)."), ""]
    levels = list(tables)
    for level in levels:
        cols = tables[level]
        others = [lv for lv in levels if lv != level]
        head = "| rank | position | dataset index | class | member | correct | score |"
        rule = "|---|---|---|---|---|---|---|"
        if others:
            head += f" rank at {others[0]} |"
            rule += "---|"
            other_rank = np.empty(len(cols["position"]), dtype=int)
            other_rank[most_exposed(tables[others[0]], attack, len(cols["position"]))] = np.arange(len(cols["position"])) + 1
        lines += [f"### {level}", "", head, rule]
        for rank, i in enumerate(most_exposed(cols, attack), start=1):
            row = (f"| {rank} | {cols['position'][i]} | {cols['dataset_index'][i]} | {classes[cols['class'][i]]} "
                   f"| {'yes' if cols['member'][i] else 'no'} | {'yes' if cols['correct'][i] else 'no'} | {cols[attack][i]:.4g} |")
            lines.append(row + (f" {other_rank[i]} |" if others else ""))
        lines += ["", "| slice | samples | AUC |", "|---|---|---|"]
        lines += [f"| {name} | {n} | {'-' if np.isnan(a) else f'{a:.3f}'} |" for name, n, a in slices(cols, attack)]
        lines.append("")
    return lines


def exposed_images(tables: dict[str, dict[str, np.ndarray]], split: dict[str, np.ndarray], attack: str,
                   classes: Sequence[str], path, k: int = 8) -> None:
    """A figure: per level, the ``k`` most exposed samples' images (image data only), titled
    with class, membership and score; rows wrap so the figure stays page-wide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.concatenate([split["members_x"], split["nonmembers_x"]])
    levels = list(tables)
    fig, axes = plt.subplots(len(levels), k, figsize=(1.3 * k, 2.1 * len(levels) + 0.4), squeeze=False)
    for r, level in enumerate(levels):
        cols = tables[level]
        for c, i in enumerate(most_exposed(cols, attack, k)):
            ax = axes[r][c]
            img = images[i].transpose(1, 2, 0)
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{classes[cols['class'][i]]} {'in' if cols['member'][i] else 'out'}\n{cols[attack][i]:.3g}", fontsize=7)
        axes[r][0].set_ylabel(level, fontsize=7)
    fig.suptitle(f"Most exposed samples under {attack} (undefended)", fontsize=9)
    fig.tight_layout(h_pad=1.5)
    fig.savefig(path, dpi=110)
    plt.close(fig)
