"""Write the hostile-input corpus (run from this folder; the files are committed).

Each file's expected outcome is in tests/test_hostile.py (EXPECTED).
"""

from __future__ import annotations

import gzip
from pathlib import Path

HEADER = "station_id,region,registered,ballots_cast,valid,invalid,A,B\n"


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
    for name, data in files.items():
        (here / name).write_bytes(data)


if __name__ == "__main__":
    main()
