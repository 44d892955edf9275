"""`kzvote compare`: put an observers' file against the official one.

Builds the comparison report: join, per-station differences and flags, the tests
(`observer_turnout`, `observer_votes`, `observed_vs_unobserved`), adjusted with the
same machinery and JSON layout as ``analyze``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from kzvote.methods.observers import (
    Matched,
    compare_values,
    match_stations,
    observed_vs_unobserved,
    observer_turnout,
    observer_votes,
)
from kzvote.model import CommandReport, KzvoteError, StationTable
from kzvote.reading import summarise_findings
from kzvote.suite import Params, _rng, finalise

MODES = ("exact", "lower-bound")


def _subset(matched: Matched, keep_official: np.ndarray) -> Matched:
    rows = keep_official[matched.official_rows]
    return replace(
        matched,
        official_rows=matched.official_rows[rows],
        observed_rows=matched.observed_rows[rows],
    )


def compare(
    official: StationTable,
    observed: StationTable,
    params: Params,
    *,
    mode: str = "exact",
    tolerance_ballots: float | None = None,
    tolerance_share: float = 0.01,
) -> dict[str, Any]:
    """The comparison report (a JSON-ready dict)."""
    if mode not in MODES:
        raise KzvoteError(
            "bad_option", f"--observer-counts must be exact or lower-bound, not {mode!r}"
        )
    params.validate()
    if tolerance_ballots is not None and not (
        np.isfinite(tolerance_ballots) and tolerance_ballots >= 0
    ):
        raise KzvoteError(
            "bad_option", f"--tolerance must be a number >= 0, not {tolerance_ballots}"
        )
    if not (np.isfinite(tolerance_share) and 0 <= tolerance_share < 1):
        raise KzvoteError(
            "bad_option", f"--tolerance-share must be in [0, 1), not {tolerance_share}"
        )
    if tolerance_ballots is None:
        tolerance_ballots = 2.0 if mode == "exact" else 0.0
    matched = match_stations(official, observed)
    if len(matched.official_rows) == 0:
        raise KzvoteError(
            "no_common_stations",
            "no station of the observers' file was found in the official file",
            file=observed.path,
            hint="check that both files use the same station ids (kzvote columns FILE), "
            "or name the id column with --key; examples of ids: official "
            + ", ".join(map(repr, official.ids["station_id"].head(3)))
            + "; observers "
            + ", ".join(map(repr, observed.ids["station_id"].head(3))),
        )
    comp = compare_values(
        matched, mode=mode, tolerance_ballots=tolerance_ballots, tolerance_share=tolerance_share
    )
    if not comp.fields:
        raise _nothing_to_compare(official, observed)
    leader = official.leader(params.leader)
    observed_mask = np.zeros(official.n_stations, dtype=bool)
    observed_mask[matched.official_rows] = True

    scopes = [("national", np.ones(official.n_stations, dtype=bool))]
    if params.by_region:
        for name, idx in official.ids.groupby("region", sort=True).indices.items():
            if str(name) and observed_mask[idx].any():
                mask = np.zeros(official.n_stations, dtype=bool)
                mask[idx] = True
                scopes.append((f"region={name}", mask))
    results = []
    for scope, mask in scopes:
        sub = _subset(matched, mask) if scope != "national" else matched
        sub_comp = (
            comp
            if scope == "national"
            else compare_values(
                sub, mode=mode, tolerance_ballots=tolerance_ballots, tolerance_share=tolerance_share
            )
        )
        unobserved = mask & ~observed_mask
        cast = official.column("ballots_cast")
        reg = official.column("registered")
        good = np.isfinite(cast) & np.isfinite(reg)
        context = {
            "official_ballots": float(cast[unobserved & good].sum()),
            "registered": float(reg[unobserved & good].sum()),
            "observed_registered": float(np.nansum(sub_comp.registered)),
        }
        results.append(
            observer_turnout(
                sub,
                sub_comp,
                mode=mode,
                scope=scope,
                rng=_rng(params.seed, "observer_turnout", scope),
                unobserved=context if unobserved.any() else None,
            )
        )
        results.extend(
            observer_votes(
                sub,
                sub_comp,
                mode=mode,
                scope=scope,
                rng=_rng(params.seed, "observer_votes", scope),
            )
        )
        if unobserved.any():
            sub_official = official.subset(mask)
            results.extend(
                observed_vs_unobserved(
                    sub_official,
                    observed_mask[mask],
                    leader,
                    scope=scope,
                    rng=_rng(params.seed, "observed_vs_unobserved", scope),
                )
            )
    results = finalise(results, params.alpha, params.adjust)
    stations = _station_records(matched, comp)
    messages = list(matched.notes)
    if comp.candidates_observed_only:
        messages.append(
            "the observers' file has columns the official file lacks (not compared): "
            + ", ".join(comp.candidates_observed_only)
        )
    if "turnout" in observed.extras and not observed.mapping.fields.get("ballots_cast"):
        messages.append(
            "the observers give turnout as a percentage: their voters are turnout x the "
            "official registered voters, allowed half the step the percentage is written in"
        )
    if comp.conflicts.get("registered"):
        messages.append(
            f"registered voters differ between the files at {comp.conflicts['registered']} "
            "stations (flagged; turnout uses the official figure)"
        )
    if matched.observed_only:
        messages.append(
            f"{len(matched.observed_only)} stations of the observers' file are not in the "
            "official file (listed under unmatched.observed_only)"
        )
    return CommandReport(
        command="compare",
        input={
            "official": _input(official),
            "observed": _input(observed),
            "leader": leader,
            "join_key": matched.key,
        },
        parameters={
            **params.to_dict(),
            "observer_counts": mode,
            "tolerance_ballots": tolerance_ballots,
            "tolerance_share_of_registered": tolerance_share,
        },
        summary={
            "official_stations": official.n_stations,
            "observed_stations": observed.n_stations,
            "matched": int(len(matched.official_rows)),
            "flagged": int(comp.flagged.sum()),
            "compared_fields": comp.fields,
            "cluster_kind": comp.cluster_kind,
            "messages": messages,
        },
        results=tuple(results),
        sections={
            "integrity_summary": {
                "official": summarise_findings(official.findings),
                "observed": summarise_findings(observed.findings),
            },
            "integrity": {
                "official": [f.to_dict() for f in official.findings],
                "observed": [f.to_dict() for f in observed.findings],
            },
            "stations": stations,
            "unmatched": {
                "official_only": matched.official_only,
                "observed_only": matched.observed_only,
                "duplicates": matched.duplicates,
            },
        },
    )


def _nothing_to_compare(official: StationTable, observed: StationTable) -> KzvoteError:
    """No count of the observers' file lines up with the official file: say which to map."""
    mapping = observed.mapping
    official_names = {c.casefold() for c in official.candidates}
    unmatched = [h for c, h in mapping.candidates.items() if c.casefold() not in official_names]
    headers = unmatched + [h for h in mapping.ignored]
    why = {h: "read as a candidate the official file does not have" for h in unmatched}
    why.update(mapping.ignored_reasons)
    reasons = "; ".join(f"{h!r}: {why.get(h, 'not read')}" for h in headers[:10])
    example = headers[0] if headers else "HEADER"
    target = next((f for f in ("ballots_cast", "registered") if official.has(f)), "ballots_cast")
    return KzvoteError(
        "nothing_to_compare",
        "no count in the observers' file matches a field or candidate of the official file, "
        "so there is nothing to compare (this would have read '0 flagged')",
        file=observed.path,
        hint=f'name the observers\' columns, e.g. --observed-map {target}="{example}" '
        "(or --observed-map turnout=COLUMN for a percentage; candidates by the official "
        "names: "
        + ", ".join(official.candidates[:4])
        + "). Columns not read: "
        + (reasons or "none"),
    )


