"""Property tests: whatever text arrives, the loader returns a table or a kzvote error."""

from __future__ import annotations

import contextlib
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kzvote.model import KzvoteError
from kzvote.reading import load_stations

cell = st.one_of(
    st.integers(min_value=-5, max_value=10**6).map(str),
    st.text(alphabet=string.ascii_letters + string.digits + " .,-—йё", max_size=8),
    st.sampled_from(["", "-", "n/a", "1 234", "1,234", "1.234,5", '"a,b"', "=1+1"]),
)
header = st.sampled_from(
    ["station_id", "region", "registered", "ballots_cast", "valid", "A", "B", "УИК", "x", ""]
)


@st.composite
def csv_text(draw):
    headers = draw(st.lists(header, min_size=1, max_size=7))
    rows = draw(st.lists(st.lists(cell, min_size=len(headers), max_size=len(headers)), max_size=12))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    lines = [delimiter.join(headers)] + [delimiter.join(r) for r in rows]
    return "\n".join(lines)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=csv_text())
def test_any_csv_text_gives_a_table_or_a_kzvote_error(tmp_path, text):
    path = tmp_path / "h.csv"
    path.write_text(text, encoding="utf-8")
    try:
        table = load_stations(str(path))
    except KzvoteError as error:
        assert error.code
        return
    assert table.n_stations >= 0


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300))
def test_any_bytes_give_a_table_or_a_kzvote_error(tmp_path, data):
    path = tmp_path / "b.csv"
    path.write_bytes(data)
    with contextlib.suppress(KzvoteError):
        load_stations(str(path))
