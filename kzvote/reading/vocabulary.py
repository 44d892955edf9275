"""The words of precinct protocols: which header names which field, per language.

Commission files head their columns with the lines of the precinct protocol, worded
by each country's election law and each commission's export. The tables here hold
the meaning-bearing stems of those lines, gathered from the protocol forms:

* Russia, federal elections 2000-2024 (federal law 67-FZ, art. 67; CEC forms for the
  Duma and the President): the box lines "в переносных / стационарных ящиках" and, from
  2016, "содержащихся в ... ящиках"; referendum and all-Russian vote wording
  ("участников голосования"), a single box line ("содержащихся в ящиках").
* Kazakhstan (Constitutional Law "On Elections", art. 43-44; CEC protocol forms for
  the Majilis party lists, single-mandate districts, maslikhats, the President and
  referendums), in Kazakh and in Russian: registered, ballots received by the
  commission, voters who received ballots, voters who took part, spoiled, unused
  (cancelled), invalid, votes per party / candidate, against all.
* Belarus (Electoral Code, art. 55), Kyrgyzstan (Electoral Code, art. 43) and
  Ukraine (the precinct protocol of the presidential and parliamentary laws).

Headers are compared after :func:`normalise_header`: case folded, quotes, numbering,
parentheses and line breaks reduced, Latin and Cyrillic look-alike letters put back
into the script of the word they stand in, and Kazakh letters folded onto their
nearest Russian ones (``ә ғ қ ң ө ұ ү һ і`` -> ``а г к н о у у х и``) so that a file
typed without a Kazakh keyboard matches the same stems.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kzvote.model import COUNT_FIELDS, ID_FIELDS

ALL_FIELDS = ID_FIELDS + COUNT_FIELDS
#: Fields whose several headers are added up (CIS protocols split these into lines).
SUMMED_FIELDS = ("ballots_issued", "ballots_cast")
#: Observers' and derived fields that are not counts: a reported turnout percentage.
EXTRA_FIELDS = ("turnout",)

_KAZAKH_FOLD = str.maketrans(
    {
        "ә": "а",
        "ғ": "г",
        "қ": "к",
        "ң": "н",
        "ө": "о",
        "ұ": "у",
        "ү": "у",
        "һ": "х",
        "і": "и",
        "ё": "е",
        "ї": "и",  # Ukrainian
        "є": "е",
        "ґ": "г",
    }
)
# Latin letters that look like Cyrillic ones (after case folding), and back.
_LATIN_TO_CYRILLIC = str.maketrans(
    {
        "a": "а",
        "e": "е",
        "o": "о",
        "p": "р",
        "c": "с",
        "x": "х",
        "y": "у",
        "k": "к",
        "m": "м",
        "h": "н",
        "t": "т",
        "b": "в",
        "i": "і",
    }
)
_CYRILLIC_TO_LATIN = str.maketrans(
    {
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "х": "x",
        "у": "y",
        "к": "k",
        "м": "m",
        "т": "t",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
    }
)
_WORD = re.compile(r"[^\W\d_]+")


def _is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def _fix_script(word: str) -> str:
    """Put look-alike letters of a mixed-script word into the word's main script."""
    cyrillic = sum(_is_cyrillic(ch) for ch in word)
    latin = sum("a" <= ch <= "z" for ch in word)
    if cyrillic and latin:
        if cyrillic >= latin:
            return word.translate(_LATIN_TO_CYRILLIC)
        return word.translate(_CYRILLIC_TO_LATIN)
    return word


def normalise_header(header: object) -> str:
    """A header reduced to the letters that carry its meaning.

    Lower case; BOM, quotes and line breaks gone; leading numbering ("1.", "5)") and
    white space folded; each word's look-alike letters in the word's own script;
    Kazakh letters and ``ё`` folded onto Russian ones.
    """
    text = str(header).replace("\ufeff", "").replace("\u00ad", "")
    text = text.casefold()
    text = re.sub(r"[\"'«»“”„`]", " ", text)
    text = _WORD.sub(lambda m: _fix_script(m.group(0)), text)
    text = text.translate(_KAZAKH_FOLD)
    text = re.sub(r"^\s*(строка\s*)?\d+[а-я]?\s*[.)]\s*", "", text)
    text = re.sub(r"[\s_]+", " ", text).strip()
    return text


