"""`kzvote calibrate`: twins keep the file's shape, rates and intervals are right, the
empirical p-values follow their definition, and (slow) calibrated tests sit near alpha."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLES
from scipy.stats import binomtest
from typer.testing import CliRunner

from kzvote.calibrate import _summarise
from kzvote.calibrate import calibrate as run_calibrate
from kzvote.cli import app
from kzvote.model import StatResult
from kzvote.reading import load_stations, table_from_frame
from kzvote.render.jsonout import serialize
from kzvote.suite import Params, empirical_pvalues
from kzvote.twins import draw_twin, fit_fair_model


def calibrate(*args, **kwargs):
    """The command's report in its JSON layout (what every renderer reads)."""
    return serialize(run_calibrate(*args, **kwargs))


CLEAN = str(SAMPLES / "clean_control.csv")
runner = CliRunner()


def test_twins_keep_stations_registered_and_regions():
    table = load_stations(CLEAN)
    model = fit_fair_model(table, table.leader())
    twin = draw_twin(model, np.random.default_rng(0))
    assert len(twin) == len(model.registered)
    np.testing.assert_array_equal(twin["registered"], model.registered)
    assert set(twin["region"]) == set(table.ids["region"])
    # fitted turnout per region close to the file's (clean file: the model is right)
    file_turnout = table.column("ballots_issued").sum() / table.column("registered").sum()
    twin_turnout = twin["ballots_issued"].sum() / twin["registered"].sum()
    assert twin_turnout == pytest.approx(file_turnout, abs=0.02)
    assert (twin["valid"] + twin["invalid"] == twin["ballots_cast"]).all()


def test_rates_and_intervals_against_scipy():
    runs = [[("t", "s", p, "consistent")] for p in (0.01, 0.2, 0.03, 0.5, 0.9)]
    record = _summarise(runs, 0.05)[0]
    assert record["false_positive_rate"] == pytest.approx(2 / 5)
    ci = binomtest(2, 5).proportion_ci(0.95)
    assert record["interval"] == pytest.approx([ci.low, ci.high])
    assert record["false_alarm_rate"] == 0.0  # no twin was called an anomaly


def test_power_survives_twins_that_are_all_inconclusive(monkeypatch):
    # a test inconclusive on every injected twin has power None: no crash at the end
    import kzvote.calibrate as C

    def fake(args):
        _, seed, inject, _ = args
        verdict = "inconclusive" if inject else "consistent"
        return [("t", "s", None if inject else 0.5, verdict)]

    monkeypatch.setattr(C, "_twin_results", fake)
    table = load_stations(CLEAN)
    data = calibrate(table, Params(), sims=3, power_sims=2, inject={"whole_percent": 0.05})
    (record,) = data["tests"]
    assert all(p["power"] is None for p in record["power"])
    assert record["detectable_at_80_percent"] == {"whole_percent": None}


def test_false_alarm_rate_counts_verdicts():
    # p < alpha but the verdict kept "consistent" (e.g. the fingerprint's materiality rule)
    runs = [[("t", "s", 0.01, "consistent")], [("t", "s", 0.02, "anomaly")]] + [
        [("t", "s", 0.5, "consistent")]
    ] * 2
    record = _summarise(runs, 0.05)[0]
    assert record["false_positive_rate"] == pytest.approx(2 / 4)
    assert record["false_alarm_rate"] == pytest.approx(1 / 4)


def test_empirical_p_follows_its_definition():
    calibration = {"tests": [{"test": "t", "subject": "s", "null_p_values": [0.01, 0.2, 0.5, 0.9]}]}
    result = StatResult("t", "s", "national", 10, 1.0, 0.3)
    (out,) = empirical_pvalues([result], calibration)
    # (1 + #{0.01, 0.2 <= 0.3}) / (1 + 4)
    assert out.p_value == pytest.approx(3 / 5)
    assert out.details["p_model"] == 0.3


