"""Data objects shared by every layer: stations, findings, results, reports.

Nothing here prints, imports rich/typer/matplotlib, or exits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: The canonical count fields of a polling station, in protocol order.
COUNT_FIELDS = ("registered", "ballots_issued", "ballots_cast", "valid", "invalid")
#: The canonical text fields that identify a station.
ID_FIELDS = ("station_id", "region", "district")
VERDICTS = ("consistent", "anomaly", "inconclusive")


class KzvoteError(Exception):
    """A problem with the user's input or options, explained for a person.

    Parameters
    ----------
    code
        Stable machine-readable code (listed in the README's troubleshooting table).
    message
        What is wrong, in one sentence.
    file, line, column, value
        Where it is, when it applies. ``line`` is 1-based with the header as line 1.
    hint
        How to fix it.
    problems
        Further findings of the same kind (all of them go to JSON; the CLI shows 20).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
        value: str | None = None,
        hint: str | None = None,
        problems: list[Finding] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.value = value
        self.hint = hint
        self.problems = problems or []

    def __reduce__(self):
        # worker processes send errors back pickled: keep every field (the default
        # reduce passes only the message and fails on the keyword-only arguments)
        return (
            _rebuild_error,
            (
                self.code,
                self.message,
                self.file,
                self.line,
                self.column,
                self.value,
                self.hint,
                self.problems,
            ),
        )

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "value": self.value,
            "hint": self.hint,
            "problems": [p.to_dict() for p in self.problems],
        }


def _rebuild_error(code, message, file, line, column, value, hint, problems) -> KzvoteError:
    return KzvoteError(
        code,
        message,
        file=file,
        line=line,
        column=column,
        value=value,
        hint=hint,
        problems=problems,
    )


@dataclass(frozen=True)
class Finding:
    """One integrity problem in the input (a row, a column, a value)."""

    code: str
    severity: str  # "error" (row excluded from tests that need the field) or "warning"
    message: str
    line: int | None = None
    column: str | None = None
    value: str | None = None
    station_id: str | None = None
    fields: tuple[str, ...] = ()
    #: the station's region and district (station numbers repeat across regions)
    region: str | None = None
    district: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "value": self.value,
            "station_id": self.station_id,
            "region": self.region,
            "district": self.district,
            "fields": list(self.fields),
        }


@dataclass(frozen=True)
class Mapping:
    """How the input's headers map onto canonical fields.

    ``fields`` maps a canonical field to the headers whose values are summed (counts)
    or joined (identifiers). ``candidates`` maps a candidate name to its header.
    ``notes`` records every guess so that ``kzvote columns`` can show it.
    """

    fields: dict[str, tuple[str, ...]]
    candidates: dict[str, str]
    ignored: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    long_format: bool = False
    #: why each ignored column is not a field or a candidate
    ignored_reasons: dict[str, str] = field(default_factory=dict)
    #: the plausibility check's objections, kept when the user passed --force
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": {k: list(v) for k, v in self.fields.items()},
            "candidates": dict(self.candidates),
            "ignored": list(self.ignored),
            "ignored_reasons": dict(self.ignored_reasons),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "long_format": self.long_format,
        }


