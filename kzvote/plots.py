"""Figures as matplotlib ``Figure`` objects (no pyplot state), saved as PNG.

matplotlib is imported inside the functions so that ``kzvote --help`` stays instant,
and the Agg canvas is used directly, so the figures work without a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kzvote.methods.common import leader_share_parts, turnout_parts
from kzvote.model import StationTable
from kzvote.outputs import make_output_dir, save_figure_atomic


def _figure(width: float = 8, height: float = 5):
    import matplotlib
    from matplotlib.figure import Figure

    # data reach the figures as text (party and region names): "$...$" must never be
    # read as mathtext (a parse error, or a formula where a name should be)
    matplotlib.rcParams["text.parse_math"] = False
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


DPI = 150
SHORT_NAME = 22


def _short(name: object, limit: int = SHORT_NAME) -> str:
    """A label that cannot squeeze a panel: long party names end with an ellipsis."""
    text = str(name)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _caption(fig, text: str) -> None:
    """A line under the figure saying what it shows (wrapped by constrained layout)."""
    import textwrap

    width = max(60, int(fig.get_figwidth() * 13))
    fig.supxlabel("\n".join(textwrap.wrap(text, width)), fontsize=7.5, color="#444444")


def _plain_counts(ax, axis: str = "y") -> None:
    """Axis ticks as plain numbers with thousands separators (no 1e6 offset)."""
    from matplotlib.ticker import FuncFormatter

    formatter = FuncFormatter(lambda v, _: f"{v:,.0f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def _log_colorbar(fig, mesh, ax, label: str, **kwargs):
    """A colour bar of a log scale with plain tick labels (10, 100, 1,000).

    ``text.parse_math`` is off (data are text), so matplotlib's default log labels,
    written as mathtext, would print as ``$\\mathdefault{10^{2}}$``.
    """
    from matplotlib.ticker import FuncFormatter, NullFormatter

    bar = fig.colorbar(mesh, ax=ax, label=label, **kwargs)
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.6g}"))
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    return bar


def _verdict_line(result) -> str:
    if result is None:
        return ""
    p = result.p_adjusted if result.p_adjusted is not None else result.p_value
    p_text = "" if p is None else f", p adj. {'< 1e-16' if p < 1e-16 else f'{p:.2g}'}"
    return f"{result.verdict}{p_text}"


def _save(fig, folder: Path, name: str) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    return save_figure_atomic(fig, folder, name)


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
        # one filled step path, not 1,000 bar patches (5x faster to draw and save)
        ax.stairs(counts, bins, fill=True, color="#3b6ea5", linewidth=0)
        # stations at exactly 0% or 100% pile into the end bins: keep them from
        # flattening the rest of the curve, and say how many are off the scale
        inner = counts[1:-1].max() if len(counts) > 2 else 0
        top = max(inner * 1.15, 1)
        ends = [(0, counts[0]), (100, counts[-1])]
        clipped = [(at, k) for at, k in ends if k > top]
        if clipped:
            ax.set_ylim(0, top)
            ax.text(
                0.99,
                0.95,
                "; ".join(f"{k:,} stations at {at}% (off the scale)" for at, k in clipped),
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=7,
                color="#444444",
            )
        ax.set_xlim(0, 100)
        ax.set_xlabel(label)
        ax.set_ylabel("stations per 0.1 pp")
        for k in range(10, 100, 10):
            ax.axvline(k, color="#bbbbbb", linewidth=0.5, zorder=0)
        _plain_counts(ax)
    axes[0].set_title(f"{title}: turnout and {_short(leader)}'s share per station")
    _caption(
        fig,
        "Stations per 0.1 percentage point. Honest counting gives smooth curves; spikes at "
        "whole percents (grey lines every 10%) are what protocols written to a target "
        "leave (integer_percent test).",
    )
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
    _log_colorbar(fig, mesh, ax, "registered voters" if weighted else "stations")
    ax.set_xlabel("turnout, %")
    ax.set_ylabel(f"{_short(leader)} share, %")
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal")
    _caption(
        fig,
        "Each station at its turnout (x) and leader share (y), 1 pp cells, log colour. "
        "Honest elections form one or a few round blobs; ballot stuffing drags a smear "
        "toward the top right, and a dot at 100/100 is the corner cluster.",
    )
    return fig


def fingerprint_model_figure(table: StationTable, leader: str, result, title: str):
    """Data | fitted fair election | fitted model with fraud, one colour scale."""
    from matplotlib.colors import LogNorm

    from kzvote.methods.fingerprint import model_surfaces

    surfaces = model_surfaces(table, leader, result)
    fig = _figure(15, 5)
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    top = max(surfaces["observed"].max(), 1)
    norm = LogNorm(vmin=0.5, vmax=top)
    d = result.details
    labels = {
        "observed": "data",
        "fair": "fitted honest election",
        "fraud": f"fitted with stuffing: f_i {d['f_incremental']:.0%}, f_e {d['f_extreme']:.1%}",
    }
    for ax, key in zip(axes, ("observed", "fair", "fraud"), strict=True):
        values = np.where(surfaces[key] >= 0.5, surfaces[key], np.nan)
        mesh = ax.imshow(
            values.T,
            origin="lower",
            extent=(0, 100, 0, 100),
            norm=norm,
            cmap="viridis",
            aspect="equal",
        )
        ax.set_title(labels[key], fontsize=10)
        ax.set_xlabel("turnout, %")
    axes[0].set_ylabel(f"{_short(leader)} share, %")
    cell = 100 / surfaces["observed"].shape[0]
    _log_colorbar(fig, mesh, axes, f"stations per {cell:.3g} pp cell", shrink=0.8)
    fig.suptitle(f"{title}: Klimek model fit ({_verdict_line(result)})")
    misplaced = (d.get("misfit") or {}).get("share_misplaced")
    _caption(
        fig,
        "Left: the stations. Middle: the best honest election of the model. Right: the "
        "best fit with incremental (f_i) and extreme (f_e) stuffing."
        + (
            f" The fit misplaces {misplaced:.0%} of stations in 10 pp cells."
            if misplaced is not None
            else ""
        ),
    )
    return fig


def cumulative_figure(table: StationTable, leader: str, title: str, result=None):
    """Shpilkin's picture: cumulative votes against turnout, with the clean-ratio line."""
    from kzvote.methods.fingerprint import cumulative_curve

    curve = cumulative_curve(table, leader)
    fig = _figure(8, 5)
    ax = fig.subplots()
    x = 100 * curve["turnout"]
    top = max(float(np.nanmax(curve["leader"])), float(np.nanmax(curve["others"])), 1.0)
    scale, unit = (1e6, "millions of votes") if top >= 2e6 else (1.0, "votes")
    ax.plot(x, curve["leader"] / scale, color="#c0392b", label=_short(leader, 40))
    ax.plot(x, curve["others"] / scale, color="#3b6ea5", label="all other candidates")
    ax.plot(
        x,
        curve["clean"] / scale,
        color="#c0392b",
        linestyle="--",
        label="leader at the peak-turnout ratio (assumed honest)",
    )
    ax.axvline(
        100 * curve["peak"],
        color="#999999",
        linewidth=0.8,
        label=f"peak turnout {100 * curve['peak']:.1f}% (start of the reference line)",
    )
    ax.set_xlabel("turnout, % (stations sorted by turnout)")
    ax.set_ylabel(f"cumulative {unit}")
    if scale == 1.0:
        _plain_counts(ax)
    else:
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    headline = ""
    if result is not None and "excess_votes" in result.details:
        d = result.details
        low, high = d.get("excess_votes_interval") or (None, None)
        interval = f" ({low:,.0f}-{high:,.0f})" if low is not None else ""
        headline = f"\nexcess votes {d['excess_votes']:,.0f}{interval}: {_verdict_line(result)}"
    ax.set_title(f"{title}: cumulative votes by turnout{headline}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    _caption(
        fig,
        "Stations sorted by turnout; each curve adds up votes from the lowest turnout. "
        "Past the peak, an honest leader keeps the ratio to the others it had at the peak "
        "(dashed); the gap between the solid and dashed red lines is the excess "
        "(Shpilkin's estimate; a genuine rise of support with turnout counts too).",
    )
    return fig


