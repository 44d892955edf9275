"""`kzvote crosscheck`: the join, the tolerance rule, the sign test, outputs, exit codes."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLES, chromium_flags
from scipy import stats
from typer.testing import CliRunner

from kzvote.cli import app
from kzvote.crosscheck import crosscheck as run_crosscheck
from kzvote.methods.crosscheck import HONEST_RATE, sign_test
from kzvote.model import KzvoteError
from kzvote.reading import load_stations, table_from_frame
from kzvote.render.jsonout import serialize
from kzvote.simulate import Scenario, concurrent_pair, simulate
from kzvote.suite import Params


def crosscheck(*args, **kwargs):
    """The command's report in its JSON layout (what every renderer reads)."""
    return serialize(run_crosscheck(*args, **kwargs))


runner = CliRunner()


def contest(ids, registered, issued, *, region="North", extra=None) -> pd.DataFrame:
    n = len(ids)
    issued = np.asarray(issued)
    frame = pd.DataFrame(
        {
            "station_id": ids,
            "region": [region] * n if isinstance(region, str) else region,
            "registered": np.asarray(registered),
            "ballots_issued": issued,
            "ballots_cast": issued,
            "invalid": np.zeros(n, dtype=int),
            "P1": issued // 2,
            "P2": issued - issued // 2,
        }
    )
    if extra:
        for k, v in extra.items():
            frame[k] = v
    return frame


def run(frames, **kwargs):
    tables = [table_from_frame(f, name=f"c{k}") for k, f in enumerate(frames)]
    labels = [f"c{k}" for k in range(len(frames))]
    return crosscheck(tables, labels, Params(), **kwargs)


def test_tolerance_rule_is_more_than_max_of_ballots_and_share():
    registered = [1000] * 6
    a = contest([f"S{k}" for k in range(6)], registered, [500] * 6)
    # 1% of 1000 = 10 > 3: differences of 10 pass, 11 are flagged
    b = contest([f"S{k}" for k in range(6)], registered, [500, 490, 489, 510, 511, 497])
    data = run([a, b])
    flagged = {s["station_id"]: s["flagged"] for s in data["stations"]}
    assert flagged == {"S0": False, "S1": False, "S2": True, "S3": False, "S4": True, "S5": False}
    # small stations: the 3-ballot floor applies
    a = contest(["T1", "T2"], [100, 100], [50, 50])
    b = contest(["T1", "T2"], [100, 100], [47, 46])
    flagged = {s["station_id"]: s["flagged"] for s in run([a, b])["stations"]}
    assert flagged == {"T1": False, "T2": True}
    # a custom tolerance
    flagged = {
        s["station_id"]: s["flagged"]
        for s in run([a, b], tolerance=0, tolerance_share=0)["stations"]
    }
    assert flagged == {"T1": True, "T2": True}


def test_join_lists_unmatched_both_ways_and_duplicates():
    a = contest(["1", "2", "3", "3"], [900] * 4, [400, 410, 420, 421])
    b = contest(["№ 001", "2", "5"], [900] * 3, [400, 300, 100])
    data = run([a, b])
    assert data["summary"]["matched"] == 2  # 1 (as "№ 001") and 2; 3 is duplicated in a
    assert data["unmatched"]["only_in"]["c1"] == ["5"]
    assert data["unmatched"]["duplicates"]["c0"] == ["3"]
    flagged = {s["station_id"]: s["flagged"] for s in data["stations"]}
    assert flagged == {"1": False, "2": True}


def test_station_numbers_repeat_across_regions():
    regions = ["North", "North", "South", "South"]
    a = contest(["1", "2", "1", "2"], [800] * 4, [300, 310, 320, 330], region=regions)
    b = contest(["1", "2", "1", "2"], [800] * 4, [300, 310, 400, 330], region=regions)
    data = run([a, b])
    flagged = [(s["region"], s["station_id"]) for s in data["stations"] if s["flagged"]]
    assert flagged == [("South", "1")]


def test_registered_differences_are_reported():
    a = contest(["1", "2", "3"], [800, 800, 800], [300, 300, 300])
    b = contest(["1", "2", "3"], [800, 801, 900], [300, 300, 300])
    data = run([a, b])
    result = next(r for r in data["results"] if r["test"] == "crosscheck_registered")
    assert result["statistic"] == 1
    assert result["details"]["stations_differing_at_all"] == 2


