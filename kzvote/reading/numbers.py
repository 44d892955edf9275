"""Numbers as commissions write them: counts, thousand separators, percentages.

Every parse is vectorised over a column. A value that is not a usable count is never
rounded or guessed: it is marked with a stable code (``not_a_number``,
``negative_count``, ``not_an_integer``, ``count_too_large``) that the table builder
turns into a finding naming the line, the column and the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Cell texts that mean "no value".
MISSING_TOKENS = frozenset(
    ["", "-", "—", "–", "n/a", "na", "nan", "null", "none", "н/д", "нет данных", "x", "х"]
)
#: Largest count accepted: far above any polling station (or a country's electorate),
#: and small enough that the exact nulls stay small (a station of 10**15 voters would
#: make the integer test allocate gigabytes).
MAX_EXACT = 10**9

_SPACES = re.compile(r"[\s\u00a0\u202f\u2009\u2007']+")
_PLAIN = r"[+-]?\d+"
_DECIMAL_DOT = r"[+-]?\d+\.\d+"
_THOUSANDS_SPACE = r"\d{1,3}(?:[ \u00a0\u202f\u2009']\d{3})+"
_THOUSANDS_COMMA = r"\d{1,3}(?:,\d{3})+"
_THOUSANDS_DOT = r"\d{1,3}(?:\.\d{3})+"
_EURO_DECIMAL = r"\d{1,3}(?:\.\d{3})+,\d+"
_DECIMAL_COMMA = r"[+-]?\d+,\d+"


@dataclass
class ParsedColumn:
    values: np.ndarray  # float64, NaN where missing or bad
    missing: np.ndarray  # bool: cell empty or a missing token
    bad: np.ndarray  # bool: cell present but not a usable count
    codes: np.ndarray  # object: finding code per bad cell ('' when fine)
    note: str | None = None
    numeric_share: float = 0.0


def _ascii_integers(cells: pd.Series) -> pd.Series | None:
    """The column as int64 when every cell is a non-empty run of ASCII digits, else
    None. Five times faster than ``pd.to_numeric`` on text; the ASCII check matters:
    the integer cast alone would read ``1_000``, Arabic-Indic and full-width digits."""
    if cells.dtype.kind in "iuf" or not len(cells):
        return None
    try:
        joined = "".join(cells.to_numpy(dtype=object))
    except TypeError:  # a cell that is not text
        return None
    if not (joined.isascii() and joined.isdigit()):
        return None
    try:
        return cells.astype("int64")
    except (ValueError, TypeError, OverflowError):  # an empty cell, or beyond int64
        return None


def parse_counts(cells: pd.Series) -> ParsedColumn:
    """Parse a column of count texts, vectorised.

    Thousand separators are accepted when unambiguous (spaces, or commas/dots used
    the same way in every formatted cell of the column); ``1.234,0`` European decimals
    likewise. Decimals that are not whole numbers, negative numbers and values beyond
    10**9 (larger than any polling station) are flagged, never rounded silently.
    """
    n = len(cells)
    codes = np.full(n, "", dtype=object)
    fast = _ascii_integers(cells)
    if fast is None:
        try:
            fast = pd.to_numeric(cells, errors="coerce")
        except (TypeError, ValueError):
            fast = None
    # Fast path: pandas read every cell as an integer literal (no dots, no blanks).
    if fast is not None and fast.dtype.kind in "iu" and n:
        values = fast.to_numpy(dtype=float)
        if (values >= 0).all() and (values <= MAX_EXACT).all():
            return ParsedColumn(values, np.zeros(n, bool), np.zeros(n, bool), codes, None, 1.0)
    text = cells.astype(str).str.strip()
    values = np.full(n, np.nan)
    note = None
    folded = text.str.casefold()
    missing = folded.isin(MISSING_TOKENS).to_numpy()
    # Second fast path: integer literals and blanks only (e.g. single-mandate files, where
    # a blank is a candidate not on that district's ballot)
    if missing.any() and not missing.all():
        present = pd.to_numeric(text[~missing], errors="coerce")
        if present.dtype.kind in "iu":
            numbers = present.to_numpy(dtype=float)
            if (numbers >= 0).all() and (numbers <= MAX_EXACT).all():
                values[~missing] = numbers
                return ParsedColumn(values, missing, np.zeros(n, bool), codes, None, 1.0)

    def match(pattern: str) -> np.ndarray:
        return text.str.fullmatch(pattern).to_numpy()

    plain = match(_PLAIN)
    dot_decimal = match(_DECIMAL_DOT)
    comma_decimal = match(_DECIMAL_COMMA)
    space_k = match(_THOUSANDS_SPACE)
    comma_k = match(_THOUSANDS_COMMA)
    dot_k = match(_THOUSANDS_DOT)
    euro = match(_EURO_DECIMAL)
    many_dots = text.str.count(r"\.").to_numpy() > 1
    many_commas = text.str.count(",").to_numpy() > 1

    # Which convention does the column follow? Evidence that only one reading allows:
    european = euro | (dot_k & many_dots) | (comma_decimal & ~comma_k)
    anglo = (comma_k & many_commas) | (dot_decimal & ~dot_k)
    cleaned = pd.Series(np.where(plain, text, ""), index=text.index, dtype=object)
    if space_k.any():
        cleaned[space_k] = text[space_k].str.replace(_SPACES, "", regex=True)
        note = "spaces read as thousand separators"
    if european.any() and not anglo.any():
        cells_eu = dot_k | euro | comma_decimal
        cleaned[cells_eu] = (
            text[cells_eu].str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        )
        note = "European format read (dot = thousands, comma = decimal mark)"
    elif anglo.any() and not european.any():
        cells_en = comma_k | dot_decimal
        cleaned[cells_en] = text[cells_en].str.replace(",", "", regex=False)
        if comma_k.any():
            note = "commas read as thousand separators (used so in the whole column)"
    elif not anglo.any() and not european.any():
        if comma_k.any() and not dot_k.any():
            cleaned[comma_k] = text[comma_k].str.replace(",", "", regex=False)
            note = "commas read as thousand separators (used so in the whole column)"
        elif dot_k.any() and not comma_k.any():
            cleaned[dot_k] = text[dot_k].str.replace(".", "", regex=False)
            note = "dots read as thousand separators (used so in the whole column)"
    # else: the column mixes conventions; formatted cells stay unread and are reported

    numbers = pd.to_numeric(cleaned.replace("", np.nan), errors="coerce").to_numpy(dtype=float)
    parsed = np.isfinite(numbers)
    not_number = ~parsed & ~missing
    codes[not_number] = "not_a_number"
    negative = parsed & (numbers < 0)
    codes[negative] = "negative_count"
    fractional = parsed & ~negative & (np.floor(numbers) != numbers)
    codes[fractional] = "not_an_integer"
    too_large = parsed & (np.abs(numbers) > MAX_EXACT)
    codes[too_large] = "count_too_large"
    bad = not_number | negative | fractional | too_large
    values[parsed & ~bad] = numbers[parsed & ~bad]
    present = (~missing).sum()
    share = float(parsed.sum() / present) if present else 0.0
    return ParsedColumn(values, missing, bad, codes, note, share)


def looks_numeric(cells: pd.Series, sample: int = 2000, *, with_median: bool = False):
    """Whether a column holds counts: 90% of a sample of its non-empty cells parse.

    With ``with_median``, returns ``(numeric, median of the sample's counts)``.
    """
    head = cells.iloc[:sample] if len(cells) <= 4 * sample else cells.sample(sample, random_state=0)
    parsed = parse_counts(head)
    present = int((~parsed.missing).sum())
    numeric = present > 0 and parsed.numeric_share >= 0.9
    if not with_median:
        return numeric
    finite = parsed.values[np.isfinite(parsed.values)]
    return numeric, (float(np.median(finite)) if len(finite) else None)


@dataclass(frozen=True)
class ParsedShare:
    """A column of reported percentages, as fractions of one."""

    values: np.ndarray  # float64 in [0, 1], NaN where missing or bad
    bad: np.ndarray  # bool: present but not a percentage
    note: str
    resolution: float = 0.0  # the step the values were written in, as a fraction of one


def parse_percent(cells: pd.Series) -> ParsedShare:
    """Parse reported turnout such as ``31.2%``, ``31,2`` or ``0.312``.

    A ``%`` sign, or any value above 1, puts the column on the percent scale; a column
    whose every value is at most 1 is read as fractions (and the note says so).
    Values outside 0-100% are bad, never clipped.
    """
    text = cells.astype(str).str.strip()
    has_sign = text.str.endswith("%")
    bare = text.str.rstrip("%").str.strip().str.replace(",", ".", regex=False)
    bare = bare.str.replace(_SPACES, "", regex=True)
    missing = text.str.casefold().isin(MISSING_TOKENS).to_numpy()
    numbers = pd.to_numeric(bare.where(~missing, None), errors="coerce").to_numpy(dtype=float)
    percent_scale = bool(has_sign.any()) or bool(np.nanmax(numbers, initial=0.0) > 1.0)
    values = numbers / 100.0 if percent_scale else numbers.copy()
    bad = ~missing & (~np.isfinite(values) | (values < 0) | (values > 1))
    values[bad] = np.nan
    decimals = bare[~missing].str.extract(r"[.](\d+)$")[0].str.len()
    places = int(decimals.max()) if decimals.notna().any() else 0
    resolution = 10.0**-places / (100.0 if percent_scale else 1.0)
    note = "read as percentages" if percent_scale else "read as fractions of one (no value > 1)"
    note += f", written to {places} decimal places"
    return ParsedShare(values, bad, note, resolution)


def id_shape(cells: pd.Series) -> str:
    """Why a numeric column looks like an identifier, or '' when it looks like counts.

    Counts repeat and never carry leading zeros; a code or a row number is unique per
    row and is either written with leading zeros or runs as a sequence (k, k+1, ...)
    in file order. Needs 20 filled cells to say.
    """
    if len(cells) < 20 or not cells.is_unique:
        return ""
    text = cells.astype(str).str.strip()
    present = text[text != ""]
    if len(present) < 20 or not present.is_unique:
        return ""
    zeros = present.str.match(r"^0\d").mean()
    if zeros >= 0.1:
        return f"unique per row, {zeros:.0%} written with leading zeros"
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any():
        return ""
    diffs = np.diff(numbers.to_numpy(dtype=float))
    if len(diffs) and (diffs == 1).all():
        return "unique per row and numbered in sequence (a row number)"
    return ""
