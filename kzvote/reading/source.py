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
    #: headers written more than once: the name -> the columns its copies are read as
    copies: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    """Bounds no real election file reaches; each has an option to raise it.

    The largest real files here: Russia 2021, 96,325 rows x 32 columns, 31 MB of text.
    """

    max_bytes: int = 512 * 1024**2  # decompressed text (--limit bytes=N)
    max_rows: int = 5_000_000
    max_columns: int = 5_000
    max_cell: int = 100_000  # characters in one cell or one header
    max_ratio: int = 1_000  # compressed-to-decompressed ratio above which a zip is a bomb


DEFAULT_LIMITS = Limits()
_LIMIT_NAMES = {
    "bytes": "max_bytes",
    "rows": "max_rows",
    "columns": "max_columns",
    "cell": "max_cell",
}


def parse_limits(options: list[str] | None) -> Limits:
    """``--limit bytes=4G --limit rows=10M``: raise (or lower) the reading limits."""
    from dataclasses import replace

    limits = DEFAULT_LIMITS
    for option in options or []:
        name, sep, value = option.partition("=")
        key = _LIMIT_NAMES.get(name.strip())
        factor = {"k": 1024, "m": 1024**2, "g": 1024**3}.get(value.strip()[-1:].lower(), 1)
        digits = value.strip()[:-1] if factor > 1 else value.strip()
        if not sep or key is None or not digits.isdigit() or int(digits) < 1:
            raise KzvoteError(
                "bad_option",
                f"--limit {option!r} is not NAME=NUMBER",
                hint="names: bytes, rows, columns, cell; e.g. --limit bytes=4G --limit rows=10M",
            )
        limits = replace(limits, **{key: int(digits) * factor})
    return limits


_CHUNK = 1 << 20


def _too_large(path: str, what: str, limit: str, option: str) -> KzvoteError:
    return KzvoteError(
        "input_too_large",
        f"the input exceeds the limit of {limit} ({what})",
        file=path,
        hint=f"no election file is this large; if yours really is, raise the limit with {option}",
    )


def _open_regular(path: str):
    """Open a regular file for reading; a folder, FIFO or device is an error at once."""
    import os
    import stat

    file = Path(path)
    try:
        info = file.stat()
    except FileNotFoundError:
        raise KzvoteError(
            "file_not_found", "the file does not exist", file=path, hint="check the path"
        ) from None
    except OSError as exc:
        raise KzvoteError(
            "unreadable", f"cannot read the file: {exc.strerror}", file=path
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise KzvoteError(
            "not_a_file",
            "this is a folder, not a file",
            file=path,
            hint="give the path of the table file inside it",
        )
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "a socket"
            if stat.S_ISSOCK(info.st_mode)
            else "not a regular file"
        )
        raise KzvoteError(
            "not_a_file",
            f"this is {kind}, not a file",
            file=path,
            hint="save the table to a regular file and pass that",
        )
    try:
        # O_NONBLOCK: a path swapped for a FIFO after the check still cannot hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        return os.fdopen(fd, "rb")
    except OSError as exc:
        raise KzvoteError(
            "unreadable", f"cannot read the file: {exc.strerror}", file=path
        ) from None


def _read_bytes(path: str, limits: Limits = DEFAULT_LIMITS) -> tuple[bytes, str | None]:
    with _open_regular(path) as handle:
        head = handle.read(8)
        handle.seek(0)
        try:
            if head[:2] == b"\x1f\x8b":
                return _bounded(gzip.GzipFile(fileobj=handle), path, limits), "gzip"
            if head[:6] == b"\xfd7zXZ\x00":
                return _bounded(lzma.LZMAFile(handle), path, limits), "xz"
            if head[:3] == b"BZh":
                return _bounded(bz2.BZ2File(handle), path, limits), "bz2"
            data = handle.read(limits.max_bytes + 1)
        except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as exc:
            raise KzvoteError(
                "corrupt_compressed",
                f"the compressed file is damaged or truncated ({exc})",
                file=path,
                hint="download the file again, or decompress it by hand to see what is left",
            ) from None
    if len(data) > limits.max_bytes:
        raise _too_large(path, "file size", f"{limits.max_bytes:,} bytes", "--limit bytes=N")
    if data[:4] == b"PK\x03\x04":
        return _unzip(data, path, limits)
    return data, None


