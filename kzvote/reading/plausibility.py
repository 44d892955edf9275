"""Does the mapping make arithmetic sense? Checked before any test runs.

A column read as a candidate that is really a protocol line (ballots received,
ballots in the stationary box, a station code) turns every result into nonsense
without a single error. The protocol's own identities tell: a party cannot have more
votes than ballots were cast, the parties add up to the valid ballots, turnout does
not exceed 100%. When they fail on most stations, the mapping is wrong, not the
election: loading stops with ``implausible_mapping``, the evidence in numbers and the
exact fix. ``--force`` proceeds and keeps the objection in the report.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from kzvote.model import KzvoteError, Mapping
from kzvote.reading.numbers import ParsedColumn

#: An identity failing on more than this share of stations means a wrong mapping.
MOST = 0.5
#: A removal that restores an identity on at least this share of stations names the culprit.
RESTORES = 0.9
#: Fewer comparable stations than this: too few to judge.
MIN_STATIONS = 5
#: Candidate sets searched for a removal (all pairs of the largest columns).
PAIR_SEARCH_COLUMNS = 24
#: registered equal to the row above at more than this share of stations, and at
#: SHARED_RATIO times what chance gives, is one count copied to several stations. Real
#: files: Russia 2011/2021 0.3% (6-7 times chance: neighbours have similar sizes),
#: Poland 2020 0.1%, the samples below 0.1%; Venezuela 2024's witness actas, whose
#: 'votantes' is the voting centre's electorate on each of its tables, 46% (1,276 times)
SHARED_SHARE = 0.05
SHARED_RATIO = 20.0
#: a column that rises (or falls) over this share of neighbouring rows is sorted: equal
#: neighbours then say nothing
SORTED = 0.9


@dataclass(frozen=True)
class Objection:
    """One reason to doubt the mapping: the columns, the evidence, the fix."""

    columns: tuple[str, ...]
    evidence: str
    fix: str

    def sentence(self) -> str:
        cols = ", ".join(repr(c) for c in self.columns)
        return f"{cols}: {self.evidence}"


def _quote(header: str) -> str:
    return '"' + header.replace('"', '\\"') + '"'


def _ignore_fix(headers: list[str]) -> str:
    return " ".join(f"--ignore {_quote(h)}" for h in headers)


def _share(mask: np.ndarray, of: np.ndarray) -> float:
    total = int(of.sum())
    return float((mask & of).sum() / total) if total else 0.0


def check_mapping(
    mapping: Mapping,
    parsed: dict[str, ParsedColumn],
    *,
    id_shapes: dict[str, str] | None = None,
    given_candidates: bool = False,
    spare: tuple[str, ...] = (),
) -> list[Objection]:
    """Every objection to the mapping, most serious first (empty when it is plausible).

    Parameters
    ----------
    mapping
        The detected or given mapping.
    parsed
        The parsed columns, by header, for every header the mapping uses.
    id_shapes
        Candidate headers whose values look like identifiers, with the evidence.
    given_candidates
        The user named the candidates: objections then point at ``--map candidates``.
    spare
        Numeric columns that are neither fields nor candidates: the ones a fix for a
        wrongly mapped field may name.

    Notes
    -----
    With V the candidates' sum per station, C ballots cast, R registered, I ballots
    issued and T the target of V (valid; else C - invalid; else at most C):

    * a candidate column c with c > C (or > R) at more than half of the stations, or
      c equal to a field's column at 90% of the stations, or unique codes;
    * V != T on most stations, and removing one column (or a pair) makes V = T on 90%
      of them: that column is not a candidate;
    * max(I, C) > R, or valid > C, on most stations: a field is mapped to the wrong
      column.
    """
    objections: list[Objection] = []
    fields = {
        name: _field_values(parsed, headers)
        for name, headers in mapping.fields.items()
        if name not in ("station_id", "region", "district", "turnout")
    }
    text_fields = [
        (name, headers)
        for name, headers in mapping.fields.items()
        if name in fields and any(parsed[h].numeric_share < 0.5 for h in headers)
    ]
    for name, headers in text_fields:
        worst = min(headers, key=lambda h: parsed[h].numeric_share)
        objections.append(
            Objection(
                (worst,),
                f"mapped to {name} but holds text, not counts "
                f"({parsed[worst].numeric_share:.0%} of its cells are numbers)",
                _remap_fix(name, spare),
            )
        )
    headers = list(mapping.candidates.values())
    votes = {h: parsed[h].values for h in headers}
    registered = fields.get("registered")
    ballots_known = any(f in fields for f in ("ballots_issued", "ballots_cast", "valid"))
    if registered is not None and votes and not ballots_known:
        # no ballots line to check registered against: the candidates' sum must fit
        matrix = np.column_stack(list(votes.values()))
        total = matrix.sum(axis=1)
        both = np.isfinite(total) & np.isfinite(registered)
        over = _share(total > registered, both)
        largest = int(np.argmax(np.nansum(matrix, axis=0)))
        one_column = _share(total - matrix[:, largest] <= registered, both) >= RESTORES
        if both.sum() >= MIN_STATIONS and over > MOST and not one_column:
            objections.append(
                Objection(
                    mapping.fields["registered"],
                    f"registered is below the candidates' votes at {over:.0%} of stations: "
                    "registered is mapped to the wrong column",
                    _remap_fix("registered", spare),
                )
            )
            # a wrong registered column says nothing about the candidates
            fields = {k: v for k, v in fields.items() if k != "registered"}
    cap_name, cap = _ceiling(fields)
    map_hint = "--map candidates=" + "+".join(headers[:3]) + ("+..." if len(headers) > 3 else "")

    for header in headers:
        values = votes[header]
        shape = (id_shapes or {}).get(header)
        if shape:
            objections.append(
                Objection((header,), f"looks like an identifier ({shape})", _ignore_fix([header]))
            )
            continue
        if cap is not None:
            both = np.isfinite(values) & np.isfinite(cap) & (cap > 0)
            if both.sum() >= MIN_STATIONS:
                above = _share(values > cap, both)
                if above > MOST:
                    objections.append(
                        Objection(
                            (header,),
                            f"exceeds {cap_name} at {above:.0%} of stations: it cannot be "
                            "a candidate's votes",
                            _fix_for([header], given_candidates, map_hint),
                        )
                    )
                    continue
        for name, column in fields.items():
            both = np.isfinite(values) & np.isfinite(column) & (column > 0)
            if both.sum() < MIN_STATIONS:
                continue
            same = _share(values == column, both)
            if same >= RESTORES:
                objections.append(
                    Objection(
                        (header,),
                        f"equals {name} at {same:.0%} of stations: it is that protocol line "
                        "again, not a candidate",
                        _fix_for([header], given_candidates, map_hint),
                    )
                )
                break
    named = {c for o in objections for c in o.columns}
    objections += _sum_objections(fields, votes, named, given_candidates, map_hint)
    identity = _identity_objections(mapping, fields, spare)
    return identity + objections


def _remap_fix(name: str, spare: tuple[str, ...]) -> str:
    if spare:
        return (
            f'--map {name}="{spare[0]}" (numeric columns not in use: '
            + ", ".join(repr(h) for h in spare[:5])
            + ")"
        )
    return (
        f"--map {name}=HEADER naming the column that holds it; no numeric column is left "
        "unused, so it may be among those read as candidates (kzvote columns FILE)"
    )


def _fix_for(columns: list[str], given_candidates: bool, map_hint: str) -> str:
    if given_candidates:
        return f"leave {', '.join(repr(c) for c in columns)} out of {map_hint}"
    return _ignore_fix(columns)


def _field_values(parsed: dict[str, ParsedColumn], headers: tuple[str, ...]) -> np.ndarray:
    total = np.zeros(len(parsed[headers[0]].values))
    for header in headers:
        total = total + parsed[header].values
    return total


def _ceiling(fields: dict[str, np.ndarray]) -> tuple[str, np.ndarray | None]:
    """What no candidate can exceed: ballots cast, else issued, else valid, else registered."""
    for name in ("ballots_cast", "ballots_issued", "valid", "registered"):
        if name in fields:
            return name, fields[name]
    return "", None


def _sum_objections(
    fields: dict[str, np.ndarray],
    votes: dict[str, np.ndarray],
    named: set[str],
    given_candidates: bool,
    map_hint: str,
) -> list[Objection]:
    """The candidates' sum against valid: which columns break it."""
    if not votes:
        return []
    headers = [h for h in votes if h not in named]
    if not headers:
        return []
    matrix = np.column_stack([votes[h] for h in headers])
    # a blank is a candidate not on that ballot (single-mandate districts): zero votes
    any_vote = np.isfinite(matrix).any(axis=1)
    matrix = np.nan_to_num(matrix, nan=0.0)
    total = np.where(any_vote, matrix.sum(axis=1), np.nan)
    if "valid" in fields:
        target, what, exact = fields["valid"], "valid ballots", True
    elif "ballots_cast" in fields and "invalid" in fields:
        target, what, exact = fields["ballots_cast"] - fields["invalid"], "cast - invalid", True
    elif "ballots_cast" in fields:
        target, what, exact = fields["ballots_cast"], "ballots cast", False
    else:
        return []
    ok = np.isfinite(total) & np.isfinite(target)
    if ok.sum() < MIN_STATIONS:
        return []

    def holds(values: np.ndarray) -> np.ndarray:
        return values == target if exact else values <= target

    failing = 1.0 - _share(holds(total), ok)
    if failing <= MOST:
        return []
    relation = "add up to" if exact else "stay within"
    base = f"the candidates {relation} {what} at only {1 - failing:.0%} of stations"
    # one column, then a pair, whose removal restores the identity
    order = np.argsort(-np.nansum(matrix, axis=0))
    for j in order:
        restored = _share(holds(total - matrix[:, j]), ok)
        if restored >= RESTORES:
            header = headers[j]
            return [
                Objection(
                    (header,),
                    f"{base}; without this column at {restored:.0%}: it is not a candidate",
                    _fix_for([header], given_candidates, map_hint),
                )
            ]
    if exact:
        top = order[:PAIR_SEARCH_COLUMNS]
        for a, b in itertools.combinations(top, 2):
            restored = _share(holds(total - matrix[:, a] - matrix[:, b]), ok)
            if restored >= RESTORES:
                pair = [headers[a], headers[b]]
                return [
                    Objection(
                        tuple(pair),
                        f"{base}; without these two columns at {restored:.0%}: they are "
                        "protocol lines, not candidates",
                        _fix_for(pair, given_candidates, map_hint),
                    )
                ]
    return [
        Objection(
            tuple(headers[:3]),
            f"{base}: a protocol line is read as a candidate, or a candidate is missing",
            "check the candidate columns with kzvote columns FILE; name them with "
            "--map candidates=A+B+C, or leave out extra columns with --ignore",
        )
    ]


