"""Speed and verdicts of ``kzvote calibrate`` on a real election.

Runs the command as a user would (a fresh process, ``--jobs 2``) on Russia 2011
(95,225 stations, ``../shared/realdata``), prints the wall time and peak memory against
the target (100 twins in under 10 minutes on this 2-core machine) and which tests are
well calibrated on that election.

    python benchmarks/bench_calibrate.py [--sims 100] [--file PATH] [--json OUT]

Skips with the reason when the real data are absent.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[1] / "../shared/realdata/ru-kobak-shpilkin/2011.csv.gz"
TARGET_SECONDS = 600


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=100)
    parser.add_argument("--file", default=str(DEFAULT))
    parser.add_argument("--json", help="keep the report here (default: a temporary folder)")
    parser.add_argument("--jobs", type=int, default=2)
    opts = parser.parse_args()
    if not Path(opts.file).exists():
        print(f"SKIP: {opts.file} not found (the real data live in ../shared/realdata)")
        return
    if opts.json is None:
        import tempfile

        opts.json = str(Path(tempfile.mkdtemp(prefix="kzvote-bench-")) / "calibrate.json")
    command = [
        sys.executable,
        "-m",
        "kzvote",
        "calibrate",
        opts.file,
        "--sims",
        str(opts.sims),
        "--jobs",
        str(opts.jobs),
        "--json",
        opts.json,
        "--no-plots",
        "-q",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, check=False)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if done.returncode != 0:
        print(f"FAILED: kzvote calibrate exited with {done.returncode}")
        sys.exit(1)
    verdict = "ok" if wall < TARGET_SECONDS else f"OVER the {TARGET_SECONDS} s target"
    print(
        f"{Path(opts.file).name}: {opts.sims} twins with --jobs {opts.jobs}: {wall:.0f} s "
        f"({verdict}); peak memory of one process {peak:.0f} MB"
    )
    report = json.loads(Path(opts.json).read_text(encoding="utf-8"))
    print(
        f"{'test':<26}{'subject':<34}{'runs':>5} {'FPR':>6}  interval        calibrated  "
        "called anomaly"
    )
    for rec in report["tests"]:
        runs = rec["sims"]  # twins with a conclusive result
        if not runs or rec["interval"] is None:
            continue
        lo, hi = rec["interval"]
        mark = "yes" if rec["calibrated"] else "NO"
        print(
            f"{rec['test']:<26}{rec['subject'][:33]:<34}{runs:>5} "
            f"{rec['false_positive_rate']:>6.3f}  [{lo:.3f}, {hi:.3f}]  {mark:<10}  "
            f"{rec.get('false_alarm_rate', 0):.3f}"
        )
    battery, check = report["battery"], report["range_check"]
    lo, hi = battery["interval"]
    print(
        f"whole battery: at least one national anomaly on {battery['false_alarm_rate']:.3f} "
        f"[{lo:.3f}, {hi:.3f}] of clean twins; {len(check['outside'])} of {check['checked']} "
        f"tests outside their range ({check['expected_outside']:.1f} expected by chance)"
    )


if __name__ == "__main__":
    main()