def _bounded(stream, path: str, limits: Limits) -> bytes:
    """Decompress at most ``limits.max_bytes``: a bomb stops at the limit, not at OOM."""
    parts = []
    total = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limits.max_bytes:
            raise _too_large(
                path, "decompressed size", f"{limits.max_bytes:,} bytes", "--limit bytes=N"
            )
        parts.append(chunk)
    return b"".join(parts)


def _unzip(data: bytes, path: str, limits: Limits) -> tuple[bytes, str | None]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _damaged_zip(exc, path) from None
    names = [i.filename for i in infos]
    declared = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if declared > limits.max_bytes or (
        declared > 64 * _CHUNK and declared / packed > limits.max_ratio
    ):
        raise _too_large(
            path,
            f"the archive unpacks to {declared:,} bytes from {packed:,}",
            f"{limits.max_bytes:,} bytes (or {limits.max_ratio}x compression)",
            "--limit bytes=N",
        )
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
        with archive.open(tables[0]) as member:
            return _bounded(member, path, limits), "zip"
    except NotImplementedError as exc:
        raise KzvoteError(
            "unreadable",
            f"the zip uses a compression method Python cannot read ({exc})",
            file=path,
            hint="unzip it with another tool (7-Zip, unzip) and pass the table",
        ) from None
    except RuntimeError as exc:  # encrypted members
        raise KzvoteError(
            "unreadable",
            f"the zip file is encrypted ({exc})",
            file=path,
            hint="unzip it with its password and pass the table",
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise _damaged_zip(exc, path) from None


def _damaged_zip(exc: Exception, path: str) -> KzvoteError:
    return KzvoteError(
        "corrupt_compressed",
        f"the zip file is damaged ({exc})",
        file=path,
        hint="download the file again, or unzip it by hand to see what is left",
    )


#: Letters most frequent in Russian and Kazakh text (lower case): a right single-byte
#: decoding puts most letters here; KOI8-R read as cp1251 swaps case and scrambles them.
_COMMON = set("оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъёәіңғүұқөһ")


def _score_cyrillic(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha() and ord(ch) > 127]
    if not letters:
        return 0.0
    cyrillic = [ch for ch in letters if "\u0400" <= ch <= "\u04ff"]
    if len(cyrillic) < 0.8 * len(letters):
        return 0.0
    lower = sum(ch.islower() for ch in cyrillic) / len(cyrillic)
    common = sum(ch.lower() in _COMMON for ch in cyrillic) / len(cyrillic)
    return 0.5 * lower + common


def _first_bad_line(data: bytes, encoding: str) -> tuple[int, int] | None:
    """(line, bad lines) of a file that decodes line by line except a few lines."""
    bad = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            bad.append(number)
    return (bad[0], len(bad)) if bad else None


def _decode(data: bytes, encoding: str | None, path: str) -> tuple[str, str, str | None]:
    """Text, the encoding used, and a note when the encoding was a guess."""
    if encoding:
        try:
            return data.decode(encoding), encoding, None
        except LookupError:
            raise KzvoteError(
                "unknown_encoding",
                f"{encoding!r} is not an encoding Python knows",
                file=path,
                hint="try --encoding utf-8, cp1251, koi8-r or utf-16",
            ) from None
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise KzvoteError(
                "wrong_encoding",
                f"the file is not valid {encoding} (byte {exc.start})",
                file=path,
                line=line,
                hint="leave out --encoding to detect it, or try cp1251 or utf-8",
            ) from None
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig", None
        except UnicodeDecodeError:
            raise _mixed(data[3:], path, "UTF-8 (with BOM)") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", None
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
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError:
        pass
    # mostly UTF-8 with some lines in another encoding: an error naming the line
    good, bad = _utf8_lines(data)
    if good >= max(3, 3 * bad):
        raise _mixed(data, path, "UTF-8")
    scores = {}
    for candidate in ("cp1251", "koi8-r"):
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError:
            continue
        scores[candidate] = (_score_cyrillic(text[:400_000]), text)
    usable = {k: v for k, v in scores.items() if v[0] > 0}
    if usable:
        best = max(usable, key=lambda k: usable[k][0])
        others = ", ".join(f"{k} scored {v[0]:.2f}" for k, v in usable.items() if k != best)
        margin = usable[best][0] - max((v[0] for k, v in usable.items() if k != best), default=0)
        note = (
            f"encoding {best} guessed from the letters (score {usable[best][0]:.2f}"
            + (f"; {others}" if others else "")
            + ")"
        )
        if margin < 0.15:
            note += "; not certain: check the region names, or set --encoding"
        return usable[best][1], best, note
    raise KzvoteError(
        "unknown_encoding",
        "the text encoding could not be recognised (not UTF-8, not Cyrillic cp1251 or KOI8-R)",
        file=path,
        hint="name it with --encoding (e.g. cp1250, latin-1, koi8-r, utf-16)",
    )


def _utf8_lines(data: bytes) -> tuple[int, int]:
    """Lines with non-ASCII bytes that are valid UTF-8, and those that are not."""
    good = bad = 0
    for line in data.split(b"\n")[:200_000]:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            bad += 1
    return good, bad


def _mixed(data: bytes, path: str, main: str) -> KzvoteError:
    found = _first_bad_line(data, "utf-8")
    line, bad = found if found else (None, 0)
    return KzvoteError(
        "mixed_encoding",
        f"the file is {main} except {bad} line(s) in another encoding",
        file=path,
        line=line,
        hint="re-save the file in one encoding (the lines named are probably cp1251 pasted "
        "into a UTF-8 file); kzvote will not guess line by line",
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
    limits: Limits = DEFAULT_LIMITS,
) -> RawTable:
    """Read a file into text cells, one row per record, with each record's line.

    Reading is bounded by ``limits`` (decompressed bytes, rows, columns, cell size):
    past a limit it stops with ``input_too_large``, naming the file and the limit.
    """
    if delimiter and (len(delimiter) != 1 or delimiter in '"\r\n'):
        raise KzvoteError(
            "bad_option",
            f"--delimiter must be one character (not a quote or line break), not {delimiter!r}",
            hint="e.g. --delimiter ';' or --delimiter $'\\t' for tab",
        )
    data, compression = _read_bytes(path, limits)
    if not data.strip():
        raise KzvoteError(
            "empty_file", "the file is empty", file=path, hint="check the download or export"
        )
    if compression == "xlsx" or Path(path).suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path, data, sheet, limits)
    text, used_encoding, guess = _decode(data, encoding, path)
    del data
    text = text.lstrip("\ufeff")
    stray_nul = text.count("\x00")
    if stray_nul:
        text = text.replace("\x00", "")
    delimiter = delimiter or sniff_delimiter(text)
    _check_shape(text, delimiter, path, limits)
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
    if guess:
        notes.append(guess)
    if len(frame) > limits.max_rows:
        raise _too_large(
            path, f"{len(frame):,} rows", f"{limits.max_rows:,} rows", "--limit rows=N"
        )
    if stray_nul:
        notes.append(f"{stray_nul} NUL characters removed")
    if compression:
        notes.append(f"decompressed ({compression})")
    frame, lines = _drop_blank(frame, _record_lines(text, delimiter, frame))
    frame.columns, copies = _dedupe_headers(_header_row(text, delimiter, frame), notes)
    return RawTable(path, frame, lines, used_encoding, delimiter, compression, notes, copies)


