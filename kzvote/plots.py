"""Figures as matplotlib ``Figure`` objects (no pyplot state), saved as PNG.

matplotlib is imported inside the functions so that ``kzvote --help`` stays instant,
and the Agg canvas is used directly, so the figures work without a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kzvote.methods.common import leader_share_parts, turnout_parts
from kzvote.model import StationTable
from kzvote.outputs import make_output_dir, safe_name


def _figure(width: float = 8, height: float = 5):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _save(fig, folder: Path, name: str) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path = folder / f"{safe_name(name)}.png"
    tmp = folder / f".{path.name}.tmp"
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return str(path)


def _ratios(table: StationTable, leader: str):
    t_num, t_den, ok_t, _ = turnout_parts(table)
    s_num, s_den, ok_s, _ = leader_share_parts(table, leader)
    ok = ok_t & ok_s
    turnout = np.clip(t_num[ok] / t_den[ok], 0, 1)
    share = np.clip(s_num[ok] / s_den[ok], 0, 1)
    return turnout, share, t_den[ok]


def turnout_share_histograms(table: StationTable, leader: str, title: str):
    """Turnout and leader share at 0.1 pp resolution, whole percents marked."""
    turnout, share, _ = _ratios(table, leader)
    fig = _figure(10, 6)
    axes = fig.subplots(2, 1)
    bins = np.linspace(0, 100, 1001)
    for ax, values, label in (
        (axes[0], turnout, "turnout, %"),
        (axes[1], share, f"{leader} share, %"),
    ):
        counts, _ = np.histogram(100 * values, bins=bins)
        ax.bar(bins[:-1], counts, width=0.1, align="edge", color="#3b6ea5", linewidth=0)
        ax.set_xlim(0, 100)
        ax.set_xlabel(label)
        ax.set_ylabel("stations per 0.1 pp")
        for k in range(10, 100, 10):
            ax.axvline(k, color="#bbbbbb", linewidth=0.5, zorder=0)
    axes[0].set_title(title)
    return fig


def fingerprint(table: StationTable, leader: str, title: str, *, weighted: bool = False):
    """2D histogram of turnout (x) and leader share (y), 1 pp bins, log colour scale."""
    from matplotlib.colors import LogNorm

    turnout, share, registered = _ratios(table, leader)
    fig = _figure(6.5, 5.5)
    ax = fig.subplots()
    weights = registered if weighted else None
    counts, xedges, yedges = np.histogram2d(
        100 * turnout, 100 * share, bins=100, range=[[0, 100], [0, 100]], weights=weights
    )
    counts = np.where(counts > 0, counts, np.nan)
    vmin = np.nanmin(counts) if np.isfinite(counts).any() else 1
    mesh = ax.pcolormesh(
        xedges, yedges, counts.T, norm=LogNorm(vmin=max(vmin, 1e-9)), cmap="viridis"
    )
    fig.colorbar(mesh, ax=ax, label="registered voters" if weighted else "stations")
    ax.set_xlabel("turnout, %")
    ax.set_ylabel(f"{leader} share, %")
    ax.set_title(title)
    ax.set_aspect("equal")
    return fig


def save_report_plots(table: StationTable, leader: str, folder: str | Path) -> list[str]:
    """Save the standard figures for one file; return their paths."""
    out = make_output_dir(folder)
    name = Path(table.path).name
    paths = [
        _save(turnout_share_histograms(table, leader, name), out, "turnout_share_histograms"),
        _save(fingerprint(table, leader, f"{name}: stations"), out, "fingerprint"),
        _save(
            fingerprint(table, leader, f"{name}: registered voters", weighted=True),
            out,
            "fingerprint_weighted",
        ),
    ]
    return paths