@dataclass(frozen=True)
class StationTable:
    """Polling-station results in canonical form.

    Counts are float64 arrays with NaN where a value is missing or unusable, so that
    every computation is vectorised; counts up to 2**53 are exact.

    Attributes
    ----------
    ids
        DataFrame with string columns ``station_id``, ``region``, ``district`` and the
        integer column ``line`` (the file line of the station's row, header = 1).
    counts
        DataFrame of the canonical count fields (missing fields are all-NaN columns).
    votes
        Array (stations x candidates) of candidate counts.
    candidates
        Candidate names, in the column order of ``votes``.
    bad
        Boolean DataFrame (stations x fields, plus ``votes``) marking values that an
        integrity finding made unusable; tests that need a field skip those stations.
    flags
        Boolean DataFrame (stations x identity checks): which protocol identity each
        station fails, with NaN-free ``checked_<code>`` columns saying where the check
        could be made.
    aggregate
        Boolean array: rows that are not one polling station (electronic voting, a
        total row). They count in the totals; ``usable`` leaves them out of the tests.
    extras
        Reported values that are not counts, by name (``turnout`` as a fraction).
    """

    path: str
    ids: pd.DataFrame
    counts: pd.DataFrame
    votes: np.ndarray
    candidates: tuple[str, ...]
    mapping: Mapping
    findings: tuple[Finding, ...] = ()
    bad: pd.DataFrame | None = None
    exclusion_codes: dict[str, pd.Series] = field(default_factory=dict)
    flags: pd.DataFrame | None = None
    source: dict[str, Any] = field(default_factory=dict)
    aggregate: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_stations(self) -> int:
        return len(self.ids)

    def column(self, name: str) -> np.ndarray:
        return self.counts[name].to_numpy(dtype=float)

    def has(self, name: str) -> bool:
        return bool(np.isfinite(self.column(name)).any())

    def candidate_votes(self, name: str) -> np.ndarray:
        return self.votes[:, self.candidates.index(name)]

    def leader(self, requested: str | None = None) -> str:
        """The candidate with most votes in the file, or the one the user named."""
        if requested is not None:
            matches = [c for c in self.candidates if c.casefold() == requested.casefold()]
            if not matches:
                matches = [c for c in self.candidates if requested.casefold() in c.casefold()]
            if len(matches) != 1:
                raise KzvoteError(
                    "unknown_leader",
                    f"--leader {requested!r} matches {len(matches)} candidates",
                    file=self.path,
                    hint="use one of: " + ", ".join(self.candidates),
                )
            return matches[0]
        totals = np.nansum(self.votes, axis=0)
        return self.candidates[int(np.argmax(totals))]

    def subset(self, mask: np.ndarray) -> StationTable:
        """The stations where ``mask`` is true (findings are kept whole)."""
        mask = np.asarray(mask, dtype=bool)
        return StationTable(
            path=self.path,
            ids=self.ids[mask].reset_index(drop=True),
            counts=self.counts[mask].reset_index(drop=True),
            votes=self.votes[mask],
            candidates=self.candidates,
            mapping=self.mapping,
            findings=self.findings,
            bad=None if self.bad is None else self.bad[mask].reset_index(drop=True),
            exclusion_codes={
                k: v[mask].reset_index(drop=True) for k, v in self.exclusion_codes.items()
            },
            flags=None if self.flags is None else self.flags[mask].reset_index(drop=True),
            source=self.source,
            aggregate=None if self.aggregate is None else self.aggregate[mask],
            extras={k: v[mask] for k, v in self.extras.items()},
        )

    def usable(
        self, needs: tuple[str, ...], *, aggregates: bool = False
    ) -> tuple[np.ndarray, dict[str, int]]:
        """Stations whose ``needs`` fields are present and not marked bad.

        Returns the boolean mask and the count of excluded stations by reason.
        ``needs`` may hold canonical count fields and ``"votes"``. Aggregate rows
        (electronic voting, totals) are left out unless ``aggregates`` is true.
        """
        n = self.n_stations
        ok = np.ones(n, dtype=bool)
        reasons: dict[str, int] = {}
        if not aggregates and self.aggregate is not None and self.aggregate.any():
            ok &= ~self.aggregate
            reasons["aggregate_row"] = int(self.aggregate.sum())
        for name in needs:
            if name == "votes":
                present = np.isfinite(self.votes).all(axis=1)
            else:
                present = np.isfinite(self.column(name))
            missing = ~present & ok
            if missing.any():
                reasons[f"missing_{name}"] = int(missing.sum())
            ok &= present
            if self.bad is not None and name in self.bad:
                flagged = self.bad[name].to_numpy() & ok
                if flagged.any():
                    codes = self.exclusion_codes.get(name)
                    if codes is not None:
                        for code, count in codes[flagged].value_counts().items():
                            reasons[str(code)] = reasons.get(str(code), 0) + int(count)
                    else:
                        reasons[f"bad_{name}"] = int(flagged.sum())
                ok &= ~self.bad[name].to_numpy()
        return ok, dict(sorted(reasons.items()))


