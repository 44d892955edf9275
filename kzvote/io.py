"""Read polling-station files as election commissions publish them.

CSV/TSV (delimiter sniffed), UTF-8 with or without BOM, UTF-16 with BOM, cp1251,
gzip/zip/xz/bz2 compression (by content, not by name), XLSX (``pip install
kzvote[xlsx]``), wide files (a column per candidate) and long files (station,
candidate, votes). Every problem becomes a :class:`~kzvote.model.KzvoteError` or a
:class:`~kzvote.model.Finding` naming the line, the column and the value.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kzvote.model import COUNT_FIELDS, Finding, KzvoteError, Mapping, StationTable
from kzvote.schema import Overrides, detect_mapping, is_long_format, resolve_header

#: Cell texts that mean "no value".
MISSING_TOKENS = frozenset(
    ["", "-", "—", "–", "n/a", "na", "nan", "null", "none", "н/д", "нет данных", "x", "х"]
)
#: Largest count held exactly in float64.
MAX_EXACT = 2**53
#: Findings kept per (code, column); the rest are counted.
FINDING_CAP = 10_000

_SPACES = re.compile(r"[\s\u00a0\u202f\u2009\u2007']+")
_PLAIN = r"[+-]?\d+"
_DECIMAL_DOT = r"[+-]?\d+\.\d+"
_THOUSANDS_SPACE = r"\d{1,3}(?:[ \u00a0\u202f\u2009']\d{3})+"
_THOUSANDS_COMMA = r"\d{1,3}(?:,\d{3})+"
_THOUSANDS_DOT = r"\d{1,3}(?:\.\d{3})+"
_EURO_DECIMAL = r"\d{1,3}(?:\.\d{3})+,\d+"
_DECIMAL_COMMA = r"[+-]?\d+,\d+"


@dataclass
class RawTable:
    """A file read as text cells, before any interpretation."""

    path: str
    frame: pd.DataFrame  # every cell a str
    lines: np.ndarray  # file line of each row (header = line 1)
    encoding: str
    delimiter: str | None
    compression: str | None
    notes: list[str] = field(default_factory=list)


def _read_bytes(path: str) -> tuple[bytes, str | None]:
    file = Path(path)
    if not file.exists():
        raise KzvoteError(
            "file_not_found", "the file does not exist", file=path, hint="check the path"
        )
    if file.is_dir():
        raise KzvoteError("not_a_file", "this is a folder, not a file", file=path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise KzvoteError(
            "unreadable", f"cannot read the file: {exc.strerror}", file=path
        ) from None
    return _decompress(data, path)


def _decompress(data: bytes, path: str) -> tuple[bytes, str | None]:
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data), "gzip"
        if data[:6] == b"\xfd7zXZ\x00":
            return lzma.decompress(data), "xz"
        if data[:3] == b"BZh":
            return bz2.decompress(data), "bz2"
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as exc:
        raise KzvoteError(
            "corrupt_compressed",
            f"the compressed file is damaged or truncated ({exc})",
            file=path,
            hint="download the file again, or decompress it by hand to see what is left",
        ) from None
    if data[:4] == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            names = archive.namelist()
        except zipfile.BadZipFile as exc:
            raise KzvoteError(
                "corrupt_compressed", f"the zip file is damaged ({exc})", file=path
            ) from None
        if "[Content_Types].xml" in names:
            return data, "xlsx"
        tables = [n for n in names if not n.endswith("/") and not n.startswith("__MACOSX")]
        if len(tables) != 1:
            raise KzvoteError(
                "zip_ambiguous",
                f"the zip archive holds {len(tables)} files; kzvote reads one",
                file=path,
                hint="unzip it and pass the table you want: " + ", ".join(tables[:10]),
            )
        try:
            return archive.read(tables[0]), "zip"
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise KzvoteError(
                "corrupt_compressed", f"the zip file is damaged ({exc})", file=path
            ) from None
    return data, None


def _decode(data: bytes, encoding: str | None, path: str) -> tuple[str, str]:
    if encoding:
        try:
            return data.decode(encoding), encoding
        except LookupError:
            raise KzvoteError(
                "unknown_encoding",
                f"{encoding!r} is not an encoding Python knows",
                file=path,
                hint="try --encoding utf-8, cp1251 or utf-16",
            ) from None
        except UnicodeDecodeError as exc:
            raise KzvoteError(
                "wrong_encoding",
                f"the file is not valid {encoding} (byte {exc.start})",
                file=path,
                hint="leave out --encoding to detect it, or try cp1251 or utf-8",
            ) from None
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise KzvoteError("wrong_encoding", "damaged UTF-16 text", file=path) from None
    if data[:5] == b"%PDF-":
        raise KzvoteError(
            "not_a_table",
            "this is a PDF document, not a table",
            file=path,
            hint="export the table to CSV or XLSX first (e.g. with tabula or by hand)",
        )
    head = data[:65536]
    controls = sum(head.count(bytes([b])) for b in (*range(0, 9), *range(14, 32)))
    if controls > max(3, len(head) // 20):  # over 5% control bytes: not text
        raise KzvoteError(
            "binary_file",
            "the file holds binary data, not text",
            file=path,
            hint="give a CSV, TSV or XLSX file; a UTF-16 file without BOM needs --encoding utf-16",
        )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1251", errors="replace")
    letters = [ch for ch in text[:200000] if ord(ch) > 127 and ch.isalpha()]
    cyrillic = sum(1 for ch in letters if "\u0400" <= ch <= "\u04ff")
    if letters and cyrillic / len(letters) >= 0.8 and "\ufffd" not in text:
        return text, "cp1251"
    raise KzvoteError(
        "unknown_encoding",
        "the text encoding could not be recognised (not UTF-8, not Cyrillic cp1251)",
        file=path,
        hint="name it with --encoding (e.g. cp1250, latin-1, koi8-r, utf-16)",
    )


def sniff_delimiter(text: str) -> str:
    """The delimiter (``,`` ``;`` tab or ``|``) that splits the first lines most evenly."""
    sample_lines = [ln for ln in text[:100000].splitlines()[:50] if ln.strip()]
    if not sample_lines:
        return ","
    best, best_score = ",", (-1, -1)
    for delimiter in (",", ";", "\t", "|"):
        try:
            rows = list(csv.reader(sample_lines, delimiter=delimiter))
        except csv.Error:
            continue
        widths = [len(r) for r in rows]
        header_width = widths[0]
        if header_width < 2:
            continue
        consistent = sum(1 for w in widths if w == header_width)
        score = (consistent, header_width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def read_raw(
    path: str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> RawTable:
    """Read a file into text cells, one row per record, with each record's line."""
    data, compression = _read_bytes(path)
    if not data.strip():
        raise KzvoteError(
            "empty_file", "the file is empty", file=path, hint="check the download or export"
        )
    if compression == "xlsx" or Path(path).suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path, data, sheet)
    text, used_encoding = _decode(data, encoding, path)
    text = text.lstrip("\ufeff")
    stray_nul = text.count("\x00")
    if stray_nul:
        text = text.replace("\x00", "")
    delimiter = delimiter or sniff_delimiter(text)
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = pd.read_csv(
                io.StringIO(text),
                sep=delimiter,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                index_col=False,  # never take a surplus first cell as the row index
                engine="c",
            )
    except pd.errors.EmptyDataError:
        raise KzvoteError("empty_file", "the file has no header row", file=path) from None
    except pd.errors.ParserError as exc:
        raise _ragged(path, text, delimiter, _line_from_message(str(exc))) from None
    except (UnicodeError, ValueError, OverflowError) as exc:
        raise KzvoteError(
            "unreadable", f"the table could not be parsed: {exc}", file=path
        ) from None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        raise _ragged(path, text, delimiter, None)
    notes = [f"encoding {used_encoding}", f"delimiter {delimiter!r}"]
    if stray_nul:
        notes.append(f"{stray_nul} NUL characters removed")
    if compression:
        notes.append(f"decompressed ({compression})")
    frame, lines = _drop_blank(frame, _record_lines(text, delimiter, frame))
    frame.columns = _dedupe_headers(_header_row(text, delimiter, frame), notes)
    return RawTable(path, frame, lines, used_encoding, delimiter, compression, notes)