def fold(pattern: str) -> str:
    """A pattern written with Kazakh letters, folded like a normalised header."""
    return pattern.translate(_KAZAKH_FOLD)


def _compile(patterns: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(f"(?:{fold(p)})" for p in patterns))


# Exact (normalised) names. Canonical English names come first and always win.
_EXACT: dict[str, tuple[str, ...]] = {
    "station_id": (
        "station id",
        "station",
        "station number",
        "station no",
        "polling station",
        "polling station id",
        "polling station number",
        "precinct",
        "precinct id",
        "precinct number",
        "acta",
        "uik",
        "уик",
        "уик №",
        "№ уик",
        "участок",
        "участок №",
        "№ участка",
        "номер участка",
        "избирательный участок",
        "избирательный участок №",
        "номер уик",
        "учаске",
        "учаске №",
        "№ учаске",
        "учаске номери",
        "сайлау учаскеси",
        "сайлау учаскеси №",
        "сайлау учаскесинин номери",
        "сайлау учаскесинин №",
        "виборча дильниця",
        "№ виборчои дильници",
        "дільниця",
    ),
    "region": (
        "region",
        "oblast",
        "province",
        "state",
        "estado",
        "регион",
        "область",
        "субъект",
        "субъект рф",
        "облыс",
        "онир",
        "облыс / кала",
        "облыс, республикалык манызы бар кала",
        "область, город республиканского значения",
        "область / город",
    ),
    "district": (
        "district",
        "tik",
        "тик",
        "район",
        "аудан",
        "округ",
        "constituency",
        "electoral district",
        "municipality",
        "municipio",
        "территориальная избирательная комиссия",
        "территориальная комиссия",
        "аумактык сайлау комиссиясы",
        "избирательный округ",
        "избирательный округ №",
        "округ №",
        "сайлау округи",
        "сайлау округи №",
        "округтик сайлау комиссиясы",
    ),
    "registered": (
        "registered",
        "registered voters",
        "voters registered",
        "electorate",
        "eligible voters",
        "voters on the list",
        "избиратели",
        "число избирателей",
        "всего избирателей",
        "сайлаушылар саны",
        "сайлаушылар",
    ),
    "ballots_issued": (
        "ballots issued",
        "issued",
        "ballots issued total",
        "voters who received ballots",
        "выдано бюллетеней",
        "выдано",
    ),
    "ballots_cast": (
        "ballots cast",
        "cast",
        "votes cast",
        "total votes",
        "ballots in box",
        "ballots in boxes",
        "ballots in the box",
        "voted",
        "voters who voted",
        "проголосовало",
        "проголосовали",
        "пришли",
        "пришло",
        "дауыс берди",
        "дауыс бергендер",
        "келгендер",
    ),
    "valid": ("valid", "valid votes", "valid ballots", "validos"),
    "invalid": (
        "invalid",
        "invalid votes",
        "invalid ballots",
        "rejected",
        "rejected ballots",
        "void",
        "null votes",
        "nulos",
    ),
    "turnout": (
        "turnout",
        "turnout %",
        "turnout, %",
        "turnout (%)",
        "явка",
        "явка %",
        "явка, %",
        "явка (%)",
        "сайлаушылардын келуи",
        "келу",
        "келу %",
    ),
}