def regional_fingerprints(table: StationTable, leader: str, title: str, limit: int = 30):
    """Small multiples: one turnout x share histogram per region (largest first)."""
    from matplotlib.colors import LogNorm

    turnout_all, share_all, registered = _ratios(table, leader)
    del turnout_all, share_all, registered
    regions = table.ids["region"].value_counts().index[:limit]
    cols = 6
    rows = int(np.ceil(len(regions) / cols))
    fig = _figure(2.4 * cols, 2.4 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True)).ravel()
    for ax, name in zip(axes, regions, strict=False):
        sub = table.subset((table.ids["region"] == name).to_numpy())
        t, v, _ = _ratios(sub, leader)
        counts, xe, ye = np.histogram2d(100 * t, 100 * v, bins=50, range=[[0, 100], [0, 100]])
        counts = np.where(counts > 0, counts, np.nan)
        ax.pcolormesh(xe, ye, counts.T, norm=LogNorm(vmin=1), cmap="viridis")
        ax.set_title(_short(name, 24), fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes[len(regions) :]:
        ax.set_visible(False)
    fig.suptitle(f"{title}: turnout (x) and {_short(leader)} share (y) by region")
    _caption(fig, "One panel per region (the largest first), 2 pp cells, log colour.")
    return fig


def digit_figure(result, title: str):
    """Observed digit frequencies with the calibrated expectation and its 95% band."""
    fig = _figure(7, 4)
    ax = fig.subplots()
    observed = np.asarray(result.details["observed"], dtype=float)
    expected = np.asarray(result.details["expected"], dtype=float)
    band = np.asarray(result.details["band95"], dtype=float)
    digits = np.arange(len(observed))
    ax.bar(digits, observed, color="#3b6ea5", label="observed")
    ax.errorbar(
        digits,
        expected,
        yerr=[expected - band[:, 0], band[:, 1] - expected],
        fmt="o",
        color="#d9822b",
        capsize=4,
        label="expected, calibrated null (95% band)",
    )
    if result.test == "last_digit":
        ax.axhline(observed.sum() / 10, color="#999999", linestyle="--", label="uniform")
    else:
        from kzvote.methods.digits import benford_second_digit

        ax.plot(
            digits,
            observed.sum() * benford_second_digit(),
            "x",
            color="#999999",
            label="Benford 2BL",
        )
    low = min(band[:, 0].min(), observed.min())
    ax.set_ylim(low * 0.97, max(band[:, 1].max(), observed.max()) * 1.02)
    ax.set_xticks(digits)
    ax.set_xlabel("last digit" if result.test == "last_digit" else "second digit")
    ax.set_ylabel("counts")
    ax.set_title(
        f"{title}: {'last' if result.test == 'last_digit' else 'second'} digits\n"
        f"{_short(result.subject, 40)}: {_verdict_line(result)}",
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=3)
    _plain_counts(ax)
    _caption(
        fig,
        "Bars: how many counts end in each digit. Dots: what honest counting gives for "
        "counts of these sizes (simulated), with its 95% band.",
    )
    return fig


def two_digit_figure(results, title: str):
    """Repeated and adjacent last-two-digit shares, observed vs expected, per subject."""
    fig = _figure(9, max(3.5, 0.32 * len(results) + 2))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, naive in ((axes[0], "repeated", 0.1), (axes[1], "adjacent", 0.2)):
        subjects = [r.subject for r in results]
        observed = [r.details[f"{key}_share"] for r in results]
        expected = [r.details[f"{key}_expected"] for r in results]
        y = np.arange(len(results))
        ax.barh(y, observed, color="#3b6ea5", label="observed")
        ax.plot(expected, y, "o", color="#d9822b", label="expected (calibrated)")
        ax.axvline(naive, color="#999999", linestyle="--", label=f"naive {naive}")
        ax.set_yticks(y, [_short(v) for v in subjects], fontsize=7)
        ax.set_title(f"{key} last two digits", fontsize=9)
        ax.set_xlabel("share of counts")
    axes[0].legend(loc="upper left", bbox_to_anchor=(0.0, -0.14), fontsize=7, ncols=3)
    fig.suptitle(f"{title}: last two digits per candidate")
    _caption(
        fig,
        "Share of counts whose last two digits repeat (11, 22) or are adjacent (12, 21): "
        "bars observed, dots the honest expectation for counts of these sizes, dashed the "
        "naive 10% and 20%.",
    )
    return fig


def zero_five_figure(results, title: str):
    """Share of counts ending in 0 or 5 per subject, observed vs calibrated expectation."""
    fig = _figure(7, 4)
    ax = fig.subplots()
    rows = [r for r in results if "share" in r.details]
    y = np.arange(len(rows))
    ax.barh(y, [r.details["share"] for r in rows], color="#3b6ea5", label="observed")
    ax.plot(
        [r.details["expected_share"] for r in rows],
        y,
        "o",
        color="#d9822b",
        label="expected (calibrated)",
    )
    ax.axvline(0.2, color="#999999", linestyle="--", label="naive 0.2")
    ax.set_yticks(y, [_short(r.subject) for r in rows], fontsize=7)
    ax.set_xlabel("share of counts ending in 0 or 5")
    ax.set_title(f"{title}: counts ending in 0 or 5")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=3)
    _caption(fig, "Bars observed, dots the honest expectation for counts of these sizes.")
    return fig


