"""Hostile and broken input: every case ends in a result or a kzvote error (exit 2) that
names the file, line, column and value; never a traceback, never a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kzvote.cli import app
from kzvote.outputs import safe_name

runner = CliRunner()
HOSTILE = DATA / "hostile"

#: file -> (exit code, error code or None, line, column) for errors; for files that
#: load: (0, None, None, None) plus the integrity findings expected in FINDINGS.
EXPECTED = {
    "empty.csv": (2, "empty_file", None, None),
    "header_only.csv": (2, "no_rows", 2, None),
    "binary_garbage.csv": (2, "binary_file", None, None),
    "pdf_renamed.csv": (2, "not_a_table", None, None),
    "utf16.csv": (0, None, None, None),
    "cp1251_no_hint.csv": (0, None, None, None),
    "mixed_line_endings.csv": (0, None, None, None),
    "quoted_newlines.csv": (0, None, None, None),
    "duplicate_headers.csv": (2, "duplicate_header", 1, "registered"),
    "missing_required.csv": (2, "missing_field", None, "registered"),
    "number_formats.csv": (0, None, None, None),
    "euro_numbers.csv": (0, None, None, None),
    "negative_count.csv": (0, None, None, None),
    "huge_count.csv": (0, None, None, None),
    "zero_registered.csv": (0, None, None, None),
    "turnout_over_100.csv": (0, None, None, None),
    "votes_above_valid.csv": (0, None, None, None),
    "duplicate_ids.csv": (0, None, None, None),
    "forty_stations.csv": (0, None, None, None),
    "one_candidate.csv": (0, None, None, None),
    "formula_names.csv": (0, None, None, None),
    "path_regions.csv": (0, None, None, None),
    "truncated.csv.gz": (2, "corrupt_compressed", None, None),
    "ragged_row.csv": (2, "ragged_rows", 12, None),
    "long_repeated.csv": (2, "duplicate_long_pair", 4, "candidate"),
}

#: findings (code, line, column, value) that must be in the report of files that load
FINDINGS = {
    "quoted_newlines.csv": [("negative_count", 303, "A", "-5")],
    "number_formats.csv": [("not_an_integer", 7, "A", "12.5"), ("missing_value", 4, None, None)],
    "negative_count.csv": [("negative_count", 152, "A", "-3")],
    "huge_count.csv": [("count_too_large", 152, "registered", "99999999999999999999")],
    "zero_registered.csv": [("zero_registered", 152, "registered", "0")],
    "turnout_over_100.csv": [("turnout_over_100", 152, "registered", None)],
    "votes_above_valid.csv": [("candidate_sum_mismatch", 152, "valid", "sum 590 != valid 490")],
    "duplicate_ids.csv": [
        ("duplicate_station", 6, None, "5"),
        ("duplicate_station", 152, None, "5"),
    ],
}


def run_analyze(path, tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["analyze", str(path), "--no-plots", "-q", "--json", str(out)])
    return result, (json.loads(out.read_text()) if out.exists() else None)


def test_every_corpus_file_has_an_expected_outcome():
    files = {p.name for p in HOSTILE.iterdir() if p.name != "make_corpus.py"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_case(name, tmp_path):
    exit_code, code, line, column = EXPECTED[name]
    result, report = run_analyze(HOSTILE / name, tmp_path)
    assert "Traceback" not in result.output
    assert result.exit_code in (exit_code, 1 if exit_code == 0 else exit_code), result.output
    if exit_code == 2:
        assert result.exit_code == 2
        assert f"[{code}]" in result.output
        assert str(HOSTILE / name) in result.output
        if line is not None:
            assert f"line {line}" in result.output
        if column is not None:
            assert repr(column) in result.output
        assert "fix:" in result.output or code in ("no_rows",)
        return
    assert report is not None
    found = {(f["code"], f["line"], f["column"], f["value"]) for f in report["integrity"]}
    for code_, line_, column_, value_ in FINDINGS.get(name, []):
        matches = [
            f
            for f in found
            if f[0] == code_
            and f[1] == line_
            and (column_ is None or f[2] == column_)
            and (value_ is None or f[3] == value_)
        ]
        assert matches, (code_, line_, sorted(found)[:5])


def test_encodings_are_read_right(tmp_path):
    _, report = run_analyze(HOSTILE / "cp1251_no_hint.csv", tmp_path)
    assert report["input"]["encoding"] == "cp1251"
    regions = {r["region"] for r in report["summary"]["regions"]}
    assert "Северный" in regions


def test_ambiguous_numbers_say_what_was_assumed(tmp_path):
    _, report = run_analyze(HOSTILE / "number_formats.csv", tmp_path)
    assert "registered: spaces read as thousand separators" in report["input"]["mapping"]["notes"]
    _, report = run_analyze(HOSTILE / "euro_numbers.csv", tmp_path)
    assert report["summary"]["registered"] == 1234 * 300


def test_forty_stations_are_inconclusive(tmp_path):
    _, report = run_analyze(HOSTILE / "forty_stations.csv", tmp_path)
    statistical = [r for r in report["results"] if r["test"] != "arithmetic"]
    assert statistical and all(r["verdict"] == "inconclusive" for r in statistical)
    assert all(r["warnings"] for r in statistical)


def test_formula_station_names_stay_data_and_are_neutralised_in_csv(tmp_path):
    path = HOSTILE / "formula_names.csv"
    _, report = run_analyze(path, tmp_path)
    assert report["summary"]["stations"] == 302
    csv_out = tmp_path / "s.csv"
    result = runner.invoke(
        app, ["compare", str(path), str(path), "--no-plots", "-q", "--csv", str(csv_out)]
    )
    assert result.exit_code in (0, 1), result.output
    text = csv_out.read_text()
    assert "'=HYPERLINK" in text
    assert "'+cmd" in text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_region_names_never_escape_the_plot_folder(tmp_path):
    for hostile in ("../../etc", "a/b", "x\x00y", "..", "/", "C:\\evil"):
        name = safe_name(hostile)
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert ".." not in name and name
    plots = tmp_path / "plots"
    result = runner.invoke(
        app,
        ["analyze", str(HOSTILE / "path_regions.csv"), "--by-region", "--plots", str(plots), "-q"],
    )
    assert result.exit_code in (0, 1), result.output
    for root, _, files in os.walk(tmp_path):
        for f in files:
            assert os.path.realpath(os.path.join(root, f)).startswith(str(tmp_path.resolve()))


def test_plot_folder_through_a_symlink_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    link = tmp_path / "link"
    link.symlink_to(outside)
    result = runner.invoke(
        app, ["analyze", str(HOSTILE / "one_candidate.csv"), "--plots", str(link / "plots"), "-q"]
    )
    assert result.exit_code == 2
    assert "[output_is_symlink]" in result.output
    assert list(outside.iterdir()) == []


def test_same_input_and_seed_give_identical_json_across_processes(tmp_path):
    outputs = []
    for i in range(2):
        out = tmp_path / f"r{i}.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "kzvote",
                "analyze",
                str(HOSTILE / "one_candidate.csv"),
                "--no-plots",
                "-q",
                "--seed",
                "7",
                "--json",
                str(out),
            ],
            check=False,
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


csv_like = st.lists(
    st.lists(
        st.one_of(
            st.integers(-10, 5000).map(str),
            st.text(max_size=6),
            st.sampled_from(["", "-", "1 234", "=1+1", '"', "\r", "\x00"]),
        ),
        min_size=1,
        max_size=6,
    ),
    min_size=1,
    max_size=8,
).map(lambda rows: "\n".join(",".join(r) for r in rows))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.one_of(st.binary(max_size=400), csv_like.map(str.encode)))
def test_analyze_gives_a_report_or_a_kzvote_error(tmp_path, content):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)
    result = runner.invoke(
        app, ["analyze", str(path), "--no-plots", "-q", "--json", str(tmp_path / "o.json")]
    )
    assert result.exit_code in (0, 1, 2)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    if result.exit_code == 2:
        assert result.output.startswith("error [")
