"""Turn a ``kzvote calibrate --json`` report into the Markdown tables of the README.

    python benchmarks/calibration_table.py calibration.json

Prints one row per national test and subject: false-positive rate with its 95%
interval, whether it is calibrated, and for each injected kind the power at every
injected size and the smallest size detected in 80% of twins.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _size(kind: str, size: float) -> str:
    if kind == "stuffing_extreme":
        return f"{size:.4f}".rstrip("0")
    return f"{size:.3f}".rstrip("0")


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
    for kind in kinds:
        sizes = sorted(
            {p["size"] for r in report["tests"] for p in r["power"] if p["kind"] == kind}
        )
        if not sizes:
            continue
        print()
        print(f"Power against `{kind}` (share of twins flagged at each injected size):")
        print()
        head = " | ".join(_size(kind, s) for s in sizes)
        print(f"| test | subject | {head} | detected at 80% from |")
        print("|---|---|" + "---|" * len(sizes) + "---|")
        for rec in report["tests"]:
            power = {
                p["size"]: p["power"]
                for p in rec["power"]
                if p["kind"] == kind and p["power"] is not None
            }
            if not power or max(power.values()) < 0.2:
                continue  # a test that never reacts to this kind is left out of its table
            cells = " | ".join(f"{power.get(s, float('nan')):.2f}" for s in sizes)
            smallest = rec["detectable_at_80_percent"].get(kind)
            shown = _size(kind, smallest) if smallest is not None else "not at these sizes"
            print(f"| `{rec['test']}` | {rec['subject']} | {cells} | {shown} |")


if __name__ == "__main__":
    main()
