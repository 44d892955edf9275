"""Rich renderables for the console. Built here, printed once by the CLI."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kzvote.render import words

VERDICT_STYLE = {"anomaly": "bold red", "consistent": "green", "inconclusive": "yellow"}
MAX_ROWS = 20


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return escape(str(value))


def _p(value: float | None) -> str:
    return words.p_text(value)


def _table(title: str | None = None, **kwargs) -> Table:
    """A table that fits 80 columns: no vertical rules, a rule under the header."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, **kwargs)


def headline(data: dict[str, Any]) -> Group:
    """The file, what it holds, how many anomalies, and one sentence per national
    anomaly (regional ones are counted here and listed in the tables below)."""
    text = Text()
    text.append(str(data["input"]["path"]), style="bold")
    text.append("\n")
    first, second = words.headline(data)
    text.append(first + "\n")
    anomalies = [r for r in data["results"] if r["verdict"] == "anomaly"]
    if data["parameters"].get("calibrated_with"):
        second = second.rstrip(".") + "; national p-values empirical, from clean twins."
    text.append(second, style="bold red" if anomalies else "bold green")
    national = [r for r in anomalies if r["scope"] == "national"]
    regional = [r for r in anomalies if r["scope"] != "national"]
    leader = data["summary"]["leader"]
    bullets = Table.grid(padding=(0, 1))
    bullets.add_column(no_wrap=True, style="red")
    bullets.add_column(overflow="fold")
    for r in national[:6]:
        bullets.add_row("*", words.sentence(r, leader))
    if len(national) > 6:
        bullets.add_row("", f"... {len(national) - 6} more in the table below")
    if regional:
        places = sorted({r["scope"].split("=", 1)[-1] for r in regional})
        shown = ", ".join(places[:4]) + (f" and {len(places) - 4} more" if len(places) > 4 else "")
        bullets.add_row("*", f"{len(regional)} anomalies in {len(places)} regions: {shown}.")
    return Group(text, bullets, Text(""))


def summary_panel(data: dict[str, Any]) -> Table:
    """The candidates' votes and shares (the headline gives the rest)."""
    summary = data["summary"]
    shares = sorted(summary["shares"].items(), key=lambda kv: -(kv[1] or 0))
    parties = _table("Votes")
    parties.add_column("candidate", overflow="fold")
    parties.add_column("votes", justify="right", no_wrap=True)
    parties.add_column("share of valid", justify="right", no_wrap=True)
    for name, share in shares[:MAX_ROWS]:
        parties.add_row(escape(name), _num(summary["votes"][name]), _pct(share))
    if len(shares) > MAX_ROWS:
        parties.add_row(f"... {len(shares) - MAX_ROWS} more", "", "")
    parties.caption = (
        f"registered {_num(summary['registered'])}, ballots cast "
        f"{_num(summary['ballots_cast'])}, turnout {_pct(summary['turnout'])} "
        f"({summary['turnout_basis']} / registered)"
    )
    parties.caption_justify = "left"
    return parties


def integrity_table(data: dict[str, Any]) -> Table | Text:
    counts = data["integrity_summary"]
    if not counts:
        return Text(
            "Integrity: every protocol identity that could be checked holds.", style="green"
        )
    table = _table("Integrity findings")
    table.add_column("code", no_wrap=True)
    table.add_column("stations", justify="right", no_wrap=True)
    table.add_column("what it means; first example", overflow="fold")
    first = {}
    for finding in data["integrity"]:
        first.setdefault(finding["code"], finding)
    for code, entry in counts.items():
        f = first.get(code, {})
        example = ""
        if f.get("line") is not None:
            station = f.get("station_id") or ""
            if f.get("region"):
                station = f"{station} ({f['region']})" if station else f["region"]
            example = (
                f"; line {f['line']}"
                + (f", station {station}" if station else "")
                + (f", {f.get('column')}" if f.get("column") else "")
                + (f" = {f.get('value')}" if f.get("value") not in (None, "") else "")
            )
        severity = "" if entry["severity"] == "error" else " (warning)"
        table.add_row(
            Text(code, style="red" if entry["severity"] == "error" else "yellow"),
            _num(entry["count"]),
            escape((entry["explanation"] + severity + example)[:200]),
        )
    return table