def _ragged(path: str, text: str, delimiter: str, line: int | None) -> KzvoteError:
    """A row whose cell count differs from the header's, located with the csv module."""
    value = None
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        width = len(next(reader))
        start = 1
        for row in reader:
            if row and len(row) != width:
                line, value = start + 1, delimiter.join(row)[:80]
                break
            start = reader.line_num
    except (StopIteration, csv.Error):
        pass
    return KzvoteError(
        "ragged_rows",
        "a row has a different number of cells than the header",
        file=path,
        line=line,
        value=value,
        hint=f"check quoting near that line (a delimiter {delimiter!r} inside an unquoted "
        "cell splits it); set the delimiter with --delimiter if it was guessed wrong",
    )


def _line_from_message(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def _record_lines(text: str, delimiter: str, frame: pd.DataFrame) -> np.ndarray:
    """File line where each record starts (header = 1).

    Rows are line + 2 unless a quoted cell holds a line break; then the csv module
    walks the text to find where each record starts.
    """
    n = len(frame)
    physical = text.count("\n") + (0 if text.endswith("\n") else 1)
    if "\r" not in text.replace("\r\n", "\n") and physical == n + 1:
        return np.arange(2, n + 2)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    starts = []
    previous_end = 0
    for _ in reader:
        starts.append(previous_end + 1)
        previous_end = reader.line_num
    starts = starts[1 : n + 1]
    if len(starts) < n:
        starts += list(range(starts[-1] + 1 if starts else 2, n + 2))
    return np.asarray(starts[:n])


def _drop_blank(frame: pd.DataFrame, lines: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    if frame.empty:
        return frame, lines
    blank = (frame == "").all(axis=1).to_numpy()
    if blank.any():
        frame = frame[~blank].reset_index(drop=True)
        lines = lines[~blank]
    return frame, lines


def _header_row(text: str, delimiter: str, frame: pd.DataFrame) -> list[str]:
    """The header cells as written (pandas renames duplicates to 'x.1')."""
    try:
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except (StopIteration, csv.Error):
        return [str(c) for c in frame.columns]
    if len(first) != frame.shape[1]:
        return [str(c) for c in frame.columns]
    return [cell.strip() for cell in first]


def _dedupe_headers(headers: list[str], notes: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for header in headers:
        clean = header.strip()
        if clean.startswith("Unnamed: ") and clean[9:].isdigit():
            clean = ""
        if clean == "":
            clean = f"column {len(out) + 1}"
        if clean in seen:
            seen[clean] += 1
            renamed = f"{clean} ({seen[clean]})"
            notes.append(f"duplicate header {clean!r}: copy {seen[clean]} read as {renamed!r}")
            clean = renamed
        else:
            seen[clean] = 1
        out.append(clean)
    # pandas mangles duplicate names as "x.1": undo that into our own scheme
    return out


def _read_xlsx(path: str, data: bytes, sheet: str | None) -> RawTable:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise KzvoteError(
            "xlsx_needs_extra",
            "reading XLSX needs the openpyxl package",
            file=path,
            hint="pip install 'kzvote[xlsx]', or save the sheet as CSV",
        ) from None
    try:
        frame = pd.read_excel(
            io.BytesIO(data), sheet_name=sheet or 0, dtype=str, na_filter=False, engine="openpyxl"
        )
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise KzvoteError(
            "unreadable", f"the XLSX file could not be read: {exc}", file=path
        ) from None
    frame = frame.astype(str).replace({"nan": "", "None": ""})
    notes = ["xlsx" + (f" sheet {sheet!r}" if sheet else " (first sheet)")]
    lines = np.arange(2, len(frame) + 2)
    frame, lines = _drop_blank(frame, lines)
    frame.columns = _dedupe_headers([str(c) for c in frame.columns], notes)
    return RawTable(path, frame, lines, "xlsx", None, "xlsx", notes)


@dataclass
class ParsedColumn:
    values: np.ndarray  # float64, NaN where missing or bad
    missing: np.ndarray  # bool: cell empty or a missing token
    bad: np.ndarray  # bool: cell present but not a usable count
    codes: np.ndarray  # object: finding code per bad cell ('' when fine)
    note: str | None = None
    numeric_share: float = 0.0


def parse_counts(cells: pd.Series) -> ParsedColumn:
    """Parse a column of count texts, vectorised.

    Thousand separators are accepted when unambiguous (spaces, or commas/dots used
    the same way in every formatted cell of the column); ``1.234,0`` European decimals
    likewise. Decimals that are not whole numbers, negative numbers and values beyond
    2**53 are flagged, never rounded silently.
    """
    n = len(cells)
    codes = np.full(n, "", dtype=object)
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


def _cell_findings(
    parsed: ParsedColumn,
    header: str,
    cells: pd.Series,
    lines: np.ndarray,
    fields: tuple[str, ...],
    ids: np.ndarray,
) -> list[Finding]:
    out: list[Finding] = []
    messages = {
        "not_a_number": "not a number",
        "negative_count": "a count cannot be negative",
        "not_an_integer": "a count must be a whole number",
        "count_too_large": "count too large to be real (over 2**53)",
    }
    for code, message in messages.items():
        rows = np.flatnonzero(parsed.codes == code)
        for row in rows[:FINDING_CAP]:
            out.append(
                Finding(
                    code=code,
                    severity="error",
                    message=message,
                    line=int(lines[row]),
                    column=header,
                    value=_short(cells.iat[row]),
                    station_id=str(ids[row]),
                    fields=fields,
                )
            )
        if len(rows) > FINDING_CAP:
            out.append(_overflow(code, header, len(rows) - FINDING_CAP, fields))
    return out


def _overflow(code: str, header: str | None, extra: int, fields: tuple[str, ...]) -> Finding:
    return Finding(
        code=code,
        severity="error",
        message=f"{extra} more of the same not listed",
        column=header,
        fields=fields,
    )


def _short(value: object, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pivot_long(raw: RawTable, columns: tuple[str, str], overrides: Overrides) -> RawTable:
    """Turn a long file (station, candidate, votes) into a wide one."""
    cand_col, votes_col = columns
    frame = raw.frame
    key_cols = [c for c in frame.columns if c not in (cand_col, votes_col)]
    # Station-level columns are those constant within a station; the key is the id columns.
    from kzvote.schema import field_for_header

    id_cols = [c for c in key_cols if field_for_header(c) in ("station_id", "region", "district")]
    if overrides.fields.get("station_id"):
        id_cols = list(
            dict.fromkeys(
                [resolve_header(h, key_cols, raw.path) for h in overrides.fields["station_id"]]
                + [c for c in id_cols if field_for_header(c) in ("region", "district")]
            )
        )
    if not id_cols:
        raise KzvoteError(
            "missing_field",
            "a long-format file needs a station id column",
            file=raw.path,
            hint="name it with --map station_id=HEADER",
        )
    pair = frame[id_cols + [cand_col]]
    repeated = pair.duplicated(keep=False).to_numpy()
    if repeated.any():
        first = int(np.flatnonzero(repeated)[1])
        raise KzvoteError(
            "duplicate_long_pair",
            f"{int(repeated.sum())} rows repeat a (station, candidate) pair",
            file=raw.path,
            line=int(raw.lines[first]),
            column=cand_col,
            value=_short(frame[cand_col].iat[first]),
            hint="each station may list each candidate once; remove or add up the repeats",
        )
    group = frame.groupby(id_cols, sort=False, dropna=False)
    station_cols = [c for c in key_cols if c not in id_cols]
    first_rows = group.head(1).reset_index()
    wide = first_rows[id_cols + station_cols].reset_index(drop=True)
    lines = raw.lines[first_rows["index"].to_numpy()]
    pivot = frame.pivot_table(
        index=id_cols, columns=cand_col, values=votes_col, aggfunc="first", sort=False
    )
    pivot = pivot.reindex(pd.MultiIndex.from_frame(wide[id_cols])).reset_index(drop=True)
    pivot = pivot.fillna("")
    pivot.columns = [str(c) for c in pivot.columns]
    clash = set(pivot.columns) & set(wide.columns)
    if clash:
        pivot = pivot.rename(columns={c: f"{c} (votes)" for c in clash})
    wide = pd.concat([wide, pivot], axis=1)
    notes = raw.notes + [
        f"long format: {cand_col!r} x {votes_col!r} pivoted to {pivot.shape[1]} candidate columns"
    ]
    return RawTable(raw.path, wide, lines, raw.encoding, raw.delimiter, raw.compression, notes)


def load_stations(
    path: str,
    *,
    overrides: Overrides | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    required: tuple[str, ...] = ("registered",),
    need_candidates: bool = True,
) -> StationTable:
    """Read a file into a validated :class:`StationTable`.

    Raises
    ------
    KzvoteError
        When the file cannot be read or a required field cannot be found. Problems in
        individual cells become findings in ``table.findings`` instead.
    """
    from kzvote.integrity import build_table

    overrides = overrides or Overrides.empty()
    raw = read_raw(path, encoding=encoding, delimiter=delimiter, sheet=sheet)
    if raw.frame.shape[1] < 2:
        raise KzvoteError(
            "one_column",
            f"only one column was found (delimiter {raw.delimiter!r})",
            file=path,
            hint="set the delimiter with --delimiter ';' (or ',' or tab)",
        )
    if raw.frame.empty:
        raise KzvoteError("no_rows", "the file has a header but no data rows", file=path, line=2)
    long_cols = is_long_format(list(raw.frame.columns))
    if long_cols is not None:
        raw = _pivot_long(raw, long_cols, overrides)
    numeric = {c: _looks_numeric(raw.frame[c]) for c in raw.frame.columns}
    mapping = detect_mapping(
        list(raw.frame.columns),
        numeric,
        overrides,
        file=path,
        required=required,
        need_candidates=need_candidates,
    )
    if long_cols is not None:
        mapping = Mapping(
            fields=mapping.fields,
            candidates=mapping.candidates,
            ignored=mapping.ignored,
            notes=mapping.notes,
            long_format=True,
        )
    needed = [h for headers in mapping.fields.values() for h in headers]
    needed += list(mapping.candidates.values())
    _refuse_duplicate_headers(raw, needed)
    parsed = {c: parse_counts(raw.frame[c]) for c in dict.fromkeys(needed)}
    return build_table(raw, parsed, mapping, cell_findings=_cell_findings)


def _refuse_duplicate_headers(raw: RawTable, used: list[str]) -> None:
    """Two columns with the same name, one of them used: which one is meant?"""
    for header in used:
        match = re.fullmatch(r"(.*) \((\d+)\)", header)
        base = match.group(1) if match else header
        copies = [
            c
            for c in raw.frame.columns
            if c == base or re.fullmatch(re.escape(base) + r" \(\d+\)", c)
        ]
        if len(copies) > 1 and any(f"duplicate header {base!r}" in n for n in raw.notes):
            raise KzvoteError(
                "duplicate_header",
                f"{len(copies)} columns are headed {base!r}",
                file=raw.path,
                line=1,
                column=base,
                hint="rename one of them in the file, or say which to use with "
                f"--map (the copies are read as {', '.join(repr(c) for c in copies)})",
            )


def table_from_frame(frame: pd.DataFrame, *, name: str = "<simulated>") -> StationTable:
    """A :class:`StationTable` from an in-memory frame, through the same detection and
    checks as a file (used for simulations, which need no CSV round trip)."""
    raw = RawTable(
        path=name,
        frame=frame.astype(str).reset_index(drop=True),
        lines=np.arange(2, len(frame) + 2),
        encoding="memory",
        delimiter=None,
        compression=None,
        notes=["in-memory table"],
    )
    frame = frame.reset_index(drop=True)
    # integer columns (simulations, twins) are parsed as they are, not from their text
    integer = {c for c in frame.columns if frame[c].dtype.kind in "iu"}
    numeric = {c: c in integer or _looks_numeric(raw.frame[c]) for c in raw.frame.columns}
    mapping = detect_mapping(list(raw.frame.columns), numeric, Overrides.empty(), file=name)
    needed = [h for headers in mapping.fields.values() for h in headers]
    needed += list(mapping.candidates.values())
    parsed = {
        c: parse_counts(frame[c] if c in integer else raw.frame[c]) for c in dict.fromkeys(needed)
    }
    from kzvote.integrity import build_table

    return build_table(raw, parsed, mapping, cell_findings=_cell_findings)


def _looks_numeric(cells: pd.Series, sample: int = 2000) -> bool:
    """Whether a column holds counts: 90% of a sample of its non-empty cells parse."""
    head = cells.iloc[:sample] if len(cells) <= 4 * sample else cells.sample(sample, random_state=0)
    parsed = parse_counts(head)
    present = int((~parsed.missing).sum())
    return present > 0 and parsed.numeric_share >= 0.9


__all__ = [
    "COUNT_FIELDS",
    "RawTable",
    "load_stations",
    "parse_counts",
    "read_raw",
    "sniff_delimiter",
]