def _digit_plots(results, out: Path, name: str) -> list[str]:
    national = [r for r in results if r.scope == "national" and r.verdict != "inconclusive"]
    paths = []
    for test in ("last_digit", "second_digit"):
        pooled = [r for r in national if r.test == test and r.subject == "pooled"]
        if pooled:
            paths.append(_save(digit_figure(pooled[0], name), out, f"digits_{test}"))
    two = [r for r in national if r.test == "last_two_digits"]
    if two:
        paths.append(_save(two_digit_figure(two, name), out, "digits_last_two"))
    five = [r for r in national if r.test == "zero_five"]
    if five:
        paths.append(_save(zero_five_figure(five, name), out, "digits_zero_five"))
    return paths


def save_report_plots(
    table: StationTable,
    leader: str,
    folder: str | Path,
    results=(),
    *,
    title: str | None = None,
) -> list[str]:
    """Save the standard figures for one file; return their paths."""
    out = make_output_dir(folder)
    name = title or Path(table.path).name
    cluster = next(
        (r for r in results if r.test == "high_turnout_cluster" and r.scope == "national"), None
    )
    corner = ""
    if cluster is not None and "observed" in cluster.details:
        corner = (
            f"\n{cluster.details['observed']:,} stations at 95/95 or above: "
            f"{_verdict_line(cluster)}"
        )
    paths = [
        _save(turnout_share_histograms(table, leader, name), out, "turnout_share_histograms"),
        _save(fingerprint(table, leader, f"{name}: stations{corner}"), out, "fingerprint"),
        _save(
            fingerprint(table, leader, f"{name}: registered voters", weighted=True),
            out,
            "fingerprint_weighted",
        ),
    ]
    paths += _digit_plots(results, out, name)
    fitted = [
        r
        for r in results
        if r.test == "fingerprint" and r.scope == "national" and r.verdict != "inconclusive"
    ]
    if fitted:
        paths.append(
            _save(
                fingerprint_model_figure(table, leader, fitted[0], name), out, "fingerprint_model"
            )
        )
    excess = next(
        (
            r
            for r in results
            if r.test == "excess_votes" and r.scope == "national" and r.verdict != "inconclusive"
        ),
        None,
    )
    if excess is not None:
        paths.append(_save(cumulative_figure(table, leader, name, excess), out, "cumulative_votes"))
    if any(r.scope.startswith("region=") for r in results):
        paths.append(_save(regional_fingerprints(table, leader, name), out, "fingerprint_regions"))
    return paths