def anomalies_table(data: dict[str, Any], *, show_all: bool = False) -> Table | None:
    """The anomalies (or, with ``show_all``, every result), each with its key number."""
    rows = data["results"]
    order = sorted(
        range(len(rows)),
        key=lambda i: (rows[i]["verdict"] != "anomaly", rows[i]["scope"] != "national", i),
    )
    if not show_all:
        order = [i for i in order if rows[i]["verdict"] == "anomaly"]
    if not order:
        return None
    title = "All results" if show_all else "Anomalies"
    table = _table(title)
    limit = 400 if show_all else 40
    shown = order[:limit]
    widest = max(len(rows[i]["test"]) for i in shown)
    regional = any(rows[i]["scope"] != "national" for i in shown)
    table.add_column("test", no_wrap=True, min_width=widest)
    table.add_column("subject", overflow="fold", ratio=2)
    if regional:
        table.add_column("region", overflow="fold", ratio=2)
    table.add_column("key number", overflow="fold", ratio=3, min_width=12)
    table.add_column("p adj.", justify="right", no_wrap=True)
    if show_all:
        table.add_column("verdict", no_wrap=True)
    for i in shown:
        r = rows[i]
        cells = [r["test"], escape(str(r["subject"]))]
        if regional:
            cells.append(escape(str(r["scope"]).removeprefix("region=")))
        cells += [escape(words.key_number(r)), _p(r["p_adjusted"])]
        if show_all:
            cells.append(Text(r["verdict"], style=VERDICT_STYLE.get(r["verdict"], "")))
        table.add_row(*cells)
    if len(order) > limit:
        table.caption = f"{len(order) - limit} more rows in the JSON report (--json)"
    return table


def _collapsed(data: dict[str, Any]) -> Text:
    """The consistent and inconclusive results in two lines."""
    text = Text()
    by_verdict: dict[str, dict[str, int]] = {}
    for r in data["results"]:
        tests = by_verdict.setdefault(r["verdict"], {})
        tests[r["test"]] = tests.get(r["test"], 0) + 1
    for verdict in ("consistent", "inconclusive"):
        tests = by_verdict.get(verdict)
        if not tests:
            continue
        total = sum(tests.values())
        listed = ", ".join(f"{name} {k}" for name, k in tests.items())
        text.append(f"{total} {verdict}: ", style=VERDICT_STYLE[verdict])
        text.append(listed + "\n")
    if text:
        text.append("(--all lists every result; the JSON has them all)\n", style="dim")
    return text


def stations_table(data: dict[str, Any], limit: int = 10) -> Table | Text | None:
    stations = data.get("stations") or []
    summary = data.get("stations_summary") or {}
    if not stations:
        return Text("Stations behind the findings: none.", style="green")
    table = _table(
        f"Stations behind the findings: {len(stations):,} "
        f"({_pct(summary.get('share_of_stations'))} of stations), strongest first"
    )
    table.add_column("region", overflow="fold", ratio=2)
    table.add_column("station", overflow="fold", ratio=2)
    table.add_column("turnout", justify="right", no_wrap=True)
    table.add_column("share", justify="right", no_wrap=True)
    table.add_column("reasons", overflow="fold", ratio=4)
    for s in stations[:limit]:
        table.add_row(
            escape(s["region"] or "-"),
            escape(s["station_id"]),
            _pct(s["turnout"]),
            _pct(s["leader_share"]),
            escape(", ".join(s["reasons"])),
        )
    by_reason = summary.get("by_reason") or {}
    caption = ", ".join(f"{code} {k:,}" for code, k in by_reason.items())
    if len(stations) > limit:
        caption += f". All {len(stations):,}: --stations FILE.csv or the JSON"
    table.caption = caption
    table.caption_justify = "left"
    return table