# Stems of the long protocol lines (ru, kk, be/ru, uk), matched anywhere in a header.
_PATTERNS: dict[str, tuple[str, ...]] = {
    "registered": (
        r"(внесенн|включенн)\w* в (основной )?спис",
        r"(внесенн|включенн)\w* в дополнительн\w* спис",
        r"тізім\w* енгізілген",
        r"внесених до спис",
        r"включених до спис",
        r"^(число|количество|всего) (избирателей|участников голосования)$",
        r"\bregistered\b",
        r"\belectorate\b",
    ),
    "ballots_issued": (
        r"бюллетен\w*,? (выданн|выдан)",
        r"выданн\w* (избирателям|участникам)",
        r"(получивших|получили) (избирательные )?бюллетен",
        r"бюллетен\w* (алган|алгандар)",
        r"(берилген|берилди) (сайлау )?бюллетен",
        r"отримали (виборчі )?бюлетен",
        r"бюлетен\w*,? видан",
        r"\bballots? issued\b",
        r"\bissued ballots?\b",
    ),
    "ballots_cast": (
        r"бюллетен\w*,? (содержащихся |обнаруженных |находящихся )?в "
        r"(переносн|стационарн)\w* (ящик|урн)",
        r"бюллетен\w*,? (содержащихся|обнаруженных|находящихся) в (ящик|урн)",
        r"бюллетен\w* в ящиках для голосования",
        r"(принявших|принимавших|приняли) участие в (голосовании|выборах|референдуме)",
        r"дауыс беруге катыск",
        r"референдумга катыск",
        r"катыскан (сайлаушылар|азаматтар)",
        r"сайлауга катыск",
        r"(жашиктерде|жашиктердеги|жашиктен)",
        r"взяли участь у голосуван",
        r"^проголосовал",
        r"^пришл\w* (на участок |избирател|голосова)",
        r"^келген сайлаушы",
        r"\bballots? cast\b",
        r"\bvotes? cast\b",
        r"\bballots? in (the )?(ballot )?box",
    ),
    "district": (
        r"\bтик\b",
        r"территориальн\w* (избирательн\w* )?комисси",
        r"окружн\w* (избирательн\w* )?комисси",
        r"^(город|кала|қала)\s*[,/]\s*(район|аудан)\b",
        r"^(район|аудан)\s*[,/]\s*(город|кала|қала)\b",
        r"^(наименование|название) (района|округа|тик)",
        r"аумақтық (сайлау )?комиссия",
    ),
    "invalid": (
        r"недействительн",
        r"жарамсыз",
        r"недійсн",
        r"\binvalid\b",
        r"\brejected\b",
    ),
    "valid": (
        r"(?<!не)действительн",
        r"(?<!\w)жарамды",
        r"(?<!не)дійсн",
        r"(?<!in)\bvalid\b",
    ),
    "turnout": (
        r"^явка\b",
        r"\bturnout\b",
        r"сайлаушылардын келу",
        r"^келу\b",
    ),
}

#: Numeric protocol lines that are neither a canonical field nor a candidate, each
#: with the reason shown in ``kzvote columns``. Checked before the field patterns.
_PROTOCOL_LINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "an 'of which' sub-line (already inside a total)",
        (
            r"\bв том числе\b",
            r"\bиз них\b",
            r"\bиз которых\b",
            r"\bонын ишинде\b",
            r"\bсонын ишинде\b",
            r"\bу тому числи\b",
            r"\bз них\b",
            r"^of (which|them)\b",
            r"^(w tym|in particular)\b",
        ),
    ),
    (
        "ballots received by the commission",
        (
            r"бюллетен\w*,? полученн",
            r"полученн\w* (участков|окружн|территориальн)",
            r"(комиссия\w*|комиссиясы) алган",
            r"алынган (сайлау )?бюллетен",
            r"отриман\w* (виборч\w* )?бюлетен",
            r"бюлетен\w*,? отриман",
            r"\bballots? received\b",
            r"\breceived ballots?\b",
        ),
    ),
    (
        "spoiled ballot papers (replaced, never cast)",
        (
            r"испорченн",
            r"булинген",
            r"зипсован",
            r"\bspoil(ed|t) ballot papers\b",
        ),
    ),
    (
        "unused or cancelled ballots",
        (
            r"неиспользованн",
            r"погашенн",
            r"пайдаланылмаган",
            r"жойылган",
            r"невикористан",
            r"погашен",
            r"\bunused\b",
            r"\bcancell?ed\b",
        ),
    ),
    (
        "lost or unaccounted ballots",
        (r"утраченн", r"не учтенн", r"жогалган", r"втрачен", r"\blost\b"),
    ),
    (
        "absentee certificates",
        (r"открепительн", r"откреп", r"есепке алу куали", r"\babsentee\b", r"посвідчен"),
    ),
    (
        "a percentage",
        (r"%", r"\bpercent", r"процент", r"пайыз", r"\bshare\b", r"\bдоля\b"),
    ),
    (
        "a link",
        (r"^url$", r"^(link|ссылка|href)$"),
    ),
    (
        "a coordinate",
        (r"\b(latitude|longitude|lat|lon|lng|широта|долгота)\b",),
    ),
)

