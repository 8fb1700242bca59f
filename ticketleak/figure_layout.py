"""How every PNG figure is laid out: panels wrapped to fit a page, legends off the data.

A figure is at most ``MAX_WIDTH_IN`` inches wide at ``DPI`` (1,155 pixels, inside a 1,280-pixel
browser window, where ``dvc plots show`` shows it at its own size). Panels wrap into rows of at
most two, and each legend sits below its panel (or below the figure), never on the data.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 110
MAX_WIDTH_IN = 10.5
MAX_PIXELS = round(DPI * MAX_WIDTH_IN)


def panels(n: int, panel: tuple[float, float] = (5.0, 3.6), ncols: int = 2, **kwargs):
    """A figure of ``n`` panels (``panel`` inches each) in rows of at most ``ncols``, no wider
    than the page; returns ``(fig, axes)`` with ``axes`` a flat list of the ``n`` panels used."""
    width, height = panel
    ncols = max(1, min(ncols, n, int(MAX_WIDTH_IN // width) or 1))
    width = min(width, MAX_WIDTH_IN / ncols)
    nrows = math.ceil(n / ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
                             layout="constrained", **kwargs)
    axes = list(grid.flat)
    for ax in axes[n:]:
        ax.remove()
    return fig, axes[:n]


def legend_below(ax, handles: list | None = None, ncol: int | None = None, **kwargs):
    """The panel's legend under its x-axis label, in as many columns as fit the panel."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    else:
        labels = [h.get_label() for h in handles]
    if not handles:
        return None
    ncol = ncol or min(len(handles), 3 if max(map(len, labels)) < 16 else 2)
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, fontsize=7,
                     frameon=False, **kwargs)


def figure_legend(fig, handles, ncol: int = 4, **kwargs):
    """One legend for the whole figure, under its panels."""
    return fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=7, frameon=False, **kwargs)


def save(fig, path: str | Path) -> None:
    """Write the PNG (cropped to what is drawn, legends included) and close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
