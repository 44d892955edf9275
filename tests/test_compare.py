"""`kzvote compare`: joining, flags, aggregate turnout, lower bounds, messages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLES, realdata
from typer.testing import CliRunner

from kzvote.cli import app
from kzvote.compare import compare as run_compare
from kzvote.methods.observers import normalise_ids, sign_flip_pvalue
from kzvote.reading import load_stations, parse_map_options
from kzvote.render.csvout import safe_cell, stations_csv
from kzvote.render.jsonout import serialize
from kzvote.suite import Params


def compare(*args, **kwargs):
    """The command's report in its JSON layout (what every renderer reads)."""
    return serialize(run_compare(*args, **kwargs))


runner = CliRunner()
OFFICIAL = str(SAMPLES / "kz2023_almaty_official.csv")
OBSERVERS = str(SAMPLES / "kz2023_almaty_observers.csv")


def load_observed(path, **kwargs):
    return load_stations(path, required=(), need_candidates=False, **kwargs)


def test_ids_are_normalised():
    ids = pd.Series(["УИК № 0012", " 12 ", "No. 12", "#012", "01-010-0001", "A-7"])
    assert normalise_ids(ids).tolist() == ["12", "12", "12", "12", "1-10-1", "a-7"]


def test_sign_flip_p_is_a_valid_monte_carlo_p():
    rng = np.random.default_rng(0)
    assert sign_flip_pvalue(np.zeros(5), rng) == 1.0
    # 6 clusters all positive: the exact two-sided p is 2 / 2**6 = 0.03125
    p = sign_flip_pvalue(np.ones(6), rng)
    assert p == pytest.approx(0.03125, abs=0.006)


def test_almaty_sample_reports_observers_turnout_in_10_to_12_percent():
    report = compare(load_stations(OFFICIAL), load_observed(OBSERVERS), Params())
    turnout = next(r for r in report["results"] if r["test"] == "observer_turnout")
    d = turnout["details"]
    assert 0.10 <= d["observed_turnout"] <= 0.12
    assert d["official_turnout"] > d["observed_turnout"] + 0.05
    assert turnout["verdict"] == "anomaly"
    assert report["summary"]["matched"] == 72
    assert report["summary"]["flagged"] > 50
    gap = next(
        r
        for r in report["results"]
        if r["test"] == "observed_vs_unobserved" and r["subject"] == "turnout"
    )
    assert gap["details"]["within_strata_difference"] < 0
    assert gap["verdict"] == "anomaly"
    # the stations list puts flagged stations first and records every compared field
    first = report["stations"][0]
    assert first["flagged"]
    assert first["difference"]["ballots_cast"] == (
        first["official"]["ballots_cast"] - first["observed"]["ballots_cast"]
    )


def test_honest_observers_agree(write):
    official = pd.read_csv(OFFICIAL)
    observed = official.sample(60, random_state=1)[
        ["station_id", "region", "ballots_cast", "Amanat"]
    ]
    report = compare(
        load_stations(write("o.csv", official.to_csv(index=False))),
        load_observed(write("b.csv", observed.to_csv(index=False))),
        Params(),
    )
    assert report["summary"]["flagged"] == 0
    assert all(
        r["verdict"] != "anomaly"
        for r in report["results"]
        if r["test"] in ("observer_turnout", "observer_votes")
    )


def test_unmatched_duplicates_extra_columns_and_conflicts(write):
    official = pd.read_csv(OFFICIAL).head(200)
    observed = official.head(20)[["station_id", "region", "registered", "ballots_cast"]].copy()
    observed.loc[0, "registered"] += 50
    observed["Mystery party"] = 5
    extra = pd.DataFrame(
        [
            {
                "station_id": "ALA-9999",
                "region": "Almaty",
                "registered": 10,
                "ballots_cast": 5,
                "Mystery party": 1,
            }
        ]
    )
    observed = pd.concat([observed, extra, observed.iloc[[3]]])
    report = compare(
        load_stations(write("o.csv", official.to_csv(index=False))),
        load_observed(write("b.csv", observed.to_csv(index=False))),
        Params(),
    )
    messages = " ".join(report["summary"]["messages"])
    assert report["unmatched"]["observed_only"] == ["ALA-9999"]
    assert report["unmatched"]["duplicates"]["observed"] == [official["station_id"][3]]
    assert "Mystery party" in messages
    assert "registered voters differ" in messages
    assert len(report["unmatched"]["official_only"]) == 200 - 19


