"""Time `kzvote analyze` end to end and measure its peak memory.

Runs the CLI in a fresh process per input (so peak RSS is that run's own) on simulated
files of 10k, 100k and 1M stations and on the Russia 2011 file when ../shared/realdata
is present. Prints one line per run: stations, wall seconds, peak MB.

    python benchmarks/bench_analyze.py [--sizes 10000,100000,1000000] [--plots]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUSSIA = ROOT.parent / "shared" / "realdata" / "ru-kobak-shpilkin" / "2011.csv.gz"


def run(args: list[str]) -> tuple[float, float, int]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kzvote", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.stderr.write(proc.stderr.read().decode())
    return wall, usage.ru_maxrss / 1024, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--plots", action="store_true", help="draw plots too")
    opts = parser.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",") if s]
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'input':<28}{'stations':>10}{'wall s':>9}{'peak MB':>9}  exit")
        for size in sizes:
            path = Path(tmp) / f"sim{size}.csv"
            run(["simulate", str(path), "--stations", str(size), "--regions", "20", "--seed", "1"])
            plots = ["--plots", str(Path(tmp) / "p")] if opts.plots else ["--no-plots"]
            wall, peak, code = run(
                ["analyze", str(path), "--json", str(Path(tmp) / "r.json"), *plots]
            )
            print(f"{'simulated':<28}{size:>10,}{wall:>9.1f}{peak:>9.0f}  {code}")
        if RUSSIA.exists():
            plots = ["--plots", str(Path(tmp) / "p")] if opts.plots else ["--no-plots"]
            wall, peak, code = run(
                ["analyze", str(RUSSIA), "--json", str(Path(tmp) / "r.json"), *plots]
            )
            print(f"{'Russia 2011 (realdata)':<28}{95225:>10,}{wall:>9.1f}{peak:>9.0f}  {code}")
        else:
            print(f"skipped Russia 2011: {RUSSIA} not found")


if __name__ == "__main__":
    main()