def regions_table(data: dict[str, Any]) -> Table | None:
    """--by-region: one row per region with its anomalies and key estimate."""
    regions = data["summary"].get("regions") or []
    scoped = [r for r in data["results"] if r["scope"].startswith("region=")]
    if not regions or not scoped:
        return None
    anomalies: dict[str, int] = {}
    excess: dict[str, float] = {}
    for r in scoped:
        name = r["scope"].split("=", 1)[1]
        if r["verdict"] == "anomaly":
            anomalies[name] = anomalies.get(name, 0) + 1
        if r["test"] == "excess_votes" and r["details"].get("excess_votes") is not None:
            excess[name] = r["details"]["excess_votes"]
    table = _table("Regions (most anomalies first)")
    table.add_column("region", overflow="fold", ratio=3)
    table.add_column("stations", justify="right", no_wrap=True)
    table.add_column("turnout", justify="right", no_wrap=True)
    table.add_column("leader", justify="right", no_wrap=True)
    table.add_column("anomalies", justify="right", no_wrap=True)
    table.add_column("excess votes", justify="right", no_wrap=True)
    order = sorted(regions, key=lambda g: (-anomalies.get(str(g["region"]), 0), str(g["region"])))
    for g in order[: MAX_ROWS * 5]:
        name = str(g["region"])
        table.add_row(
            escape(name),
            _num(g["stations"]),
            _pct(g["turnout"]),
            _pct(g["leader_share"]),
            str(anomalies.get(name, 0)),
            words.count(excess.get(name)),
        )
    if len(order) > MAX_ROWS * 5:
        table.caption = f"{len(order) - MAX_ROWS * 5} more regions in the JSON"
    return table