def test_belarus_lower_bound_finds_the_441_stations():
    path = str(realdata("belarus-2020-voice/voice.csv"))
    official = load_stations(path, overrides=parse_map_options([], "belarus-voice-official"))
    observed = load_observed(path, overrides=parse_map_options([], "belarus-voice-photo"))
    report = compare(official, observed, Params(), mode="lower-bound")
    votes = next(
        r
        for r in report["results"]
        if r["test"] == "observer_votes" and r["subject"] == "Tsikhanouskaya"
    )
    # ../shared/realdata/README.md: 441 stations, 50,138 photo-confirmed ballots in excess
    assert votes["details"]["stations_below_lower_bound"] == 441
    assert votes["details"]["votes_missing_from_official"] == 50_138
    assert votes["verdict"] == "anomaly"


def test_csv_export_neutralises_formulas():
    assert safe_cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert safe_cell("+cmd|' /C calc'!A0").startswith("'+")
    assert safe_cell(-5) == -5
    data = {
        "summary": {"compared_fields": ["ballots_cast"]},
        "stations": [
            {
                "station_id": "@evil",
                "region": "-x",
                "line": 2,
                "flagged": True,
                "flagged_fields": ["ballots_cast"],
                "registered": 100,
                "official": {"ballots_cast": 10},
                "observed": {"ballots_cast": 5},
                "difference": {"ballots_cast": 5},
            }
        ],
    }
    assert "'@evil,'-x" in stations_csv(data)


def test_compare_cli_json_csv_and_exit_codes(tmp_path):
    out, csv = tmp_path / "c.json", tmp_path / "c.csv"
    result = runner.invoke(
        app,
        [
            "compare",
            OFFICIAL,
            OBSERVERS,
            "--json",
            str(out),
            "--csv",
            str(csv),
            "--plots",
            str(tmp_path / "p"),
            "-q",
            "--fail-on",
            "anomaly",
        ],
    )
    assert result.exit_code == 1, result.output
    data = json.loads(out.read_text())
    assert data["results"][0]["test"] == "observer_turnout"
    assert {"official_turnout", "observed_turnout"} <= set(data["results"][0]["details"])
    assert len(csv.read_text().splitlines()) == 73
    assert len(data["plots"]) == 3
    assert runner.invoke(app, ["compare", "--help"]).exit_code == 0


def test_no_common_station_is_a_clear_error(write):
    path = write("x.csv", "station_id,ballots_cast\nZZZ-1,5\nZZZ-2,6\n")
    result = runner.invoke(app, ["compare", OFFICIAL, path, "--no-plots"])
    assert result.exit_code == 2
    assert "[no_common_stations]" in result.output


def test_within_strata_difference_by_hand():
    from kzvote.methods.observers import _stratified_difference

    # stratum 0: observed mean 0.2, unobserved 0.4 (diff -0.2, 1 observed station);
    # stratum 1: observed mean 0.5, unobserved 0.6 (diff -0.1, 2 observed stations)
    # weighted by observed stations: (-0.2 * 1 + -0.1 * 2) / 3
    x = np.array([0.2, 0.4, 0.4, 0.5, 0.5, 0.6])
    lab = np.array([True, False, False, True, True, False])
    st = np.array([0, 0, 0, 1, 1, 1])
    stat, used = _stratified_difference(x, lab, st)
    assert stat == pytest.approx(-0.4 / 3)
    assert used == 2
