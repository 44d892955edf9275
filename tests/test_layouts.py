"""The header corpus: real protocol layouts, each with its exact expected mapping.

Seventeen layouts of precinct protocols (``tests/data/layouts/``, written by
``make_layouts.py`` from the protocol forms' wording: Kazakhstan in Kazakh and
Russian for the Majilis party lists, single-mandate districts, maslikhats, the
President and the 2022 referendum; Russia 2020 and 2021; Belarus 2020; Kyrgyzstan
2021; Ukraine 2019; an English commission export), and every real file in
``../shared/realdata`` (skipped when absent).
"""

from __future__ import annotations

import json

import pytest
from conftest import DATA, realdata

from kzvote.reading import load_stations, parse_map_options

LAYOUTS = DATA / "layouts"
EXPECTED = json.loads((LAYOUTS / "layouts.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_protocol_layout_maps_exactly(name):
    expected = EXPECTED[name]
    table = load_stations(str(LAYOUTS / f"{name}.csv"))
    fields = {k: list(v) for k, v in table.mapping.fields.items()}
    assert fields == expected["fields"]
    # exactly the parties (and 'against all') are candidates, nothing else
    assert list(table.mapping.candidates.values()) == expected["candidates"]
    assert sorted(table.mapping.ignored) == sorted(expected["ignored"])
    assert not table.mapping.warnings
    # the identities of the synthetic protocol hold, so nothing is flagged
    assert not [f for f in table.findings if f.severity == "error"]


def test_corpus_covers_at_least_twenty_layouts():
    realdata_cases = len(REALDATA_CASES)
    assert len(EXPECTED) + realdata_cases >= 20


RU_COMMON = {
    "region": ["region"],
    "district": ["tik"],
    "station_id": ["uik"],
}
# file, options, expected fields (header prefixes), candidates, leader
REALDATA_CASES = {
    "ru2011": (
        "ru-kobak-shpilkin/2011.csv.gz",
        [],
        None,
        {**RU_COMMON, "ballots_issued": 3, "ballots_cast": 2},
        7,
        "ЕДИНАЯ РОССИЯ",
    ),
    "ru2012": (
        "ru-kobak-shpilkin/2012.csv.gz",
        [],
        None,
        {**RU_COMMON, "ballots_issued": 3, "ballots_cast": 2},
        5,
        "Путин Владимир Владимирович",
    ),
    "ru2016": (
        "ru-kobak-shpilkin/2016.csv.gz",
        [],
        None,
        {**RU_COMMON, "ballots_issued": 3, "ballots_cast": 2},
        14,
        "ЕДИНАЯ РОССИЯ",
    ),
    "ru2021": (
        "ru-kobak-shpilkin/2021.csv.gz",
        [],
        None,
        {**RU_COMMON, "ballots_issued": 3, "ballots_cast": 2},
        14,
        "ЕДИНАЯ РОССИЯ",
    ),
    "pl2020r1": (
        "poland-2020-pkw/round1_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz",
        [],
        "poland-pkw",
        {"station_id": ["Kod TERYT", "Numer obwodu"], "ballots_issued": 2, "invalid": 2},
        11,
        "Andrzej Sebastian DUDA",
    ),
    "pl2020r2": (
        "poland-2020-pkw/round2_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz",
        [],
        "poland-pkw",
        {"station_id": ["Kod TERYT", "Numer obwodu"], "ballots_issued": 2, "invalid": 2},
        2,
        "Andrzej Sebastian DUDA",
    ),
    "by2020": (
        "belarus-2020-voice/voice.csv",
        [],
        "belarus-voice-official",
        {"station_id": ["id"], "registered": ["officialVoters"]},
        None,
        None,
    ),
    "ve2024": (
        "venezuela-2024-actas/2024_vzla_presidential.csv.gz",
        ["registered=votantes"],
        None,
        {"station_id": ["Acta"], "region": ["ESTADO"], "district": ["municipio"]},
        11,
        "Gonzalez",
    ),
    "ca2011": (
        "canada-2011-qss/canada2011.csv.gz",
        ["registered=N"],
        None,
        {"registered": ["N"], "ballots_cast": ["turnout"]},
        1,
        "votes",
    ),
}


#: files whose exact mapping is still refused, and why: Venezuela's 'votantes' is the
#: voting centre's electorate, written on each of its tables (the realdata README)
FORCED = {"ve2024": "equals the row above"}


@pytest.mark.parametrize("case", sorted(REALDATA_CASES))
def test_real_file_maps_exactly(case):
    relative, options, mapping, fields, n_candidates, leader = REALDATA_CASES[case]
    path = realdata(relative)
    overrides = parse_map_options(options, mapping)
    table = load_stations(str(path), overrides=overrides, force=case in FORCED)
    for name, expected in fields.items():
        got = list(table.mapping.fields[name])
        if isinstance(expected, int):
            assert len(got) == expected, (name, got)
        else:
            assert got == expected, (name, got)
    if n_candidates is not None:
        assert len(table.candidates) == n_candidates
        assert table.leader() == leader
    if case in FORCED:
        assert len(table.mapping.warnings) == 1
        assert FORCED[case] in table.mapping.warnings[0]
    else:
        assert not table.mapping.warnings
    # no code, protocol line or id column is ever a candidate
    for header in table.mapping.candidates.values():
        assert header not in ("Codcv", "uik", "url", "N")


def test_venezuela_centre_code_is_an_identifier():
    path = realdata("venezuela-2024-actas/2024_vzla_presidential.csv.gz")
    overrides = parse_map_options(["registered=votantes"], None)
    table = load_stations(str(path), overrides=overrides, force=True)
    assert "Codcv" in table.mapping.ignored
    assert "identifier" in table.mapping.ignored_reasons["Codcv"]
