"""The command line: exact outputs, exit codes, JSON, help for every command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

from kzvote import SCHEMA_VERSION
from kzvote.cli import app

runner = CliRunner()
NATIONAL = str(SAMPLES / "kz2023_majilis_national.csv")
CLEAN = str(SAMPLES / "clean_control.csv")


def test_every_command_has_help():
    for command in ("analyze", "columns", "simulate"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.output


def test_analyze_json_to_stdout_is_only_json():
    result = runner.invoke(
        app, ["analyze", CLEAN, "--json", "-", "--no-plots", "--tests", "arithmetic,digits"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema_version"] == SCHEMA_VERSION
    assert set(data) >= {
        "schema_version",
        "kzvote_version",
        "input",
        "parameters",
        "summary",
        "integrity",
        "results",
        "plots",
    }
    keys = {
        "test",
        "subject",
        "scope",
        "n",
        "statistic",
        "p_value",
        "p_adjusted",
        "effect",
        "verdict",
        "details",
        "warnings",
    }
    assert all(keys <= set(r) for r in data["results"])
    assert data["summary"]["stations"] == 2000


def test_analyze_writes_plots_and_json(tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(
        app,
        ["analyze", CLEAN, "--json", str(out), "--plots", str(tmp_path / "p"), "--quiet"]
        + ["--tests", "arithmetic,digits"],
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""
    data = json.loads(out.read_text())
    assert len(data["plots"]) >= 3
    assert all((tmp_path / "p").joinpath(p.split("/")[-1]).exists() for p in data["plots"])


def test_fail_on_anomaly_exit_code(tmp_path):
    clean = runner.invoke(
        app,
        ["analyze", CLEAN, "--no-plots", "-q", "--fail-on", "anomaly"]
        + ["--tests", "integer_percent,digits"],
    )
    assert clean.exit_code == 0
    # a file whose arithmetic fails at a station: an anomaly (the cheapest one to get)
    failing = str(SAMPLES.parent / "tests" / "data" / "hostile" / "turnout_over_100.csv")
    anomaly = runner.invoke(
        app,
        ["analyze", failing, "--no-plots", "-q", "--tests", "arithmetic"]
        + ["--fail-on", "anomaly"],
    )
    assert anomaly.exit_code == 1, anomaly.output
    never = runner.invoke(app, ["analyze", failing, "--no-plots", "-q", "--tests", "arithmetic"])
    assert never.exit_code == 0


def test_missing_file_is_exit_2_with_message(tmp_path):
    result = runner.invoke(app, ["analyze", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "[file_not_found]" in result.output
    assert "Traceback" not in result.output


def test_missing_field_error_shows_the_fix(write):
    path = write("x.csv", "id,voters_total,A\n1,100,50\n")
    result = runner.invoke(app, ["analyze", path, "--no-plots"])
    assert result.exit_code == 2
    assert "--map registered=" in result.output


def test_output_over_input_is_refused(tmp_path):
    target = tmp_path / "in.csv"
    target.write_bytes((SAMPLES / "clean_control.csv").read_bytes())
    before = target.read_bytes()
    result = runner.invoke(app, ["analyze", str(target), "--json", str(target), "--no-plots"])
    assert result.exit_code == 2
    assert "[output_is_input]" in result.output
    assert target.read_bytes() == before


def test_columns_command():
    result = runner.invoke(app, ["columns", NATIONAL, "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["mapping"]["fields"]["registered"] == ["registered"]
    assert "Amanat" in data["mapping"]["candidates"]


def test_simulate_is_deterministic(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (a, b):
        result = runner.invoke(app, ["simulate", str(path), "--stations", "500", "--seed", "4"])
        assert result.exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_bad_option_values_exit_2(tmp_path):
    result = runner.invoke(app, ["analyze", CLEAN, "--alpha", "2", "--no-plots"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["simulate", str(tmp_path / "x.csv"), "--f-extreme", "1.5"])
    assert result.exit_code == 2


@pytest.mark.parametrize("module", ["kzvote.methods.integers", "kzvote.suite", "kzvote.reading"])
def test_computation_does_not_import_presentation(module):
    code = (
        f"import sys, {module}; "
        "bad = [m for m in ('rich', 'typer', 'matplotlib') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_dash_m_works():
    out = subprocess.run(
        [sys.executable, "-m", "kzvote", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("kzvote ")
