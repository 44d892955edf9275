"""Hostile places and moments: one test per class of the wider attack (issue 18).

Outputs never destroy what is at the target, writes never go through links, reading
is bounded, options are validated where they are parsed, workers stop cleanly, and
every failure is a one-line kzvote error (exit 2), never a traceback or a hang.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import lzma
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from io import BytesIO

import pytest
from conftest import DATA, SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kzvote.cli import app
from kzvote.model import KzvoteError
from kzvote.reading import load_stations, parse_limits, parse_map_options

runner = CliRunner()
HOSTILE = DATA / "hostile"
SMALL = str(HOSTILE / "one_candidate.csv")
#: path and output tests need a report, not the fingerprint fit
CHEAP = ["--tests", "arithmetic"]


def kzvote(*args, env=None, timeout=120, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "kzvote", *args],
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
        **kwargs,
    )


# --- outputs destroy nothing -------------------------------------------------------


def test_output_over_a_fifo_or_folder_is_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for target in (fifo, tmp_path):
        result = runner.invoke(
            app, ["analyze", SMALL, "--no-plots", "-q", "--json", str(target), *CHEAP]
        )
        assert result.exit_code == 2
        assert "[output_not_a_file]" in result.output
    assert fifo.is_fifo()


def test_output_over_the_calibration_or_mapping_input_is_refused(tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('[fields]\nregistered = "registered"\n', encoding="utf-8")
    before = mapping.read_bytes()
    result = runner.invoke(
        app,
        ["analyze", SMALL, "--mapping", str(mapping), "--json", str(mapping), "--no-plots"],
    )
    assert result.exit_code == 2 and "[output_is_input]" in result.output
    assert mapping.read_bytes() == before
    calibration = tmp_path / "cal.json"
    calibration.write_text(json.dumps({"command": "calibrate", "tests": []}), encoding="utf-8")
    before = calibration.read_bytes()
    result = runner.invoke(
        app,
        ["analyze", SMALL, "--calibrated", str(calibration), "--json", str(calibration), "-q"],
    )
    assert result.exit_code == 2 and "[output_is_input]" in result.output
    assert calibration.read_bytes() == before


def test_a_planted_temporary_link_is_never_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious", encoding="utf-8")
    plots = tmp_path / "plots"
    plots.mkdir()
    for name in ("turnout_share", "fingerprint", "cumulative"):
        (plots / f".{name}.png.tmp").symlink_to(outside)
    result = runner.invoke(app, ["analyze", SMALL, "--plots", str(plots), "-q", *CHEAP])
    assert result.exit_code in (0, 1), result.output
    assert outside.read_text(encoding="utf-8") == "precious"


def test_a_link_anywhere_in_an_absolute_plot_path_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    target = (tmp_path / "link" / "a" / "b").absolute()
    result = runner.invoke(app, ["analyze", SMALL, "--plots", str(target), "-q", *CHEAP])
    assert result.exit_code == 2 and "[output_is_symlink]" in result.output
    assert list(real.iterdir()) == []


def test_two_inputs_with_one_base_name_get_two_plot_folders(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.csv").write_bytes((HOSTILE / "one_candidate.csv").read_bytes())
    plots = tmp_path / "plots"
    result = runner.invoke(
        app,
        [
            "analyze",
            str(tmp_path / "a" / "x.csv"),
            str(tmp_path / "b" / "x.csv"),
            "--plots",
            str(plots),
            "-q",
            "--json",
            str(tmp_path / "r.json"),
            *CHEAP,
        ],
    )
    assert result.exit_code in (0, 1), result.output
    assert sorted(p.name for p in plots.iterdir()) == ["x", "x_2"]
    reports = json.loads((tmp_path / "r.json").read_text())["reports"]
    assert reports[0]["plots"][0] != reports[1]["plots"][0]


def test_concurrent_runs_into_one_folder_all_succeed(tmp_path):
    plots = tmp_path / "plots"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kzvote",
                "analyze",
                SMALL,
                "--plots",
                str(plots),
                "-q",
                "--tests",
                "arithmetic,integer_percent",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, 1), err.decode()
        assert b"Traceback" not in err
    assert not [p for p in plots.iterdir() if p.name.endswith(".tmp")]


def test_plots_that_cannot_be_written_are_an_error_not_a_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = runner.invoke(app, ["analyze", SMALL, "--plots", str(blocker / "sub"), "-q", *CHEAP])
    assert result.exit_code == 2
    assert "[cannot_write]" in result.output or "[output_not_a_file]" in result.output


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_json_to_a_full_disk_is_an_error():
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "kzvote", "analyze", SMALL, "--no-plots", "--json", "-", *CHEAP],
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 2, proc.stderr.decode()
    assert b"[cannot_write]" in proc.stderr and b"Traceback" not in proc.stderr


def test_kazakh_names_on_a_cp1251_console_do_not_fail():
    path = str(SAMPLES / "kz2023_majilis_national_kk.csv")
    proc = kzvote("columns", path, env={"PYTHONIOENCODING": "cp1251"})
    assert proc.returncode == 0, proc.stderr.decode("cp1251", "replace")
    assert b"Traceback" not in proc.stderr
    out = kzvote("columns", path, "--json", env={"PYTHONIOENCODING": "cp1251"})
    assert "Барлығына қарсы" in out.stdout.decode("utf-8")  # the JSON stays UTF-8


# --- inputs are bounded and never hang -----------------------------------------


def test_a_fifo_input_is_refused_at_once(tmp_path):
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)
    start = time.monotonic()
    proc = kzvote("analyze", str(fifo), "--no-plots", timeout=60)
    assert proc.returncode == 2 and b"[not_a_file]" in proc.stderr
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused(device):
    if not os.path.exists(device):
        pytest.skip(f"{device} not present")
    with pytest.raises(KzvoteError) as info:
        load_stations(device)
    assert info.value.code == "not_a_file"


def test_limits_can_be_raised_and_are_validated(tmp_path):
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress((HOSTILE / "one_candidate.csv").read_bytes() * 1))
    with pytest.raises(KzvoteError) as info:
        load_stations(str(path), limits=parse_limits(["bytes=1K"]))
    assert info.value.code == "input_too_large" and "--limit bytes=" in info.value.hint
    assert load_stations(str(path), limits=parse_limits(["bytes=1M"])).n_stations == 300
    for bad in ("bytes", "bytes=-1", "speed=3", "rows=1.5"):
        with pytest.raises(KzvoteError):
            parse_limits([bad])


def test_a_gigantic_station_does_not_exhaust_memory():
    # registered = 10**15 once made the integer test allocate 5.7 GB: now an error cell
    table = load_stations(str(HOSTILE / "registered_1e15.csv"))
    assert "count_too_large" in {f.code for f in table.findings}


compressors = {
    "gzip": gzip.compress,
    "xz": lzma.compress,
    "bz2": bz2.compress,
}


def _zipped(data: bytes) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("t.csv", data)
    return buffer.getvalue()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=st.binary(max_size=300),
    kind=st.sampled_from(["gzip", "xz", "bz2", "zip", "raw"]),
    cut=st.integers(0, 40),
)
def test_random_bytes_under_every_compression_give_a_kzvote_error(tmp_path, payload, kind, cut):
    data = (
        payload
        if kind == "raw"
        else (_zipped(payload) if kind == "zip" else compressors[kind](payload))
    )
    if cut:
        data = data[: max(1, len(data) - cut)]
    path = tmp_path / "fuzz.bin"
    path.write_bytes(data)
    try:
        load_stations(str(path))
    except KzvoteError as error:
        assert error.code and error.message
    except Exception as exc:  # pragma: no cover - the failure message names the case
        raise AssertionError(f"{kind} {data[:20]!r}: {type(exc).__name__}: {exc}") from exc


# --- options and mapping files ---------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", SMALL, "--seed", "-1", "--no-plots"],
        ["analyze", SMALL, "--alpha", "nan", "--no-plots"],
        ["analyze", SMALL, "--tests", "nosuch", "--no-plots"],
        ["calibrate", SMALL, "--power-sims", "-1", "--no-plots", "--inject", "invented=0.1"],
        ["calibrate", SMALL, "--jobs", "2", "--tests", "nosuch", "--sims", "2", "--no-plots"],
        ["simulate", "OUT", "--turnout", "1.5"],
        ["simulate", "OUT", "--turnout", "nan"],
        ["simulate", "OUT", "--seed", "-1"],
        ["compare", SMALL, SMALL, "--tolerance-share", "nan", "--no-plots"],
        ["compare", SMALL, SMALL, "--tolerance", "nan", "--no-plots"],
        ["analyze", SMALL, "--limit", "bytes=lots", "--no-plots"],
        ["analyze", SMALL, "--mapping", str(HOSTILE), "--no-plots"],
        ["analyze", SMALL, "--map", "ballots_cast=A+A", "--no-plots"],
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, args):
    args = [str(tmp_path / "o.csv") if a == "OUT" else a for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error [")
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_errors_are_one_line_at_any_width():
    proc = kzvote("analyze", str(HOSTILE / "received_line_unknown.csv"), env={"COLUMNS": "20"})
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 2
    assert lines[0].startswith("error [implausible_mapping]") and "Line 2" in lines[0]
    assert lines[1].startswith("  fix: ")
    assert len(lines) == 2


@pytest.mark.parametrize(
    "text",
    [
        'fields = "x"',
        "[fields]\nregistered = 5",
        "candidates = 3",
        "detect = 'yes'",
        "x = " + "[" * 5000 + "]" * 5000,
        "[fields\n",
        "\x00\x01",
    ],
)
def test_hostile_mapping_files_are_kzvote_errors(tmp_path, text):
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KzvoteError) as info:
        parse_map_options([], str(path))
    assert info.value.code in ("bad_mapping_file", "unknown_field")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.dictionaries(
            st.sampled_from(["fields", "candidates", "ignore", "detect", "x"]),
            st.one_of(
                st.text(max_size=5),
                st.integers(),
                st.lists(st.text(max_size=5)),
                st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
            ),
        ).map(lambda d: "\n".join(f"{k} = {json.dumps(v)}" for k, v in d.items())),
    )
)
def test_random_mapping_toml_is_a_mapping_or_a_kzvote_error(tmp_path, text):
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8", errors="replace")
    with contextlib.suppress(KzvoteError):
        parse_map_options([], str(path))


def test_a_calibration_whose_tests_is_a_string_is_refused(tmp_path):
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"command": "calibrate", "tests": "all"}), encoding="utf-8")
    result = runner.invoke(app, ["analyze", SMALL, "--calibrated", str(path), "--no-plots"])
    assert result.exit_code == 2 and "[bad_calibration]" in result.output


@settings(max_examples=25, deadline=None)
@given(
    alpha=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.05)),
    seed=st.integers(-5, 2**64),
    adjust=st.sampled_from(["holm", "bh", "none", "bonferroni", ""]),
    tests=st.sampled_from(["arithmetic", "integer_percent", "nosuch", "arithmetic,digits"]),
)
def test_random_options_give_a_report_or_a_kzvote_error(alpha, seed, adjust, tests):
    result = runner.invoke(
        app,
        [
            "analyze",
            SMALL,
            "--no-plots",
            "-q",
            "--alpha",
            str(alpha),
            "--seed",
            str(seed),
            "--adjust",
            adjust,
            "--tests",
            tests,
        ],
    )
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output


# --- workers ------------------------------------------------------------------------


def test_errors_cross_process_boundaries():
    error = KzvoteError("x_code", "message", file="f", line=3, column="c", hint="h")
    back = pickle.loads(pickle.dumps(error))
    assert (back.code, back.message, back.line, back.hint) == ("x_code", "message", 3, "h")


def test_sigterm_stops_calibrate_and_its_workers(tmp_path):
    out = tmp_path / "cal.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kzvote",
            "calibrate",
            str(SAMPLES / "clean_control.csv"),
            "--sims",
            "400",
            "--jobs",
            "2",
            "--no-plots",
            "-q",
            "--json",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    time.sleep(7)  # the workers are running by then (imports take about 2 s)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err.decode()
    assert b"Traceback" not in err and b"BrokenPipe" not in err
    time.sleep(1)
    # no worker is left running in the process group (a zombie waiting for init is gone)
    listing = subprocess.run(
        ["ps", "-o", "stat=,pid=", "-g", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    running = [line for line in listing if line.strip() and not line.strip().startswith("Z")]
    assert running == []
    if out.exists():
        assert json.loads(out.read_text())["complete"] is False