def _check_shape(text: str, delimiter: str, path: str, limits: Limits) -> None:
    """Columns and cell sizes within bounds, checked in linear time before parsing."""
    end = text.find("\n")
    first = text if end < 0 else text[:end]
    if first.count(delimiter) + 1 > limits.max_columns:
        raise _too_large(
            path,
            f"{first.count(delimiter) + 1:,} columns in the header",
            f"{limits.max_columns:,} columns",
            "--limit columns=N",
        )
    if len(first) > limits.max_cell * 4 and max(map(len, first.split(delimiter))) > limits.max_cell:
        raise _too_large(
            path, "a header cell this long", f"{limits.max_cell:,} characters", "--limit cell=N"
        )
    if len(text) <= limits.max_cell:
        return
    lengths = list(map(len, text.split("\n")))  # one pass in C; the lines are not kept
    if max(lengths) <= limits.max_cell:
        return
    start = 0
    for number, size in enumerate(lengths, start=1):
        line_start, start = start, start + size + 1
        if size <= limits.max_cell:
            continue
        line = text[line_start : line_start + size]
        if max(map(len, line.split(delimiter))) > limits.max_cell:
            raise KzvoteError(
                "input_too_large",
                f"a cell is longer than {limits.max_cell:,} characters",
                file=path,
                line=number,
                hint="no count or name is this long (a missing quote or line break?); "
                "if it is right, raise the limit with --limit cell=N",
            )


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
    # column by column, over the rows still blank (usually none after the first column)
    rows = np.arange(len(frame))
    for column in range(frame.shape[1]):
        rows = rows[frame.iloc[rows, column].to_numpy() == ""]
        if not len(rows):
            break
    blank = np.zeros(len(frame), dtype=bool)
    blank[rows] = True
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


