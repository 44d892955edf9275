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
    # the wider attack (issue 18): encodings, bombs, archives, limits, mappings
    "koi8r_no_hint.csv": (0, None, None, None),
    "utf8_with_cp1251_row.csv": (2, "mixed_encoding", 121, None),
    "bom_with_cp1251_row.csv": (2, "mixed_encoding", 121, None),
    "gzip_bomb.csv.gz": (2, "input_too_large", None, None),
    "xz_bomb.csv.xz": (2, "input_too_large", None, None),
    "bz2_bomb.csv.bz2": (2, "input_too_large", None, None),
    "zip_bomb.zip": (2, "input_too_large", None, None),
    "zip_encrypted.zip": (2, "unreadable", None, None),
    "zip_deflate64.zip": (2, "unreadable", None, None),
    "zip_two_files.zip": (2, "zip_ambiguous", None, None),
    "zip_truncated.zip": (2, "corrupt_compressed", None, None),
    "zip_good.zip": (0, None, None, None),
    "gzip_empty.csv.gz": (2, "empty_file", None, None),
    "gzip_of_gzip.csv.gz": (2, "binary_file", None, None),
    "sheet_good.xlsx": (0, None, None, None),
    "sheet_malformed.xlsx": (2, "unreadable", None, None),
    "wide_header.csv": (2, "input_too_large", None, None),
    "long_cell.csv": (2, "input_too_large", 22, None),
    "registered_1e15.csv": (0, None, None, None),
    "dollar_names.csv": (0, None, None, None),
    "lookalike_valid.csv": (0, None, None, None),
    "registered_twice_case.csv": (0, None, None, None),
    "received_line_unknown.csv": (2, "implausible_mapping", None, "Line 2"),
    "spoiled_line_unknown.csv": (2, "implausible_mapping", None, "Line 5"),
    "electronic_rows.csv": (0, None, None, None),
    "total_row.csv": (0, None, None, None),
    "code_column.csv": (0, None, None, None),
    "turnout_percent_column.csv": (0, None, None, None),
    "tab_delimited.tsv": (0, None, None, None),
    "semicolon_bom_crlf.csv": (0, None, None, None),
    "cr_line_endings.csv": (0, None, None, None),
    "nul_heavy.csv": (2, "binary_file", None, None),
    "utf16le_no_bom.csv": (2, "binary_file", None, None),
    "only_text.csv": (2, "missing_field", None, "registered"),
    "float_counts.csv": (0, None, None, None),
    "mixed_thousands.csv": (0, None, None, None),
    "header_line_breaks.csv": (0, None, None, None),
    "duplicate_unused_header.csv": (0, None, None, None),
    "bidi_names.csv": (0, None, None, None),
    "giant_station.csv": (0, None, None, None),
    "all_zero_votes.csv": (0, None, None, None),
    "single_row.csv": (0, None, None, None),
    "html_page.csv": (2, "one_column", None, None),
    "json_file.csv": (2, "no_rows", 2, None),
    "sqlite_renamed.csv": (2, "binary_file", None, None),
    "blank_lines_only.csv": (2, "empty_file", None, None),
}

#: options a case runs with (the bombs: a low limit stands in for a real one's size)
OPTIONS = {
    "gzip_bomb.csv.gz": ["--limit", "bytes=1M"],
    "xz_bomb.csv.xz": ["--limit", "bytes=1M"],
    "bz2_bomb.csv.bz2": ["--limit", "bytes=1M"],
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
    "registered_1e15.csv": [("count_too_large", 152, "registered", "1000000000000000")],
    "electronic_rows.csv": [
        ("aggregate_row", 302, None, "no station number"),
        ("aggregate_row", 303, None, "no station number"),
    ],
    "total_row.csv": [("aggregate_row", 302, None, None)],
    "giant_station.csv": [("aggregate_row", 302, None, None)],
    "mixed_thousands.csv": [("not_a_number", 2, "registered", "1,234")],
}

#: what a case that loads must have been read as: field -> header, candidates, encoding
READ_AS = {
    "koi8r_no_hint.csv": ({}, ("A", "B"), "koi8-r"),
    "lookalike_valid.csv": ({"valid": ["v\u0430lid"]}, ("A", "B"), "utf-8"),
    "registered_twice_case.csv": ({"registered": ["Registered"]}, ("A", "B"), "utf-8"),
    "code_column.csv": ({}, ("A", "B"), "utf-8"),
    "turnout_percent_column.csv": ({"turnout": ["Явка %"]}, ("A", "B"), "utf-8"),
    "header_line_breaks.csv": (
        {"station_id": ["Номер\nУИК"], "registered": ["Число избирателей,\nвнесенных в список"]},
        ("A", "B"),
        "utf-8",
    ),
    "semicolon_bom_crlf.csv": ({}, ("A", "B"), "utf-8-sig"),
    "sheet_good.xlsx": ({"registered": ["registered"]}, ("A", "B"), "xlsx"),
    "dollar_names.csv": ({}, ("$x^2$", "B"), "utf-8"),
}


#: what the corpus cases run: reading, the integrity checks and the cheap tests. The
#: fingerprint family meets hostile files in test_full_battery_on_hostile_files.
READING_TESTS = ("--tests", "arithmetic,integer_percent,digits")


def run_analyze(path, tmp_path, options=(), *, full=False):
    out = tmp_path / "r.json"
    tests = () if full or "--tests" in options else READING_TESTS
    result = runner.invoke(
        app, ["analyze", str(path), "--no-plots", "-q", "--json", str(out), *tests, *options]
    )
    return result, (json.loads(out.read_text()) if out.exists() else None)


@pytest.mark.parametrize("name", ["giant_station.csv", "all_zero_votes.csv", "forty_stations.csv"])
def test_full_battery_on_hostile_files(name, tmp_path):
    """Every family, the fingerprint fit included, on files built to break it."""
    result, report = run_analyze(HOSTILE / name, tmp_path, full=True)
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code != 2:
        assert {r["test"] for r in report["results"]} >= {"fingerprint", "excess_votes"}


def test_every_corpus_file_has_an_expected_outcome():
    files = {p.name for p in HOSTILE.iterdir() if p.name != "make_corpus.py"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_case(name, tmp_path):
    exit_code, code, line, column = EXPECTED[name]
    before = (HOSTILE / name).read_bytes()
    listing = sorted(p.name for p in HOSTILE.iterdir())
    result, report = run_analyze(HOSTILE / name, tmp_path, OPTIONS.get(name, ()))
    # nothing the user gave is changed, nothing is written beside it
    assert (HOSTILE / name).read_bytes() == before
    assert sorted(p.name for p in HOSTILE.iterdir()) == listing
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
    if name in READ_AS:
        fields, candidates, encoding = READ_AS[name]
        mapping = report["input"]["mapping"]
        for field_name, headers in fields.items():
            assert mapping["fields"][field_name] == headers
        assert tuple(report["input"]["candidates"]) == candidates
        assert report["input"]["encoding"] == encoding


def test_corpus_has_at_least_sixty_cases():
    assert len(EXPECTED) >= 60


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
    _, report = run_analyze(HOSTILE / "forty_stations.csv", tmp_path, full=True)
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
        ["analyze", str(HOSTILE / "path_regions.csv"), "--by-region", "--plots", str(plots), "-q"]
        + ["--tests", "arithmetic"],
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
        app,
        ["analyze", str(HOSTILE / "one_candidate.csv"), "--plots", str(link / "plots"), "-q"]
        + ["--tests", "arithmetic"],
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
                "--tests",
                "digits,integer_percent",  # the seeded nulls; the fit is in test_suite
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
