"""From headers to fields: the user's overrides, detection, and hints that can be right.

``detect_mapping`` maps a file's headers onto the canonical fields and the candidate
columns, and records every guess (and why each other column was left out) so that
``kzvote columns FILE`` can show the user what was assumed.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kzvote.model import KzvoteError, Mapping
from kzvote.reading.vocabulary import (
    ALL_FIELDS,
    EXTRA_FIELDS,
    SUMMED_FIELDS,
    candidate_name,
    is_additional_list,
    is_box_line,
    is_issued_part,
    meaning,
    normalise_header,
)

#: Fields a user may name with --map.
MAPPABLE_FIELDS = ALL_FIELDS + EXTRA_FIELDS


@dataclass(frozen=True)
class Overrides:
    """What the user said about columns (``--map``, ``--ignore``, ``--mapping FILE.toml``)."""

    fields: dict[str, tuple[str, ...]]
    candidates: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    source: str = ""
    detect: bool = True  # False: use only the fields and candidates given

    @staticmethod
    def empty() -> Overrides:
        return Overrides(fields={})


@dataclass(frozen=True)
class ColumnProfile:
    """What a column's values look like (decides candidates and identifiers)."""

    numeric: bool
    id_shaped: bool = False  # unique per row and shaped like a code or a row number
    id_evidence: str = ""
    median: float | None = None  # of the numeric cells (from a sample)


@dataclass
class _Draft:
    fields: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)


def parse_map_options(
    options: list[str] | None,
    mapping_file: str | None,
    ignore_options: list[str] | None = None,
) -> Overrides:
    """Turn ``--map FIELD=H1+H2``, ``--ignore H`` and a TOML mapping file into overrides.

    The TOML file holds a ``[fields]`` table (a header or a list of headers per
    field), and optionally top-level ``candidates`` and ``ignore`` lists. Options given
    on the command line win over the file.
    """
    fields: dict[str, tuple[str, ...]] = {}
    candidates: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    detect = True
    if mapping_file:
        data = _read_mapping_file(mapping_file)
        table = data.get("fields", {})
        if not isinstance(table, dict):
            raise KzvoteError(
                "bad_mapping_file",
                "[fields] must be a table of field = header",
                file=mapping_file,
                hint='write e.g. [fields]\\nregistered = "Header of registered voters"',
            )
        for name, value in table.items():
            fields[_check_field(name, mapping_file)] = _as_headers(value, mapping_file, name)
        if isinstance(data.get("candidates"), dict):
            named = data["candidates"]
            if not all(isinstance(v, str) for v in named.values()):
                raise KzvoteError(
                    "bad_mapping_file",
                    "[candidates] must map names to headers",
                    file=mapping_file,
                )
            candidates = tuple(f"{name}={header}" for name, header in named.items())
        elif "candidates" in data:
            candidates = _as_headers(data["candidates"], mapping_file, "candidates")
        if "ignore" in data:
            ignore = _as_headers(data["ignore"], mapping_file, "ignore")
        detect = data.get("detect", True)
        if not isinstance(detect, bool):
            raise KzvoteError(
                "bad_mapping_file", "'detect' must be true or false", file=mapping_file
            )
    for option in options or []:
        if "=" not in option:
            raise KzvoteError(
                "bad_map_option",
                f"--map {option!r} is not of the form FIELD=HEADER",
                hint='write e.g. --map registered="Registered voters" or --map ballots_cast=A+B',
            )
        name, _, value = option.partition("=")
        name = name.strip()
        headers = tuple(h.strip() for h in value.split("+") if h.strip())
        if not headers:
            raise KzvoteError("bad_map_option", f"--map {option!r} names no header")
        if name == "candidates":
            candidates = headers
        else:
            fields[_check_field(name, None)] = headers
    ignore = ignore + tuple(h.strip() for h in ignore_options or () if h.strip())
    _refuse_double_use(fields, candidates, ignore)
    return Overrides(
        fields=fields,
        candidates=candidates,
        ignore=ignore,
        source=mapping_file or "",
        detect=detect,
    )


