"""Turn a ``kzvote calibrate --json`` report into the Markdown tables of the README.

    python benchmarks/calibration_table.py calibration.json

Prints one row per national test and subject: false-positive rate with its 95%
interval, whether it is calibrated, and for each injected kind the power at every
injected size (p < alpha and verdict 'anomaly') and the smallest size detected in 80%
of twins, with the whole battery's rate of at least one anomaly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _size(size: float) -> str:
    return f"{size:.4g}"


def main() -> None:
    report = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    kinds = list(report.get("injections", {}))
    print(
        f"{report['parameters'].get('sims', '?')} clean twins of `{Path(report['input']).name}`"
        if isinstance(report.get("input"), str)
        else ""
    )
    print()
    print("| test | subject | false-positive rate [95% interval] | calibrated | called anomaly |")
    print("|---|---|---|---|---|")
    for rec in report["tests"]:
        if not rec["sims"] or rec["interval"] is None:
            continue  # inconclusive on every twin
        lo, hi = rec["interval"]
        mark = "yes" if rec["calibrated"] else "**no**"
        print(
            f"| `{rec['test']}` | {rec['subject']} | {rec['false_positive_rate']:.3f} "
            f"[{lo:.3f}, {hi:.3f}] | {mark} | {rec.get('false_alarm_rate', 0):.3f} |"
        )
    battery = report.get("battery") or {}
    if battery.get("false_alarm_rate") is not None:
        lo, hi = battery["interval"]
        print()
        print(
            f"Whole battery: at least one national anomaly on {battery['false_alarm_rate']:.3f} "
            f"[{lo:.3f}, {hi:.3f}] of {battery['sims']} clean twins."
        )
    for kind in kinds:
        sizes = sorted(
            {p["size"] for r in report["tests"] for p in r["power"] if p["kind"] == kind}
        )
        if not sizes:
            continue
        print()
        print(
            f"Against `{kind}`: share of injected twins with p < alpha / called anomaly, "
            "at each injected size:"
        )
        print()
        head = " | ".join(_size(s) for s in sizes)
        print(f"| test | subject | {head} | 80% from (p / called) |")
        print("|---|---|" + "---|" * len(sizes) + "---|")
        whole = {
            p["size"]: p["called_anomaly"]
            for p in battery.get("power", [])
            if p["kind"] == kind and p["called_anomaly"] is not None
        }
        if whole:
            cells = " | ".join(f"- / {whole[s]:.2f}" if s in whole else "" for s in sizes)
            first = battery.get("called_at_80_percent", {}).get(kind)
            print(f"| **whole battery** | any test | {cells} | - / {_shown(first)} |")
        for rec in report["tests"]:
            rows = {p["size"]: p for p in rec["power"] if p["kind"] == kind}
            values = [
                v
                for p in rows.values()
                for v in (p["power"], p.get("called_anomaly"))
                if v is not None
            ]
            if not values or max(values) < 0.2:
                continue  # a test that never reacts to this kind is left out of its table
            cells = " | ".join(_cell(rows.get(s)) for s in sizes)
            by_p = _shown(rec["detectable_at_80_percent"].get(kind))
            called = _shown(rec.get("called_at_80_percent", {}).get(kind))
            if rec["calibrated"] is False:
                by_p = "(uncalibrated)"
            print(f"| `{rec['test']}` | {rec['subject']} | {cells} | {by_p} / {called} |")


def _shown(size: float | None) -> str:
    return _size(size) if size is not None else "not reached"


def _cell(row: dict | None) -> str:
    if row is None:
        return ""

    def fmt(value):
        return "-" if value is None else f"{value:.2f}"

    return f"{fmt(row['power'])} / {fmt(row.get('called_anomaly'))}"


if __name__ == "__main__":
    main()
