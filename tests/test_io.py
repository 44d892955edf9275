"""Reading files: encodings, delimiters, compression, XLSX, long format, numbers."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import CANONICAL, realdata

from kzvote.model import KzvoteError
from kzvote.reading import load_stations, parse_counts, parse_map_options, sniff_delimiter


def test_canonical_file_loads_with_no_options(write):
    table = load_stations(write("s.csv", CANONICAL))
    assert table.n_stations == 3
    assert table.candidates == ("A", "B")
    assert table.column("registered").tolist() == [1000, 800, 1200]
    assert table.ids["line"].tolist() == [2, 3, 4]
    assert table.leader() == "A"
    assert table.findings == ()


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(write, delimiter):
    text = CANONICAL.replace(",", delimiter)
    table = load_stations(write("s.txt", text))
    assert table.n_stations == 3
    assert table.source["delimiter"] == delimiter
    assert sniff_delimiter(text) == delimiter


@pytest.mark.parametrize(
    ("encoding", "prefix", "expected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
        ("cp1251", b"", "cp1251"),
        ("utf-16", b"", "utf-16"),
    ],
)
def test_encodings_are_detected(write, encoding, prefix, expected):
    text = CANONICAL.replace("North", "Северный").replace("South", "Южный")
    table = load_stations(write("s.csv", prefix + text.encode(encoding)))
    assert table.source["encoding"] == expected
    assert table.ids["region"].tolist()[0] == "Северный"


@pytest.mark.parametrize(
    "compress",
    [gzip.compress, lzma.compress, bz2.compress],
    ids=["gzip", "xz", "bz2"],
)
def test_compressed_files(write, compress):
    table = load_stations(write("s.csv.anything", compress(CANONICAL.encode())))
    assert table.n_stations == 3


def test_zip_with_one_table(write):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.csv", CANONICAL)
    assert load_stations(write("s.zip", buffer.getvalue())).n_stations == 3


def test_xlsx(tmp_path):
    frame = pd.read_csv(io.StringIO(CANONICAL))
    path = tmp_path / "s.xlsx"
    frame.to_excel(path, index=False)
    table = load_stations(str(path))
    assert table.n_stations == 3
    assert table.column("valid").tolist() == [590, 495, 690]


def test_long_format_is_pivoted(write):
    text = (
        "station,region,registered,ballots_cast,candidate,votes\n"
        "1,N,100,60,A,40\n1,N,100,60,B,20\n2,N,90,50,A,10\n2,N,90,50,B,40\n"
    )
    table = load_stations(write("long.csv", text))
    assert table.mapping.long_format
    assert table.candidates == ("A", "B")
    assert table.votes.tolist() == [[40, 20], [10, 40]]
    assert table.ids["line"].tolist() == [2, 4]


def test_long_format_repeated_pair_is_an_error(write):
    text = "station,registered,candidate,votes\n1,100,A,40\n1,100,A,41\n"
    with pytest.raises(KzvoteError) as info:
        load_stations(write("long.csv", text))
    assert info.value.code == "duplicate_long_pair"
    assert info.value.line == 3


def test_line_numbers_survive_quoted_newlines(write):
    text = 'station_id,region,registered,A\n1,"two\nlines",100,5\n2,x,100,-1\n'
    table = load_stations(write("q.csv", text))
    negative = [f for f in table.findings if f.code == "negative_count"]
    assert negative[0].line == 4
    assert negative[0].column == "A"


@pytest.mark.parametrize(
    ("cells", "expected", "bad"),
    [
        (["1 234", "12", "1 000 000"], [1234, 12, 1_000_000], []),
        (["1,234", "12", "5,000"], [1234, 12, 5000], []),
        (["1.234", "2.000", "15"], [1234, 2000, 15], []),
        (["1.234,0", "12,0", "3"], [1234, 12, 3], []),
        (["12.5", "3", "4"], [np.nan, 3, 4], ["not_an_integer"]),
        (["—", "n/a", "", "7"], [np.nan, np.nan, np.nan, 7], []),
        (["-3", "5"], [np.nan, 5], ["negative_count"]),
        (["abc", "5"], [np.nan, 5], ["not_a_number"]),
        (["99999999999999999999", "5"], [np.nan, 5], ["count_too_large"]),
    ],
)
def test_number_formats(cells, expected, bad):
    parsed = parse_counts(pd.Series(cells, dtype=object))
    np.testing.assert_array_equal(parsed.values, np.array(expected, dtype=float))
    assert [c for c in parsed.codes if c] == bad


def test_ambiguous_comma_column_is_not_guessed():
    # "1,234" could be 1234 or 1.234: with "2,5" in the same column it must not be
    # read as thousands, so both stay unparsed rather than silently wrong
    parsed = parse_counts(pd.Series(["1,234", "2,5", "7"], dtype=object))
    assert parsed.values[2] == 7
    assert np.isnan(parsed.values[1]) or parsed.values[1] != 25


def test_russia_2011_loads_with_no_options():
    table = load_stations(str(realdata("ru-kobak-shpilkin/2011.csv.gz")))
    # published in the source repository's data/README.md
    assert table.n_stations == 95_225
    assert int(np.nansum(table.column("registered"))) == 109_229_337
    assert len(table.mapping.fields["ballots_issued"]) == 3
    assert len(table.mapping.fields["ballots_cast"]) == 2
    assert len(table.candidates) == 7
    assert table.leader() == "ЕДИНАЯ РОССИЯ"
    # realdata README: valid + invalid = cast and candidate sum = valid in 100% of rows
    codes = {f.code for f in table.findings}
    assert "valid_invalid_mismatch" not in codes
    assert "candidate_sum_mismatch" not in codes


def test_russia_2012_loads_with_no_options():
    table = load_stations(str(realdata("ru-kobak-shpilkin/2012.csv.gz")))
    assert table.n_stations == 95_415
    assert int(np.nansum(table.column("registered"))) == 109_860_331
    assert table.leader() == "Путин Владимир Владимирович"


def test_poland_round2_loads_with_the_bundled_mapping():
    path = realdata("poland-2020-pkw/round2_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz")
    table = load_stations(str(path), overrides=parse_map_options([], "poland-pkw"))
    assert table.n_stations == 27_231
    totals = dict(zip(table.candidates, np.nansum(table.votes, axis=0), strict=True))
    # station sums computed in ../shared/realdata/README.md
    assert totals["Andrzej Sebastian DUDA"] == 10_440_388
    assert totals["Rafał Kazimierz TRZASKOWSKI"] == 10_018_092
