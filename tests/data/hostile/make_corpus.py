"""Write the hostile-input corpus (run from this folder; the files are committed).

Each file's expected outcome is in tests/test_hostile.py (EXPECTED).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import zipfile
from pathlib import Path

HEADER = "station_id,region,registered,ballots_cast,valid,invalid,A,B\n"
REGION_DOLLAR = "$\\frac{1}{0}$"


def rows(n: int, start: int = 1) -> str:
    return "".join(
        f"{i},R{i % 3},1000,{500 + i % 7},{490 + i % 7},10,{300 + i % 5},{190 + i % 7 - i % 5}\n"
        for i in range(start, start + n)
    )


def main() -> None:
    here = Path(__file__).parent
    files: dict[str, bytes] = {}
    body = HEADER + rows(300)
    files["empty.csv"] = b""
    files["header_only.csv"] = HEADER.encode()
    files["binary_garbage.csv"] = bytes(range(256)) * 8
    files["pdf_renamed.csv"] = (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    )
    files["utf16.csv"] = body.replace("R1", "Север").encode("utf-16")
    files["cp1251_no_hint.csv"] = body.replace("R1", "Северный").encode("cp1251")
    mixed = body.splitlines(keepends=True)
    files["mixed_line_endings.csv"] = "".join(
        line.replace("\n", "\r\n") if i % 2 else line for i, line in enumerate(mixed)
    ).encode()
    files["quoted_newlines.csv"] = (
        "station_id,region,registered,ballots_cast,valid,invalid,A,B\n"
        '1,"North,\nwith comma",1000,500,490,10,300,190\n'
        + rows(299, 2)
        + '999,"x",1000,500,490,10,-5,495\n'
    ).encode()
    files["duplicate_headers.csv"] = (
        b"station_id,region,registered,registered,ballots_cast,valid,invalid,A,B\n"
        b"1,R,1000,900,500,490,10,300,190\n"
    )
    files["missing_required.csv"] = b"station_id,region,ballots_cast,A,B\n1,R,500,300,200\n"
    numbers = HEADER
    numbers += '1,R,"1 234",600,590,10,400,190\n'
    numbers += "2,R,1234,600,590,10,400,190\n"
    numbers += "3,R,1234,—,590,10,400,190\n"
    numbers += "4,R,1234,n/a,590,10,400,190\n"
    numbers += "5,R,1234,,590,10,400,190\n"
    numbers += "6,R,1234,600,590,10,12.5,190\n"
    files["number_formats.csv"] = (numbers + rows(300, 7)).encode()
    files["euro_numbers.csv"] = (
        "station_id;registered;ballots_cast;A;B\n"
        + "".join(f"{i};1.234,0;600;400;200\n" for i in range(1, 301))
    ).encode()
    files["negative_count.csv"] = (
        HEADER + rows(150) + "151,R,1000,500,490,10,-3,493\n" + rows(150, 152)
    ).encode()
    files["huge_count.csv"] = (
        HEADER + rows(150) + "151,R,99999999999999999999,500,490,10,300,190\n" + rows(150, 152)
    ).encode()
    files["zero_registered.csv"] = (
        HEADER + rows(150) + "151,R,0,0,0,0,0,0\n" + rows(150, 152)
    ).encode()
    files["turnout_over_100.csv"] = (
        HEADER + rows(150) + "151,R,100,150,140,10,100,40\n" + rows(150, 152)
    ).encode()
    files["votes_above_valid.csv"] = (
        HEADER + rows(150) + "151,R,1000,500,490,10,400,190\n" + rows(150, 152)
    ).encode()
    files["duplicate_ids.csv"] = (
        HEADER + rows(150) + "5,R2,1000,600,590,10,400,190\n" + rows(150, 152)
    ).encode()
    files["forty_stations.csv"] = (HEADER + rows(40)).encode()
    files["one_candidate.csv"] = (
        "station_id,registered,ballots_cast,A\n"
        + "".join(f"{i},1000,{500 + i % 9},{480 + i % 9}\n" for i in range(1, 301))
    ).encode()
    files["formula_names.csv"] = (
        HEADER.replace("station_id", "station_id")
        + '"=HYPERLINK(""http://x"",""y"")",R,1000,500,490,10,300,190\n'
        + "\"+cmd|' /C calc'!A0\",R,1000,500,490,10,300,190\n"
        + rows(300, 3)
    ).encode()
    files["path_regions.csv"] = (
        HEADER
        + "".join(
            f"{i},{['../../etc', 'a/b', 'x' + chr(0) + 'y'][i % 3]},1000,500,490,10,300,190\n"
            for i in range(1, 301)
        )
    ).encode()
    files["truncated.csv.gz"] = gzip.compress(body.encode())[:-40]
    files["ragged_row.csv"] = (
        HEADER + rows(10) + "11,R,1000,500,490,10,300,190,7\n" + rows(10, 12)
    ).encode()
    files["long_repeated.csv"] = (
        b"station,registered,candidate,votes\n1,100,A,40\n1,100,B,50\n1,100,A,41\n"
    )
    extended(files, body)
    for name, data in files.items():
        (here / name).write_bytes(data)


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch_zip(data: bytes, *, flag: int | None = None, method: int | None = None) -> bytes:
    """Set a general-purpose flag bit or the method in every local and central header."""
    out = bytearray(data)
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        start = 0
        while (start := out.find(signature, start)) >= 0:
            if flag is not None:
                value = struct.unpack_from("<H", out, start + flag_at)[0] | flag
                struct.pack_into("<H", out, start + flag_at, value)
            if method is not None:
                struct.pack_into("<H", out, start + method_at, method)
            start += 4
    return bytes(out)


def _xlsx(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def extended(files: dict[str, bytes], body: str) -> None:
    """The classes of the wider attack: encodings, bombs, archives, limits, mappings."""
    cyr = body.replace("R1", "Северный").replace("R2", "Южный")
    files["koi8r_no_hint.csv"] = cyr.encode("koi8-r")
    lines = cyr.encode("utf-8").split(b"\n")
    lines.insert(120, "121,Восточный,1000,500,490,10,300,190".encode("cp1251"))
    files["utf8_with_cp1251_row.csv"] = b"\n".join(lines)
    files["bom_with_cp1251_row.csv"] = b"\xef\xbb\xbf" + b"\n".join(lines)
    zeros = b"0," * (3 * 1024 * 1024)
    files["gzip_bomb.csv.gz"] = gzip.compress(HEADER.encode() + zeros, 9)
    files["xz_bomb.csv.xz"] = lzma.compress(HEADER.encode() + zeros)
    files["bz2_bomb.csv.bz2"] = bz2.compress(HEADER.encode() + zeros, 9)
    files["zip_bomb.zip"] = _zip({"t.csv": HEADER.encode() + b"0" * (80 * 1024 * 1024)})
    files["zip_encrypted.zip"] = _patch_zip(_zip({"t.csv": body.encode()}), flag=1)
    files["zip_deflate64.zip"] = _patch_zip(_zip({"t.csv": body.encode()}), method=9)
    files["zip_two_files.zip"] = _zip({"a.csv": body.encode(), "b.csv": body.encode()})
    files["zip_truncated.zip"] = _zip({"t.csv": body.encode()})[:-60]
    files["zip_good.zip"] = _zip({"t.csv": body.encode()})
    files["gzip_empty.csv.gz"] = gzip.compress(b"")
    files["gzip_of_gzip.csv.gz"] = gzip.compress(gzip.compress(body.encode()))
    good_rows = [[c for c in HEADER.strip().split(",")]] + [
        [i, f"R{i % 3}", 1000, 500 + i % 7, 490 + i % 7, 10, 300 + i % 5, 190 + i % 7 - i % 5]
        for i in range(1, 301)
    ]
    files["sheet_good.xlsx"] = _xlsx(good_rows)
    sheet = _xlsx(good_rows[:5])
    with zipfile.ZipFile(io.BytesIO(sheet)) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members["xl/worksheets/sheet1.xml"] = b"<worksheet><sheetData><row><c r='A1'"
    files["sheet_malformed.xlsx"] = _zip(members)
    files["wide_header.csv"] = (
        ",".join(f"c{k}" for k in range(6000)) + "\n" + ",".join("1" for _ in range(6000)) + "\n"
    ).encode()
    files["long_cell.csv"] = (
        HEADER + rows(20) + "21,R," + "9" * 200_000 + ",500,490,10,300,190\n" + rows(20, 22)
    ).encode()
    files["registered_1e15.csv"] = (
        HEADER + rows(150) + "151,R,1000000000000000,500,490,10,300,190\n" + rows(150, 152)
    ).encode()
    files["dollar_names.csv"] = (
        "station_id,region,registered,ballots_cast,valid,invalid,$x^2$,B\n"
        + "".join(
            f"{i},{REGION_DOLLAR if i % 2 else 'R'},1000,{500 + i % 7},{490 + i % 7},10,"
            f"{300 + i % 5},{190 + i % 7 - i % 5}\n"
            for i in range(1, 301)
        )
    ).encode()
    files["lookalike_valid.csv"] = (
        HEADER.replace("valid,", "v\u0430lid,", 1).encode() + rows(300).encode()
    )
    files["registered_twice_case.csv"] = (
        "station_id,region,Registered,registered,ballots_cast,valid,invalid,A,B\n"
        + "".join(
            f"{i},R,1000,1000,{500 + i % 7},{490 + i % 7},10,{300 + i % 5},{190 + i % 7 - i % 5}\n"
            for i in range(1, 301)
        )
    ).encode()
    received = HEADER.replace(",A,B", ",Line 2,A,B")
    files["received_line_unknown.csv"] = (
        received
        + "".join(
            f"{i},R{i % 3},1000,{500 + i % 7},{490 + i % 7},10,1010,{300 + i % 5},"
            f"{190 + i % 7 - i % 5}\n"
            for i in range(1, 301)
        )
    ).encode()
    spoiled = HEADER.replace(",A,B", ",A,B,Line 5")
    files["spoiled_line_unknown.csv"] = (
        spoiled
        + "".join(
            f"{i},R{i % 3},1000,{500 + i % 7},{490 + i % 7},10,{300 + i % 5},"
            f"{190 + i % 7 - i % 5},{1 + i % 3}\n"
            for i in range(1, 301)
        )
    ).encode()
    files["electronic_rows.csv"] = (
        body + ",Electronic voting,40000,20000,19900,100,12000,7900\n"
        ",Electronic voting,30000,15000,14900,100,9000,5900\n"
    ).encode()
    files["total_row.csv"] = (body + "Итого,,300000,150000,147000,3000,90000,57000\n").encode()
    files["code_column.csv"] = (
        "station_id,Kod,region,registered,ballots_cast,valid,invalid,A,B\n"
        + "".join(
            f"{i},{i:07d},R,1000,{500 + i % 7},{490 + i % 7},10,{300 + i % 5},"
            f"{190 + i % 7 - i % 5}\n"
            for i in range(1, 301)
        )
    ).encode()
    files["turnout_percent_column.csv"] = (
        HEADER.replace(",A,B", ",Явка %,A,B")
        + "".join(
            f"{i},R,1000,{500 + i % 7},{490 + i % 7},10,{50 + i % 7 / 10:.1f},{300 + i % 5},"
            f"{190 + i % 7 - i % 5}\n"
            for i in range(1, 301)
        )
    ).encode()
    files["tab_delimited.tsv"] = body.replace(",", "\t").encode()
    files["semicolon_bom_crlf.csv"] = (
        b"\xef\xbb\xbf" + body.replace(",", ";").replace("\n", "\r\n").encode()
    )
    files["cr_line_endings.csv"] = body.replace("\n", "\r").encode()
    files["nul_heavy.csv"] = body.encode().replace(b",", b",\x00\x00\x00\x00")
    files["utf16le_no_bom.csv"] = body.encode("utf-16-le")
    files["only_text.csv"] = b"name,comment\nfoo,bar\nbaz,qux\n"
    files["float_counts.csv"] = (
        HEADER + "".join(f"{i},R,1000.0,500.0,490.0,10.0,300.0,190.0\n" for i in range(1, 301))
    ).encode()
    files["mixed_thousands.csv"] = (
        HEADER + '1,R,"1,234",600,590,10,400,190\n2,R,1.234,600,590,10,400,190\n' + rows(298, 3)
    ).encode()
    files["header_line_breaks.csv"] = (
        '"Номер\nУИК",region,"Число избирателей,\nвнесенных в список",ballots_cast,valid,invalid,A,B\n'
        + rows(300)
    ).encode()
    files["duplicate_unused_header.csv"] = (
        "station_id,region,note,note,registered,ballots_cast,valid,invalid,A,B\n"
        + "".join(
            f"{i},R,x,y,1000,{500 + i % 7},{490 + i % 7},10,{300 + i % 5},{190 + i % 7 - i % 5}\n"
            for i in range(1, 301)
        )
    ).encode()
    files["bidi_names.csv"] = body.replace("R1", "\u202eR1\u202c").encode()
    files["giant_station.csv"] = (body + "9999,R1,150000000,500,490,10,300,190\n").encode()
    files["all_zero_votes.csv"] = (
        HEADER + "".join(f"{i},R,1000,0,0,0,0,0\n" for i in range(1, 301))
    ).encode()
    files["single_row.csv"] = (HEADER + rows(1)).encode()
    files["html_page.csv"] = (
        b"<!DOCTYPE html><html><body><table><tr><td>1</td></tr></table></body></html>\n"
    )
    files["json_file.csv"] = b'{"stations": [{"id": 1, "registered": 1000}]}\n'
    files["sqlite_renamed.csv"] = b"SQLite format 3\x00" + bytes(1000)
    files["blank_lines_only.csv"] = b"\n\n\n   \n"


if __name__ == "__main__":
    main()
