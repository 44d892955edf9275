"""Header detection (en/ru/kk) and user overrides."""

from __future__ import annotations

import pytest

from kzvote.model import KzvoteError
from kzvote.reading import load_stations, parse_map_options
from kzvote.reading.vocabulary import candidate_name, field_for_header


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("registered", "registered"),
        ("Registered voters", "registered"),
        ("Число избирателей, включенных в списки избирателей", "registered"),
        ("Сайлаушылар тізіміне енгізілген сайлаушылар саны", "registered"),
        ("Число избирателей, получивших избирательные бюллетени", "ballots_issued"),
        ("Сайлау бюллетеньдерін алған сайлаушылар саны", "ballots_issued"),
        ("Число избирателей, принявших участие в голосовании", "ballots_cast"),
        ("Дауыс беруге қатысқан сайлаушылар саны", "ballots_cast"),
        ("Число недействительных избирательных бюллетеней", "invalid"),
        ("Число действительных избирательных бюллетеней", "valid"),
        ("Жарамсыз бюллетеньдер саны", "invalid"),
        ("Число открепительных удостоверений, выданных избирателям", None),
        ("УИК", "station_id"),
        ("Облыс", "region"),
        ("ТИК", "district"),
    ],
)
def test_field_for_header(header, field):
    assert field_for_header(header) == field


def test_kazakh_protocol_file_loads(write):
    text = (
        "Облыс,Учаске,Сайлаушылар тізіміне енгізілген сайлаушылар саны,"
        "Дауыс беруге қатысқан сайлаушылар саны,Жарамсыз бюллетеньдер саны,Amanat,Auyl\n"
        "Астана,1,1000,500,5,300,195\n"
        "Астана,2,900,450,4,250,196\n"
    )
    table = load_stations(write("kk.csv", text))
    assert table.mapping.fields["registered"] == (
        "Сайлаушылар тізіміне енгізілген сайлаушылар саны",
    )
    assert table.candidates == ("Amanat", "Auyl")
    assert table.ids["station_id"].tolist() == ["1", "2"]


def test_missing_required_field_shows_the_map_to_write(write):
    with pytest.raises(KzvoteError) as info:
        load_stations(write("x.csv", "id,voters_total,A\n1,100,50\n"))
    error = info.value
    assert error.code == "missing_field"
    assert "--map registered=" in error.hint
    assert "'voters_total'" in error.hint


def test_map_option_sums_and_names_candidates(write):
    text = "st,reg,a1,a2,X,Y,notes\n1,100,30,20,25,20,ok\n"
    overrides = parse_map_options(
        ["registered=reg", "ballots_cast=a1+a2", "station_id=st", "candidates=X+Y"], None
    )
    table = load_stations(write("m.csv", text), overrides=overrides)
    assert table.column("ballots_cast").tolist() == [50]
    assert table.candidates == ("X", "Y")


def test_mapping_file(write, tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('candidates = ["X", "Y"]\n[fields]\nregistered = "reg"\n', encoding="utf-8")
    table = load_stations(
        write("m.csv", "reg,X,Y,Z\n100,30,20,1\n"), overrides=parse_map_options([], str(mapping))
    )
    assert table.candidates == ("X", "Y")


def test_unknown_field_in_map_suggests_the_right_one():
    with pytest.raises(KzvoteError) as info:
        parse_map_options(["registred=reg"], None)
    assert "registered" in info.value.hint


def test_candidate_names_lose_protocol_boilerplate():
    assert candidate_name('6. Всероссийская политическая партия "ЕДИНАЯ РОССИЯ"') == "ЕДИНАЯ РОССИЯ"
    assert candidate_name("1. Политическая партия СПРАВЕДЛИВАЯ РОССИЯ") == "СПРАВЕДЛИВАЯ РОССИЯ"
