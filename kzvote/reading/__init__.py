"""Read polling-station files as election commissions publish them.

One direction, one concern per module, no callbacks back into the loader::

    source       bytes -> decoded text -> text cells with file lines (CSV/TSV/XLSX)
    longformat   (station, candidate, votes) rows -> one row per station
    vocabulary   the protocol lines' words (en/ru/kk/be/uk/ky) and what they mean
    numbers      count cells -> numbers, with a code for every unusable cell
    mapping      headers -> fields and candidates (user overrides first)
    plausibility does the mapping add up? (before any test runs)
    table        parsed columns -> StationTable and its integrity findings

Every problem becomes a :class:`~kzvote.model.KzvoteError` (the file cannot be read
as it stands) or a :class:`~kzvote.model.Finding` (one row's value is unusable)
naming the line, the column and the value.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from kzvote.model import KzvoteError, Mapping, StationTable
from kzvote.reading.longformat import pivot_long
from kzvote.reading.mapping import (
    ColumnProfile,
    Overrides,
    detect_mapping,
    fitting_bundled_mappings,
    parse_map_options,
    resolve_header,
)
from kzvote.reading.numbers import id_shape, looks_numeric, parse_counts
from kzvote.reading.plausibility import check_mapping, implausible_error
from kzvote.reading.source import (
    DEFAULT_LIMITS,
    Limits,
    RawTable,
    parse_limits,
    read_raw,
    sniff_delimiter,
)
from kzvote.reading.table import build_table, summarise_findings
from kzvote.reading.vocabulary import long_format_columns, normalise_header


def load_stations(
    path: str,
    *,
    overrides: Overrides | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    required: tuple[str, ...] = ("registered",),
    need_candidates: bool = True,
    force: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> StationTable:
    """Read a file into a validated :class:`StationTable`.

    Parameters
    ----------
    force
        Load even when the plausibility check objects to the mapping; the objections
        are kept in ``table.mapping.warnings`` (and so in the report).

    Raises
    ------
    KzvoteError
        When the file cannot be read, a required field cannot be found, or the
        mapping does not add up (``implausible_mapping``). Problems in individual
        cells become findings in ``table.findings`` instead.
    """
    overrides = overrides or Overrides.empty()
    raw = read_raw(path, encoding=encoding, delimiter=delimiter, sheet=sheet, limits=limits)
    if raw.frame.shape[1] < 2:
        raise KzvoteError(
            "one_column",
            f"only one column was found (delimiter {raw.delimiter!r})",
            file=path,
            hint="set the delimiter with --delimiter ';' (or ',' or tab)",
        )
    if raw.frame.empty:
        raise KzvoteError("no_rows", "the file has a header but no data rows", file=path, line=2)
    long_cols = long_format_columns(list(raw.frame.columns))
    if long_cols is not None:
        raw = pivot_long(raw, long_cols, overrides)
    profiles = {c: _profile(raw.frame[c]) for c in raw.frame.columns}
    mapping = detect_mapping(
        list(raw.frame.columns),
        profiles,
        overrides,
        file=path,
        required=required,
        need_candidates=need_candidates,
    )
    if long_cols is not None:
        mapping = replace(mapping, long_format=True)
    table = _finish(raw, mapping, profiles, overrides, force=force)
    return replace(table, source={**table.source, "sha256": file_sha256(path)})


def file_sha256(path: str) -> str | None:
    """The SHA-256 of the file as given (compressed bytes), to name the exact input."""
    import hashlib

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _finish(
    raw: RawTable,
    mapping: Mapping,
    profiles: dict[str, ColumnProfile],
    overrides: Overrides,
    *,
    force: bool,
    integer: dict[str, pd.Series] | None = None,
) -> StationTable:
    mapping = _turnout_counts(mapping, raw, profiles)
    needed = [h for name, headers in mapping.fields.items() if name != "turnout" for h in headers]
    needed += list(mapping.candidates.values())
    _refuse_duplicate_headers(raw, needed)
    integer = integer or {}
    # identifiers are text: only count columns are parsed as numbers
    counted = [
        h
        for name, headers in mapping.fields.items()
        if name not in ("turnout", "station_id", "region", "district")
        for h in headers
    ] + list(mapping.candidates.values())
    parsed = {c: parse_counts(integer.get(c, raw.frame[c])) for c in dict.fromkeys(counted)}
    _refuse_ambiguous_fields(raw, mapping, parsed, integer)
    shapes = {}
    if overrides.candidates is not None:
        shapes = {
            h: profiles[h].id_evidence for h in mapping.candidates.values() if profiles[h].id_shaped
        }
    spare = tuple(
        h
        for h in mapping.ignored
        if profiles.get(h, ColumnProfile(False)).numeric
        and not profiles[h].id_shaped
        and not mapping.ignored_reasons.get(h, "").startswith(("protocol line", "an identifier"))
    )
    objections = check_mapping(
        mapping,
        parsed,
        id_shapes=shapes,
        given_candidates=overrides.candidates is not None,
        spare=spare,
    )
    if objections and not force:
        bundled = [] if overrides.source else fitting_bundled_mappings(list(raw.frame.columns))
        raise implausible_error(objections, raw.path, bundled)
    if objections:
        mapping = replace(
            mapping,
            warnings=tuple(
                "implausible_mapping (run with --force): " + o.sentence() for o in objections
            ),
        )
    return build_table(raw, parsed, mapping)


def _refuse_ambiguous_fields(raw: RawTable, mapping: Mapping, parsed: dict, integer: dict) -> None:
    """Two columns with the same name for one field ('Registered' and 'registered'):
    fine when they agree, an error naming both when their numbers differ."""
    for header, reason in mapping.ignored_reasons.items():
        if not reason.startswith("also names "):
            continue
        name = reason.removeprefix("also names ").split(";")[0]
        chosen = mapping.fields.get(name, ())
        same = [h for h in chosen if normalise_header(h) == normalise_header(header)]
        if not same:
            continue
        other = parse_counts(integer.get(header, raw.frame[header]))
        chosen_column = parsed.get(same[0]) or parse_counts(
            integer.get(same[0], raw.frame[same[0]])
        )
        mine = chosen_column.values
        both = np.isfinite(mine) & np.isfinite(other.values)
        differ = both & (mine != other.values)
        if differ.any():
            row = int(np.flatnonzero(differ)[0])
            raise KzvoteError(
                "ambiguous_field",
                f"two columns are headed {name} ({same[0]!r} and {header!r}) and their "
                f"numbers differ at {int(differ.sum())} stations",
                file=raw.path,
                line=int(raw.lines[row]),
                column=header,
                hint=f'say which one holds {name}: --map {name}="{same[0]}" or '
                f'--map {name}="{header}"',
            )


def _turnout_counts(mapping: Mapping, raw: RawTable, profiles: dict) -> Mapping:
    """A 'turnout' column that holds counts (e.g. Canada's ballots cast) is ballots cast."""
    headers = mapping.fields.get("turnout")
    if not headers or "ballots_cast" in mapping.fields:
        return mapping
    parsed = parse_counts(raw.frame[headers[0]])
    values = parsed.values[np.isfinite(parsed.values)]
    if len(values) and parsed.numeric_share >= 0.99 and values.max() > 100:
        fields = {k: v for k, v in mapping.fields.items() if k != "turnout"}
        fields["ballots_cast"] = headers
        note = (
            f"ballots_cast <- {headers[0]} (headed turnout but holds counts up to "
            f"{int(values.max()):,}, not percentages)"
        )
        return replace(mapping, fields=fields, notes=mapping.notes + (note,))
    return mapping


def _profile(cells: pd.Series) -> ColumnProfile:
    numeric, median = looks_numeric(cells, with_median=True)
    if not numeric:
        return ColumnProfile(numeric=False)
    evidence = id_shape(cells)
    return ColumnProfile(
        numeric=True, id_shaped=bool(evidence), id_evidence=evidence, median=median
    )


def _refuse_duplicate_headers(raw: RawTable, used: list[str]) -> None:
    """Two columns with the same name, one of them used: which one is meant?"""
    base_of = {column: base for base, columns in raw.copies.items() for column in columns}
    for header in used:
        base = base_of.get(header)
        if base is not None:
            copies = raw.copies[base]
            raise KzvoteError(
                "duplicate_header",
                f"{len(copies)} columns are headed {base!r}",
                file=raw.path,
                line=1,
                column=base,
                hint="rename one of them in the file, or say which to use with "
                f"--map (the copies are read as {', '.join(repr(c) for c in copies)})",
            )


def table_from_frame(
    frame: pd.DataFrame, *, name: str = "<simulated>", force: bool = False
) -> StationTable:
    """A :class:`StationTable` from an in-memory frame, through the same detection and
    checks as a file (used for simulations, which need no CSV round trip)."""
    frame = frame.reset_index(drop=True)
    # integer columns (simulations, twins) are parsed as they are, not from their text
    integer = {
        c: frame[c]
        for c in frame.columns
        if frame[c].dtype.kind in "iu" and not frame[c].isna().any()
    }
    # the other columns become text, as a file's would be; integer columns stay numbers
    # (no string round trip: a twin of Russia 2011 spent 0.3 s on it)
    text = pd.DataFrame(
        {
            c: frame[c]
            if c in integer
            else frame[c].astype(object).where(frame[c].notna(), "").astype(str)
            for c in frame.columns
        }
    )
    raw = RawTable(
        path=name,
        frame=text,
        lines=np.arange(2, len(frame) + 2),
        encoding="memory",
        delimiter=None,
        compression=None,
        notes=["in-memory table"],
    )
    profiles = {
        c: ColumnProfile(numeric=True, median=float(frame[c].median()))
        if c in integer
        else _profile(raw.frame[c])
        for c in raw.frame.columns
    }
    mapping = detect_mapping(list(raw.frame.columns), profiles, Overrides.empty(), file=name)
    return _finish(raw, mapping, profiles, Overrides.empty(), force=force, integer=integer)


__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "Overrides",
    "parse_limits",
    "RawTable",
    "load_stations",
    "parse_counts",
    "parse_map_options",
    "read_raw",
    "resolve_header",
    "sniff_delimiter",
    "summarise_findings",
    "table_from_frame",
]