def _dedupe_headers(headers: list[str], notes: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Unique column names (a copy of ``x`` is read as ``x (2)``), and the copies made."""
    seen: dict[str, int] = {}
    copies: dict[str, list[str]] = {}
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
            copies.setdefault(clean, [clean]).append(renamed)
            clean = renamed
        else:
            seen[clean] = 1
        out.append(clean)
    return out, copies


def _read_xlsx(path: str, data: bytes, sheet: str | None, limits: Limits) -> RawTable:
    """Read one sheet with openpyxl in read-only mode: streamed, bounded in rows and columns."""
    try:
        import openpyxl
    except ImportError:
        raise KzvoteError(
            "xlsx_needs_extra",
            "reading XLSX needs the openpyxl package",
            file=path,
            hint="pip install 'kzvote[xlsx]', or save the sheet as CSV",
        ) from None
    rows: list[list[str]] = []
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            if sheet is not None and sheet not in book.sheetnames:
                raise KzvoteError(
                    "unknown_sheet",
                    f"no sheet is called {sheet!r}",
                    file=path,
                    hint="sheets: " + ", ".join(repr(n) for n in book.sheetnames[:20]),
                )
            ws = book[sheet] if sheet is not None else book.worksheets[0]
            for row in ws.iter_rows(values_only=True):
                if len(row) > limits.max_columns:
                    raise _too_large(
                        path,
                        f"{len(row):,} columns",
                        f"{limits.max_columns:,}",
                        "--limit columns=N",
                    )
                if len(rows) > limits.max_rows:
                    raise _too_large(
                        path, "rows in the sheet", f"{limits.max_rows:,} rows", "--limit rows=N"
                    )
                rows.append([_cell_text(v) for v in row])
        finally:
            book.close()
    except KzvoteError:
        raise
    except MemoryError:
        raise _too_large(path, "the sheet", "this machine's memory", "--limit rows=N") from None
    except Exception as exc:  # openpyxl raises many kinds on malformed sheet XML
        raise KzvoteError(
            "unreadable",
            f"the XLSX file could not be read: {type(exc).__name__}: {str(exc)[:200]}",
            file=path,
            hint="open it in a spreadsheet and save it again, or save the sheet as CSV",
        ) from None
    if not rows:
        raise KzvoteError(
            "empty_file", "the sheet is empty", file=path, hint="choose another sheet with --sheet"
        )
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    # read-only sheets report trailing empty columns: drop those with no header and no data
    while width > 1 and rows[0][width - 1] == "" and all(r[width - 1] == "" for r in rows):
        width -= 1
    rows = [r[:width] for r in rows]
    header = rows[0]
    frame = pd.DataFrame(rows[1:], columns=range(width), dtype=object).astype(str)
    notes = ["xlsx" + (f" sheet {sheet!r}" if sheet else " (first sheet)")]
    lines = np.arange(2, len(frame) + 2)
    frame, lines = _drop_blank(frame, lines)
    frame.columns, copies = _dedupe_headers([str(c) for c in header], notes)
    return RawTable(path, frame, lines, "xlsx", None, "xlsx", notes, copies)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def short(value: object, limit: int = 80) -> str:
    """A cell's text cut to ``limit`` characters for messages."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
