"""Peak memory and time of `kzvote analyze` on decompression bombs and endless inputs.

Each bomb expands to 8 GiB (gzip, xz and bz2 as many concatenated streams; zip and
XLSX with members that declare 8 GiB), plus /dev/zero and /dev/urandom. Every run must
end with a kzvote error (exit 2) in seconds, with peak memory under 1 GB. Prints one
row per case: exit code, error code, seconds, peak resident memory of the process.

Run: ``python benchmarks/bench_bombs.py``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

GIB = 1024**3
BLOCK = 64 * 1024**2


def streams(compress, total: int) -> bytes:
    """``total`` bytes of zeros as concatenated compressed streams of one block each."""
    one = compress(b"0" * BLOCK)
    return one * (total // BLOCK)


def zip_bomb(total: int, name: str = "t.csv") -> bytes:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        chunk = b"0" * BLOCK
        for _ in range(total // BLOCK):
            member.write(chunk)
    return buffer.getvalue()


def xlsx_bomb(total: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            member.write(b"<worksheet><sheetData>")
            row = b"<row><c><v>0</v></c></row>" * (BLOCK // 26)
            for _ in range(total // BLOCK):
                member.write(row)
    return buffer.getvalue()


def measure(path: str) -> tuple[int, str, float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kzvote", "analyze", path, "--no-plots", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = err.split("]")[0].split("[")[-1] if err.startswith("error [") else "-"
    return os.waitstatus_to_exitcode(status), code, elapsed, usage.ru_maxrss / 1024


def main() -> None:
    total = 8 * GIB
    print(f"bombs expanding to {total / GIB:.0f} GiB; limit: peak memory under 1,024 MB")
    print(f"{'case':<14} {'file MB':>8} {'exit':>4} {'error':<20} {'seconds':>8} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as folder:
        cases = {
            "gzip": ("bomb.csv.gz", lambda: streams(lambda b: gzip.compress(b, 9), total)),
            "xz": ("bomb.csv.xz", lambda: streams(lzma.compress, total)),
            "bz2": ("bomb.csv.bz2", lambda: streams(lambda b: bz2.compress(b, 9), total)),
            "zip": ("bomb.zip", lambda: zip_bomb(total)),
            "xlsx": ("bomb.xlsx", lambda: xlsx_bomb(total)),
        }
        worst = 0.0
        for name, (file_name, make) in cases.items():
            path = Path(folder) / file_name
            path.write_bytes(make())
            exit_code, code, seconds, peak = measure(str(path))
            worst = max(worst, peak)
            size = path.stat().st_size / 1024**2
            print(f"{name:<14} {size:>8.1f} {exit_code:>4} {code:<20} {seconds:>8.1f} {peak:>8.0f}")
        for device in ("/dev/zero", "/dev/urandom"):
            if os.path.exists(device):
                exit_code, code, seconds, peak = measure(device)
                worst = max(worst, peak)
                print(
                    f"{device:<14} {'-':>8} {exit_code:>4} {code:<20} {seconds:>8.1f} {peak:>8.0f}"
                )
    print(f"worst peak {worst:.0f} MB: {'under' if worst < 1024 else 'OVER'} 1 GB")


if __name__ == "__main__":
    main()
