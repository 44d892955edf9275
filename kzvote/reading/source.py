"""Bytes to text cells: open the file, decompress, decode, split into rows.

CSV/TSV (delimiter sniffed), UTF-8 with or without BOM, UTF-16 with BOM, cp1251,
gzip/zip/xz/bz2 compression (by content, not by name), XLSX (``pip install
kzvote[xlsx]``). Nothing here interprets a cell: every cell stays a string, and each
row keeps the file line it came from.
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

from kzvote.model import KzvoteError


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


def short(value: object, limit: int = 80) -> str:
    """A cell's text cut to ``limit`` characters for messages."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