def save_compare_plots(official: StationTable, data: dict, folder: str | Path) -> list[str]:
    """Official vs observed per station, per-candidate totals, observed/unobserved."""
    out = make_output_dir(folder)
    paths = []
    stations = data["stations"]
    fields = data["summary"]["compared_fields"]
    if "ballots_cast" in fields:
        fig = _figure(6, 6)
        ax = fig.subplots()
        reg = np.array([s["registered"] or np.nan for s in stations], dtype=float)
        off = np.array([s["official"]["ballots_cast"] for s in stations], dtype=float) / reg
        obs = np.array([s["observed"]["ballots_cast"] for s in stations], dtype=float) / reg
        flagged = np.array([s["flagged"] for s in stations])
        ax.scatter(100 * obs[~flagged], 100 * off[~flagged], s=12, color="#3b6ea5", label="agrees")
        ax.scatter(100 * obs[flagged], 100 * off[flagged], s=12, color="#c0392b", label="differs")
        top = np.nanmax(np.r_[off, obs, 0.01]) * 105
        ax.plot([0, top], [0, top], color="#888888", linewidth=1, label="official = observed")
        ax.set_xlabel("observers' turnout, %")
        ax.set_ylabel("official turnout, %")
        ax.set_title("Turnout per station")
        ax.legend(fontsize=8)
        paths.append(_save(fig, out, "compare_turnout"))
    candidates = [
        f for f in fields if f not in ("registered", "ballots_issued", "ballots_cast", "valid")
    ]
    if candidates:
        fig = _figure(8, 4.5)
        ax = fig.subplots()
        off = [sum(s["official"][c] or 0 for s in stations) for c in candidates]
        obs = [sum(s["observed"][c] or 0 for s in stations) for c in candidates]
        x = np.arange(len(candidates))
        ax.bar(x - 0.2, off, width=0.4, label="official", color="#c0392b")
        ax.bar(x + 0.2, obs, width=0.4, label="observers", color="#3b6ea5")
        ax.set_xticks(x, [_short(c) for c in candidates], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("votes at the matched stations")
        _plain_counts(ax)
        ax.set_title("Votes per candidate at the stations observers covered")
        ax.legend()
        _caption(
            fig,
            "Official protocol totals (red) and the observers' own tallies (blue), summed "
            "over the matched stations only.",
        )
        paths.append(_save(fig, out, "compare_candidates"))
    rows = {str(s["line"]) for s in stations}
    observed_mask = official.ids["line"].astype(str).isin(rows).to_numpy()
    turnout, _, _ = _ratios(official, data["input"]["leader"])
    t_num, t_den, ok_t, _ = turnout_parts(official)
    s_num, s_den, ok_s, _ = leader_share_parts(official, data["input"]["leader"])
    ok = ok_t & ok_s
    if ok.any() and observed_mask[ok].any() and (~observed_mask[ok]).any():
        fig = _figure(7, 4)
        ax = fig.subplots()
        values = 100 * t_num[ok] / t_den[ok]
        bins = np.linspace(0, 100, 101)
        ax.hist(
            values[~observed_mask[ok]],
            bins=bins,
            density=True,
            alpha=0.6,
            label="unobserved",
            color="#c0392b",
        )
        ax.hist(
            values[observed_mask[ok]],
            bins=bins,
            density=True,
            alpha=0.6,
            label="observed",
            color="#3b6ea5",
        )
        ax.set_xlabel("official turnout, %")
        ax.set_ylabel("share of stations")
        ax.set_title("Official turnout where observers were and were not")
        ax.legend()
        paths.append(_save(fig, out, "compare_observed_unobserved"))
    del turnout
    return paths


def save_calibration_plots(data: dict, folder: str | Path) -> list[str]:
    """False-positive rates with intervals against alpha; power curves per injection."""
    from matplotlib import colormaps

    out = make_output_dir(folder)
    records = [r for r in data["tests"] if r["false_positive_rate"] is not None]
    paths = []
    if records:
        fig = _figure(8, max(3, 0.28 * len(records) + 1))
        ax = fig.subplots()
        y = np.arange(len(records))
        rates = np.array([r["false_positive_rate"] for r in records])
        low = rates - np.array([r["interval"][0] for r in records])
        high = np.array([r["interval"][1] for r in records]) - rates
        colors = ["#c0392b" if r["calibrated"] is False else "#3b6ea5" for r in records]
        ax.errorbar(rates, y, xerr=[low, high], fmt="none", ecolor="#999999", capsize=2)
        ax.scatter(rates, y, c=colors, zorder=3)
        ax.axvline(data["parameters"]["alpha"], color="#d9822b", linestyle="--", label="alpha")
        ax.set_yticks(y, [f"{r['test']} / {r['subject']}"[:40] for r in records], fontsize=6)
        ax.set_xlabel("false-positive rate on clean twins")
        ax.legend(fontsize=8)
        name = Path(str(data["input"]["path"])).name
        ax.set_title(
            f"{name}: how often each test rejects {data['parameters']['sims']} clean twins",
            fontsize=9,
        )
        _caption(
            fig,
            "Dots: share of clean twins with p < alpha, 95% interval in grey; red: outside "
            "the range a calibrated test reaches by chance (its verdict needs care here).",
        )
        paths.append(_save(fig, out, "calibration_false_positives"))
    for kind in data["parameters"]["inject"]:
        fig = _figure(8, 5)
        ax = fig.subplots()
        ax.set_prop_cycle(color=list(colormaps["tab20"].colors))
        for r in data["tests"]:
            # a miscalibrated test's p < alpha rate says nothing: show its verdict instead
            key = "called_anomaly" if r.get("calibrated") is False else "power"
            points = sorted(
                (p["size"], p[key])
                for p in r.get("power", [])
                if p["kind"] == kind and p.get(key) is not None
            )
            if points and max(p for _, p in points) > 0.2:
                xs, ys = zip(*points, strict=True)
                label = f"{r['test']} / {r['subject']}"[:36]
                ax.plot(xs, ys, marker="o", label=label + (" (called)" if key != "power" else ""))
        battery = sorted(
            (p["size"], p["called_anomaly"])
            for p in (data.get("battery") or {}).get("power", [])
            if p["kind"] == kind and p["called_anomaly"] is not None
        )
        if battery:
            xs, ys = zip(*battery, strict=True)
            ax.plot(xs, ys, color="black", linewidth=2.5, label="whole battery (called)")
        ax.axhline(0.8, color="#999999", linestyle="--")
        sizes = sorted(
            {p["size"] for r in data["tests"] for p in r.get("power", []) if p["kind"] == kind}
        )
        ax.set_xscale("log", base=2)  # the sweep halves the size
        if sizes:
            ax.set_xticks(sizes, [f"{s:g}" for s in sizes])
            ax.minorticks_off()
        ax.set_xlabel(f"injected {kind} (log scale)")
        ax.set_ylabel("share of injected twins flagged")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=6)
        ax.set_title(
            f"{Path(str(data['input']['path'])).name}: power against injected {kind}", fontsize=9
        )
        _caption(
            fig,
            "Share of twins with the manipulation injected at each size that each test flags "
            "(p < alpha, or its verdict for a test that is not calibrated); dashed: 80%.",
        )
        paths.append(_save(fig, out, f"calibration_power_{kind}"))
    return paths


