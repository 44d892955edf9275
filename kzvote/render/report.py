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

from kzvote.render import words

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


def _head(title: str) -> str:
    """The page's opening: charset, viewport, title and the inline CSS (nothing fetched)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
    )


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
        _head(s["title"]),
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


#: the figure that shows each test's evidence (file stems written by plots.py)
FIGURE_OF = {
    "fingerprint": "fingerprint_model",
    "high_turnout_cluster": "fingerprint",
    "turnout_share_dependence": "fingerprint_regions",
    "excess_votes": "cumulative_votes",
    "integer_percent": "turnout_share_histograms",
    "multiple_of_5_percent": "turnout_share_histograms",
    "last_digit": "digits_last_digit",
    "second_digit": "digits_second_digit",
    "last_two_digits": "digits_last_two",
    "zero_five": "digits_zero_five",
}

REFERENCES = (
    "Klimek, Yegorov, Hanel & Thurner (2012). Statistical detection of systematic election "
    "irregularities. PNAS 109(41), 16469-16473. doi:10.1073/pnas.1210722109",
    "Kobak, Shpilkin & Pshenichnikov (2016). Integer percentages as electoral falsification "
    "fingerprints. Annals of Applied Statistics 10(1), 54-73. doi:10.1214/16-AOAS904",
    "Shpilkin (2009-2016): excess votes from the cumulative vote curves (Kobak, "
    "Shpilkin & Pshenichnikov 2016, Significance 13(4), 20-25)",
    "Beber & Scacco (2012). What the numbers say: a digit-based test for election fraud. "
    "Political Analysis 20(2), 211-234",
    "Mebane (2006, 2010): second-digit (2BL) tests; kzvote calibrates every digit test by "
    "simulating honest counts of the same sizes",
)


def _analyze_sections(data: dict[str, Any], title: str | None) -> dict[str, Any]:
    summary = data["summary"]
    leader = summary["leader"]
    plots = {Path(p).stem: p for p in data.get("plots", [])}
    anomalies = [r for r in data["results"] if r["verdict"] == "anomaly"]
    anomalies.sort(key=lambda r: r["scope"] != "national")
    explained = []
    for r in anomalies:
        causes = [words.OTHER_CAUSES.get(r["test"], "")]
        for key in ("other_causes", "assumption"):
            if r["details"].get(key):
                causes.append(str(r["details"][key]))
        explained.append(
            {
                "result": r,
                "sentence": words.sentence(r, leader),
                "what": words.WHAT.get(r["test"], r["method"]),
                "key": words.key_number(r),
                "causes": [c for c in causes if c],
                "figure": plots.get(FIGURE_OF.get(r["test"], "")),
            }
        )
    examples: dict[str, list[dict[str, Any]]] = {}
    for finding in data["integrity"]:
        rows = examples.setdefault(finding["code"], [])
        if len(rows) < 5:
            rows.append(finding)
    national = [r for r in data["results"] if r["scope"] == "national"]
    shown_figures = {e["figure"] for e in explained if e["figure"]}
    inp = data["input"]
    params = data["parameters"]
    return {
        "title": title or params.get("title") or f"kzvote analysis of {Path(inp['path']).name}",
        "headline": words.headline(data),
        "anomalies": explained,
        "integrity": data["integrity_summary"],
        "examples": examples,
        "stations": data.get("stations", [])[:50],
        "stations_total": len(data.get("stations", [])),
        "stations_summary": data.get("stations_summary", {}),
        "national": national,
        "other_results": len(data["results"]) - len(national),
        "votes": sorted(summary["votes"].items(), key=lambda kv: -(kv[1] or 0)),
        "shares": summary["shares"],
        "more_figures": [p for p in data.get("plots", []) if p not in shown_figures],
        "methods": [(name, words.WHAT[name]) for name in words.WHAT],
        "references": REFERENCES,
        "reproduce": {
            "kzvote": data["kzvote_version"],
            "schema": data["schema_version"],
            "file": inp["path"],
            "sha256": inp.get("sha256"),
            "stations": summary["stations"],
            "leader": inp["leader"],
            "seed": params["seed"],
            "alpha": params["alpha"],
            "adjustment": params["adjustment"],
            "by_region": params["by_region"],
            "options": params["options"],
            "calibrated_with": params.get("calibrated_with"),
        },
        "warnings": list(inp.get("mapping", {}).get("warnings", [])),
    }


def analyze_report(data: dict[str, Any], *, html: bool = True, title: str | None = None) -> str:
    """The analyze report as one self-contained HTML page or as Markdown."""
    sections = _analyze_sections(data, title)
    return _analyze_html(sections) if html else _analyze_markdown(sections)


def _img(path: str | None, alt: str) -> str:
    if not path:
        return ""
    try:
        encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    except OSError:
        return ""
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{encoded}">'


def _p(value: float | None) -> str:
    return "—" if value is None else words.p_text(value)


def _analyze_html(s: dict[str, Any]) -> str:
    out = [
        _head(s["title"]),
        f"<h1>{_e(s['title'])}</h1>",
        f"<p>{_e(s['headline'][0])}</p>",
        f"<p><strong>{_e(s['headline'][1])}</strong></p>",
    ]
    for warning in s["warnings"]:
        out.append(f"<p class=anomaly>Mapping forced despite: {_e(warning)}</p>")
    if s["anomalies"]:
        out.append("<ul>" + "".join(f"<li>{_e(a['sentence'])}</li>" for a in s["anomalies"]))
        out.append("</ul><h2>The anomalies, one by one</h2>")
    for a in s["anomalies"]:
        r = a["result"]
        out.append(
            f"<h3>{_e(r['test'])} — {_e(r['subject'])} ({_e(r['scope'])})</h3>"
            f"<p>{_e(a['sentence'])}</p>"
            f"<p><em>What was tested:</em> {_e(a['what'])}. <em>Key number:</em> "
            f"{_e(a['key'])}; {_e(_num(r['n']))} stations; p = {_e(_p(r['p_value']))}, "
            f"adjusted {_e(_p(r['p_adjusted']))}.</p>"
            f"<p class=note>Method: {_e(r['method'])}</p>"
        )
        for warning in r["warnings"]:
            out.append(f"<p class=note>Note: {_e(warning)}</p>")
        if a["causes"]:
            out.append("<p><em>What else could cause it:</em></p><ul>")
            out += [f"<li>{_e(c)}</li>" for c in a["causes"]]
            out.append("</ul>")
        out.append(_img(a["figure"], r["test"]))
    out.append("<h2>Integrity of the protocols</h2>")
    if not s["integrity"]:
        out.append("<p>Every protocol identity that could be checked holds.</p>")
    for code, entry in s["integrity"].items():
        out.append(
            f"<h3>{_e(code)}: {_e(_num(entry['count']))} ({_e(entry['severity'])})</h3>"
            f"<p>{_e(entry['explanation'])}</p><table><tr><th>line</th><th>region</th>"
            "<th>station</th><th>column</th><th>value</th><th>message</th></tr>"
        )
        for f in s["examples"].get(code, []):
            out.append(
                f"<tr><td class=n>{_e(f['line'])}</td><td>{_e(f.get('region'))}</td>"
                f"<td>{_e(f['station_id'])}</td>"
                f"<td>{_e(f['column'])}</td><td>{_e(f['value'])}</td>"
                f"<td>{_e(f['message'])}</td></tr>"
            )
        out.append("</table>")
    out.append(f"<h2>Stations behind the findings ({_e(_num(s['stations_total']))})</h2>")
    if s["stations"]:
        out.append(
            "<table><tr><th>#</th><th>region</th><th>station</th><th>registered</th>"
            "<th>turnout</th><th>leader share</th><th>reasons</th><th>notes</th></tr>"
        )
        for rank, st in enumerate(s["stations"], start=1):
            out.append(
                f"<tr><td class=n>{rank}</td><td>{_e(st['region'])}</td>"
                f"<td>{_e(st['station_id'])}</td><td class=n>{_e(_num(st['registered']))}</td>"
                f"<td class=n>{_e(_pct(st['turnout']))}</td>"
                f"<td class=n>{_e(_pct(st['leader_share']))}</td>"
                f"<td>{_e(', '.join(st['reasons']))}</td><td>{_e('; '.join(st['notes']))}</td>"
                "</tr>"
            )
        out.append("</table>")
        out.append(
            "<p class=note>The full list with every number: <code>kzvote analyze FILE "
            "--stations stations.csv</code> (or <code>stations</code> in the JSON). "
            "Rules of the reason codes:</p><ul class=note>"
        )
        rules = s["stations_summary"].get("rules", {})
        out += [f"<li><code>{_e(k)}</code>: {_e(v)}</li>" for k, v in rules.items()]
        out.append("</ul>")
    else:
        out.append("<p>No station is pointed at by any check.</p>")
    out.append(
        "<h2>Every national result</h2><table><tr><th>test</th><th>subject</th><th>n</th>"
        "<th>key number</th><th>p adj.</th><th>verdict</th></tr>"
    )
    for r in s["national"]:
        out.append(
            f"<tr><td>{_e(r['test'])}</td><td>{_e(r['subject'])}</td>"
            f"<td class=n>{_e(_num(r['n']))}</td><td>{_e(words.key_number(r))}</td>"
            f"<td class=n>{_e(_p(r['p_adjusted']))}</td>"
            f"<td class={_e(r['verdict'])}>{_e(r['verdict'])}</td></tr>"
        )
    out.append("</table>")
    if s["other_results"]:
        out.append(
            f"<p class=note>{_e(_num(s['other_results']))} regional results are in the "
            "JSON report.</p>"
        )
    out.append("<h2>Votes</h2><table><tr><th>candidate</th><th>votes</th><th>share</th></tr>")
    for name, votes in s["votes"]:
        out.append(
            f"<tr><td>{_e(name)}</td><td class=n>{_e(_num(votes))}</td>"
            f"<td class=n>{_e(_pct(s['shares'].get(name)))}</td></tr>"
        )
    out.append("</table>")
    if s["more_figures"]:
        out.append("<h2>More figures</h2>")
        out += [_img(p, Path(p).stem) for p in s["more_figures"]]
    out.append("<h2>Methods</h2><ul>")
    out += [f"<li><strong>{_e(name)}</strong>: {_e(what)}</li>" for name, what in s["methods"]]
    out.append("</ul><p>References:</p><ul>")
    out += [f"<li>{_e(ref)}</li>" for ref in s["references"]]
    out.append(
        "</ul><p class=note>An <em>anomaly</em> means the numbers differ from what honest "
        "counting produces under the test's model. It says where to look, not that anyone "
        "committed fraud; each anomaly above lists what else could cause it.</p>"
    )
    out.append("<h2>Reproduce</h2><ul>")
    for key, value in s["reproduce"].items():
        out.append(f"<li>{_e(key)}: <code>{_e(value)}</code></li>")
    out.append("</ul></body></html>")
    return "\n".join(o for o in out if o) + "\n"


def _analyze_markdown(s: dict[str, Any]) -> str:
    out = [f"# {_md(s['title'])}", "", _md(s["headline"][0]), "", f"**{_md(s['headline'][1])}**"]
    for warning in s["warnings"]:
        out += ["", f"Mapping forced despite: {_md(warning)}"]
    if s["anomalies"]:
        out.append("")
        out += [f"- {_md(a['sentence'])}" for a in s["anomalies"]]
        out += ["", "## The anomalies, one by one"]
    for a in s["anomalies"]:
        r = a["result"]
        out += [
            "",
            f"### {_md(r['test'])} — {_md(r['subject'])} ({_md(r['scope'])})",
            "",
            _md(a["sentence"]),
            "",
            f"What was tested: {_md(a['what'])}. Key number: {_md(a['key'])}; "
            f"{_num(r['n'])} stations; p = {_p(r['p_value'])}, adjusted {_p(r['p_adjusted'])}.",
        ]
        for warning in r["warnings"]:
            out += ["", f"Note: {_md(warning)}"]
        if a["causes"]:
            out += ["", "What else could cause it:"] + [f"- {_md(c)}" for c in a["causes"]]
        if a["figure"]:
            out += ["", f"Figure: `{_md(Path(a['figure']).name)}`"]
    out += ["", "## Integrity of the protocols", ""]
    if not s["integrity"]:
        out.append("Every protocol identity that could be checked holds.")
    for code, entry in s["integrity"].items():
        out.append(
            f"- `{_md(code)}`: {_num(entry['count'])} ({_md(entry['severity'])}) — "
            f"{_md(entry['explanation'])}"
        )
        for f in s["examples"].get(code, [])[:3]:
            out.append(
                f"  - line {_md(f['line'])}, {_md(f.get('region') or '')} station "
                f"{_md(f['station_id'])}: {_md(f['message'])}"
            )
    out += ["", f"## Stations behind the findings ({_num(s['stations_total'])})", ""]
    if s["stations"]:
        out.append("| # | region | station | turnout | leader share | reasons |")
        out.append("|---:|---|---|---:|---:|---|")
        for rank, st in enumerate(s["stations"][:25], start=1):
            out.append(
                f"| {rank} | {_md(st['region'])} | {_md(st['station_id'])} | "
                f"{_pct(st['turnout'])} | {_pct(st['leader_share'])} | "
                f"{_md(', '.join(st['reasons']))} |"
            )
        out += ["", "Full list: `kzvote analyze FILE --stations stations.csv`."]
    else:
        out.append("No station is pointed at by any check.")
    out += [
        "",
        "## Every national result",
        "",
        "| test | subject | key number | p adj. | verdict |",
    ]
    out.append("|---|---|---|---:|---|")
    for r in s["national"]:
        out.append(
            f"| {_md(r['test'])} | {_md(r['subject'])} | {_md(words.key_number(r))} | "
            f"{_p(r['p_adjusted'])} | {_md(r['verdict'])} |"
        )
    out += ["", "## Methods", ""]
    out += [f"- **{_md(name)}**: {_md(what)}" for name, what in s["methods"]]
    out += ["", "References:", ""] + [f"- {_md(ref)}" for ref in s["references"]]
    out += [
        "",
        "An *anomaly* means the numbers differ from what honest counting produces under the "
        "test's model; it says where to look, not that anyone committed fraud.",
        "",
        "## Reproduce",
        "",
    ]
    out += [f"- {_md(k)}: `{_md(v)}`" for k, v in s["reproduce"].items()]
    return "\n".join(out) + "\n"


def _compare_sections(data: dict[str, Any]) -> dict[str, Any]:
    summary = data["summary"]
    params = data["parameters"]
    flagged = [s for s in data["stations"] if s["flagged"]]
    turnout = next(
        (
            r
            for r in data["results"]
            if r["test"] == "observer_turnout" and r["scope"] == "national"
        ),
        None,
    )
    findings = [
        f"{summary['matched']:,} stations are in both files; at {summary['flagged']:,} of "
        "them the official protocol differs from the observers' tally beyond the tolerance."
    ]
    if turnout and "official_turnout" in turnout["details"]:
        d = turnout["details"]
        lo, hi = d["observed_interval"]
        findings.append(
            f"Official turnout at the observed stations {_pct(d['official_turnout'])}; the "
            f"observers counted {_pct(d['observed_turnout'])} ({_pct(lo)}-{_pct(hi)})."
        )
        lo, hi = d["extra_ballots_interval"]
        findings.append(
            f"The official count holds {_num(d['extra_ballots'])} more ballots than the "
            f"observers saw ({_num(lo)}-{_num(hi)})."
        )
        if "extrapolation" in d:
            e = d["extrapolation"]
            lo, hi = e["interval"]
            findings.append(
                f"Extrapolated to the whole file, turnout would be {_pct(e['turnout'])} "
                f"({_pct(lo)}-{_pct(hi)}) against the official {_pct(e['official_turnout'])}; "
                f"this assumes {e['assumption']}."
            )
    anomalies = [r for r in data["results"] if r["verdict"] == "anomaly"]
    return {
        "title": "Observers' tallies against the official count",
        "headline": f"{len(anomalies)} anomalies in {len(data['results'])} tests",
        "findings": findings,
        "results": data["results"],
        "fields": summary["compared_fields"][:8],
        "stations": flagged[:50],
        "flagged_total": len(flagged),
        "unmatched": data["unmatched"]["observed_only"][:50],
        "messages": summary["messages"],
        "method": (
            "Each observed station is joined to the official one by its id. A station is "
            f"flagged when a count differs by more than max({_num(params['tolerance_ballots'])}"
            f" ballots, {_pct(params['tolerance_share_of_registered'])} of registered) "
            f"(observer counts: {params['observer_counts']}). The tests compare the official "
            "and observed totals (turnout, each candidate) with intervals that account for "
            "the observed stations being a sample, and official turnout where observers "
            f"stood against where they did not; p-values adjusted ({params['adjustment']}) "
            f"at alpha {params['alpha']}."
        ),
        "reproduce": {
            "kzvote": data["kzvote_version"],
            "schema": data["schema_version"],
            "official": data["input"]["official"]["path"],
            "observed": data["input"]["observed"]["path"],
            "seed": params["seed"],
        },
        "plots": data.get("plots", []),
    }


def compare_report(data: dict[str, Any], *, html: bool = True) -> str:
    """The compare report as one HTML page (figures embedded) or as Markdown."""
    s = _compare_sections(data)
    if not html:
        out = [f"# {_md(s['title'])}", "", f"**{_md(s['headline'])}.**", ""]
        out += [f"- {_md(f)}" for f in s["findings"]]
        out += ["", "## Tests", "", "| test | subject | scope | p adj. | verdict |"]
        out.append("|---|---|---|---:|---|")
        for r in s["results"]:
            out.append(
                f"| {_md(r['test'])} | {_md(r['subject'])} | {_md(r['scope'])} | "
                f"{_p(r['p_adjusted'])} | {_md(r['verdict'])} |"
            )
        out += ["", f"## Stations that differ ({_num(s['flagged_total'])})", ""]
        header = ["station", "region"] + [f"{f} official/observed" for f in s["fields"]]
        out.append("| " + " | ".join(_md(h) for h in header) + " |")
        out.append("|" + "---|" * len(header))
        for row in s["stations"]:
            cells = [row["station_id"], row["region"]] + [
                f"{_num(row['official'][f])}/{_num(row['observed'][f])}" for f in s["fields"]
            ]
            out.append("| " + " | ".join(_md(c) for c in cells) + " |")
        out += ["", "## Method", "", _md(s["method"]), "", "## Reproduce", ""]
        out += [f"- {_md(k)}: `{_md(v)}`" for k, v in s["reproduce"].items()]
        return "\n".join(out) + "\n"
    out = [
        _head(s["title"]),
        f"<h1>{_e(s['title'])}</h1><p><strong>{_e(s['headline'])}.</strong></p>",
        "<ul>" + "".join(f"<li>{_e(f)}</li>" for f in s["findings"]) + "</ul>",
        "<h2>Tests</h2><table><tr><th>test</th><th>subject</th><th>scope</th>"
        "<th>p adj.</th><th>verdict</th></tr>",
    ]
    for r in s["results"]:
        out.append(
            f"<tr><td>{_e(r['test'])}</td><td>{_e(r['subject'])}</td><td>{_e(r['scope'])}</td>"
            f"<td class=n>{_e(_p(r['p_adjusted']))}</td>"
            f"<td class={_e(r['verdict'])}>{_e(r['verdict'])}</td></tr>"
        )
    out.append("</table>")
    out += [_img(p, Path(p).stem) for p in s["plots"]]
    out.append(f"<h2>Stations that differ ({_e(_num(s['flagged_total']))})</h2><table><tr>")
    header = ["station", "region"] + [f"{f} official / observed" for f in s["fields"]]
    out.append("".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>")
    for row in s["stations"]:
        cells = [row["station_id"], row["region"]] + [
            f"{_num(row['official'][f])} / {_num(row['observed'][f])}" for f in s["fields"]
        ]
        out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    if s["unmatched"]:
        out.append(
            "<p class=note>Observers' stations not in the official file: "
            + _e(", ".join(s["unmatched"]))
            + "</p>"
        )
    out += [f"<p class=note>{_e(m)}</p>" for m in s["messages"]]
    out.append(f"<h2>Method</h2><p>{_e(s['method'])}</p>")
    out.append(
        "<p class=note>A difference says where the official protocol and the observers' "
        "tally disagree, not who is to blame. kzvote says <em>anomaly</em>, never fraud.</p>"
    )
    out.append("<h2>Reproduce</h2><ul>")
    out += [f"<li>{_e(k)}: <code>{_e(v)}</code></li>" for k, v in s["reproduce"].items()]
    out.append("</ul></body></html>")
    return "\n".join(out) + "\n"