def test_tiny_calibration_through_the_cli(tmp_path):
    out = tmp_path / "cal.json"
    result = runner.invoke(
        app,
        [
            "calibrate",
            CLEAN,
            "--sims",
            "3",
            "--jobs",
            "1",
            "--tests",
            "integer_percent,arithmetic",
            "--inject",
            "whole_percent=0.2",
            "--power-sims",
            "2",
            "--json",
            str(out),
            "--plots",
            str(tmp_path / "p"),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    records = {(r["test"], r["subject"]): r for r in data["tests"]}
    either = records[("integer_percent", "either")]
    assert either["sims"] == 3 and len(either["null_p_values"]) == 3
    assert {"false_positive_rate", "interval", "power", "detectable_at_80_percent"} <= set(either)
    assert records[("arithmetic", "valid_invalid_mismatch")]["false_positive_rate"] == 0.0
    # --power-sims reaches the computation (it was once dropped and the default 3 used)
    assert {p["sims"] for p in either["power"]} == {2}
    assert [row["sims"] for row in data["battery"]["power"]] == [2, 2, 2, 2]
    assert data["complete"] is True and data["twins_run"] == 3 + 4 * 2
    assert len(data["plots"]) == 2
    # the console tables fit 80 columns: every test and subject is written out in full
    from rich.console import Console

    from kzvote.render.console import calibration_renderable

    console = Console(width=80, record=True)
    console.print(calibration_renderable(data))
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    flat = " ".join(text.split())
    assert "candidate_sum_mismatch" in flat and "integer_percent either" in flat
    assert "Power: smallest injected size" in text
    analysed = runner.invoke(
        app,
        [
            "analyze",
            CLEAN,
            "--calibrated",
            str(out),
            "--no-plots",
            "-q",
            "--json",
            str(tmp_path / "a.json"),
            "--tests",
            "arithmetic,integer_percent",
        ],
    )
    assert analysed.exit_code == 0, analysed.output
    report = json.loads((tmp_path / "a.json").read_text())
    tested = [r for r in report["results"] if r["p_value"] is not None]
    assert tested and all("p_model" in r["details"] for r in tested)
    # the empirical p is (k + 1) / (n + 1) over the 3 twins
    assert {r["p_value"] for r in tested} <= {0.25, 0.5, 0.75, 1.0}
    assert report["parameters"]["calibration_twins"] == 3
    assert any("3 clean twins" in w for w in report["parameters"]["calibration_warnings"])
    shown = runner.invoke(
        app,
        ["analyze", CLEAN, "--calibrated", str(out), "--no-plots"]
        + ["--tests", "arithmetic,integer_percent"],
    )
    assert "EMPIRICAL" in shown.output and "3 clean twins" in shown.output

    # misuse: another file, another test set, another leader, a damaged file
    national = str(SAMPLES / "kz2023_almaty_party_list.csv")
    misuses = [
        ["analyze", national, "--tests", "arithmetic,integer_percent"],
        ["analyze", CLEAN, "--tests", "integer_percent"],
        ["analyze", CLEAN, "--tests", "arithmetic,integer_percent", "--leader", "Auyl"],
    ]
    for args in misuses:
        refused = runner.invoke(app, [*args, "--calibrated", str(out), "--no-plots", "-q"])
        assert refused.exit_code == 2, (args, refused.output)
        assert "[calibration_mismatch]" in refused.output and "fix:" in refused.output
    data["input"].pop("sha256")
    (tmp_path / "old.json").write_text(json.dumps(data), encoding="utf-8")
    refused = runner.invoke(
        app,
        ["analyze", CLEAN, "--calibrated", str(tmp_path / "old.json"), "--no-plots"]
        + ["--tests", "arithmetic,integer_percent"],
    )
    assert refused.exit_code == 2 and "[calibration_mismatch]" in refused.output
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    refused = runner.invoke(app, ["analyze", CLEAN, "--calibrated", str(tmp_path / "bad.json")])
    assert refused.exit_code == 2 and "[bad_calibration]" in refused.output


def test_bad_injection_is_a_clear_error():
    result = runner.invoke(app, ["calibrate", CLEAN, "--inject", "magic=0.1", "--sims", "1"])
    assert result.exit_code == 2
    assert "unknown injection" in result.output


@pytest.mark.slow
def test_false_positive_rates_on_a_small_file():
    # the whole battery on 200 clean twins of a 2,000-station file (~5 min on 2 cores;
    # measured: 3 structural tests and a conservative excess outside their ranges, no
    # integer or digit test outside, battery false alarms 2.5%)
    from scipy.stats import binomtest as exact

    table = load_stations(CLEAN)
    data = calibrate(table, Params(), sims=200, jobs=2)
    structural = {"fingerprint", "high_turnout_cluster", "turnout_share_dependence"}
    check = data["range_check"]
    outside = [name for name in check["outside"] if name.split(" / ")[0] not in structural]
    # ~1 of ~30 calibrated tests outside by chance (expected_outside); allow 3 more
    assert len(outside) <= check["expected_outside"] + 3, outside
    records = {(r["test"], r["subject"]): r for r in data["tests"]}
    # a regional-bloc misfit must never make the fingerprint's verdict fire on clean data
    assert records[("fingerprint", "leader")]["false_alarm_rate"] <= 0.02
    # Holm over the battery: at least one anomaly on a clean twin at most 5% of the time
    battery = data["battery"]
    k = round(battery["false_alarm_rate"] * battery["sims"])
    assert exact(k, battery["sims"], 0.05, alternative="greater").pvalue > 0.01, k


def test_battery_rate_counts_twins_with_any_anomaly():
    from kzvote.calibrate import _battery

    clean = [
        [("a", "s", 0.5, "consistent"), ("b", "s", 0.001, "anomaly")],
        [("a", "s", 0.5, "consistent"), ("b", "s", 0.3, "consistent")],
        [("a", "s", 0.01, "anomaly"), ("b", "s", 0.001, "anomaly")],  # one twin, counted once
        [("a", "s", None, "inconclusive")],
    ]
    injected = [("whole_percent", 0.05, clean[:3])]
    battery = _battery(clean, injected)
    assert battery["false_alarm_rate"] == pytest.approx(2 / 4)
    ci = binomtest(2, 4).proportion_ci(0.95)
    assert battery["interval"] == pytest.approx([ci.low, ci.high])
    assert battery["power"][0]["called_anomaly"] == pytest.approx(2 / 3)
    assert battery["called_at_80_percent"] == {"whole_percent": None}


def test_interrupted_run_keeps_the_twins_that_finished(monkeypatch, tmp_path):
    # Ctrl-C during a long run: the report covers the finished twins, says it is
    # incomplete, is still written, and the exit code is 130
    import kzvote.calibrate as C

    calls = []

    def fake(args):
        calls.append(args[1])
        if len(calls) > 5:
            raise KeyboardInterrupt
        return [("t", "s", 0.01 * len(calls), "consistent")]

    monkeypatch.setattr(C, "_twin_results", fake)
    table = load_stations(CLEAN)
    data = calibrate(table, Params(), sims=4, power_sims=2, inject={"invented": 0.1})
    assert data["complete"] is False and data["twins_run"] == 5
    (record,) = data["tests"]
    assert record["sims"] == 4
    assert [p["sims"] for p in record["power"]] == [1]  # the first injected size, half done
    calls.clear()
    out = tmp_path / "cal.json"
    args = ["calibrate", CLEAN, "--sims", "8", "--jobs", "1", "-q", "--no-plots"]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 130
    saved = json.loads(out.read_text())
    assert saved["complete"] is False and saved["tests"][0]["sims"] == 5


def test_detectable_size_needs_detection_at_every_larger_size():
    from kzvote.calibrate import _smallest

    def row(size, rate):
        return {"kind": "k", "size": size, "power": rate}

    # one lucky small size (0.9 at 1/8) with a miss at 1/4 does not count
    rows = [row(0.00625, 0.9), row(0.0125, 0.5), row(0.025, 0.85), row(0.05, 1.0)]
    assert _smallest(rows, {"k": 0.05}, "power") == {"k": 0.025}
    rows = [row(0.025, 0.95), row(0.05, None)]  # inconclusive at the top: not reached
    assert _smallest(rows, {"k": 0.05}, "power") == {"k": None}
    assert _smallest([row(0.05, 0.79)], {"k": 0.05}, "power") == {"k": None}


def test_range_check_expects_a_few_misses_by_chance():
    # 40 perfectly calibrated tests of 200 twins: each range misses with its exact
    # binomial probability (scipy), about 0.05 each; a Monte Carlo of the count agrees
    from scipy.stats import binom

    from kzvote.calibrate import _range_check

    rng = np.random.default_rng(1)
    runs = [
        [(f"t{j}", "s", float(rng.random()), "consistent") for j in range(40)] for _ in range(200)
    ]
    tests = _summarise(runs, 0.05)
    check = _range_check(tests, 0.05)
    assert check["checked"] == 40
    lo, hi = binom.ppf(0.025, 200, 0.05), binom.ppf(0.975, 200, 0.05)
    miss = binom.cdf(lo - 1, 200, 0.05) + binom.sf(hi, 200, 0.05)
    assert check["expected_outside"] == pytest.approx(40 * miss)
    rates = rng.binomial(200, 0.05, size=(20000, 40))
    monte_carlo = ((rates < lo) | (rates > hi)).sum(axis=1).mean()
    assert check["expected_outside"] == pytest.approx(monte_carlo, rel=0.03)
    assert len(check["outside"]) == sum(not r["calibrated"] for r in tests)


def test_twins_give_each_party_its_own_spread_and_resemble_a_clean_file():
    """Fidelity check: the clean control's twins match its count distributions; a file
    with one party zeroed at half the stations (and doubled at the rest), which no
    logit-normal twin reproduces, is named."""
    from kzvote.twins import fidelity

    table = load_stations(CLEAN)
    model = fit_fair_model(table, table.leader())
    report = fidelity(table, model, 0)
    assert report["resembles"], report["because"]
    # small parties keep their own spread (one Dirichlet concentration did not)
    spreads = model.share_logit[:, :, 1]
    assert spreads.shape == (len(model.region_names), len(table.candidates))
    assert np.ptp(np.median(spreads, axis=0)) > 0.05

    frame = pd.read_csv(CLEAN)
    rng = np.random.default_rng(1)
    party = table.candidates[-2]
    zero = rng.random(len(frame)) < 0.5
    frame.loc[zero, party] = 0
    frame.loc[~zero, party] *= 2
    frame["valid"] = frame[list(table.candidates)].sum(axis=1)
    frame["ballots_cast"] = frame["valid"] + frame["invalid"]
    frame["ballots_issued"] = np.maximum(frame["ballots_issued"], frame["ballots_cast"])
    frame["registered"] = np.maximum(frame["registered"], frame["ballots_issued"])
    broken = table_from_frame(frame)
    report = fidelity(broken, fit_fair_model(broken, broken.leader()), 0)
    assert not report["resembles"]
    assert [r["count"] for r in report["counts"] if not r["resembles"]] == [party]
    assert party in report["because"]


def test_ks_distance_against_scipy():
    from scipy.stats import ks_2samp

    from kzvote.twins import _ks_distance

    rng = np.random.default_rng(3)
    a = rng.poisson(40, 500).astype(float)  # ties, as station counts have
    b = rng.poisson(42, 1500).astype(float)
    assert _ks_distance(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)


def test_workers_get_one_blas_thread_and_the_environment_is_restored(monkeypatch):
    """calibrate's pool starts under one BLAS thread per worker (OpenBLAS's own threads
    made --jobs 2 2.6x slower); the parent's environment is left as it was, and a
    user's own setting wins."""
    import os

    from kzvote.calibrate import _single_threaded_blas

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    with _single_threaded_blas():
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
        assert os.environ["MKL_NUM_THREADS"] == "3"
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    assert os.environ["MKL_NUM_THREADS"] == "3"


def test_a_region_in_the_corner_gets_its_twins_turnout_lowered():
    """A region whose median turnout and leader share both exceed 90% is drawn with its
    turnout centre at 90% (the fingerprint's corner rule); the others keep theirs."""
    from kzvote.twins import CORNER

    rng = np.random.default_rng(1)
    rows = []
    for region, turnout, lead in (("Corner", 0.99, 0.97), ("High", 0.96, 0.6), ("Plain", 0.6, 0.5)):
        for i in range(60):
            registered = 1000
            issued = int(registered * turnout) - int(rng.integers(0, 5))
            a = int(issued * lead)
            rows.append((f"{region}-{i}", region, registered, issued, issued, a, issued - a))
    frame = pd.DataFrame(
        rows,
        columns=["station_id", "region", "registered", "ballots_issued", "ballots_cast", "A", "B"],
    )
    table = table_from_frame(frame)
    model = fit_fair_model(table, "A")
    centre = dict(
        zip(model.region_names, 1 / (1 + np.exp(-model.turnout_logit[:, 0])), strict=True)
    )
    assert centre["Corner"] == pytest.approx(CORNER)
    assert centre["High"] > 0.95 and centre["Plain"] == pytest.approx(0.6, abs=0.01)


def test_twins_put_at_most_the_honest_corner_mass_at_95_95():
    """A region spread around 93% turnout with the leader at 97% keeps its spread, but
    its twins' turnout centre is lowered until at most CORNER_MASS_CAP (0.1%) of its
    stations would sit at >= 95% turnout and >= 95% share, the cap on the fingerprint's
    honest blobs; drawn twins agree. The file itself has 40% of them there."""
    from scipy.special import ndtr

    from kzvote.methods.klimek_fit import CORNER_MASS_CAP
    from kzvote.twins import draw_twin

    rng = np.random.default_rng(2)
    rows = []
    for region, lo, hi, lead in (("Wide", 0.85, 0.99, 0.97), ("Plain", 0.5, 0.7, 0.5)):
        for i in range(400):
            registered = 1500
            issued = int(registered * rng.uniform(lo, hi))
            a = int(issued * lead) - int(rng.integers(0, 10))
            rows.append((f"{region}-{i}", region, registered, issued, issued, a, issued - a))
    frame = pd.DataFrame(
        rows,
        columns=["station_id", "region", "registered", "ballots_issued", "ballots_cast", "A", "B"],
    )
    table = table_from_frame(frame)
    t = frame["ballots_issued"] / frame["registered"]
    s = frame["A"] / frame["ballots_issued"]
    assert ((t >= 0.95) & (s >= 0.95))[frame["region"] == "Wide"].mean() > 0.3
    model = fit_fair_model(table, "A")
    k = model.region_names.index("Wide")
    edge = np.log(0.95 / 0.05)
    centre, spread = model.turnout_logit[k]
    lc, ls = model.share_logit[k, model.leader]
    mass = ndtr((centre - edge) / spread) * ndtr((lc - edge) / ls)
    assert mass == pytest.approx(CORNER_MASS_CAP, rel=1e-6)
    corner = []
    for seed in range(20):
        twin = draw_twin(model, np.random.default_rng(seed))
        wide = twin["region"] == "Wide"
        tt = twin["ballots_issued"] / twin["registered"]
        ss = twin["candidate 0"] / twin["valid"]
        corner.append(((tt >= 0.95) & (ss >= 0.95))[wide].mean())
    assert np.mean(corner) < 0.005
