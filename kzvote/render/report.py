"""Shareable reports: one self-contained HTML file, or Markdown for CI and trackers.

The HTML has its CSS inline and its figures embedded as data URIs: opening it fetches
nothing. Every piece of data (file names, station ids, region and candidate names) is
escaped, so a name such as ``<script>`` stays text.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;
margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.anomaly{color:#b03020;font-weight:bold}.consistent{color:#2a7a2a}
.inconclusive{color:#a07000}.note{color:#555;font-size:.9rem}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _md(value: Any) -> str:
    """Markdown table cell / inline text: no pipes, no HTML, no line breaks."""
    text = "" if value is None else str(value)
    text = html.escape(text, quote=False).replace("|", "\\|").replace("`", "\\`")
    return " ".join(text.split())


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.0f}"
    return f"{int(value):,}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _crosscheck_sections(data: dict[str, Any]) -> dict[str, Any]:
    """The report's content, independent of the format."""
    summary = data["summary"]
    params = data["parameters"]
    headline = (
        f"{summary['flagged']:,} of {summary['matched']:,} stations "
        f"({_pct(summary['share_flagged'])}) show ballot counts that differ between the "
        "contests by more than the tolerance"
    )
    findings = []
    for pair in summary["pairs"]:
        extra = pair["extra_ballots_where_flagged"]
        basis = "ballots issued" if pair["basis"] == "ballots_issued" else "ballots cast"
        if pair["flagged"]:
            higher = max(extra, key=extra.get)
            lower = pair["b"] if higher == pair["a"] else pair["a"]
            findings.append(
                f"{pair['a']} vs {pair['b']}: {basis} differ at {pair['flagged']:,} of "
                f"{pair['stations']:,} stations; at those stations {higher} shows "
                f"{_num(extra[higher])} more ballots in all, and {lower} "
                f"{_num(extra[lower])} more."
            )
            national = next(
                (
                    r
                    for r in data["results"]
                    if r["test"] == "crosscheck_issued"
                    and r["scope"] == "national"
                    and r["subject"] == f"{pair['a']} vs {pair['b']}"
                ),
                None,
            )
            gain = national["details"].get("leader_gain") if national else None
            if gain:
                findings.append(
                    f"Where they disagree, the leader of {gain['contest']} "
                    f"({gain['leader']}) has {_pct(gain['leader_share_flagged'])} of the "
                    f"votes; at the other stations {_pct(gain['leader_share_elsewhere'])}."
                )
        else:
            findings.append(
                f"{pair['a']} vs {pair['b']}: {basis} agree within the tolerance at every "
                f"one of {pair['stations']:,} stations."
            )
        if pair["registered_differ"]:
            findings.append(
                f"{pair['a']} vs {pair['b']}: registered voters differ beyond the tolerance "
                f"at {pair['registered_differ']:,} stations (the voter lists should be the "
                "same)."
            )
    results = [r for r in data["results"] if r["scope"] == "national" or r["verdict"] == "anomaly"]
    causes = []
    for r in results:
        cause = r["details"].get("other_causes")
        if cause and r["verdict"] == "anomaly" and cause not in causes:
            causes.append(cause)
    return {
        "title": "Concurrent contests: do the protocols agree?",
        "headline": headline,
        "findings": findings,
        "results": results,
        "stations": [s for s in data["stations"] if s["flagged"]][:50],
        "labels": summary["contests"],
        "causes": causes,
        "method": (
            "Voters receive the ballots of every contest of the day at once, so the number "
            "of ballots issued (ballots cast where a file has no issued line) may differ "
            "between two contests only by a few papers. A station is flagged when the "
            f"difference is more than max({_num(params['tolerance_ballots'])} ballots, "
            f"{_pct(params['tolerance_share_of_registered'])} of registered voters). "
            "crosscheck_issued and crosscheck_registered are exact arithmetic; "
            "crosscheck_balance is an exact sign test of the differences (is one contest "
            "systematically higher?), called an anomaly only when the net difference is "
            "at least 0.5% of the ballots. p-values are adjusted "
            f"({params['adjustment']}) at alpha {params['alpha']}."
        ),
        "reproduce": {
            "kzvote": data["kzvote_version"],
            "schema": data["schema_version"],
            "files": [c["path"] for c in data["input"]["contests"]],
            "labels": data["summary"]["contests"],
            "seed": params["seed"],
            "join": data["input"]["join_key"],
        },
        "messages": summary["messages"],
        "plots": data.get("plots", []),
    }


def crosscheck_report(data: dict[str, Any], *, html: bool = True) -> str:
    """The crosscheck report as one HTML page (figures embedded) or as Markdown."""
    sections = _crosscheck_sections(data)
    return _html(sections) if html else _markdown(sections)


