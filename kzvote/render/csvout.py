"""CSV exports, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from typing import Any

#: Characters that make a spreadsheet treat a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formula injection: prefix risky text with a quote.

    Numbers stay numbers (a negative difference is data, not a formula).
    """
    if isinstance(value, int | float) or value is None:
        return "" if value is None else value
    text = str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def table_csv(header: list[str], rows) -> str:
    """A CSV text from a header and rows of cells, every cell spreadsheet-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(h) for h in header])
    for cells in rows:
        writer.writerow([safe_cell(c) for c in cells])
    return buffer.getvalue()


def stations_csv(data: dict[str, Any]) -> str:
    """One row per matched station: id, flag, then official/observed/difference per field."""
    fields = data["summary"]["compared_fields"]
    header = ["station_id", "region", "line", "flagged", "flagged_fields", "registered"]
    for name in fields:
        header += [f"{name} official", f"{name} observed", f"{name} difference"]

    def rows():
        for row in data["stations"]:
            cells = [
                row["station_id"],
                row["region"],
                row["line"],
                row["flagged"],
                ";".join(row["flagged_fields"]),
                row["registered"],
            ]
            for name in fields:
                cells += [row["official"][name], row["observed"][name], row["difference"][name]]
            yield cells

    return table_csv(header, rows())


def crosscheck_csv(data: dict[str, Any]) -> str:
    """One row per joined station: ids, flag, reasons, then each contest's numbers."""
    labels = data["summary"]["contests"]
    pairs = [f"{p['a']} - {p['b']}" for p in data["summary"]["pairs"]]
    fields = ("registered", "ballots_issued", "ballots_cast", "turnout")
    header = ["station_id", "region", "district", "flagged", "reasons"]
    header += [f"{label} {name}" for label in labels for name in fields]
    header += [f"difference {pair}" for pair in pairs]

    def rows():
        for row in data["stations"]:
            cells = [row["station_id"], row["region"], row["district"], row["flagged"]]
            cells.append(";".join(row["reasons"]))
            for label in labels:
                values = row["values"].get(label) or {}
                cells += [values.get(name) for name in fields]
            yield cells + [row["difference"].get(pair) for pair in pairs]

    return table_csv(header, rows())


def evidence_csv(data: dict[str, Any]) -> str:
    """analyze --stations: one row per station behind a finding, strongest first."""
    header = [
        "rank",
        "region",
        "district",
        "station_id",
        "line",
        "registered",
        "turnout",
        "leader_share",
        "score",
        "reasons",
        "notes",
    ]

    def rows():
        for rank, s in enumerate(data["stations"], start=1):
            yield [
                rank,
                s["region"],
                s["district"],
                s["station_id"],
                s["line"],
                s["registered"],
                None if s["turnout"] is None else round(s["turnout"], 6),
                None if s["leader_share"] is None else round(s["leader_share"], 6),
                s["score"],
                ";".join(s["reasons"]),
                "; ".join(s["notes"]),
            ]

    return table_csv(header, rows())