def _plain(text: object) -> str:
    """Data shown as text in a figure: a '$' must not start matplotlib's mathtext."""
    return str(text).replace("$", r"\$")


def save_crosscheck_plots(data: dict, folder: str | Path) -> list[str]:
    """Per pair: A against B per station, the differences; and flagged shares by region."""
    out = make_output_dir(folder)
    paths = []
    stations = data["stations"]
    tol_ballots = data["parameters"]["tolerance_ballots"]
    tol_share = data["parameters"]["tolerance_share_of_registered"]
    for k, pair in enumerate(data["summary"]["pairs"]):
        a, b, basis = pair["a"], pair["b"], pair["basis"]
        rows = [s for s in stations if s["values"].get(a) and s["values"].get(b)]
        name_a, name_b = _plain(a), _plain(b)
        if not rows:
            continue
        x = np.array([s["values"][a][basis] or np.nan for s in rows], dtype=float)
        y = np.array([s["values"][b][basis] or np.nan for s in rows], dtype=float)
        reg = np.array([s["values"][a]["registered"] or np.nan for s in rows], dtype=float)
        tol = np.maximum(tol_ballots, tol_share * np.nan_to_num(reg))
        flagged = np.abs(x - y) > tol
        word = "ballots issued" if basis == "ballots_issued" else "ballots cast"
        fig = _figure(6.5, 6.5)
        ax = fig.subplots()
        ok = np.isfinite(x) & np.isfinite(y)
        top = float(np.nanmax(np.r_[x[ok], y[ok], 1.0])) * 1.05
        # the tolerance depends on registered voters: its median per band of x
        edges = np.linspace(0, top, 41)
        which = np.clip(np.digitize(x[ok], edges) - 1, 0, len(edges) - 2)
        centres, bands = [], []
        for b_ in range(len(edges) - 1):
            inside = which == b_
            if inside.any():
                centres.append(float(np.median(x[ok][inside])))
                bands.append(float(np.median(tol[ok][inside])))
        xs, ts = np.array(centres), np.array(bands)
        ax.fill_between(
            xs,
            xs - ts,
            xs + ts,
            color="#bbbbbb",
            alpha=0.6,
            linewidth=0,
            label="tolerance (median station)",
        )
        ax.plot([0, top], [0, top], color="#555555", linewidth=1, label=f"{name_b} = {name_a}")
        ax.scatter(x[ok & ~flagged], y[ok & ~flagged], s=8, color="#3b6ea5", label="agree")
        ax.scatter(x[ok & flagged], y[ok & flagged], s=14, color="#c0392b", label="disagree")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(f"{word}: {name_a}")
        ax.set_ylabel(f"{word}: {name_b}")
        ax.set_title(f"{word.capitalize()} per station: {name_a} vs {name_b}")
        ax.legend(fontsize=8, loc="upper left")
        ax.ticklabel_format(style="plain", useOffset=False)
        paths.append(_save(fig, out, f"crosscheck_{k + 1}_scatter"))

        fig = _figure(7.5, 4.5)
        ax = fig.subplots()
        diff = (x - y)[ok]
        span = max(float(np.nanmax(np.abs(diff), initial=1.0)), 10.0)
        bins = np.linspace(-span, span, 81)
        ax.hist(diff, bins=bins, color="#3b6ea5")
        median_tol = float(np.median(tol[ok]))
        for sign in (-1, 1):
            ax.axvline(sign * median_tol, color="#c0392b", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel(f"{word}: {name_a} minus {name_b}")
        ax.set_ylabel("stations (log scale)")
        ax.set_title(
            f"Differences per station ({pair['flagged']:,} of {pair['stations']:,} beyond the "
            f"tolerance; dashed: the median station's tolerance, ±{median_tol:.0f})",
            fontsize=9,
        )
        paths.append(_save(fig, out, f"crosscheck_{k + 1}_differences"))

    national = [
        r for r in data["results"] if r["test"] == "crosscheck_issued" and r["scope"] == "national"
    ]
    regions = national[0]["details"].get("by_region", []) if national else []
    if len(regions) > 1:
        regions = sorted(regions, key=lambda r: r["share_flagged"])[-30:]
        fig = _figure(7.5, max(3.0, 0.28 * len(regions) + 1.2))
        ax = fig.subplots()
        names = [_plain(r["region"]) for r in regions]
        ax.barh(range(len(names)), [100 * r["share_flagged"] for r in regions], color="#c0392b")
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlabel("stations where the contests disagree, %")
        ax.set_title(
            f"Disagreeing stations by region ({_plain(national[0]['subject'])})", fontsize=10
        )
        paths.append(_save(fig, out, "crosscheck_regions"))
    return paths
