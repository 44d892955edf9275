"""The reading package: protocol lines, identifiers, the plausibility check, aggregate
rows, observers' tallies and hints that can be right."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLES, realdata
from typer.testing import CliRunner

from kzvote.cli import app
from kzvote.model import KzvoteError
from kzvote.reading import load_stations, parse_map_options, table_from_frame
from kzvote.reading.numbers import id_shape, parse_counts, parse_percent
from kzvote.reading.vocabulary import meaning, normalise_header
from kzvote.simulate import PROTOCOL_PARTIES, protocol_layout

runner = CliRunner()


def protocol_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A Kazakh-style protocol in canonical columns plus the non-candidate lines."""
    rng = np.random.default_rng(seed)
    registered = rng.integers(500, 2500, n)
    issued = rng.binomial(registered, 0.6)
    invalid = rng.binomial(issued, 0.02)
    valid = issued - invalid
    votes = rng.multinomial
    shares = [0.6, 0.3, 0.1]
    parties = np.array([votes(v, shares) for v in valid])
    received = np.ceil(registered * 1.01).astype(int) + 5
    spoiled = rng.binomial(issued, 0.003)
    return pd.DataFrame(
        {
            "station_id": [f"S{k:03d}" for k in range(n)],
            "region": ["North", "South"] * (n // 2),
            "registered": registered,
            "ballots_issued": issued,
            "ballots_cast": issued,
            "invalid": invalid,
            "Line 2": received,
            "Line 5": spoiled,
            "Unused": received - issued - spoiled,
            "Party A": parties[:, 0],
            "Party B": parties[:, 1],
            "Party C": parties[:, 2],
        }
    )


def test_normalise_header_folds_scripts_kazakh_letters_and_line_breaks():
    # Latin 'a' in a Cyrillic word, a line break, a Kazakh letter typed as Russian
    assert normalise_header("Число избирaтелей,\nвнесенных") == "число избирателей, внесенных"
    assert normalise_header("Сайлаушылар тізіміне") == normalise_header("Сайлаушылар тiзiмiне")
    assert normalise_header("қатысқан") == normalise_header("катыскан")
    # Cyrillic 'а' in a Latin word
    assert normalise_header("vаlid") == "valid"


@pytest.mark.parametrize(
    ("header", "field", "line"),
    [
        (
            "Число избирательных бюллетеней, содержащихся в переносных ящиках для голосования",
            "ballots_cast",
            None,
        ),
        ("Число бюллетеней, содержащихся в ящиках для голосования", "ballots_cast", None),
        ("Число участников голосования, включенных в список участников", "registered", None),
        ("Число бюллетеней, выданных участникам голосования", "ballots_issued", None),
        ("Учаскелік сайлау комиссиясы алған сайлау бюллетеньдерінің саны", None, "received"),
        ("Бүлінген сайлау бюллетеньдерінің саны", None, "spoiled"),
        ("Число испорченных избирательных бюллетеней", None, "spoiled"),
        ("Пайдаланылмаған сайлау бюллетеньдерінің саны", None, "unused"),
        ("в том числе досрочно", None, "of which"),
        ("Проголосовало (наш подсчёт)", "ballots_cast", None),
        ("Явка, %", "turnout", None),
        ("Учаске №", "station_id", None),
        ("Участок №", "station_id", None),
    ],
)
def test_protocol_vocabulary(header, field, line):
    found = meaning(header)
    assert found.field == field
    if line:
        assert line in found.protocol_line


@pytest.mark.parametrize("header", ["Codcv", "Kod TERYT", "Station code", "№ п/п", "ID"])
def test_identifier_headers(header):
    found = meaning(header)
    assert found.identifier or found.field == "station_id"


def test_identifiers_by_values_are_never_candidates(write):
    frame = protocol_frame()
    frame = frame.drop(columns=["Line 2", "Line 5", "Unused"])
    frame.insert(1, "Kod", [f"0{7100 + k}" for k in range(len(frame))])  # leading zeros
    frame.insert(2, "Row", np.arange(1, len(frame) + 1))  # a row number
    path = write("ids.csv", frame.to_csv(index=False))
    table = load_stations(path)
    assert table.candidates == ("Party A", "Party B", "Party C")
    assert "identifier" in table.mapping.ignored_reasons["Kod"]
    assert "Row" in table.mapping.ignored


def test_row_numbers_become_the_station_id_when_there_is_none(write):
    frame = protocol_frame().drop(columns=["station_id", "Line 2", "Line 5", "Unused"])
    frame.insert(0, "Nr", [f"{k:04d}" for k in range(1, len(frame) + 1)])
    table = load_stations(write("nr.csv", frame.to_csv(index=False)))
    assert table.mapping.fields["station_id"] == ("Nr",)


def test_id_shape_needs_twenty_unique_cells():
    assert id_shape(pd.Series([f"{k:05d}" for k in range(25)]))
    assert not id_shape(pd.Series([f"{k:05d}" for k in range(10)]))
    assert not id_shape(pd.Series([str(v) for v in np.arange(25) * 7 + 3]))  # counts
    assert "sequence" in id_shape(pd.Series([str(v) for v in range(5, 40)]))


def test_unknown_protocol_lines_stop_with_implausible_mapping(write):
    path = write("lines.csv", protocol_frame().to_csv(index=False))
    with pytest.raises(KzvoteError) as info:
        load_stations(path)
    error = info.value
    assert error.code == "implausible_mapping"
    # the received line exceeds ballots cast everywhere; the spoiled line breaks the sum
    assert error.column == "Line 2"
    assert "exceeds ballots_cast" in error.message
    assert '--ignore "Line 2"' in error.hint


def test_the_fix_given_by_the_error_works(write):
    path = write("lines.csv", protocol_frame().to_csv(index=False))
    table = load_stations(path, overrides=parse_map_options([], None, ["Line 2", "Line 5"]))
    assert table.candidates == ("Party A", "Party B", "Party C")
    assert not table.mapping.warnings


def test_a_spoiled_line_read_as_a_candidate_is_named_by_the_sum(write):
    frame = protocol_frame().drop(columns=["Line 2", "Unused"])
    with pytest.raises(KzvoteError) as info:
        load_stations(write("spoiled.csv", frame.to_csv(index=False)))
    assert info.value.column == "Line 5"
    assert "without this column" in info.value.message


def test_box_lines_read_as_candidates_are_named_as_a_pair(write):
    frame = protocol_frame().drop(columns=["Line 2", "Line 5", "Unused", "ballots_cast"])
    frame["valid"] = frame["ballots_issued"] - frame["invalid"]
    frame["Box A"] = frame["ballots_issued"] // 10
    frame["Box B"] = frame["ballots_issued"] - frame["Box A"]
    with pytest.raises(KzvoteError) as info:
        load_stations(write("boxes.csv", frame.to_csv(index=False)))
    assert info.value.code == "implausible_mapping"
    assert "Box" in info.value.message


def test_force_proceeds_and_records_the_objection(write):
    path = write("lines.csv", protocol_frame().to_csv(index=False))
    table = load_stations(path, force=True)
    assert any("Line 2" in w for w in table.mapping.warnings)
    result = runner.invoke(app, ["analyze", path, "--force", "--no-plots", "--json", "-", "-q"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["input"]["mapping"]["warnings"]


def test_cli_implausible_mapping_exits_2_with_one_line_and_the_fix(write):
    path = write("lines.csv", protocol_frame().to_csv(index=False))
    result = runner.invoke(app, ["analyze", path, "--no-plots"])
    assert result.exit_code == 2
    assert "[implausible_mapping]" in result.output
    assert "--ignore" in result.output
    fixed = runner.invoke(
        app, ["analyze", path, "--ignore", "Line 2", "--ignore", "Line 5", "--no-plots", "-q"]
    )
    assert fixed.exit_code == 0, fixed.output


def test_columns_shows_the_check_and_the_reasons(write):
    path = write("lines.csv", protocol_frame().to_csv(index=False))
    result = runner.invoke(app, ["columns", path])
    assert result.exit_code == 0, result.output
    assert "does not add up" in result.output
    assert "Unused (protocol line: unused or cancelled ballots)" in result.output


def test_a_candidate_mapped_as_registered_is_refused(write):
    frame = protocol_frame().drop(columns=["Line 2", "Line 5", "Unused", "registered"])
    frame = frame.drop(columns=["ballots_issued", "ballots_cast", "invalid"])
    path = write("reg.csv", frame.to_csv(index=False))
    with pytest.raises(KzvoteError) as info:
        load_stations(path, overrides=parse_map_options(["registered=Party C"], None))
    assert info.value.code == "implausible_mapping"
    assert "registered is below" in info.value.message


def _centre_frame(seed: int = 0) -> pd.DataFrame:
    """Tables of voting centres whose registered column is the centre's electorate,
    written on each of its 1-4 tables (Venezuela 2024's witness actas)."""
    rng = np.random.default_rng(seed)
    rows = []
    for centre in range(150):
        electorate = int(rng.integers(800, 6000))
        tables = int(rng.integers(1, 5))
        for k in range(tables):
            cast = int(rng.binomial(electorate // tables, 0.6))
            a = int(rng.binomial(cast, 0.55))
            rows.append(
                {"station_id": f"C{centre:03d}.{k}", "registered": electorate,
                 "ballots_cast": cast, "Party A": a, "Party B": cast - a}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_a_registered_count_shared_by_several_stations_is_refused(write):
    path = write("centres.csv", _centre_frame().to_csv(index=False))
    with pytest.raises(KzvoteError) as info:
        load_stations(path)
    assert info.value.code == "implausible_mapping"
    assert info.value.column == "registered"
    assert "equals the row above" in info.value.message
    assert "--map registered=" in info.value.hint
    table = load_stations(path, force=True)
    assert any("row above" in w for w in table.mapping.warnings)


def test_equal_neighbours_of_a_sorted_or_shuffled_file_are_not_shared_counts(write):
    frame = protocol_frame(400, seed=3).drop(columns=["Line 2", "Line 5", "Unused"])
    for order in ("registered", "station_id"):
        path = write(f"by_{order}.csv", frame.sort_values(order).to_csv(index=False))
        assert not load_stations(path).mapping.warnings
    # the same centres shuffled: their copies are no longer neighbours
    shuffled = _centre_frame().sample(frac=1.0, random_state=1)
    assert not load_stations(write("shuffled.csv", shuffled.to_csv(index=False))).mapping.warnings


def test_venezuela_centre_electorate_is_refused_as_registered():
    path = realdata("venezuela-2024-actas/2024_vzla_presidential.csv.gz")
    with pytest.raises(KzvoteError) as info:
        load_stations(str(path), overrides=parse_map_options(["registered=votantes"], None))
    assert info.value.code == "implausible_mapping"
    assert "equals the row above at 46%" in info.value.message


def test_a_text_column_mapped_as_a_count_is_refused(write):
    path = write("text.csv", protocol_frame().drop(columns=["Line 2", "Line 5"]).to_csv())
    with pytest.raises(KzvoteError) as info:
        load_stations(path, overrides=parse_map_options(["registered=region"], None))
    assert "holds text" in info.value.message


def test_missing_field_hint_names_only_a_column_that_could_hold_it(write):
    frame = protocol_frame().drop(columns=["Line 2", "Line 5", "Unused"])
    frame = frame.rename(columns={"registered": "Electors on list 1"})
    with pytest.raises(KzvoteError) as info:
        load_stations(write("hint.csv", frame.to_csv(index=False)))
    # not a candidate column, not the region
    assert '--map registered="Electors on list 1"' in info.value.hint


def test_a_header_named_twice_is_refused():
    with pytest.raises(KzvoteError) as info:
        parse_map_options(["ballots_cast=A+A"], None)
    assert info.value.code == "bad_map_option"
    with pytest.raises(KzvoteError):
        parse_map_options(["valid=V", "candidates=V+A"], None)


def test_a_field_given_as_a_candidate_is_refused(write):
    path = write("f.csv", protocol_frame().drop(columns=["Line 2", "Line 5"]).to_csv())
    with pytest.raises(KzvoteError) as info:
        load_stations(
            path, overrides=parse_map_options(["ballots_cast=Unused", "candidates=Unused"], None)
        )
    assert info.value.code == "bad_map_option"


def test_aggregate_rows_are_counted_but_not_tested(write):
    frame = protocol_frame(n=200).drop(columns=["Line 2", "Line 5", "Unused"])
    extra = frame.iloc[:3].copy()
    extra["station_id"] = ["", "", "Electronic voting"]
    extra["registered"] = [40_000, 30_000, 50_000]
    extra["ballots_issued"] = extra["ballots_cast"] = [20_000, 10_000, 30_000]
    extra["invalid"] = 0
    extra["Party A"], extra["Party B"], extra["Party C"] = (
        extra["ballots_issued"],
        0,
        0,
    )
    giant = frame.iloc[:1].copy()
    giant["station_id"] = "S999"
    giant["registered"] = 150_000
    table = load_stations(write("agg.csv", pd.concat([frame, extra, giant]).to_csv(index=False)))
    assert int(table.aggregate.sum()) == 4
    codes = [f.code for f in table.findings]
    # the two rows without a number are not duplicates of each other
    assert "duplicate_station" not in codes and "duplicate_identical" not in codes
    assert codes.count("aggregate_row") == 4
    ok, reasons = table.usable(("registered",))
    assert reasons["aggregate_row"] == 4 and ok.sum() == 200
    from kzvote.summary import summarise

    summary = summarise(table, "Party A")
    assert summary["aggregate_rows"] == 4
    assert summary["registered"] == int(frame["registered"].sum()) + 120_000 + 150_000


def test_russia_2021_electronic_rows_are_reported_not_duplicates():
    table = load_stations(str(realdata("ru-kobak-shpilkin/2021.csv.gz")))
    codes = [f.code for f in table.findings]
    assert codes.count("aggregate_row") == 33  # 18 without a number + Moscow 5001-5015
    assert "duplicate_identical" not in codes and "duplicate_station" not in codes
    moscow = table.ids["station_id"][table.aggregate].str.contains("50").sum()
    assert moscow >= 15


def test_kazakh_layouts_hold_the_same_stations_as_the_english_sample():
    english = load_stations(str(SAMPLES / "kz2023_majilis_national.csv"))
    kazakh = load_stations(str(SAMPLES / "kz2023_majilis_national_kk.csv"))
    assert kazakh.n_stations == english.n_stations
    for name in ("registered", "ballots_issued", "ballots_cast", "invalid", "valid"):
        np.testing.assert_array_equal(kazakh.column(name), english.column(name))
    np.testing.assert_array_equal(kazakh.votes, english.votes)
    names = {v: k for k, v in PROTOCOL_PARTIES["kk"].items()}
    assert [names[h] for h in kazakh.mapping.candidates.values()] == list(english.candidates)
    assert kazakh.leader() == '"AMANAT" партиясы'


@pytest.mark.parametrize("layout", ["kk", "ru"])
def test_simulated_protocol_layouts_load_with_no_options(layout):
    from kzvote.simulate import Scenario, simulate

    frame, _ = simulate(Scenario(stations=400, regions=4), seed=3)
    table = table_from_frame(protocol_layout(frame, layout, 3))
    assert len(table.candidates) == frame.shape[1] - 7
    assert not table.mapping.warnings
    assert set(table.mapping.fields) >= {
        "region",
        "station_id",
        "registered",
        "ballots_issued",
        "ballots_cast",
        "invalid",
    }


def test_parse_percent_reads_what_observers_type():
    share = parse_percent(pd.Series(["31.2%", "31,2", " 9.0 %", "", "140%"]))
    assert share.values[:3] == pytest.approx([0.312, 0.312, 0.09])
    assert np.isnan(share.values[3]) and share.bad[4]
    assert share.resolution == pytest.approx(0.001)
    fractions = parse_percent(pd.Series(["0.25", "0.5"]))
    assert fractions.values == pytest.approx([0.25, 0.5])


def _observers(tmp_path, columns: dict) -> str:
    observed = pd.read_csv(SAMPLES / "kz2023_almaty_observers.csv")
    official = pd.read_csv(SAMPLES / "kz2023_almaty_official.csv")
    merged = observed.merge(official[["station_id", "registered"]], on="station_id")
    frame = pd.DataFrame({"station_id": merged["station_id"], "region": merged["region"]})
    for header, make in columns.items():
        frame[header] = make(merged)
    path = tmp_path / "observers.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    "columns",
    [
        {"Проголосовало (наш подсчёт)": lambda m: m["ballots_cast"]},
        {
            "turnout": lambda m: [
                f"{100 * c / r:.1f}%"
                for c, r in zip(m["ballots_cast"], m["registered"], strict=True)
            ]
        },
    ],
)
def test_compare_reads_what_observers_type(tmp_path, columns):
    path = _observers(tmp_path, columns)
    result = runner.invoke(
        app,
        [
            "compare",
            str(SAMPLES / "kz2023_almaty_official.csv"),
            path,
            "--no-plots",
            "--json",
            "-",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["compared_fields"] == ["ballots_cast"]
    # the sample's official counts are inflated at most observed stations
    assert data["summary"]["flagged"] > 50


def test_compare_never_says_zero_flagged_when_nothing_was_understood(tmp_path):
    path = _observers(tmp_path, {"наши цифры": lambda m: m["ballots_cast"]})
    result = runner.invoke(
        app, ["compare", str(SAMPLES / "kz2023_almaty_official.csv"), path, "--no-plots"]
    )
    assert result.exit_code == 2
    assert "[nothing_to_compare]" in result.output
    assert '--observed-map ballots_cast="наши цифры"' in result.output


def test_columns_reads_an_observers_file(tmp_path):
    path = _observers(tmp_path, {"Проголосовало (наш подсчёт)": lambda m: m["ballots_cast"]})
    result = runner.invoke(app, ["columns", path, "--observers", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["mapping"]["fields"]["ballots_cast"] == ["Проголосовало (наш подсчёт)"]


@pytest.mark.slow
def test_national_sample_gives_the_same_verdicts_in_english_and_kazakh():
    from kzvote.suite import Params, analyze

    english = analyze(load_stations(str(SAMPLES / "kz2023_majilis_national.csv")), Params())
    kazakh_table = load_stations(str(SAMPLES / "kz2023_majilis_national_kk.csv"))
    kazakh = analyze(kazakh_table, Params())
    to_english = {v: k for k, v in PROTOCOL_PARTIES["kk"].items()}
    rename = {name: to_english[h] for name, h in kazakh_table.mapping.candidates.items()}

    def verdicts(report, names):
        return {
            (r.test, names.get(r.subject, r.subject), r.scope): r.verdict for r in report.results
        }

    a = verdicts(english, {})
    b = verdicts(kazakh, rename)
    # the Kazakh form has no valid line: the two identities that need it cannot be checked
    assert set(a) - set(b) == {
        ("arithmetic", "candidate_sum_mismatch", "national"),
        ("arithmetic", "valid_invalid_mismatch", "national"),
    }
    assert {k: v for k, v in a.items() if k in b} == b


def test_single_mandate_blanks_are_zero_only_where_a_candidate_does_not_stand(write):
    text = (
        "station_id,district,registered,ballots_cast,invalid,X1,X2,Y1\n"
        "1,D1,1000,500,10,300,190,\n"
        "2,D1,1000,500,10,300,190,\n"
        "3,D2,1000,500,10,,,490\n"
        "4,D2,1000,500,10,,,490\n"
        "5,D2,1000,500,10,,,\n"
    )
    table = load_stations(write("sm.csv", text))
    votes = table.votes
    assert votes[0, 2] == 0 and votes[2, 0] == 0 and votes[2, 1] == 0  # not on that ballot
    assert np.isnan(votes[4, 2])  # Y1 stands in D2: a blank there stays missing


def test_the_ascii_integer_fast_path_reads_what_to_numeric_reads():
    """Clean digit columns take a direct integer cast; its values equal pandas'
    to_numeric of the same text, and digits the cast alone would accept (1_000,
    Arabic-Indic, full-width) are still refused as not numbers."""
    rng = np.random.default_rng(5)
    clean = pd.Series(rng.integers(0, 10**6, 2000).astype(str))
    clean[3] = "0007"
    parsed = parse_counts(clean)
    np.testing.assert_array_equal(parsed.values, pd.to_numeric(clean).to_numpy(dtype=float))
    assert not parsed.bad.any() and not parsed.missing.any()
    for odd in ("1_000", "\u0663", "\uff11\uff12"):
        column = parse_counts(pd.Series(["5", odd, "7"]))
        assert column.codes[1] == "not_a_number", odd
        assert np.isnan(column.values[1]) and column.values[0] == 5


def test_shared_count_rates_against_a_hand_count_and_shuffles():
    """The shared-count check's two rates: by hand on a small column, and the chance
    rate (two stations drawn at random have the same count) against the neighbour rate
    of shuffled columns, which it must equal on average."""
    from kzvote.reading.plausibility import _shared_count

    values = np.array([5, 5, 7, 3, 3, 3, 9, 1, 8, 2] * 6, dtype=float)
    equal, chance = _shared_count(values)
    assert equal == pytest.approx(18 / 59)  # 3 equal neighbours in each block of 10
    # of 60 stations: 12 with 5, 6 with 7, 18 with 3, 6 each with 9, 1, 8 and 2
    share = np.array([12, 6, 18, 6, 6, 6, 6]) / 60
    assert chance == pytest.approx((share**2).sum())
    rng = np.random.default_rng(0)
    column = rng.integers(500, 560, 3000).astype(float)
    rates = [_shared_count(rng.permutation(column))[0] for _ in range(200)]
    assert np.mean(rates) == pytest.approx(_shared_count(column)[1], rel=0.05)
