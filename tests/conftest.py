"""Shared fixtures: paths to the sample data and to the real data (skipped if absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kzvote import WORKER_THREAD_VARIABLES

# one BLAS thread per test process, as the CLI runs: with -n 2, each worker's extra
# OpenBLAS (and numba) threads only competed for the two cores
for _name in WORKER_THREAD_VARIABLES:
    os.environ.setdefault(_name, "1")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
REALDATA = ROOT.parent / "shared" / "realdata"
DATA = Path(__file__).resolve().parent / "data"


def chromium_flags(profile: Path) -> list[str]:
    """Headless Chromium on a machine with no network: no background connections."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]


def realdata(relative: str) -> Path:
    """Path of a real-data file, or skip the test with the reason."""
    path = REALDATA / relative
    if not path.exists():
        pytest.skip(f"real data not available: {path} (expected at ../shared/realdata)")
    return path


@pytest.fixture
def write(tmp_path):
    """Write bytes or text to a file in tmp_path and return its path as str."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> str:
        path = tmp_path / name
        if isinstance(content, str):
            content = content.encode(encoding)
        path.write_bytes(content)
        return str(path)

    return _write


CANONICAL = (
    "station_id,region,registered,ballots_issued,ballots_cast,valid,invalid,A,B\n"
    "1,North,1000,600,598,590,8,400,190\n"
    "2,North,800,500,500,495,5,300,195\n"
    "3,South,1200,700,699,690,9,350,340\n"
)


@pytest.fixture(scope="session")
def national_run(tmp_path_factory):
    """One `kzvote analyze` of the national sample with every output (shared by the
    report, console and stations tests, so that the battery runs once: the xdist
    workers share it through a folder and a lock, the pattern xdist documents)."""
    import fcntl
    import json
    import os

    from typer.testing import CliRunner

    from kzvote.cli import app

    root = tmp_path_factory.getbasetemp().parent
    out = root / "national"
    paths = {
        "json": out / "report.json",
        "stations": out / "stations.csv",
        "html": out / "report.html",
        "plots": out / "plots",
    }
    with open(root / "national.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = out / "console.json"
        if not done.exists():
            out.mkdir(exist_ok=True)
            env = dict(os.environ, COLUMNS="80")
            result = CliRunner().invoke(
                app,
                [
                    "analyze",
                    str(SAMPLES / "kz2023_majilis_national.csv"),
                    "--json",
                    str(paths["json"]),
                    "--stations",
                    str(paths["stations"]),
                    "--report",
                    str(paths["html"]),
                    "--plots",
                    str(paths["plots"]),
                    "--title",
                    "Majilis 2023 (simulated sample)",
                ],
                env=env,
            )
            assert result.exit_code == 0, result.output
            done.write_text(json.dumps({"output": result.stdout}), encoding="utf-8")
        output = json.loads(done.read_text(encoding="utf-8"))["output"]
    return {"output": output, **paths}
