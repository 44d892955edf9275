"""Build the canonical station table from parsed columns and check its arithmetic.

Every check is vectorised over stations and yields :class:`Finding` rows with a stable
code, the file line, the column, the value and a severity:

``error``
    the value cannot be right (not a number, negative, more ballots than voters,
    registered = 0, conflicting duplicates); the station is excluded from the tests
    that need that field, and each result counts the exclusion.
``warning``
    an identity of the protocol does not hold (valid + invalid != cast, candidate sum
    != valid, more ballots cast than issued); the numbers are used as published,
    because such a gap is itself something the user should see, not a reason to hide
    the station.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd

from kzvote.model import COUNT_FIELDS, Finding, Mapping, StationTable
from kzvote.reading.numbers import MISSING_TOKENS, ParsedColumn, parse_percent
from kzvote.reading.source import RawTable, short

FINDING_CAP = 10_000
#: A station this many times the 99th percentile of registered voters is an aggregate.
AGGREGATE_FACTOR = 10
#: Words in a station's id, district or region that mark electronic or remote voting.
_AGGREGATE_WORDS = re.compile(
    r"\b(?:электронн|дистанцион|электронд|remote\b|electronic\b|online\b|internet\b)"
    r"|\b(?:итого|всего по|total|барлыгы|барлығы|жиыны|жиынтығы)\b",
    re.IGNORECASE,
)

#: code -> (severity, the fields it makes unusable, explanation)
CHECKS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "not_a_number": ("error", (), "a count cell holds text that is not a number"),
    "negative_count": ("error", (), "a count is negative"),
    "not_an_integer": ("error", (), "a count is not a whole number"),
    "count_too_large": ("error", (), "a count exceeds 10**9, more than any station holds"),
    "missing_value": ("warning", (), "a count cell is empty"),
    "duplicate_station": (
        "error",
        COUNT_FIELDS + ("votes",),
        "the same station appears twice with different numbers",
    ),
    "duplicate_identical": (
        "warning",
        COUNT_FIELDS + ("votes",),
        "the same station appears twice with the same numbers; the copy is not counted",
    ),
    "zero_registered": ("error", ("registered",), "no registered voters"),
    "turnout_over_100": (
        "error",
        ("registered",),
        "more ballots issued or cast than registered voters",
    ),
    "issued_below_cast": ("warning", (), "more ballots in the boxes than were issued"),
    "valid_invalid_mismatch": ("warning", (), "valid + invalid differs from ballots cast"),
    "candidate_sum_mismatch": ("warning", (), "the candidates' votes do not add up to valid"),
    "aggregate_row": (
        "warning",
        (),
        "an aggregate row (electronic or remote voting, a total, no station number, or far "
        "larger than any station): counted in the totals, kept out of the station-level tests",
    ),
    "bad_turnout_value": ("warning", (), "a reported turnout is not a percentage"),
}


def _sum_columns(parsed: dict, headers: tuple[str, ...], n: int) -> tuple[np.ndarray, np.ndarray]:
    total = np.zeros(n)
    missing = np.zeros(n, dtype=bool)
    for header in headers:
        column = parsed[header]
        total = total + column.values
        missing |= column.missing
    return total, missing


def build_table(raw: RawTable, parsed: dict[str, ParsedColumn], mapping: Mapping) -> StationTable:
    """Assemble a :class:`StationTable` from parsed columns and run the integrity checks."""
    frame = raw.frame
    n = len(frame)
    lines = np.asarray(raw.lines)
    notes = list(mapping.notes)

    def join(field: str) -> np.ndarray | None:
        headers = mapping.fields.get(field)
        if not headers:
            return None
        parts = [frame[h].astype(str).str.strip() for h in headers]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + " / " + part
        return joined.to_numpy(dtype=object)

    station_id = join("station_id")
    if station_id is None:
        station_id = np.array([f"row {line}" for line in lines], dtype=object)
    region = join("region")
    district = join("district")
    ids = pd.DataFrame(
        {
            "station_id": station_id,
            "region": region if region is not None else np.full(n, "", dtype=object),
            "district": district if district is not None else np.full(n, "", dtype=object),
            "line": lines,
        }
    )

    findings: list[Finding] = []
    bad = {name: np.zeros(n, dtype=bool) for name in COUNT_FIELDS + ("votes",)}
    codes = {name: np.full(n, "", dtype=object) for name in bad}

    def mark(field: str, mask: np.ndarray, code: str) -> None:
        fresh = mask & (codes[field] == "")
        codes[field][fresh] = code
        bad[field] |= mask

    counts: dict[str, np.ndarray] = {}
    for name in COUNT_FIELDS:
        headers = mapping.fields.get(name)
        if not headers:
            counts[name] = np.full(n, np.nan)
            continue
        total, missing = _sum_columns(parsed, headers, n)
        counts[name] = total
        notes += [f"{h}: {parsed[h].note}" for h in headers if parsed[h].note]
        for header in headers:
            column = parsed[header]
            findings += _cell_findings(column, header, frame[header], lines, (name,), station_id)
            for code in np.unique(column.codes[column.bad]):
                mark(name, column.bad & (column.codes == code), str(code))
        findings += _row_findings(
            "missing_value", missing, lines, station_id, " + ".join(headers), None, (name,)
        )

    cand_headers = list(mapping.candidates.values())
    votes = np.empty((n, len(cand_headers)))
    for j, header in enumerate(cand_headers):
        column = parsed[header]
        votes[:, j] = column.values
        if column.note:
            notes.append(f"{header}: {column.note}")
        findings += _cell_findings(column, header, frame[header], lines, ("votes",), station_id)
        for code in np.unique(column.codes[column.bad]):
            mark("votes", column.bad & (column.codes == code), str(code))

    if cand_headers and district is not None:
        notes += _not_on_the_ballot(votes, ids["district"], cand_headers, parsed)
    vote_sum = votes.sum(axis=1)
    if not mapping.fields.get("valid") and cand_headers:
        counts["valid"] = vote_sum.copy()
        notes.append("valid: derived as the sum of candidate votes")
    if not mapping.fields.get("ballots_cast"):
        if mapping.fields.get("invalid") and np.isfinite(counts["valid"]).any():
            counts["ballots_cast"] = counts["valid"] + counts["invalid"]
            notes.append("ballots_cast: derived as valid + invalid")
        elif np.isfinite(counts["valid"]).any():
            counts["ballots_cast"] = counts["valid"].copy()
            notes.append("ballots_cast: derived from valid (no invalid count in the file)")

    registered = counts["registered"]
    issued = counts["ballots_issued"]
    cast = counts["ballots_cast"]
    valid = counts["valid"]
    invalid = counts["invalid"]

    def header_of(*fields: str) -> str:
        return "; ".join(" + ".join(mapping.fields.get(f, (f,))) for f in fields)

    flags: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore"):
        zero = registered == 0
        mark("registered", zero, "zero_registered")
        findings += _row_findings(
            "zero_registered",
            zero,
            lines,
            station_id,
            header_of("registered"),
            registered,
            ("registered",),
        )
        most = np.fmax(issued, cast)
        over = (most > registered) & ~zero
        flags["turnout_over_100"] = over
        flags["checked_turnout_over_100"] = np.isfinite(most) & (registered > 0)
        mark("registered", over, "turnout_over_100")
        findings += _row_findings(
            "turnout_over_100",
            over,
            lines,
            station_id,
            header_of("registered"),
            lambda i: f"registered {_i(registered[i])}, ballots {_i(most[i])}",
            ("registered",),
        )
        below = cast > issued
        flags["issued_below_cast"] = below
        flags["checked_issued_below_cast"] = np.isfinite(cast) & np.isfinite(issued)
        findings += _row_findings(
            "issued_below_cast",
            below,
            lines,
            station_id,
            header_of("ballots_issued"),
            lambda i: f"issued {_i(issued[i])}, cast {_i(cast[i])}",
            ("ballots_issued", "ballots_cast"),
        )
        if mapping.fields.get("valid") and mapping.fields.get("invalid"):
            gap = (valid + invalid != cast) & np.isfinite(valid + invalid + cast)
            if mapping.fields.get("ballots_cast"):
                flags["valid_invalid_mismatch"] = gap
                flags["checked_valid_invalid_mismatch"] = np.isfinite(valid + invalid + cast)
                findings += _row_findings(
                    "valid_invalid_mismatch",
                    gap,
                    lines,
                    station_id,
                    header_of("valid", "invalid"),
                    lambda i: f"{_i(valid[i])} + {_i(invalid[i])} != {_i(cast[i])}",
                    ("valid", "invalid", "ballots_cast"),
                )
        if mapping.fields.get("valid") and cand_headers:
            mismatch = (vote_sum != valid) & np.isfinite(vote_sum) & np.isfinite(valid)
            flags["candidate_sum_mismatch"] = mismatch
            flags["checked_candidate_sum_mismatch"] = np.isfinite(vote_sum) & np.isfinite(valid)
            findings += _row_findings(
                "candidate_sum_mismatch",
                mismatch,
                lines,
                station_id,
                header_of("valid"),
                lambda i: f"sum {_i(vote_sum[i])} != valid {_i(valid[i])}",
                ("valid", "votes"),
            )

    has_id = bool(mapping.fields.get("station_id"))
    empty_id = (
        pd.Series(station_id).astype(str).str.strip().str.casefold().isin(MISSING_TOKENS).to_numpy()
        if has_id
        else np.zeros(n, dtype=bool)
    )
    if has_id:
        _duplicates(ids, counts, votes, empty_id, mark, bad, flags, findings, lines, header_of)

    aggregate, why = _aggregate_rows(ids, counts["registered"], empty_id, has_id)
    if aggregate.any():
        findings += _row_findings(
            "aggregate_row",
            aggregate,
            lines,
            station_id,
            header_of("station_id") if has_id else header_of("registered"),
            why,
            (),
        )
        notes.append(
            f"{int(aggregate.sum())} aggregate rows (electronic or remote voting, totals, "
            "no station number, or far larger than any station): counted in the totals, "
            "kept out of the station-level tests"
        )

    extras: dict[str, np.ndarray] = {}
    if mapping.fields.get("turnout"):
        header = mapping.fields["turnout"][0]
        share = parse_percent(frame[header])
        extras["turnout"] = share.values
        extras["turnout_resolution"] = np.full(n, share.resolution)
        notes.append(f"turnout <- {header}: {share.note}")
        findings += _row_findings(
            "bad_turnout_value",
            share.bad,
            lines,
            station_id,
            header,
            frame[header].to_numpy(dtype=object),
            ("turnout",),
        )

    return StationTable(
        path=raw.path,
        ids=ids,
        counts=pd.DataFrame(counts),
        votes=votes,
        candidates=tuple(mapping.candidates.keys()),
        mapping=replace(mapping, notes=tuple(notes)),
        findings=_with_places(findings, ids),
        bad=pd.DataFrame(bad),
        exclusion_codes={k: pd.Series(v) for k, v in codes.items()},
        flags=pd.DataFrame(flags, index=range(n)),
        aggregate=aggregate,
        extras=extras,
        source={
            "encoding": raw.encoding,
            "delimiter": raw.delimiter,
            "compression": raw.compression,
            "notes": list(raw.notes),
            "rows": int(n),
        },
    )


def _not_on_the_ballot(
    votes: np.ndarray, districts: pd.Series, headers: list[str], parsed: dict
) -> list[str]:
    """Single-mandate files: a candidate blank in every row of a district does not stand
    there; those cells are 0 votes, not missing (a blank elsewhere stays missing)."""
    codes, _ = pd.factorize(districts)
    if codes.max() < 1:
        return []
    notes = []
    for j, header in enumerate(headers):
        missing = parsed[header].missing
        if not missing.any():
            continue
        blank_rows = np.bincount(codes, weights=missing.astype(float), minlength=codes.max() + 1)
        sizes = np.bincount(codes, minlength=codes.max() + 1)
        absent = (blank_rows == sizes)[codes] & missing
        if absent.any() and not absent.all():
            votes[absent, j] = 0.0
            notes.append(
                f"{header}: blank in every row of {int((blank_rows == sizes).sum())} "
                "districts, where the candidate does not stand: 0 votes there"
            )
    return notes


def _duplicates(ids, counts, votes, empty_id, mark, bad, flags, findings, lines, header_of):
    """Stations listed twice: identical copies are dropped, conflicting ones excluded.

    Rows without a station number are never duplicates of each other (electronic or
    aggregate rows often have none)."""
    n = len(ids)
    station_id = ids["station_id"].to_numpy()
    # one integer per (region, district, station number): factorised codes combined in
    # two steps (each below n, so the products stay far inside int64); string keys
    # cost 0.2 s on Russia 2011
    codes = [pd.factorize(ids[c])[0].astype(np.int64) for c in ("region", "district", "station_id")]
    pair = pd.factorize(codes[0] * (codes[1].max() + 1) + codes[1])[0].astype(np.int64)
    key = pd.Series(pair * (codes[2].max() + 1) + codes[2])
    key = key.where(~np.asarray(empty_id), -1 - pd.Series(np.arange(n)))  # never duplicates
    dup_any = key.duplicated(keep=False).to_numpy()
    if not dup_any.any():
        return
    numbers = pd.DataFrame(np.column_stack([np.column_stack(list(counts.values())), votes]))
    numbers = numbers.fillna(-1.0)
    numbers.insert(0, "key", key.to_numpy())
    same = numbers.duplicated(keep="first").to_numpy()  # identical copy of an earlier row
    conflicting_keys = set(key[dup_any & ~numbers.duplicated(keep=False).to_numpy()])
    conflict = key.isin(conflicting_keys).to_numpy()
    identical = same & ~conflict
    flags["duplicate_station"] = conflict
    flags["checked_duplicate_station"] = np.ones(n, dtype=bool)
    for field_name in bad:
        mark(field_name, conflict, "duplicate_station")
        mark(field_name, identical, "duplicate_identical")
    for code, mask in (("duplicate_station", conflict), ("duplicate_identical", identical)):
        findings += _row_findings(
            code, mask, lines, station_id, header_of("station_id"), station_id, ()
        )


def _aggregate_rows(
    ids: pd.DataFrame, registered: np.ndarray, empty_id: np.ndarray, has_id: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rows that are not one polling station, and why.

    * no station number in a file that numbers its stations (electronic voting rows
      of Russia 2021);
    * a station id, district or region that says electronic, remote or total;
    * registered voters above ``AGGREGATE_FACTOR`` times the 99th percentile of the
      file's stations (Moscow's electronic pseudo-stations 5001-5015 in 2021 hold
      104,716-171,979 voters; the largest real station of Russia 2011 holds 22,671,
      the 99th percentile is about 2,900). Needs 100 stations to judge size.
    """
    n = len(ids)
    why = np.full(n, "", dtype=object)
    aggregate = np.zeros(n, dtype=bool)
    if has_id:
        none = empty_id & (np.fmax(registered, 0) > 0)
        why[none] = "no station number"
        aggregate |= none
    words = np.zeros(n, dtype=bool)
    for column in ("station_id", "district", "region"):
        values = ids[column]
        distinct = pd.Series(values.unique())
        marked = distinct[distinct.str.contains(_AGGREGATE_WORDS, na=False)]
        if len(marked):
            words |= values.isin(marked).to_numpy()
    words &= ~aggregate
    why[words] = "electronic, remote or total (by its name)"
    aggregate |= words
    finite = np.isfinite(registered) & ~aggregate
    if finite.sum() >= 100:
        limit = AGGREGATE_FACTOR * float(np.quantile(registered[finite], 0.99))
        with np.errstate(invalid="ignore"):
            giant = finite & (registered > limit)
        for row in np.flatnonzero(giant):
            why[row] = (
                f"registered {int(registered[row]):,} > {limit:,.0f} "
                f"({AGGREGATE_FACTOR}x the 99th percentile)"
            )
        aggregate |= giant
    return aggregate, why