def test_single_mandate_districts_with_different_candidates(tmp_path):
    """A district file has other candidates in every district: blanks elsewhere."""
    text = (
        "station_id,region,district,registered,ballots_issued,ballots_cast,invalid,"
        "D1 Abilov,D1 Bekova,D2 Ivanov,D2 Petrova,D2 Sadykov\n"
        "1,North,D1,1000,500,500,10,300,190,,,\n"
        "2,North,D1,1200,600,600,12,350,238,,,\n"
        "3,North,D2,900,450,450,5,,,200,150,95\n"
        "4,North,D2,950,480,480,6,,,100,300,74\n"
    )
    path = tmp_path / "district.csv"
    path.write_text(text, encoding="utf-8")
    table = load_stations(str(path))
    assert len(table.candidates) == 5
    assert not table.mapping.warnings
    party = table_from_frame(
        contest(["1", "2", "3", "4"], [1000, 1200, 900, 950], [500, 600, 520, 480])
    )
    data = crosscheck([party, table], ["party list", "district"], Params())
    assert [s["station_id"] for s in data["stations"] if s["flagged"]] == ["3"]


def test_sign_test_against_scipy_and_the_median_interval():
    rng = np.random.default_rng(4)
    d = rng.integers(-3, 6, 200).astype(float)
    out = sign_test(d)
    nonzero = d[d != 0]
    expected = stats.binomtest(int((nonzero > 0).sum()), len(nonzero), 0.5)
    assert out["p_value"] == pytest.approx(expected.pvalue)
    ci = expected.proportion_ci(method="exact")
    assert out["share_interval"] == pytest.approx([ci.low, ci.high])
    # 20 values: the 95% distribution-free interval for the median is (x(6), x(15))
    # (order-statistic tables, e.g. Conover, Practical Nonparametric Statistics, A3)
    values = np.arange(1, 21, dtype=float)
    assert sign_test(values)["median_interval"] == [6.0, 15.0]


def test_median_interval_covers_in_a_monte_carlo():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        x = rng.standard_normal(31)
        lo, hi = sign_test(x)["median_interval"]
        covered += lo <= 0 <= hi
    assert covered / 400 >= 0.93


def test_honest_slips_are_allowed_and_inflation_is_not():
    n = 2000
    ids = [f"S{k}" for k in range(n)]
    reg = np.full(n, 1000)
    base = np.full(n, 500)
    b = base.copy()
    b[:1] += 50  # one honest slip in 2,000: below the allowance
    data = run([contest(ids, reg, base), contest(ids, reg, b)])
    issued = next(r for r in data["results"] if r["test"] == "crosscheck_issued")
    assert issued["statistic"] == 1
    assert issued["p_value"] == pytest.approx(stats.binom.sf(0, n, HONEST_RATE))
    assert issued["verdict"] == "consistent"
    b[:40] += 50
    data = run([contest(ids, reg, base), contest(ids, reg, b)])
    issued = next(r for r in data["results"] if r["test"] == "crosscheck_issued")
    assert issued["verdict"] == "anomaly"
    balance = next(r for r in data["results"] if r["test"] == "crosscheck_balance")
    assert balance["details"]["higher"] == "c1"


def test_three_contests_give_three_pairs():
    ids = [f"S{k}" for k in range(30)]
    reg = [1000] * 30
    a = contest(ids, reg, [500] * 30)
    b = contest(ids, reg, [500] * 30)
    c = contest(ids, reg, [500] * 29 + [700])
    data = run([a, b, c])
    pairs = [(p["a"], p["b"], p["flagged"]) for p in data["summary"]["pairs"]]
    assert pairs == [("c0", "c1", 0), ("c0", "c2", 1), ("c1", "c2", 1)]
    assert data["summary"]["flagged"] == 1


def test_simulated_pairs_recall_precision_and_honest_rate():
    table, _ = simulate(Scenario(stations=3000, regions=6), 5)
    a, b, truth = concurrent_pair(table, 5, inflate_share=0.03, inflate="b")
    data = run([a, b])
    flagged = {s["station_id"] for s in data["stations"] if s["flagged"]}
    inflated = set(truth["station_id"][truth["inflated_ballots"] > 0])
    assert len(flagged & inflated) >= 0.9 * len(inflated)
    assert len(flagged & inflated) >= 0.9 * len(flagged)
    honest_a, honest_b, _ = concurrent_pair(table, 5, inflate_share=0.0)
    data = run([honest_a, honest_b])
    assert data["summary"]["share_flagged"] < 0.005
    assert all(r["verdict"] == "consistent" for r in data["results"])


