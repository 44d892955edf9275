"""The stations behind the findings: each rule on planted stations, recall on simulated
stuffing, and the share listed on clean elections (kzvote.simulate and real files)."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from conftest import realdata

from kzvote.evidence import OUTLIER_D2, station_evidence
from kzvote.model import StatResult
from kzvote.reading import table_from_frame
from kzvote.simulate import Scenario, simulate
from kzvote.suite import Params, analyze


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    registered = rng.integers(800, 1500, n)
    issued = rng.binomial(registered, 0.55)
    a = rng.binomial(issued, 0.5)
    return pd.DataFrame(
        {
            "station_id": [f"S{i:04d}" for i in range(n)],
            "region": np.where(np.arange(n) < n // 2, "North", "South"),
            "registered": registered,
            "ballots_issued": issued,
            "ballots_cast": issued,
            "valid": issued,
            "invalid": 0,
            "A": a,
            "B": issued - a - issued // 10,
            "C": issued // 20,
            "D": issued // 10 - issued // 20,
        }
    )


def _codes(evidence, station):
    return next((set(e.reasons) for e in evidence if e.station_id == station), set())


def test_each_rule_points_at_the_planted_station():
    frame = _frame()
    # corner: 97% turnout, 97% for A
    frame.loc[5, ["registered", "ballots_issued", "ballots_cast", "valid"]] = [1000, 970, 970, 970]
    frame.loc[5, ["A", "B", "C", "D"]] = [941, 9, 10, 10]
    # arithmetic: candidates do not add up to valid
    frame.loc[7, "A"] = frame.loc[7, "A"] + 50
    # round counts: every candidate a multiple of 10 (and adding up)
    frame.loc[9, ["registered", "ballots_issued", "ballots_cast", "valid"]] = [1200, 660, 660, 660]
    frame.loc[9, ["A", "B", "C", "D"]] = [330, 200, 60, 70]
    # more ballots than voters (an integrity error)
    frame.loc[11, "registered"] = frame.loc[11, "ballots_issued"] - 5
    table = table_from_frame(frame, name="planted.csv")
    evidence = station_evidence(table, "A", [], {})
    assert "corner_95_95" in _codes(evidence, "S0005")
    assert "outlier_in_area" in _codes(evidence, "S0005")
    assert "candidate_sum_mismatch" in _codes(evidence, "S0007")
    assert "round_counts" in _codes(evidence, "S0009")
    # the arithmetic fact outranks a statistical oddity
    ranked = [e.station_id for e in evidence]
    assert "turnout_over_100" in _codes(evidence, "S0011")
    assert ranked.index("S0011") < ranked.index("S0009")
    # nothing else: the honest stations stay off the list
    assert {e.station_id for e in evidence} <= {"S0005", "S0007", "S0009", "S0011"}


def test_whole_percent_stations_are_listed_only_when_the_test_points_at_them():
    frame = _frame()
    frame.loc[3, ["registered", "ballots_issued", "ballots_cast", "valid"]] = [1000, 600, 600, 600]
    table = table_from_frame(frame, name="whole.csv")
    quiet = station_evidence(table, "A", [], {})
    assert "whole_percent_turnout" not in _codes(quiet, "S0003")
    anomaly = StatResult("integer_percent", "turnout", "national", 400, 5.0, 1e-9, 50.0, "anomaly")
    loud = station_evidence(table, "A", [anomaly], {})
    assert "whole_percent_turnout" in _codes(loud, "S0003")
    note = next(e for e in loud if e.station_id == "S0003").notes[0]
    assert "60.00%" in note and "chance" in note


def test_outlier_rule_uses_the_station_area_and_its_own_noise():
    frame = _frame(n=600, seed=2)
    # a South-like station placed in North is not an outlier of the country, but the
    # robust distance is measured against its own area
    table = table_from_frame(frame, name="areas.csv")
    evidence = station_evidence(table, "A", [], {})
    assert not [e for e in evidence if "outlier_in_area" in e.reasons]
    assert OUTLIER_D2 >= 25  # at least 5 robust standard deviations


def test_simulated_extreme_stuffing_is_found_and_clean_list_is_short():
    stuffed, truth = simulate(Scenario(stations=4000, regions=8, f_extreme=0.03), 11)
    table = table_from_frame(stuffed, name="stuffed.csv")
    report = analyze(table, Params(tests=("fingerprint",)))
    listed = {e.line for e in report.stations}
    lines = table.ids["line"].to_numpy()
    extreme = truth["stuffing_x"].to_numpy() >= 0.7
    found = np.mean([line in listed for line in lines[extreme]])
    assert found >= 0.7, found
    honest = ~(truth["stuffing_x"].to_numpy() > 0)
    assert np.mean([line in listed for line in lines[honest]]) <= 0.01

    # clean: the integer test's verdict gates its stations (the fingerprint's verdict on
    # clean elections is the calibration tests' business)
    clean, _ = simulate(Scenario(stations=4000, regions=8), 12)
    table = table_from_frame(clean, name="clean.csv")
    report = analyze(table, Params(tests=("integer_percent",)))
    assert len(report.stations) <= 0.01 * table.n_stations


@pytest.mark.parametrize(
    "relative, maps, mapping",
    [
        ("canada-2011-qss/canada2011.csv.gz", ["registered=N"], None),
        ("poland-2020-pkw/round2_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz", None, "poland-pkw"),
    ],
)
def test_clean_real_election_lists_few_stations(relative, maps, mapping):
    from kzvote.reading import load_stations
    from kzvote.reading.mapping import parse_map_options

    overrides = parse_map_options(maps, mapping)
    table = load_stations(str(realdata(relative)), overrides=overrides)
    # no battery result: the statistical rules that need no verdict (corner, outliers,
    # round counts) stay within 1% of stations on an honest election. Integrity findings
    # are facts of the file and are listed whatever their number (Poland: 1.4% of
    # stations with more ballots in the box than issued, the postal envelopes)
    evidence = station_evidence(table, table.leader(), [], {})
    statistical = {"corner_95_95", "outlier_in_area", "round_counts"}
    flagged = [e for e in evidence if statistical & set(e.reasons)]
    assert len(flagged) <= 0.01 * table.n_stations, len(flagged)


def test_stations_csv_and_json_agree(national_run):
    import json

    data = json.loads(national_run["json"].read_text())
    with open(national_run["stations"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(data["stations"]) == data["stations_summary"]["listed"]
    assert rows[0]["station_id"] == data["stations"][0]["station_id"]
    assert rows[0]["region"]  # stations are named with their region
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert set(data["stations_summary"]["rules"]) >= {"corner_95_95", "outlier_in_area"}
