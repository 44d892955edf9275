"""Canonical station fields, header aliases (English, Russian, Kazakh) and detection.

A commission's file names its columns in its own words. ``detect_mapping`` maps those
headers onto the canonical fields of :mod:`kzvote.model` and records every guess, so
that ``kzvote columns FILE`` can show the user what was assumed.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from kzvote.model import COUNT_FIELDS, ID_FIELDS, KzvoteError, Mapping

ALL_FIELDS = ID_FIELDS + COUNT_FIELDS
#: Fields whose several headers are added up (CIS protocols split these into lines).
SUMMED_FIELDS = ("ballots_issued", "ballots_cast")


def normalise_header(header: str) -> str:
    """Lower-case, strip quotes and numbering, fold ``ё`` and white space."""
    text = str(header).replace("\ufeff", "").replace("ё", "е").replace("Ё", "Е")
    text = text.casefold().replace('"', " ").replace("«", " ").replace("»", " ")
    text = re.sub(r"[\s_]+", " ", text).strip()
    return text


# Exact (normalised) names. Canonical English names come first and always win.
_EXACT: dict[str, tuple[str, ...]] = {
    "station_id": (
        "station id",
        "station",
        "polling station",
        "polling station id",
        "precinct",
        "precinct id",
        "uik",
        "уик",
        "участок",
        "номер участка",
        "№ участка",
        "избирательный участок",
        "номер уик",
        "учаске",
        "учаске нөмірі",
        "сайлау учаскесі",
        "сайлау учаскесінің нөмірі",
    ),
    "region": (
        "region",
        "oblast",
        "province",
        "state",
        "регион",
        "область",
        "субъект",
        "субъект рф",
        "облыс",
        "өңір",
        "облыс / қала",
    ),
    "district": (
        "district",
        "tik",
        "тик",
        "район",
        "аудан",
        "округ",
        "constituency",
        "municipality",
        "территориальная избирательная комиссия",
        "аумақтық сайлау комиссиясы",
    ),
    "registered": (
        "registered",
        "registered voters",
        "voters registered",
        "electorate",
        "eligible voters",
        "избиратели",
        "число избирателей",
        "сайлаушылар саны",
    ),
    "ballots_issued": ("ballots issued", "issued", "ballots issued total"),
    "ballots_cast": (
        "ballots cast",
        "cast",
        "votes cast",
        "total votes",
        "ballots in box",
        "ballots in boxes",
        "voted",
    ),
    "valid": ("valid", "valid votes", "valid ballots"),
    "invalid": ("invalid", "invalid votes", "invalid ballots", "spoiled", "void", "null votes"),
}

# Substring patterns for the long protocol lines of CIS commissions (ru, kk).
_PATTERNS: dict[str, tuple[str, ...]] = {
    "registered": (
        r"внесенных в спис",
        r"включенных в спис",
        r"тізіміне енгізілген",
        r"тізімге енгізілген",
    ),
    "ballots_issued": (
        r"бюллетен\w*,? выданных",
        r"получивших (избирательные )?бюллетен",
        r"бюллетен\w* алған",
        r"берілген (сайлау )?бюллетен",
    ),
    "ballots_cast": (
        r"бюллетен\w* в (переносных|стационарных) ящик",
        r"принявших участие в голосовании",
        r"дауыс беруге қатысқан",
        r"жәшіктерде",
        r"жәшіктердегі",
    ),
    "invalid": (r"недействительн", r"жарамсыз"),
    "valid": (r"(?<!не)действительн", r"(?<!\w)жарамды"),
}

# Protocol lines that are numeric but are neither a canonical field nor a candidate.
_IGNORED_PATTERNS = (
    r"открепительн",
    r"полученных участковой",
    r"погашенных",
    r"утраченных",
    r"не учтенных",
    r"неиспользованных",
    r"алынған бюллетен",
    r"жойылған",
    r"%",
    r"\bpercent",
    r"процент",
    r"\bявка\b",
    r"\bturnout\b",
    r"\bshare\b",
    r"^url$",
    r"^(id|code|kod|код|nr|no|номер|numer|lp|№|n)\b.{0,20}$",
    r"\b(latitude|longitude|lat|lon|lng)\b",
)

_LONG_CANDIDATE = ("candidate", "party", "кандидат", "партия", "candidate name", "үміткер")
_LONG_VOTES = ("votes", "голоса", "число голосов", "дауыс", "дауыс саны", "count")


def field_for_header(header: str) -> str | None:
    """The canonical field a header names, or None."""
    norm = normalise_header(header)
    canonical = norm.replace(" ", "_")
    if canonical in ALL_FIELDS:
        return canonical
    for name, exact in _EXACT.items():
        if norm in exact:
            return name
    if any(re.search(p, norm) for p in _IGNORED_PATTERNS[:8]):
        return None
    for name, patterns in _PATTERNS.items():
        if any(re.search(p, norm) for p in patterns):
            return name
    return None


def is_ignored_header(header: str) -> bool:
    norm = normalise_header(header)
    return any(re.search(p, norm) for p in _IGNORED_PATTERNS)


def is_long_format(headers: list[str]) -> tuple[str, str] | None:
    """The (candidate column, votes column) of a long-format file, or None."""
    norms = {normalise_header(h): h for h in headers}
    cand = next((norms[n] for n in norms if n in _LONG_CANDIDATE), None)
    votes = next((norms[n] for n in norms if n in _LONG_VOTES), None)
    if cand is not None and votes is not None:
        return cand, votes
    return None


@dataclass(frozen=True)
class Overrides:
    """What the user said about columns (``--map`` and ``--mapping FILE.toml``)."""

    fields: dict[str, tuple[str, ...]]
    candidates: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    source: str = ""
    detect: bool = True  # False: use only the fields and candidates given

    @staticmethod
    def empty() -> Overrides:
        return Overrides(fields={})


def parse_map_options(options: list[str] | None, mapping_file: str | None) -> Overrides:
    """Turn ``--map FIELD=H1+H2`` options and a TOML mapping file into overrides.

    The TOML file holds a ``[fields]`` table (a header or a list of headers per
    field), and optionally top-level ``candidates`` and ``ignore`` lists. Options given
    on the command line win over the file.
    """
    fields: dict[str, tuple[str, ...]] = {}
    candidates: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    detect = True
    if mapping_file:
        path = Path(mapping_file)
        if not path.exists() and bundled_mapping(mapping_file).exists():
            path = bundled_mapping(mapping_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KzvoteError(
                "mapping_not_found",
                "the mapping file does not exist",
                file=mapping_file,
                hint="check the path given to --mapping",
            ) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise KzvoteError(
                "bad_mapping_file",
                f"the mapping file is not valid TOML: {exc}",
                file=mapping_file,
                hint='write e.g. [fields]\\nregistered = "Header of registered voters"',
            ) from None
        for name, value in (data.get("fields") or {}).items():
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
        detect = bool(data.get("detect", True))
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
    return Overrides(
        fields=fields,
        candidates=candidates,
        ignore=ignore,
        source=mapping_file or "",
        detect=detect,
    )


def _check_field(name: str, file: str | None) -> str:
    if name not in ALL_FIELDS:
        close = difflib.get_close_matches(name, ALL_FIELDS, n=1)
        raise KzvoteError(
            "unknown_field",
            f"{name!r} is not a kzvote field",
            file=file,
            hint=("did you mean " + repr(close[0]) + "? " if close else "")
            + "fields: "
            + ", ".join(ALL_FIELDS)
            + ", candidates",
        )
    return name


def _as_headers(value: object, file: str, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
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
    by_norm = {normalise_header(h): h for h in headers}
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
    numeric: dict[str, bool],
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
    numeric
        Whether each header's column holds numbers (decides candidate columns).
    overrides
        The user's ``--map``/``--mapping``; these win over detection.
    required
        Fields that must be found; a missing one is an error that shows the ``--map``
        to write.
    """
    notes: list[str] = []
    fields: dict[str, list[str]] = {}
    taken: set[str] = set()
    for name, wanted in overrides.fields.items():
        resolved = [resolve_header(w, headers, file) for w in wanted]
        fields[name] = resolved
        taken.update(resolved)
        notes.append(f"{name} <- {' + '.join(resolved)} (given)")
    ignored_by_user = {resolve_header(h, headers, file) for h in overrides.ignore}
    taken.update(ignored_by_user)

    detected: dict[str, list[str]] = {}
    for header in headers if overrides.detect else ():
        if header in taken:
            continue
        name = field_for_header(header)
        if name is not None and name not in fields:
            detected.setdefault(name, []).append(header)
    for name, found in detected.items():
        exact = [h for h in found if normalise_header(h).replace(" ", "_") == name]
        if exact:
            found = exact[:1]
        if name in SUMMED_FIELDS or name == "station_id" or len(found) == 1:
            chosen = found
        else:
            chosen = found[:1]
            notes.append(f"{name}: several columns match ({', '.join(found)}); using {found[0]!r}")
        fields[name] = chosen
        taken.update(chosen)
        how = " + ".join(chosen)
        verb = "summed" if len(chosen) > 1 and name in SUMMED_FIELDS else "detected"
        notes.append(f"{name} <- {how} ({verb})")

    if "station_id" not in fields:
        notes.append("station_id: no column found; stations are numbered by row")

    candidates: dict[str, str] = {}
    ignored: list[str] = []
    if overrides.candidates is not None:
        for wanted in overrides.candidates:
            # "Name=Header" renames (from a [candidates] table); plain headers keep theirs
            name, sep, target = wanted.partition("=")
            if sep and target and wanted not in headers:
                header = resolve_header(target, headers, file)
                candidates[name.strip()] = header
            else:
                header = resolve_header(wanted, headers, file)
                candidates[candidate_name(header)] = header
        notes.append(f"candidates: {len(candidates)} given")
        ignored = [h for h in headers if h not in taken and h not in candidates.values()]
    else:
        for header in headers:
            if header in taken:
                continue
            if not numeric.get(header, False) or is_ignored_header(header):
                ignored.append(header)
                continue
            candidates[candidate_name(header)] = header
        if candidates:
            notes.append(
                f"candidates: {len(candidates)} numeric columns that are not protocol lines"
            )

    missing = [f for f in required if f not in fields]
    if missing:
        raise _missing_field_error(missing[0], headers, file)
    if need_candidates and not candidates:
        raise KzvoteError(
            "no_candidates",
            "no candidate or party columns were found",
            file=file,
            hint="candidate columns are the numeric columns that are not protocol lines; "
            "name them with --map candidates=A+B+C. Headers found: "
            + ", ".join(repr(h) for h in headers[:30]),
        )
    return Mapping(
        fields={k: tuple(v) for k, v in fields.items()},
        candidates=candidates,
        ignored=tuple(ignored),
        notes=tuple(notes),
    )