def _write_pair(tmp_path, a, b):
    pa, pb = tmp_path / "a.csv", tmp_path / "b.csv"
    a.to_csv(pa, index=False)
    b.to_csv(pb, index=False)
    return str(pa), str(pb)


def test_cli_json_csv_report_and_exit_codes(tmp_path):
    ids = ["=HYPERLINK(1)", "<script>x</script>"] + [f"S{k}" for k in range(20)]
    reg = [1000] * 22
    a = contest(ids, reg, [500] * 22)
    b = contest(ids, reg, [700, 700] + [500] * 20)
    pa, pb = _write_pair(tmp_path, a, b)
    out = tmp_path / "cc.csv"
    report = tmp_path / "r.html"
    md = tmp_path / "r.md"
    result = runner.invoke(
        app,
        [
            "crosscheck",
            pa,
            pb,
            "--json",
            "-",
            "--csv",
            str(out),
            "--report",
            str(report),
            "--plots",
            str(tmp_path / "plots"),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["command"] == "crosscheck"
    assert {r["test"] for r in data["results"]} == {
        "crosscheck_issued",
        "crosscheck_registered",
        "crosscheck_balance",
    }
    first = data["stations"][0]
    assert first["flagged"] and set(first["values"]) == {"a", "b"}
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0][:4] == ["station_id", "region", "district", "flagged"]
    assert "'=HYPERLINK(1)" in [r[0] for r in rows]  # spreadsheet-safe
    page = report.read_text(encoding="utf-8")
    assert "<script>x" not in page and "&lt;script&gt;x" in page
    assert "data:image/png;base64," in page and "http" not in page.split("<body>")[1]
    result = runner.invoke(app, ["crosscheck", pa, pb, "--no-plots", "--report", str(md), "-q"])
    assert result.exit_code == 0
    assert "<script>" not in md.read_text(encoding="utf-8")
    assert (
        runner.invoke(
            app, ["crosscheck", pa, pb, "--no-plots", "--fail-on", "anomaly", "-q"]
        ).exit_code
        == 1
    )


@pytest.mark.parametrize(
    "args",
    [
        ["one.csv"],
        ["--tolerance", "nan"],
        ["--tolerance", "-1"],
        ["--tolerance-share", "1.5"],
        ["--label", "only one"],
        ["--report", "r.pdf"],
    ],
)
def test_cli_bad_options_exit_2(tmp_path, args):
    ids = [f"S{k}" for k in range(5)]
    pa, pb = _write_pair(
        tmp_path, contest(ids, [900] * 5, [400] * 5), contest(ids, [900] * 5, [400] * 5)
    )
    files = [pa] if args == ["one.csv"] else [pa, pb]
    options = [] if args == ["one.csv"] else args
    result = runner.invoke(app, ["crosscheck", *files, *options, "--no-plots", "-q"])
    assert result.exit_code == 2, result.output
    assert "error [" in result.output


def test_no_common_station_is_an_error():
    a = table_from_frame(contest(["1", "2"], [900, 900], [400, 400]))
    b = table_from_frame(contest(["7", "8"], [900, 900], [400, 400]))
    with pytest.raises(KzvoteError) as info:
        crosscheck([a, b], ["a", "b"], Params())
    assert info.value.code == "no_common_stations"


def test_bundled_almaty_pair():
    result = runner.invoke(
        app,
        [
            "crosscheck",
            str(SAMPLES / "kz2023_almaty_party_list.csv"),
            str(SAMPLES / "kz2023_almaty_district.csv"),
            "--no-plots",
            "--json",
            "-",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["matched"] == 600
    # 4% of the party-list protocols were inflated by 40-250 ballots (sample_data/README)
    assert 18 <= data["summary"]["flagged"] <= 30


def test_html_report_renders_in_a_real_browser(tmp_path):
    """Headless Chromium renders the report (skipped where Chromium is not installed)."""
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium')")
    ids = ["<img src=x onerror=alert(1)>"] + [f"S{k}" for k in range(20)]
    a = contest(ids, [1000] * 21, [500] * 21)
    b = contest(ids, [1000] * 21, [650] + [500] * 20)
    pa, pb = _write_pair(tmp_path, a, b)
    page = tmp_path / "r.html"
    result = runner.invoke(
        app, ["crosscheck", pa, pb, "--report", str(page), "--plots", str(tmp_path / "p"), "-q"]
    )
    assert result.exit_code == 0, result.output
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            browser,
            *chromium_flags(tmp_path / "profile"),
            "--window-size=1000,1400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    assert "<img src=x" not in page.read_text(encoding="utf-8")