#: The message of each cell code (the explanation in CHECKS is for the summary).
CELL_MESSAGES = {
    "not_a_number": "not a number",
    "negative_count": "a count cannot be negative",
    "not_an_integer": "a count must be a whole number",
    "count_too_large": "count too large to be real (over 1,000,000,000)",
}


def _cell_findings(
    parsed: ParsedColumn,
    header: str,
    cells: pd.Series,
    lines: np.ndarray,
    fields: tuple[str, ...],
    ids: np.ndarray,
) -> list[Finding]:
    out: list[Finding] = []
    for code, message in CELL_MESSAGES.items():
        out += _row_findings(
            code,
            parsed.codes == code,
            lines,
            ids,
            header,
            lambda row: short(cells.iat[row]),
            fields,
            message=message,
        )
    return out


def _with_places(findings: list[Finding], ids: pd.DataFrame) -> tuple[Finding, ...]:
    """Each finding with its station's region and district, looked up by file line."""
    row_of = {int(line): row for row, line in enumerate(ids["line"].to_numpy())}
    region = ids["region"].to_numpy()
    district = ids["district"].to_numpy()
    out = []
    for finding in findings:
        row = row_of.get(finding.line) if finding.line is not None else None
        if row is not None:
            finding = replace(finding, region=str(region[row]), district=str(district[row]))
        out.append(finding)
    return tuple(out)