#: Headers that name a code or a number of something: identifiers, never counts.
_IDENTIFIER = (
    r"^(id|code|kod|код|nr|no|номер|numer|lp)\b.{0,30}$",
    r"^[№#].{0,30}$",
    r"\bп/п\b",
    r"^cod[a-z]{0,6}$",
    r"^(cod|codigo|kod|код|код\w*)[ _.-]",
    r"\b(id|code|kod|codigo|nr)$",
    r"^.{0,30}(№|\bномер\b|\bnumber\b|\bnomir|\bномири\b)\s*\d*$",
    r"\bидентификатор",
    r"\bteryt\b",
    r"symbol kontrolny",
    r"^(checksum|control|контрольн)",
)

_LONG_CANDIDATE = ("candidate", "party", "кандидат", "партия", "candidate name", "умиткер")
_LONG_VOTES = ("votes", "голоса", "число голосов", "дауыс", "дауыс саны", "count")

_FIELD_RE = {name: _compile(patterns) for name, patterns in _PATTERNS.items()}
_LINE_RE = [(reason, _compile(patterns)) for reason, patterns in _PROTOCOL_LINES]
_IDENTIFIER_RE = _compile(_IDENTIFIER)
_ADDITIONAL_RE = _compile((r"дополнительн", r"additional", r"supplementary", r"қосымша"))
_BOX_RE = _compile((r"ящик", r"урн", r"жәшік", r"\bbox"))
_ISSUED_PART_RE = _compile(
    (
        r"досрочно",
        r"в помещении",
        r"вне помещения",
        r"мобильн",
        r"на дому",
        r"\bearly\b",
        r"\bmobile\b",
        r"\boutside\b",
        r"in the station",
        r"on the day",
        r"мерзімінен бұрын",
        r"үйде",
        r"үй-жайдан тыс",
    )
)
_EXACT_NORMAL = {name: {normalise_header(h) for h in names} for name, names in _EXACT.items()}


@dataclass(frozen=True)
class HeaderMeaning:
    """What a header says it holds: a field, a non-candidate line, or nothing known."""

    field: str | None = None
    protocol_line: str | None = None  # reason it is neither a field nor a candidate
    identifier: bool = False
    exact: bool = False  # the header is the field's canonical English name

    @property
    def known(self) -> bool:
        return self.field is not None or self.protocol_line is not None or self.identifier


def meaning(header: str) -> HeaderMeaning:
    """Read a header: the canonical field it names, or why it is not a candidate."""
    norm = normalise_header(header)
    canonical = norm.replace(" ", "_")
    if canonical in ALL_FIELDS or canonical in EXTRA_FIELDS:
        return HeaderMeaning(field=canonical, exact=True)
    for name, exact in _EXACT_NORMAL.items():
        if norm in exact:
            return HeaderMeaning(field=name)
    for reason, pattern in _LINE_RE:
        if pattern.search(norm):
            return HeaderMeaning(protocol_line=reason)
    for name, pattern in _FIELD_RE.items():
        if pattern.search(norm):
            # "Registered voters number" names a count; "Station number" an identifier
            return HeaderMeaning(field=name)
    if _IDENTIFIER_RE.search(norm):
        return HeaderMeaning(identifier=True)
    return HeaderMeaning()


def field_for_header(header: str) -> str | None:
    """The canonical field a header names, or None."""
    return meaning(header).field


def is_additional_list(header: str) -> bool:
    """A registered-voters line for the additional (supplementary) list."""
    return bool(_ADDITIONAL_RE.search(normalise_header(header)))


def is_box_line(header: str) -> bool:
    """A ballots-cast line that counts one kind of box (parts to be summed)."""
    return bool(_BOX_RE.search(normalise_header(header)))


def is_issued_part(header: str) -> bool:
    """A ballots-issued line for one way of voting (early, at the station, mobile)."""
    return bool(_ISSUED_PART_RE.search(normalise_header(header)))


def long_format_columns(headers: list[str]) -> tuple[str, str] | None:
    """The (candidate column, votes column) of a long-format file, or None."""
    norms = {normalise_header(h): h for h in headers}
    cand = next((norms[n] for n in norms if n in _LONG_CANDIDATE), None)
    votes = next((norms[n] for n in norms if n in _LONG_VOTES), None)
    if cand is not None and votes is not None:
        return cand, votes
    return None


def candidate_name(header: str) -> str:
    """A readable candidate name from a header: no numbering, quotes or party boilerplate."""
    name = str(header).replace("\ufeff", "").strip()
    name = re.sub(r"\s+", " ", name)
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