def _read_mapping_file(mapping_file: str) -> dict:
    path = Path(mapping_file)
    if not path.exists() and bundled_mapping(mapping_file).exists():
        path = bundled_mapping(mapping_file)
    if path.exists() and not path.is_file():
        raise KzvoteError(
            "bad_mapping_file",
            "the mapping path is not a regular file",
            file=mapping_file,
            hint="give a .toml file, or a bundled name: poland-pkw, belarus-voice-official",
        )
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KzvoteError(
            "mapping_not_found",
            "the mapping file does not exist",
            file=mapping_file,
            hint="check the path given to --mapping",
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise KzvoteError(
            "bad_mapping_file",
            f"the mapping file is not valid TOML: {str(exc)[:200]}",
            file=mapping_file,
            hint='write e.g. [fields]\\nregistered = "Header of registered voters"',
        ) from None
    except OSError as exc:
        raise KzvoteError(
            "bad_mapping_file", f"cannot read the mapping file: {exc.strerror}", file=mapping_file
        ) from None


def _refuse_double_use(
    fields: dict[str, tuple[str, ...]], candidates: tuple[str, ...] | None, ignore: tuple[str, ...]
) -> None:
    """A header named twice (in one field, in two fields, or as field and candidate)."""
    seen: dict[str, str] = {}
    uses = [(name, h) for name, headers in fields.items() for h in headers]
    uses += [("candidates", h.partition("=")[2] or h) for h in candidates or ()]
    uses += [("--ignore", h) for h in ignore]
    for name, header in uses:
        key = normalise_header(header)
        if key in seen:
            where = f"twice in {name}" if seen[key] == name else f"in both {seen[key]} and {name}"
            raise KzvoteError(
                "bad_map_option",
                f"the column {header!r} is named {where}",
                column=header,
                hint="name each column once: a count would be added twice, or a field "
                "counted as a candidate",
            )
        seen[key] = name


def _check_field(name: str, file: str | None) -> str:
    if name not in MAPPABLE_FIELDS:
        close = difflib.get_close_matches(name, MAPPABLE_FIELDS, n=1)
        raise KzvoteError(
            "unknown_field",
            f"{name!r} is not a kzvote field",
            file=file,
            hint=("did you mean " + repr(close[0]) + "? " if close else "")
            + "fields: "
            + ", ".join(MAPPABLE_FIELDS)
            + ", candidates",
        )
    return name


def _as_headers(value: object, file: str, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise KzvoteError(
        "bad_mapping_file",
        f"{name!r} must be a header or a list of headers",
        file=file,
    )


def resolve_header(wanted: str, headers: list[str], file: str) -> str:
    """Find a header the user named, exactly or ignoring case and spacing."""
    if wanted in headers:
        return wanted
    by_norm: dict[str, str] = {}
    for header in headers:
        by_norm.setdefault(normalise_header(header), header)
    found = by_norm.get(normalise_header(wanted))
    if found is not None:
        return found
    close = difflib.get_close_matches(wanted, headers, n=3)
    raise KzvoteError(
        "unknown_header",
        f"no column is headed {wanted!r}",
        file=file,
        column=wanted,
        hint=("closest: " + ", ".join(repr(c) for c in close) + ". " if close else "")
        + "run 'kzvote columns FILE' to list the headers",
    )


def detect_mapping(
    headers: list[str],
    profiles: dict[str, ColumnProfile],
    overrides: Overrides,
    *,
    file: str,
    required: tuple[str, ...] = ("registered",),
    need_candidates: bool = True,
) -> Mapping:
    """Map headers to canonical fields and candidates.

    Parameters
    ----------
    headers
        Column headers in file order.
    profiles
        What each column's values look like: numeric or not, shaped like an id.
    overrides
        The user's ``--map``/``--ignore``/``--mapping``; these win over detection.
    required
        Fields that must be found; a missing one is an error that shows a ``--map``
        naming a column that could hold it.

    Notes
    -----
    A column is a candidate only when it is numeric, not named by the user for a
    field, not a protocol line of the vocabulary (ballots received, spoiled, unused,
    "of which" lines, ...) and not an identifier (by its header, or by values that are
    unique per row and shaped like a code). Every other column is listed in
    ``ignored`` with the reason in ``ignored_reasons``.
    """
    draft = _Draft()
    for name, wanted in overrides.fields.items():
        resolved = [resolve_header(w, headers, file) for w in wanted]
        draft.fields[name] = resolved
        draft.taken.update(resolved)
        draft.notes.append(f"{name} <- {' + '.join(resolved)} (given)")
    for header in overrides.ignore:
        resolved = resolve_header(header, headers, file)
        draft.taken.add(resolved)
        draft.reasons[resolved] = "ignored with --ignore (or the mapping file)"

    if overrides.detect:
        _detect_fields(headers, profiles, draft)
    if "station_id" not in draft.fields:
        _station_id_from_values(headers, profiles, draft)
    if "station_id" not in draft.fields:
        draft.notes.append("station_id: no column found; stations are numbered by row")

    candidates: dict[str, str] = {}
    if overrides.candidates is not None:
        for wanted in overrides.candidates:
            # "Name=Header" renames (from a [candidates] table); plain headers keep theirs
            name, sep, target = wanted.partition("=")
            if sep and target and wanted not in headers:
                header = resolve_header(target, headers, file)
                candidates[name.strip()] = header
            else:
                header = resolve_header(wanted, headers, file)
                candidates[_unique_name(candidate_name(header), candidates)] = header
            if header in draft.taken:
                raise KzvoteError(
                    "bad_map_option",
                    f"the column {header!r} is named as a candidate but is also a field",
                    file=file,
                    column=header,
                    hint="a count such as 'valid' is never a candidate; list only the "
                    "parties' or candidates' columns in --map candidates=",
                )
        draft.notes.append(f"candidates: {len(candidates)} given")
        for header in headers:
            if header not in draft.taken and header not in candidates.values():
                draft.reasons.setdefault(header, "not named in --map candidates")
    else:
        for header in headers:
            if header in draft.taken or header in draft.reasons:
                continue
            profile = profiles.get(header, ColumnProfile(numeric=False))
            if not profile.numeric:
                draft.reasons[header] = "text, not counts"
                continue
            if profile.id_shaped:
                draft.reasons[header] = f"an identifier: {profile.id_evidence}"
                continue
            candidates[_unique_name(candidate_name(header), candidates)] = header
        if candidates:
            draft.notes.append(
                f"candidates: {len(candidates)} numeric columns that are not protocol lines"
            )

    missing = [f for f in required if f not in draft.fields]
    if missing:
        raise missing_field_error(missing[0], headers, profiles, candidates, file)
    if need_candidates and not candidates:
        raise KzvoteError(
            "no_candidates",
            "no candidate or party columns were found",
            file=file,
            hint="candidate columns are the numeric columns that are not protocol lines; "
            "name them with --map candidates=A+B+C. Headers found: "
            + ", ".join(repr(h) for h in headers[:30]),
        )
    ignored = tuple(h for h in headers if h in draft.reasons and h not in candidates.values())
    return Mapping(
        fields={k: tuple(v) for k, v in draft.fields.items()},
        candidates=candidates,
        ignored=ignored,
        notes=tuple(draft.notes),
        ignored_reasons={h: draft.reasons[h] for h in ignored},
    )


def _unique_name(name: str, taken: dict[str, str]) -> str:
    if name not in taken:
        return name
    k = 2
    while f"{name} ({k})" in taken:
        k += 1
    return f"{name} ({k})"


def _detect_fields(headers: list[str], profiles: dict[str, ColumnProfile], draft: _Draft) -> None:
    detected: dict[str, list[str]] = {}
    for header in headers:
        if header in draft.taken:
            continue
        found = meaning(header)
        if found.field is not None:
            if found.field in draft.fields:
                draft.reasons[header] = f"names {found.field}, which was given with --map"
            else:
                detected.setdefault(found.field, []).append(header)
        elif found.protocol_line is not None:
            draft.reasons[header] = f"protocol line: {found.protocol_line}"
        elif found.identifier:
            draft.reasons[header] = "an identifier (by its header), not a count"
    for name, found in detected.items():
        chosen, unused, how = _choose(name, found, profiles)
        draft.fields[name] = chosen
        draft.taken.update(chosen)
        draft.notes.append(f"{name} <- {' + '.join(chosen)} ({how})")
        for header in unused:
            draft.reasons[header] = f"also names {name}; not used ({how})"


def _choose(
    name: str, found: list[str], profiles: dict[str, ColumnProfile]
) -> tuple[list[str], list[str], str]:
    """Which of several headers that name one field to use: (chosen, unused, how)."""
    exact = [h for h in found if normalise_header(h).replace(" ", "_") == name]
    if exact:
        return exact[:1], [h for h in found if h != exact[0]], "detected"
    if len(found) == 1:
        return found, [], "detected"
    if name == "station_id":
        return found, [], "joined"
    if name in ID_LIKE:
        return found[:1], found[1:], f"several match; the first, {found[0]!r}, is used"
    numeric = [h for h in found if profiles.get(h, ColumnProfile(True)).numeric]
    if numeric and len(numeric) < len(found):
        found = numeric
        if len(found) == 1:
            return found, [], "detected"
    if name == "registered":
        extra = [h for h in found if is_additional_list(h)]
        if extra and len(extra) < len(found):
            main = [h for h in found if h not in extra]
            return main[:1] + extra, main[1:], "main and additional lists summed"
    if name in SUMMED_FIELDS:
        part_of = is_box_line if name == "ballots_cast" else is_issued_part
        parts = [h for h in found if part_of(h)]
        totals = [h for h in found if h not in parts]
        if parts and len(parts) > 1:
            return parts, totals, "parts summed" + ("; the total line is not used" * bool(totals))
        if totals:
            return totals[:1], totals[1:] + parts, f"the total line {totals[0]!r} is used"
    return found[:1], found[1:], f"several match; the first, {found[0]!r}, is used"


ID_LIKE = ("region", "district", "turnout")


def _station_id_from_values(
    headers: list[str], profiles: dict[str, ColumnProfile], draft: _Draft
) -> None:
    """No station id header: a column whose values are unique codes is the id."""
    shaped = [
        h
        for h in headers
        if h not in draft.taken
        and profiles.get(h, ColumnProfile(False)).id_shaped
        and (h not in draft.reasons or draft.reasons[h].startswith("an identifier"))
    ]
    if len(shaped) == 1:
        header = shaped[0]
        draft.fields["station_id"] = [header]
        draft.taken.add(header)
        draft.reasons.pop(header, None)
        draft.notes.append(
            f"station_id <- {header} (unique per row: {profiles[header].id_evidence})"
        )


def missing_field_error(
    field_name: str,
    headers: list[str],
    profiles: dict[str, ColumnProfile],
    candidates: dict[str, str],
    file: str,
) -> KzvoteError:
    """No column for a required field: show a ``--map`` that could be right.

    Only a numeric column that is neither a candidate, an identifier nor a protocol
    line that means something else can hold a count; those are the ones suggested.
    """
    shown = ", ".join(repr(h) for h in headers[:40])
    possible = [
        h
        for h in headers
        if profiles.get(h, ColumnProfile(False)).numeric
        and not profiles[h].id_shaped
        and h not in candidates.values()
        and not meaning(h).known
    ]
    guess = difflib.get_close_matches(field_name, possible, n=1, cutoff=0.0)
    larger = _larger_than_ballots(field_name, headers, profiles, candidates)
    if larger and not possible:
        fix = (
            f'name the column with --map {field_name}="{larger}" (read as a candidate, but '
            "its values are larger than the ballots: a candidate cannot have more votes "
            "than there are ballots)"
        )
    elif guess:
        fix = f'name the column with --map {field_name}="{guess[0]}"'
    elif possible:
        fix = f'name the column with --map {field_name}="{possible[0]}"'
    else:
        fix = (
            f"no unused numeric column could hold {field_name}; if it is among the "
            f'columns read as candidates, name it with --map {field_name}="HEADER" and '
            "the candidates with --map candidates=A+B"
        )
    bundled = fitting_bundled_mappings(headers)
    if bundled:
        fix = "this file has the layout of a bundled mapping: --mapping " + " or --mapping ".join(
            bundled
        )
    return KzvoteError(
        "missing_field",
        f"no column for the required field {field_name!r} was recognised",
        file=file,
        column=field_name,
        hint=f"{fix} (several summed: --map {field_name}=A+B). Headers found: {shown}",
    )


def _larger_than_ballots(
    field_name: str,
    headers: list[str],
    profiles: dict[str, ColumnProfile],
    candidates: dict[str, str],
) -> str | None:
    """A candidate-read column that can only be registered: larger than every ballot line."""
    if field_name != "registered":
        return None
    ballots = [
        profiles[h].median
        for h in headers
        if meaning(h).field in ("ballots_issued", "ballots_cast", "valid")
        and h in profiles
        and profiles[h].median is not None
    ]
    if not ballots:
        return None
    floor = max(ballots)
    above = [
        (profiles[h].median, h)
        for h in candidates.values()
        if profiles.get(h) and profiles[h].median is not None and profiles[h].median > floor
    ]
    return max(above)[1] if above else None


def fitting_bundled_mappings(headers: list[str]) -> list[str]:
    """Bundled mappings whose every named header is in the file."""
    present = {normalise_header(h) for h in headers}
    out = []
    for path in sorted(bundled_mapping("x").parent.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        named = [
            h
            for value in (data.get("fields") or {}).values()
            for h in ([value] if isinstance(value, str) else value)
        ]
        if named and all(normalise_header(h) in present for h in named):
            out.append(path.stem)
    return out


def bundled_mapping(name: str) -> Path:
    """Path of a mapping file shipped with kzvote (e.g. ``poland-pkw``)."""
    return Path(__file__).resolve().parent.parent / "mappings" / f"{name}.toml"