#: what each test's ``effect`` measures (written beside it in the JSON as ``effect_unit``)
EFFECT_UNITS = {
    "arithmetic": "share of checked stations failing the identity",
    "integer_percent": "stations beyond the chance expectation (observed - expected)",
    "multiple_of_5_percent": "stations beyond the chance expectation (observed - expected)",
    "fingerprint": "share of stations stuffed (f_incremental + f_extreme)",
    "high_turnout_cluster": "share of stations beyond the expected count at >= 95/95",
    "turnout_share_dependence": "within-region slope of leader share on turnout, minus 1",
    "excess_votes": "share of the leader's votes above the clean line",
    "last_digit": "largest gap between a digit's observed and expected share",
    "last_two_digits": "repeated-pair share minus its expectation",
    "second_digit": "mean second digit minus its expectation",
    "zero_five": "share of counts ending in 0 or 5 minus its expectation",
    "observer_turnout": "official minus observed turnout (fraction of registered)",
    "observer_votes": "official minus observed share of the votes",
    "observed_vs_unobserved": "official turnout where observers were minus elsewhere",
    "crosscheck_issued": "share of joined stations that disagree",
    "crosscheck_registered": "share of checked stations whose registered voters disagree",
    "crosscheck_balance": "net extra ballots of one contest over the other",
}


@dataclass(frozen=True)
class StatResult:
    """The outcome of one forensic test on one subject and scope.

    ``p_adjusted`` and the final ``verdict`` are set by the suite after the whole
    battery has run (multiple-testing adjustment). A method that cannot test sets
    ``verdict="inconclusive"`` and says why in ``warnings``.
    """

    test: str
    subject: str
    scope: str
    n: int
    statistic: float | None
    p_value: float | None
    effect: float | None = None
    verdict: str | None = None
    p_adjusted: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    n_excluded: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    method: str = ""
    #: what ``effect`` measures, when it differs from the test's usual unit
    effect_unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "subject": self.subject,
            "scope": self.scope,
            "n": self.n,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "effect": self.effect,
            "effect_unit": self.effect_unit or EFFECT_UNITS.get(self.test),
            "verdict": self.verdict,
            "details": self.details,
            "warnings": list(self.warnings),
            "n_excluded": self.n_excluded,
            "excluded": self.excluded,
            "method": self.method,
        }


@dataclass(frozen=True)
class Report:
    """Everything ``kzvote analyze`` found for one input file."""

    input: dict[str, Any]
    parameters: dict[str, Any]
    summary: dict[str, Any]
    integrity: tuple[Finding, ...]
    results: tuple[StatResult, ...]
    plots: tuple[str, ...] = ()
    #: the stations behind the findings (kzvote.evidence.StationEvidence), strongest first
    stations: tuple[Any, ...] = ()

    def with_plots(self, plots: list[str]) -> Report:
        from dataclasses import replace

        return replace(self, plots=tuple(plots))

    def anomalies(self) -> list[StatResult]:
        return [r for r in self.results if r.verdict == "anomaly"]


@dataclass(frozen=True)
class CommandReport:
    """What ``compare``, ``crosscheck`` and ``calibrate`` found, in typed parts.

    ``results`` are the command's tests; ``sections`` its own JSON-ready parts
    (stations, unmatched ids, integrity, calibration tables) in their JSON order.
    :func:`kzvote.render.jsonout.serialize` is the one function that turns this (and
    analyze's :class:`Report`) into the JSON layout every renderer reads.
    """

    command: str
    input: dict[str, Any]
    parameters: dict[str, Any]
    summary: dict[str, Any]
    results: tuple[StatResult, ...] = ()
    sections: dict[str, Any] = field(default_factory=dict)
    plots: tuple[str, ...] = ()

    def with_plots(self, plots: list[str]) -> CommandReport:
        from dataclasses import replace

        return replace(self, plots=tuple(plots))
