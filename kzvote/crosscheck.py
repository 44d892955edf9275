"""`kzvote crosscheck`: concurrent contests at the same stations against each other.

Builds the report: the join, per-station values per contest, the flags, and the
tests (``crosscheck_issued``, ``crosscheck_registered``, ``crosscheck_balance``) for
every pair of contests, adjusted with the same machinery and JSON layout as
``analyze`` and ``compare``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from kzvote.methods.crosscheck import (
    Contest,
    PairValues,
    crosscheck_results,
    join_contests,
    pair_values,
)
from kzvote.model import CommandReport, KzvoteError, StationTable
from kzvote.reading import summarise_findings
from kzvote.suite import Params, finalise

#: Default tolerance: more than max(3 ballots, 1% of registered) is a disagreement.
DEFAULT_TOLERANCE = 3.0
DEFAULT_TOLERANCE_SHARE = 0.01


def crosscheck(
    tables: list[StationTable],
    labels: list[str],
    params: Params,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    tolerance_share: float = DEFAULT_TOLERANCE_SHARE,
) -> dict[str, Any]:
    """The crosscheck report (a JSON-ready dict)."""
    params.validate()
    if len(tables) < 2:
        raise KzvoteError("bad_option", "crosscheck needs at least two contest files")
    if not np.isfinite(tolerance) or tolerance < 0:
        raise KzvoteError("bad_option", f"--tolerance must be a number >= 0, not {tolerance}")
    if not np.isfinite(tolerance_share) or not 0 <= tolerance_share < 1:
        raise KzvoteError(
            "bad_option", f"--tolerance-share must be between 0 and 1, not {tolerance_share}"
        )
    contests = [Contest(label, table) for label, table in zip(labels, tables, strict=True)]
    joined = join_contests(contests)
    if len(joined.keys) == 0:
        raise KzvoteError(
            "no_common_stations",
            "no station appears in two of the contest files",
            file=tables[1].path,
            hint="check that the files number their stations the same way (kzvote columns "
            "FILE), or name the id column with --key; examples: "
            + "; ".join(
                f"{c.label}: " + ", ".join(map(repr, c.table.ids["station_id"].head(3)))
                for c in contests
            ),
        )
    pairs = [
        pair_values(joined, i, j, tolerance=tolerance, tolerance_share=tolerance_share)
        for i, j in itertools.combinations(range(len(contests)), 2)
    ]
    results = []
    for pair in pairs:
        results += crosscheck_results(joined, pair, "national")
        if params.by_region:
            results += _regional(joined, pair)
    results = finalise(results, params.alpha, params.adjust)
    flagged_any = np.zeros(len(joined.keys), dtype=bool)
    for pair in pairs:
        flagged_any[pair.index[pair.flagged]] = True
    messages = list(joined.notes)
    for label, ids in joined.unmatched.items():
        if ids:
            messages.append(
                f"{len(ids)} stations of {label!r} are in no other contest (listed under unmatched)"
            )
    for pair in pairs:
        if pair.basis == "ballots_cast":
            messages.append(
                f"{pair.a} vs {pair.b}: compared on ballots cast (a file has no ballots "
                "issued line)"
            )
    return CommandReport(
        command="crosscheck",
        input={
            "contests": [_input(c) for c in contests],
            "join_key": joined.key_kind,
        },
        parameters={
            **params.to_dict(),
            "tolerance_ballots": tolerance,
            "tolerance_share_of_registered": tolerance_share,
        },
        summary={
            "contests": [c.label for c in contests],
            "matched": len(joined.keys),
            "flagged": int(flagged_any.sum()),
            "share_flagged": float(flagged_any.mean()) if len(flagged_any) else None,
            "pairs": [_pair_summary(p) for p in pairs],
            "messages": messages,
        },
        results=tuple(results),
        sections={
            "integrity_summary": {c.label: summarise_findings(c.table.findings) for c in contests},
            "stations": _station_records(joined, pairs, flagged_any),
            "unmatched": {
                "only_in": joined.unmatched,
                "duplicates": joined.duplicates,
            },
        },
    )


def _regional(joined, pair: PairValues) -> list:
    first = [c.label for c in joined.contests].index(pair.a)
    table = joined.contests[first].table
    regions = table.ids["region"].to_numpy()[joined.rows[pair.index, first]]
    out = []
    for name in sorted(set(regions) - {""}):
        out += crosscheck_results(joined, pair, f"region={name}", regions == name)
    return out


def _input(contest: Contest) -> dict[str, Any]:
    table = contest.table
    return {
        "label": contest.label,
        "path": table.path,
        "stations": table.n_stations,
        "encoding": table.source.get("encoding"),
        "mapping": table.mapping.to_dict(),
        "candidates": list(table.candidates),
    }


def _pair_summary(pair: PairValues) -> dict[str, Any]:
    diff = pair.difference
    flagged = pair.flagged
    a, b = pair.values[pair.basis]
    return {
        "a": pair.a,
        "b": pair.b,
        "basis": pair.basis,
        "stations": int(len(pair.index)),
        "flagged": int(flagged.sum()),
        "registered_differ": int(pair.registered_flagged.sum()),
        "ballots": {pair.a: float(np.nansum(a)), pair.b: float(np.nansum(b))},
        "extra_ballots_where_flagged": {
            pair.a: float(np.nansum(np.clip(diff, 0, None)[flagged])),
            pair.b: float(np.nansum(np.clip(-diff, 0, None)[flagged])),
        },
    }


def _value(x: float) -> int | float | None:
    if not np.isfinite(x):
        return None
    return int(x) if float(x).is_integer() else float(x)


def _station_records(joined, pairs: list[PairValues], flagged_any: np.ndarray) -> list[dict]:
    """One record per joined station: ids, flags and every contest's numbers."""
    labels = [c.label for c in joined.contests]
    severity = np.zeros(len(joined.keys))
    reasons: list[list[str]] = [[] for _ in joined.keys]
    differences: list[dict[str, Any]] = [{} for _ in joined.keys]
    for pair in pairs:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.nan_to_num(np.abs(pair.difference) / np.maximum(pair.tolerance, 1))
        np.maximum.at(severity, pair.index, ratio)
        name = f"{pair.a} - {pair.b}"
        for k, row in enumerate(pair.index):
            differences[row][name] = _value(pair.difference[k])
            if pair.flagged[k]:
                reasons[row].append(f"{pair.basis}: {name}")
            if pair.registered_flagged[k]:
                reasons[row].append(f"registered: {name}")
    order = np.lexsort((np.arange(len(joined.keys)), -severity, ~flagged_any))
    records = []
    for i in order:
        first = next(j for j in range(len(labels)) if joined.rows[i, j] >= 0)
        ids = joined.contests[first].table.ids
        row = joined.rows[i, first]
        values = {}
        for j, contest in enumerate(joined.contests):
            r = joined.rows[i, j]
            if r < 0:
                values[contest.label] = None
                continue
            table = contest.table
            reg = table.column("registered")[r]
            issued = table.column("ballots_issued")[r]
            cast = table.column("ballots_cast")[r]
            basis = issued if np.isfinite(issued) else cast
            values[contest.label] = {
                "line": int(table.ids["line"].iat[r]),
                "registered": _value(reg),
                "ballots_issued": _value(issued),
                "ballots_cast": _value(cast),
                "turnout": float(basis / reg) if np.isfinite(basis) and reg > 0 else None,
            }
        records.append(
            {
                "station_id": str(ids["station_id"].iat[row]),
                "region": str(ids["region"].iat[row]),
                "district": str(ids["district"].iat[row]),
                "flagged": bool(flagged_any[i]),
                "reasons": reasons[i],
                "severity": float(severity[i]),
                "values": values,
                "difference": differences[i],
            }
        )
    return records