def _shared_count(values: np.ndarray) -> tuple[float, float] | None:
    """(share of stations whose count equals the row above, the share chance gives:
    the probability that two stations drawn at random have the same count), or None
    when the file is sorted by the count or has too few stations to judge."""
    x = values[np.isfinite(values) & (values > 0)]
    if len(x) < 50:
        return None
    step = np.diff(x)
    if (step >= 0).mean() > SORTED or (step <= 0).mean() > SORTED:
        return None
    _, counts = np.unique(x, return_counts=True)
    chance = float(((counts / len(x)) ** 2).sum())
    return float((step == 0).mean()), chance


def _identity_objections(
    mapping: Mapping, fields: dict[str, np.ndarray], spare: tuple[str, ...]
) -> list[Objection]:
    out = []
    registered = fields.get("registered")
    shared = None if registered is None else _shared_count(registered)
    if shared is not None and shared[0] > max(SHARED_SHARE, SHARED_RATIO * shared[1]):
        out.append(
            Objection(
                mapping.fields["registered"],
                f"registered equals the row above at {shared[0]:.0%} of stations (by chance "
                f"about {100 * shared[1]:.2g}%): one count shared by several stations, such as a "
                "voting centre's electorate written on each of its tables, so every "
                "turnout would be wrong",
                "map registered to a column counted per station (--map registered=HEADER), "
                "or add the stations up to the level the count belongs to",
            )
        )
    ballots = [fields[f] for f in ("ballots_issued", "ballots_cast") if f in fields]
    if registered is not None and ballots:
        most = ballots[0] if len(ballots) == 1 else np.fmax(ballots[0], ballots[1])
        ok = np.isfinite(most) & np.isfinite(registered)
        if ok.sum() >= MIN_STATIONS:
            over = _share(most > registered, ok)
            if over > MOST:
                out.append(
                    Objection(
                        mapping.fields["registered"],
                        f"registered is below the ballots at {over:.0%} of stations "
                        "(turnout over 100%): registered is mapped to the wrong column",
                        _remap_fix("registered", spare),
                    )
                )
    if "valid" in fields and "ballots_cast" in fields:
        valid, cast = fields["valid"], fields["ballots_cast"]
        ok = np.isfinite(valid) & np.isfinite(cast)
        if ok.sum() >= MIN_STATIONS:
            over = _share(valid > cast, ok)
            if over > MOST:
                out.append(
                    Objection(
                        mapping.fields["valid"] + mapping.fields["ballots_cast"],
                        f"valid exceeds ballots cast at {over:.0%} of stations",
                        _remap_fix("valid", spare),
                    )
                )
    return out


def implausible_error(
    objections: list[Objection], file: str, bundled: list[str] | None = None
) -> KzvoteError:
    """The error that stops loading: every objection, the first one's fix."""
    first = objections[0]
    fix = first.fix
    if bundled:
        fix = "this file has the layout of a bundled mapping: --mapping " + " or --mapping ".join(
            bundled
        )
    more = f" (and {len(objections) - 1} more objections)" if len(objections) > 1 else ""
    return KzvoteError(
        "implausible_mapping",
        "the column mapping does not add up: " + first.sentence() + more,
        file=file,
        column=first.columns[0] if first.columns else None,
        hint=fix + "; see every objection with 'kzvote columns FILE'; --force runs anyway and "
        "records the objection in the report",
    )