def _input(table: StationTable) -> dict[str, Any]:
    return {
        "path": table.path,
        "stations": table.n_stations,
        "encoding": table.source.get("encoding"),
        "mapping": table.mapping.to_dict(),
        "candidates": list(table.candidates),
    }


def _station_records(matched: Matched, comp) -> list[dict[str, Any]]:
    ids = matched.official.ids
    rows = matched.official_rows
    severity = np.zeros(len(rows))
    for name in comp.fields:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.abs(comp.official[name] - comp.observed[name]) / np.maximum(
                comp.tolerance, 1
            )
        severity = np.fmax(severity, np.nan_to_num(ratio))
    order = np.lexsort((np.arange(len(rows)), -severity, ~comp.flagged))
    records = []
    for k in order:

        def value(x):
            return None if not np.isfinite(x) else int(x)

        official = {f: value(comp.official[f][k]) for f in comp.fields}
        observed = {f: value(comp.observed[f][k]) for f in comp.fields}
        difference = {
            f: (None if official[f] is None or observed[f] is None else official[f] - observed[f])
            for f in comp.fields
        }
        records.append(
            {
                "station_id": str(ids["station_id"].iat[rows[k]]),
                "region": str(ids["region"].iat[rows[k]]),
                "line": int(ids["line"].iat[rows[k]]),
                "flagged": bool(comp.flagged[k]),
                "flagged_fields": comp.flag_reasons[k],
                "severity": float(severity[k]),
                "registered": value(comp.registered[k]),
                "official": official,
                "observed": observed,
                "difference": difference,
            }
        )
    return records
