"""Figures fit the page and keep their legends off the data (ticketleak/figure_layout.py), and
the `dvc plots show` page of the committed plots fits a 1,280-pixel browser window (checked in
headless Chromium where it is installed)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from conftest import ROOT
from test_attack_stages import _greybox_file, _metrics
from test_report import PREFERENCE, PRUNED, _row, scored  # noqa: F401  (scored: a fixture)

from ticketleak import attack_plots, figure_layout, plots

PAGE = 1280  # pixels: a laptop's browser window
PAD = 2 * round(0.1 * figure_layout.DPI)  # savefig's bbox_inches="tight" pads 0.1 in each side


def test_panels_wrap_into_rows_no_wider_than_the_page():
    fig, axes = figure_layout.panels(4)
    assert len(axes) == 4 and len(fig.axes) == 4
    assert {ax.get_subplotspec().colspan.start for ax in axes} == {0, 1}  # two columns, two rows
    assert fig.get_figwidth() <= figure_layout.MAX_WIDTH_IN
    fig, axes = figure_layout.panels(5, panel=(3.4, 3.0), ncols=3)
    assert len(axes) == 5 and len(fig.axes) == 5  # the sixth cell is removed
    assert fig.get_figwidth() == pytest.approx(3 * 3.4)
    fig, axes = figure_layout.panels(2, panel=(8.0, 6.0))  # two do not fit side by side: one column
    assert fig.get_figwidth() == pytest.approx(8.0) and fig.get_figheight() == pytest.approx(12.0)
    plt.close("all")


def _captured(monkeypatch, module) -> list:
    figs = []
    monkeypatch.setattr(module, "save", lambda fig, path: figs.append(fig))
    return figs


def _assert_legends_off_the_data(fig) -> int:
    """Every legend (a panel's or the figure's) lies outside every panel; returns how many."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_label() != "<colorbar>"]
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for panel in panels:
            assert not box.overlaps(panel), f"a legend ({legend.get_texts()[0].get_text()!r}, ...) covers a panel"
    plt.close(fig)
    return len(legends)


def test_summary_figures_keep_legends_off_the_data(scored, monkeypatch, tmp_path):  # noqa: F811
    figs = _captured(monkeypatch, plots)
    rows = [_row(), _row(level=PRUNED), _row(defense="l2", auc=0.55), _row(defense="l2", level=PRUNED, auc=0.54)]
    plots._attack_vs_sparsity(rows, tmp_path / "a.png", PREFERENCE)
    plots._accuracy_vs_sparsity(rows, tmp_path / "b.png")
    plots._privacy_utility(rows, tmp_path / "c.png", PREFERENCE)
    assert [_assert_legends_off_the_data(f) for f in figs] == [4, 2, 1]
    assert all(f.get_figwidth() <= figure_layout.MAX_WIDTH_IN for f in figs)


def test_attack_figures_keep_legends_off_the_data(monkeypatch, tmp_path):
    figs = _captured(monkeypatch, attack_plots)
    by_defense = {"none": _greybox_file("none", ("dense", "lth_oneshot-0.9")), "l2": _greybox_file("l2", ("dense",))}
    attack_plots.greybox_figure(json.loads(json.dumps(by_defense)), tmp_path / "g.png")
    curve = {str(k): {"shokri_sorted": _metrics(0.6), "loss_global": _metrics(0.62)} for k in (1, 2)}
    attack_plots.shadow_curve_figure({"dense": {"attacks": {}, "shadow_curve": curve}}, tmp_path / "s.png")
    assert [_assert_legends_off_the_data(f) for f in figs] == [6, 2]


def _png_width(path: Path) -> int:
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


def test_committed_figures_are_page_wide_at_most():
    widths = {p.name: _png_width(p) for p in sorted((ROOT / "plots").glob("*.png"))}
    assert len(widths) >= 9
    wide = {name: w for name, w in widths.items() if w > figure_layout.MAX_PIXELS + PAD}
    assert not wide, f"wider than {figure_layout.MAX_PIXELS} pixels: {wide}"


PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.from(document.images);
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    images: imgs.length,
    loaded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    right: imgs.reduce(function (m, i) { return Math.max(m, i.getBoundingClientRect().right); }, 0),
    viewport: window.innerWidth});
  document.body.appendChild(out);
});
</script>"""


def _browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.mark.skipif(_browser() is None, reason="no Chromium installed (apt-get install chromium)")
def test_plots_page_fits_a_browser_window(tmp_path):
    """`dvc plots show` of the committed plots, rendered in headless Chromium 1,280 pixels wide:
    every image loads and none reaches past the window's right edge."""
    dvc = Path(sys.executable).with_name("dvc")
    out = tmp_path / "page"
    subprocess.run([str(dvc) if dvc.exists() else "dvc", "plots", "show", "-o", str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    page = (out / "index.html").read_text()
    (out / "probe.html").write_text(page.replace("</body>", PROBE + "</body>"))
    dom = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={PAGE},900",
                          "--virtual-time-budget=5000", "--dump-dom", (out / "probe.html").as_uri()],
                         capture_output=True, text=True, timeout=120, check=False).stdout
    assert '<pre id="probe">' in dom, "Chromium rendered no page (its --dump-dom printed no probe)"
    probe = json.loads(dom.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0])
    assert probe["images"] >= 9 and probe["loaded"] == probe["images"]
    assert probe["viewport"] == PAGE and probe["right"] <= PAGE, probe