def candidate_name(header: str) -> str:
    """A readable candidate name from a header: no numbering, quotes or party boilerplate."""
    name = str(header).replace("\ufeff", "").strip()
    name = re.sub(r"^\d+\s*[.)]\s*", "", name)
    name = re.sub(
        r"^(всероссийская |политическая |общественная )*(политическая )?партия\s+",
        "",
        name,
        flags=re.IGNORECASE,
    )
    name = name.replace('""', '"').strip()
    if len(name) > 1 and name.startswith('"') and name.endswith('"'):
        name = name[1:-1].strip()
    return name or str(header)


def _missing_field_error(field: str, headers: list[str], file: str) -> KzvoteError:
    shown = ", ".join(repr(h) for h in headers[:40])
    guess = difflib.get_close_matches(field, headers, n=1, cutoff=0.3)
    example = guess[0] if guess else (headers[0] if headers else "HEADER")
    return KzvoteError(
        "missing_field",
        f"no column for the required field {field!r} was recognised",
        file=file,
        column=field,
        hint=f"headers found: {shown}. Name the column with "
        f'--map {field}="{example}" (or several summed: --map {field}="A+B")',
    )


def bundled_mapping(name: str) -> Path:
    """Path of a mapping file shipped with kzvote (e.g. ``poland-2020``)."""
    return Path(__file__).parent / "mappings" / f"{name}.toml"