def results_table(data: dict[str, Any], *, max_rows: int = 60) -> Table:
    """Every result with its numbers (compare uses it; analyze --all too)."""
    title = "Tests" if data.get("command") == "compare" else "Forensic tests"
    table = _table(title)
    rows = data["results"]
    widest = max((len(r["test"]) for r in rows), default=4)
    table.add_column("test", no_wrap=True, min_width=widest)
    table.add_column("subject", overflow="fold", ratio=2)
    table.add_column("scope", overflow="fold", ratio=2)
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("effect", justify="right", no_wrap=True)
    table.add_column("p adj.", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    rows = data["results"]
    order = sorted(
        range(len(rows)),
        key=lambda i: (rows[i]["scope"] != "national", rows[i]["verdict"] != "anomaly", i),
    )
    for i in order[:max_rows]:
        r = rows[i]
        table.add_row(
            r["test"],
            escape(str(r["subject"])),
            escape(str(r["scope"])),
            _num(r["n"]),
            _num(r["effect"]),
            _p(r["p_adjusted"]),
            Text(r["verdict"], style=VERDICT_STYLE.get(r["verdict"], "")),
        )
    if len(rows) > max_rows:
        table.caption = f"{len(rows) - max_rows} more rows in the JSON report (--json)"
    return table


def notes(data: dict[str, Any]) -> Text:
    text = Text()
    for warning in data["input"].get("mapping", {}).get("warnings", []):
        text.append(f"mapping: {warning}\n", style="bold red")
    for note in data["input"].get("reading_notes", []):
        if "guessed" in note:
            text.append(f"reading: {note}\n", style="yellow")
    aggregates = data.get("summary", {}).get("aggregate_rows")
    if aggregates:
        text.append(
            f"{aggregates} aggregate rows (electronic voting, totals): counted in the totals, "
            "kept out of the station-level tests (integrity: aggregate_row)\n",
            style="yellow",
        )
    anomalies = [r for r in data["results"] if r["verdict"] == "anomaly"]
    for r in anomalies[:8]:
        for warning in r["warnings"]:
            text.append(
                f"note ({r['test']}, {r['subject']}, {r['scope']}): {warning}\n", style="yellow"
            )
        if r["test"] == "arithmetic":
            text.append(
                f"{r['subject']}: {r['details']['stations_failing']} stations. "
                f"Other causes: {r['details']['other_causes']}.\n",
                style="dim",
            )
    for r in data["results"]:
        if r["verdict"] == "inconclusive" and r["warnings"]:
            text.append(
                f"inconclusive ({r['test']}, {r['subject']}, {r['scope']}): {r['warnings'][0]}\n",
                style="yellow",
            )
            break
    params = data["parameters"]
    if params.get("calibrated_with"):
        text.append(
            f"p-values of the national tests are EMPIRICAL: (k + 1) / (n + 1) over the "
            f"{params.get('calibration_twins')} clean twins of {params['calibrated_with']} "
            "(kzvote calibrate); the model p is in details.p_model\n",
            style="bold yellow",
        )
    for warning in params.get("calibration_warnings") or []:
        text.append(f"calibration: {warning}\n", style="yellow")
    text.append(
        f"alpha {params['alpha']}, p-values adjusted over the whole battery "
        f"({params['adjustment']}), seed {params['seed']}. ",
        style="dim",
    )
    text.append(
        "'anomaly' means the numbers differ from what honest counting produces under the "
        "test's model; it is not proof of fraud. See the README, 'Reading the verdicts'.",
        style="dim",
    )
    return text


def report_renderable(data: dict[str, Any], *, show_all: bool = False) -> Group:
    """Headline, anomalies, integrity, stations, regions, the rest collapsed."""
    parts: list[Any] = [headline(data)]
    table = anomalies_table(data, show_all=show_all)
    if table is not None:
        parts.append(table)
    parts.append(integrity_table(data))
    stations = stations_table(data)
    if stations is not None:
        parts.append(stations)
    regions = regions_table(data)
    if regions is not None:
        parts.append(regions)
    if not show_all:
        parts.append(_collapsed(data))
    sweep = _sweep_table(data)
    if sweep is not None and (show_all or _integer_anomaly(data)):
        parts.append(sweep)
    parts.append(summary_panel(data))
    parts.append(notes(data))
    if data["plots"]:
        parts.append(
            Text(
                f"plots: {len(data['plots'])} files in {escape(str(_common_dir(data['plots'])))}",
                style="dim",
            )
        )
    return Group(*parts)


def _integer_anomaly(data: dict[str, Any]) -> bool:
    return any(
        r["test"] == "integer_percent" and r["verdict"] == "anomaly" for r in data["results"]
    )


def _sweep_table(data: dict[str, Any]) -> Table | None:
    for r in data["results"]:
        if r["test"] == "integer_percent" and r["subject"] == "either" and r["scope"] == "national":
            sweep = r["details"].get("size_sweep")
            if not sweep:
                return None
            table = _table("Integer percentages by station size (turnout or share)")
            for col in ("registered >=", "stations", "observed", "expected", "excess", "z"):
                table.add_column(col, justify="right")
            for row in sweep:
                table.add_row(
                    str(row["min_registered"]),
                    _num(row["n"]),
                    _num(row.get("observed")),
                    _num(row.get("expected")),
                    _num(row.get("excess")),
                    _num(row.get("z")),
                )
            return table
    return None


def _common_dir(paths: list[str]) -> str:
    import os

    return os.path.commonpath(paths) if paths else ""


def multi_summary(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="All files", title_justify="left")
    for col in ("file", "stations", "turnout", "leader", "anomalies", "inconclusive"):
        table.add_column(col)
    for row in rows:
        table.add_row(
            escape(row["file"]),
            _num(row["stations"]),
            _pct(row["turnout"]),
            escape(row["leader"]),
            str(row["anomalies"]),
            str(row["inconclusive"]),
        )
    return table


def columns_renderable(table_info: dict[str, Any]) -> Group:
    mapping = table_info["mapping"]
    t = Table(title=f"Columns of {escape(table_info['path'])}", title_justify="left")
    t.add_column("kzvote field")
    t.add_column("from header(s)")
    for name, headers in mapping["fields"].items():
        t.add_row(name, escape(" + ".join(headers)))
    for name, header in mapping["candidates"].items():
        t.add_row(f"candidate: {escape(name)}", escape(header))
    parts: list[Any] = [t]
    if mapping.get("warnings"):
        parts.append(
            Text(
                "plausibility check: the mapping does not add up (analyze stops with "
                "implausible_mapping unless --force):",
                style="bold red",
            )
        )
        for warning in mapping["warnings"]:
            parts.append(Text("  " + warning.split(": ", 1)[-1], style="red"))
    else:
        parts.append(Text("plausibility check: the mapping adds up", style="green"))
    if table_info.get("aggregate_rows"):
        parts.append(
            Text(
                f"{table_info['aggregate_rows']} aggregate rows (electronic voting, totals): "
                "counted in the totals, kept out of the station-level tests",
                style="yellow",
            )
        )
    reasons = mapping.get("ignored_reasons", {})
    for header in mapping["ignored"][:60]:
        parts.append(Text(f"ignored: {header} ({reasons.get(header, 'not used')})", style="dim"))
    if len(mapping["ignored"]) > 60:
        parts.append(Text(f"... {len(mapping['ignored']) - 60} more ignored", style="dim"))
    parts.append(Text("how it was read: " + "; ".join(table_info["source_notes"]), style="dim"))
    for note in mapping["notes"]:
        parts.append(Text("- " + note))
    parts.append(
        Text(
            "Override with --map FIELD=HEADER (FIELD=A+B sums columns; "
            "--map candidates=A+B lists candidates) or --mapping FILE.toml.",
            style="dim",
        )
    )
    return Group(*parts)


def _observed_columns(mapping: dict[str, Any], summary: dict[str, Any]) -> Text:
    """Every column of the observers' file: compared, or ignored and why."""
    text = Text()
    used = [f"{name} <- {' + '.join(headers)}" for name, headers in mapping["fields"].items()]
    used += [f"{name} <- {header}" for name, header in mapping["candidates"].items()]
    text.append("observers' columns read: " + "; ".join(used) + "\n")
    text.append("compared: " + (", ".join(summary["compared_fields"]) or "nothing") + "\n")
    reasons = mapping.get("ignored_reasons", {})
    if mapping["ignored"]:
        text.append(
            "observers' columns not read: "
            + "; ".join(f"{h} ({reasons.get(h, 'ignored')})" for h in mapping["ignored"][:12]),
            style="yellow",
        )
    return text


def compare_renderable(data: dict[str, Any]) -> Group:
    """Summary, worst stations first, the tests, unmatched ids."""
    summary = data["summary"]
    parts: list[Any] = []
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("official", escape(data["input"]["official"]["path"]))
    grid.add_row("observers", escape(data["input"]["observed"]["path"]))
    grid.add_row("mode", data["parameters"]["observer_counts"])
    grid.add_row(
        "stations",
        f"{summary['matched']:,} matched, {summary['flagged']:,} flagged, "
        f"{len(data['unmatched']['observed_only']):,} observers' stations not in the official file",
    )
    turnout = next(
        (
            r
            for r in data["results"]
            if r["test"] == "observer_turnout" and r["scope"] == "national"
        ),
        None,
    )
    if turnout and "official_turnout" in turnout["details"]:
        d = turnout["details"]
        lo, hi = d["official_interval"]
        grid.add_row("official turnout", f"{_pct(d['official_turnout'])} [{_pct(lo)}, {_pct(hi)}]")
        lo, hi = d["observed_interval"]
        grid.add_row(
            "observers' turnout", f"{_pct(d['observed_turnout'])} [{_pct(lo)}, {_pct(hi)}]"
        )
        lo, hi = d["extra_ballots_interval"]
        grid.add_row(
            "extra official ballots", f"{_num(d['extra_ballots'])} [{_num(lo)}, {_num(hi)}]"
        )
        if "extrapolation" in d:
            e = d["extrapolation"]
            lo, hi = e["interval"]
            official = _pct(e["official_turnout"])
            grid.add_row(
                "extrapolated turnout",
                f"{_pct(e['turnout'])} [{_pct(lo)}, {_pct(hi)}] (official {official})",
            )
    parts.append(Panel(grid, title="Observers vs official", expand=False))
    parts.append(_observed_columns(data["input"]["observed"]["mapping"], summary))
    stations = Table(title="Stations, largest differences first", title_justify="left")
    fields = summary["compared_fields"]
    stations.add_column("station")
    stations.add_column("flag")
    shown = fields[:6]
    for name in shown:
        stations.add_column(f"{escape(name)}\nofficial/observed", justify="right")
    for row in data["stations"][:MAX_ROWS]:
        cells = [
            escape(row["station_id"]),
            Text("differs", style="bold red") if row["flagged"] else Text("ok", style="green"),
        ]
        for name in shown:
            off, obs = row["official"][name], row["observed"][name]
            cells.append(f"{_num(off)} / {_num(obs)}")
        stations.add_row(*cells)
    if len(data["stations"]) > MAX_ROWS:
        stations.caption = f"{len(data['stations']) - MAX_ROWS} more in --json / --csv"
    parts.append(stations)
    parts.append(results_table(data))
    text = Text()
    for message in summary["messages"]:
        text.append(f"note: {message}\n", style="yellow")
    unmatched = data["unmatched"]["observed_only"]
    if unmatched:
        text.append(
            "not in the official file: "
            + ", ".join(unmatched[:10])
            + ("…" if len(unmatched) > 10 else "")
            + "\n",
            style="yellow",
        )
    if turnout and "extrapolation" in turnout.get("details", {}):
        text.append(
            "extrapolation assumes: " + turnout["details"]["extrapolation"]["assumption"] + "\n",
            style="dim",
        )
    text.append(
        "'anomaly' means the official numbers differ from the observers' beyond chance or "
        "tolerance; it says where to look, not who is to blame.",
        style="dim",
    )
    parts.append(text)
    return Group(*parts)


DETECTED = ("detectable_at_80_percent", "called_at_80_percent")  # by p < alpha, by verdict
#: short column heads of the power table
_KIND_LABEL = {
    "whole_percent": "whole %",
    "stuffing_incremental": "incremental",
    "stuffing_extreme": "extreme",
    "invented": "invented",
}


def calibration_renderable(data: dict[str, Any]) -> Group:
    """False-positive rate per test, with the power sweep when there is one."""
    params = data["parameters"]
    table = _table(
        f"Calibration on {params['sims']} clean twins of {escape(data['input']['path'])} "
        f"(alpha {params['alpha']})"
    )
    table.add_column("test and subject", overflow="fold")
    table.add_column("twins", justify="right")
    table.add_column("p < alpha [95%]", no_wrap=True)
    table.add_column("calibrated", no_wrap=True)
    table.add_column("called", justify="right", no_wrap=True)
    inject = list(params["inject"])
    power = _table("Power: smallest injected size caught in 80% of twins")
    power.add_column("test and subject", overflow="fold")
    power.add_column("injected", no_wrap=True)
    power.add_column("p < alpha from", justify="right", no_wrap=True)
    power.add_column("called from", justify="right", no_wrap=True)
    for record in data["tests"]:
        rate = record["false_positive_rate"]
        interval = record["interval"]
        ok = record["calibrated"]
        label = f"{record['test']} {escape(str(record['subject']))}"
        shown_rate = "-" if rate is None else f"{rate:.1%}"
        if interval is not None:
            shown_rate += f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"
        table.add_row(
            label,
            str(record["sims"]),
            shown_rate,
            Text(
                "-" if ok is None else ("yes" if ok else "NO"),
                style="" if ok is None else ("green" if ok else "bold red"),
            ),
            "-" if record.get("false_alarm_rate") is None else f"{record['false_alarm_rate']:.1%}",
        )
        for kind in inject:
            sizes = [record.get(key, {}).get(kind) for key in DETECTED]
            if sizes == [None, None]:  # tests that catch nothing are left out
                continue
            shown = ["-" if size is None else f"{size:g}" for size in sizes]
            power.add_row(label, _KIND_LABEL.get(kind, kind), *shown)
    note = Text(
        "A test marked NO rejects clean twins of this election more (or less) often than "
        "alpha: treat its verdict here with care, or use analyze --calibrated. 'called "
        "anomaly' is how often the verdict (after adjustment and, for the fingerprint, the "
        "materiality rules) said anomaly on a clean twin. Power: the smallest injected "
        "size from which the test's p < alpha, or its verdict said anomaly (called), in 80% "
        "of injected twins at every larger size tried ('-': not reached; tests that reach "
        "nothing are left out); for a test marked NO only 'called' means anything.",
        style="dim",
    )
    parts: list[Any] = [table]
    if inject and power.row_count:
        parts.append(power)
    battery = data.get("battery") or {}
    if battery.get("false_alarm_rate") is not None:
        low, high = battery["interval"]
        line = Text(
            f"Whole battery: at least one national 'anomaly' on "
            f"{battery['false_alarm_rate']:.1%} of {battery['sims']} clean twins "
            f"[{low:.1%}, {high:.1%}]."
        )
        for row in battery.get("power", []):
            if row["called_anomaly"] is not None:
                line.append(
                    f" {row['kind']}={row['size']:g}: {row['called_anomaly']:.0%} of "
                    f"{row['sims']} injected twins flagged."
                )
        parts.append(line)
    fid = data.get("fidelity")
    if fid:
        parts.append(
            Text(
                (
                    "Twins resemble the file: yes, "
                    if fid["resembles"]
                    else "Twins resemble the file: NO, "
                )
                + escape(fid["because"])
                + ".",
                style="" if fid["resembles"] else "bold yellow",
            )
        )
    check = data.get("range_check")
    if check and check["checked"]:
        outside = check["outside"]
        parts.append(
            Text(
                f"{len(outside)} of {check['checked']} tests outside their 95% range around "
                f"alpha ({check['expected_outside']:.1f} expected by chance if all were "
                "calibrated)" + (": " + ", ".join(outside) if outside else "."),
            )
        )
    parts.append(note)
    if not data.get("complete", True):
        parts.append(
            Text(
                f"Interrupted: only the {data['twins_run']} twins that finished are counted.",
                style="bold yellow",
            )
        )
    return Group(*parts)


def crosscheck_renderable(data: dict[str, Any]) -> Group:
    """Headline, one plain sentence per pair, the tests, the worst stations (80 columns)."""
    summary = data["summary"]
    parts: list[Any] = []
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for contest in data["input"]["contests"]:
        grid.add_row(escape(contest["label"]), escape(contest["path"]))
    grid.add_row("stations", f"{summary['matched']:,} in two contests or more")
    share = summary["share_flagged"] or 0.0
    grid.add_row(
        "disagree",
        Text(
            f"{summary['flagged']:,} stations ({_pct(share)}) beyond the tolerance",
            style="bold red" if summary["flagged"] else "green",
        ),
    )
    tol = data["parameters"]
    grid.add_row(
        "tolerance",
        f"more than max({_num(tol['tolerance_ballots'])} ballots, "
        f"{_pct(tol['tolerance_share_of_registered'])} of registered)",
    )
    parts.append(Panel(grid, title="Concurrent contests", expand=False))
    sentences = Text()
    for pair in summary["pairs"]:
        a, b = pair["a"], pair["b"]
        extra = pair["extra_ballots_where_flagged"]
        basis = "ballots issued" if pair["basis"] == "ballots_issued" else "ballots cast"
        if pair["flagged"]:
            higher = max(extra, key=extra.get)
            lower = b if higher == a else a
            sentences.append(
                f"{escape(a)} vs {escape(b)}: {basis} differ at {pair['flagged']:,} of "
                f"{pair['stations']:,} stations; there {escape(higher)} shows "
                f"{_num(extra[higher])} more ballots in all, {escape(lower)} "
                f"{_num(extra[lower])} more.\n",
                style="bold",
            )
        else:
            sentences.append(
                f"{escape(a)} vs {escape(b)}: {basis} agree within the tolerance everywhere.\n"
            )
        if pair["registered_differ"]:
            sentences.append(
                f"  registered voters differ beyond the tolerance at "
                f"{pair['registered_differ']:,} stations.\n",
                style="yellow",
            )
    for r in data["results"]:
        gain = r["details"].get("leader_gain") if r["scope"] == "national" else None
        if r["test"] == "crosscheck_issued" and gain:
            sentences.append(
                f"  where they disagree, the leader of {escape(gain['contest'])} has "
                f"{_pct(gain['leader_share_flagged'])} of the votes, elsewhere "
                f"{_pct(gain['leader_share_elsewhere'])}.\n",
                style="dim",
            )
    parts.append(sentences)
    tests = Table(title="Tests", title_justify="left")
    tests.add_column("test", no_wrap=True)
    tests.add_column("pair", overflow="fold")
    tests.add_column("scope", overflow="fold")
    tests.add_column("result", justify="right", no_wrap=True)
    tests.add_column("p adj.", justify="right", no_wrap=True)
    tests.add_column("verdict", no_wrap=True)
    shown = [r for r in data["results"] if r["scope"] == "national" or r["verdict"] == "anomaly"]
    for r in shown[:30]:
        if r["test"] == "crosscheck_balance":
            result = f"{_num(r['details'].get('net_extra_ballots'))} net"
        else:
            result = f"{_num(r['statistic'])} / {_num(r['n'])}"
        tests.add_row(
            r["test"].removeprefix("crosscheck_"),
            escape(str(r["subject"])),
            escape(str(r["scope"])),
            result,
            _p(r["p_adjusted"]),
            Text(r["verdict"], style=VERDICT_STYLE.get(r["verdict"], "")),
        )
    if len(data["results"]) > len(shown[:30]):
        tests.caption = f"{len(data['results']) - len(shown[:30])} more rows in --json"
    parts.append(tests)
    flagged = [s for s in data["stations"] if s["flagged"]]
    if flagged:
        labels = summary["contests"][:3]
        stations = Table(title="Stations that disagree, largest first", title_justify="left")
        stations.add_column("station", overflow="fold")
        stations.add_column("region", overflow="fold")
        for label in labels:
            stations.add_column(escape(label), justify="right", overflow="fold")
        for row in flagged[:10]:
            cells = [escape(row["station_id"]), escape(row["region"])]
            for label in labels:
                values = row["values"].get(label) or {}
                issued = values.get("ballots_issued")
                cells.append(_num(issued if issued is not None else values.get("ballots_cast")))
            stations.add_row(*cells)
        if len(flagged) > 10:
            stations.caption = f"{len(flagged) - 10} more in --csv / --json"
        parts.append(stations)
    text = Text()
    for message in summary["messages"]:
        text.append(f"note: {message}\n", style="yellow")
    text.append(
        "A disagreement is arithmetic, not statistics: the same voters received both "
        "ballots. It shows where one protocol differs from the other, not which one is "
        "wrong, nor why.",
        style="dim",
    )
    parts.append(text)
    return Group(*parts)
