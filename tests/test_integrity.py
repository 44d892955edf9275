"""Integrity checks: stable codes, lines, columns, values; exclusions per field."""

from __future__ import annotations

from kzvote.reading import load_stations

HEADER = "station_id,region,registered,ballots_issued,ballots_cast,valid,invalid,A,B\n"


def codes(table):
    return {f.code: f for f in table.findings}


def test_each_identity_is_checked(write):
    text = HEADER + (
        "1,N,100,120,120,118,2,100,18\n"  # turnout over 100%
        "2,N,100,50,52,50,2,30,20\n"  # cast above issued
        "3,N,100,50,50,45,2,30,15\n"  # valid + invalid != cast
        "4,N,100,50,50,48,2,30,10\n"  # candidates != valid
        "5,N,0,0,0,0,0,0,0\n"  # zero registered
    )
    table = load_stations(write("i.csv", text))
    found = codes(table)
    assert found["turnout_over_100"].line == 2
    assert found["issued_below_cast"].line == 3
    assert found["valid_invalid_mismatch"].line == 4
    assert found["candidate_sum_mismatch"].line == 5
    assert found["candidate_sum_mismatch"].value == "sum 40 != valid 48"
    assert found["zero_registered"].line == 6
    ok, reasons = table.usable(("registered",))
    assert ok.tolist() == [False, True, True, True, False]
    assert reasons == {"turnout_over_100": 1, "zero_registered": 1}
    # votes are still usable where only registered is broken
    assert table.usable(("votes",))[0].all()


def test_duplicates_identical_and_conflicting(write):
    text = HEADER + (
        "1,N,100,50,50,48,2,30,18\n"
        "1,N,100,50,50,48,2,30,18\n"
        "2,N,100,50,50,48,2,30,18\n"
        "2,N,100,60,60,58,2,40,18\n"
    )
    table = load_stations(write("d.csv", text))
    found = [f for f in table.findings if f.code.startswith("duplicate")]
    assert [(f.code, f.line) for f in found] == [
        ("duplicate_station", 4),
        ("duplicate_station", 5),
        ("duplicate_identical", 3),
    ]
    ok, reasons = table.usable(("registered",))
    assert ok.tolist() == [True, False, False, False]
    assert reasons == {"duplicate_identical": 1, "duplicate_station": 2}


def test_bad_cells_name_line_column_value(write):
    good = "".join(f"{i},N,100,50,50,48,2,30,18\n" for i in range(3, 30))
    text = HEADER + "1,N,1 0 0,50,50,48,2,abc,18\n2,N,100,50,50,48,2,-3,51\n" + good
    table = load_stations(write("b.csv", text))
    bad = [(f.code, f.line, f.column, f.value) for f in table.findings if f.severity == "error"]
    assert ("not_a_number", 2, "A", "abc") in bad
    assert ("negative_count", 3, "A", "-3") in bad
    assert ("not_a_number", 2, "registered", "1 0 0") in bad