def _i(value: float) -> str:
    return "missing" if not np.isfinite(value) else str(int(value))


def _row_findings(
    code: str,
    mask: np.ndarray,
    lines: np.ndarray,
    station_id: np.ndarray,
    column: str,
    values,
    fields: tuple[str, ...],
    *,
    message: str | None = None,
) -> list[Finding]:
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return []
    severity, _, explanation = CHECKS[code]
    message = message or explanation
    out = []
    for row in rows[:FINDING_CAP]:
        if values is None:
            value = ""
        elif callable(values):
            value = values(row)
        elif isinstance(values, np.ndarray) and values.dtype.kind == "f":
            value = _i(values[row])
        else:
            value = str(values[row])
        out.append(
            Finding(
                code=code,
                severity=severity,
                message=message,
                line=int(lines[row]),
                column=column,
                value=value,
                station_id=str(station_id[row]),
                fields=fields,
            )
        )
    if len(rows) > FINDING_CAP:
        out.append(
            Finding(
                code=code,
                severity=severity,
                message=f"{len(rows) - FINDING_CAP} more of the same not listed",
                column=column,
                fields=fields,
            )
        )
    return out


def summarise_findings(findings: tuple[Finding, ...] | list[Finding]) -> dict[str, dict]:
    """Count findings by code, with severity and explanation."""
    out: dict[str, dict] = {}
    for finding in findings:
        entry = out.setdefault(
            finding.code,
            {
                "severity": finding.severity,
                "count": 0,
                "explanation": CHECKS.get(finding.code, ("", (), finding.message))[2],
            },
        )
        if "more of the same" in finding.message:
            entry["count"] += int(finding.message.split()[0])
        else:
            entry["count"] += 1
    return dict(sorted(out.items()))