def _station_cells(row: dict[str, Any], labels: list[str]) -> list[str]:
    cells = [row["station_id"], row["region"]]
    for label in labels:
        values = row["values"].get(label) or {}
        issued = values.get("ballots_issued")
        cells.append(_num(issued if issued is not None else values.get("ballots_cast")))
    cells.append("; ".join(row["reasons"]))
    return cells


def _html(s: dict[str, Any]) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(s['title'])}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(s['title'])}</h1>",
        f"<p><strong>{_e(s['headline'])}.</strong></p>",
        "<ul>" + "".join(f"<li>{_e(f)}</li>" for f in s["findings"]) + "</ul>",
        "<h2>Tests</h2><table><tr><th>test</th><th>pair</th><th>scope</th><th>n</th>"
        "<th>result</th><th>p adj.</th><th>verdict</th></tr>",
    ]
    for r in s["results"]:
        p = r["p_adjusted"]
        out.append(
            f"<tr><td>{_e(r['test'])}</td><td>{_e(r['subject'])}</td><td>{_e(r['scope'])}</td>"
            f"<td class=n>{_e(_num(r['n']))}</td><td class=n>{_e(_num(r['statistic']))}</td>"
            f"<td class=n>{_e('—' if p is None else f'{p:.2g}')}</td>"
            f"<td class={_e(r['verdict'])}>{_e(r['verdict'])}</td></tr>"
        )
    out.append("</table>")
    for path in s["plots"]:
        try:
            encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        except OSError:
            continue
        out.append(f'<img alt="{_e(Path(path).stem)}" src="data:image/png;base64,{encoded}">')
    if s["stations"]:
        out.append("<h2>Stations that disagree (largest first)</h2><table><tr>")
        header = ["station", "region"] + [f"{label}" for label in s["labels"]] + ["why"]
        out.append("".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>")
        for row in s["stations"]:
            cells = _station_cells(row, s["labels"])
            out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
        out.append(
            "</table><p class=note>The full list: <code>--csv</code> or the JSON "
            "(<code>stations</code>).</p>"
        )
    if s["causes"]:
        out.append("<h2>What else could explain a disagreement</h2><ul>")
        out += [f"<li>{_e(c)}</li>" for c in s["causes"]]
        out.append("</ul>")
    out.append(f"<h2>Method</h2><p>{_e(s['method'])}</p>")
    out.append(
        "<p class=note>A disagreement shows where one protocol differs from the other, "
        "not which one is wrong, nor why. kzvote says <em>anomaly</em>, never fraud.</p>"
    )
    out.append("<h2>Reproduce</h2><ul>")
    for key, value in s["reproduce"].items():
        out.append(f"<li>{_e(key)}: {_e(value)}</li>")
    out.append("</ul>")
    if s["messages"]:
        out.append("<ul class=note>" + "".join(f"<li>{_e(m)}</li>" for m in s["messages"]))
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _markdown(s: dict[str, Any]) -> str:
    out = [f"# {_md(s['title'])}", "", f"**{_md(s['headline'])}.**", ""]
    out += [f"- {_md(f)}" for f in s["findings"]]
    out += ["", "## Tests", "", "| test | pair | scope | n | result | p adj. | verdict |"]
    out.append("|---|---|---|---:|---:|---:|---|")
    for r in s["results"]:
        p = r["p_adjusted"]
        out.append(
            f"| {_md(r['test'])} | {_md(r['subject'])} | {_md(r['scope'])} | "
            f"{_num(r['n'])} | {_num(r['statistic'])} | "
            f"{'—' if p is None else f'{p:.2g}'} | {_md(r['verdict'])} |"
        )
    if s["stations"]:
        header = ["station", "region"] + list(s["labels"]) + ["why"]
        out += ["", "## Stations that disagree (largest first)", ""]
        out.append("| " + " | ".join(_md(h) for h in header) + " |")
        out.append("|" + "---|" * len(header))
        for row in s["stations"]:
            out.append("| " + " | ".join(_md(c) for c in _station_cells(row, s["labels"])) + " |")
    if s["causes"]:
        out += ["", "## What else could explain a disagreement", ""]
        out += [f"- {_md(c)}" for c in s["causes"]]
    out += ["", "## Method", "", _md(s["method"]), ""]
    out += ["## Reproduce", ""] + [f"- {_md(k)}: {_md(v)}" for k, v in s["reproduce"].items()]
    if s["plots"]:
        out += ["", "Figures: " + ", ".join(_md(Path(p).name) for p in s["plots"])]
    return "\n".join(out) + "\n"
