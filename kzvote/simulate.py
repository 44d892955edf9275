"""Synthetic elections: clean ones for calibration, manipulated ones for power.

A clean election: regions with their own turnout and party preferences; station sizes
from a log-normal; per-station turnout logit-normal around the region's mean and
party shares Dirichlet around the region's preferences; ballots issued
``~ Binomial(registered, turnout)``, invalid ``~ Binomial(cast, 1.5%)``, candidate votes
``~ Multinomial(valid, shares)``.

Manipulations (each optional, each recorded in the truth table):

* Klimek ballot stuffing (Klimek et al., PNAS 2012; ``../shared/METHODS.md``): with
  probability ``f_incremental`` a station gets ``x ~ |N(0, theta)|``, with
  ``f_extreme`` it gets ``x = 1 - |N(0, 0.075)|``. A fraction ``x`` of non-voters is
  stuffed for the leader and a fraction ``x**alpha`` of other votes is switched to
  the leader (binomial draws, so counts stay integers).
* Whole-percent turnout: a share of stations has its ballots set so that turnout is
  exactly a whole percent (the difference goes to or comes from the leader).
* Invented counts: a share of stations has every candidate's count rounded to a
  multiple of 5 or 10, as people who make numbers up tend to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kzvote.model import KzvoteError


@dataclass(frozen=True)
class Region:
    name: str
    code: str
    stations: int
    turnout: float  # mean turnout of honest counting
    lean: float = 0.0  # shift of the leader's logit share
    stuffing: tuple[float, float, float] | None = None  # (f_incremental, f_extreme, theta)
    whole_percent_share: float = 0.0


KZ_PARTIES = (
    ("Amanat", 0.539),
    ("Auyl", 0.109),
    ("Respublica", 0.086),
    ("Ak Zhol", 0.084),
    ("People's Party", 0.068),
    ("NSDP", 0.052),
    ("Baytaq", 0.023),
    ("Against all", 0.039),
)

# Station counts approximate the 2023 Majilis vote (about 10,000 stations). Turnouts
# are those of honest counting in this synthetic world; Almaty city's is the
# independent estimate (about 11%), and stuffing lifts its official figure to ~25%.
KZ_REGIONS = (
    Region("Astana", "AST", 400, 0.36, -0.2),
    Region("Almaty", "ALA", 600, 0.11, -0.8, stuffing=(0.97, 0.0, 0.21)),
    Region("Shymkent", "SHY", 380, 0.55, 0.1, whole_percent_share=0.25),
    Region("Abai Region", "ABA", 480, 0.60, 0.1),
    Region("Akmola Region", "AKM", 650, 0.58, 0.0),
    Region("Aktobe Region", "AKT", 500, 0.56, 0.0),
    Region("Almaty Region", "ALR", 700, 0.60, 0.1),
    Region("Atyrau Region", "ATY", 270, 0.62, 0.1),
    Region("East Kazakhstan Region", "VKO", 560, 0.58, 0.0),
    Region("Jambyl Region", "ZHA", 480, 0.64, 0.2),
    Region("Jetisu Region", "ZHT", 450, 0.63, 0.1),
    Region("Karaganda Region", "KAR", 650, 0.52, -0.1),
    Region("Kostanay Region", "KUS", 700, 0.55, 0.0),
    Region("Kyzylorda Region", "KZY", 320, 0.62, 0.3, stuffing=(0.3, 0.04, 0.10)),
    Region("Mangystau Region", "MAN", 230, 0.50, -0.1),
    Region("North Kazakhstan Region", "SKO", 600, 0.60, 0.0),
    Region("Pavlodar Region", "PAV", 480, 0.56, 0.0),
    Region("Turkistan Region", "TUR", 950, 0.66, 0.3, stuffing=(0.3, 0.04, 0.10)),
    Region("Ulytau Region", "ULY", 150, 0.60, 0.1),
    Region("West Kazakhstan Region", "ZKO", 450, 0.55, 0.0),
)


@dataclass(frozen=True)
class Scenario:
    """Everything that defines a synthetic election."""

    stations: int = 10_000
    regions: int = 10
    parties: tuple[tuple[str, float], ...] = KZ_PARTIES
    turnout: float = 0.55
    f_incremental: float = 0.0
    f_extreme: float = 0.0
    theta: float = 0.1
    alpha: float = 2.0
    whole_percent_share: float = 0.0
    rounded_share: float = 0.0
    station_size_median: float = 1200.0
    station_size_sigma: float = 0.55
    turnout_spread: float = 0.3  # sd of station turnout on the logit scale
    share_concentration: float = 300.0  # Dirichlet concentration of station shares
    region_list: tuple[Region, ...] | None = None
    clean_model: str = "regional"  # or "klimek": truncated normals, as the Klimek model
    klimek_sd: tuple[float, float] = (0.07, 0.07)  # s_tau, s_nu of the klimek clean model
    observer_region: str | None = None  # where observers stand (a random sample)
    observer_share: float = 0.0  # share of that region's stations they cover
    deterrence: float = 0.5  # stuffing where observers stand is cut by this fraction


def _logit(p):
    return np.log(p / (1 - p))


def _expit(x):
    return 1 / (1 + np.exp(-x))


def simulate(scenario: Scenario, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (published table in canonical columns, truth table).

    The truth table has the honest counts (``true_*``) and what was done to each
    station (``stuffing_x``, ``whole_percent``, ``rounded``).
    """
    rng = np.random.default_rng(seed)
    regions = scenario.region_list or _generic_regions(scenario, rng)
    names = [p for p, _ in scenario.parties]
    national = np.array([s for _, s in scenario.parties], dtype=float)
    national = national / national.sum()

    sizes = np.array([r.stations for r in regions])
    n = int(sizes.sum())
    region_idx = np.repeat(np.arange(len(regions)), sizes)
    registered = np.clip(
        np.round(
            rng.lognormal(np.log(scenario.station_size_median), scenario.station_size_sigma, n)
        ),
        30,
        4000,
    )
    # region-level party preferences around the national ones, the leader shifted
    prefs = np.empty((len(regions), len(names)))
    for i, region in enumerate(regions):
        base = rng.dirichlet(national * 400)
        leader_share = _expit(_logit(base[0]) + region.lean)
        rest = base[1:] / base[1:].sum() * (1 - leader_share)
        prefs[i] = np.r_[leader_share, rest]
    region_turnout = np.array([r.turnout for r in regions])
    turnout = _expit(_logit(region_turnout[region_idx]) + rng.normal(0, scenario.turnout_spread, n))
    shares = rng.dirichlet(np.ones(len(names)), size=n)  # placeholder, filled per region
    for i in range(len(regions)):
        rows = region_idx == i
        shares[rows] = rng.dirichlet(prefs[i] * scenario.share_concentration, size=int(rows.sum()))

    if scenario.clean_model == "klimek":
        turnout = _truncnorm(rng, scenario.turnout, scenario.klimek_sd[0], n)
        leader = _truncnorm(rng, national[0], scenario.klimek_sd[1], n)
        rest = rng.dirichlet(national[1:] * scenario.share_concentration, size=n)
        shares = np.column_stack([leader, rest * (1 - leader)[:, None]])
    elif scenario.clean_model != "regional":
        raise KzvoteError("bad_option", f"unknown clean model {scenario.clean_model!r}")
    issued = rng.binomial(registered.astype(np.int64), turnout).astype(float)
    cast = issued - rng.binomial(issued.astype(np.int64), 0.002)
    invalid = rng.binomial(cast.astype(np.int64), 0.015).astype(float)
    valid = cast - invalid
    votes = rng.multinomial(valid.astype(np.int64), shares).astype(float)
    truth = pd.DataFrame(
        {
            "true_ballots_issued": issued.copy(),
            "true_ballots_cast": cast.copy(),
            "true_valid": valid.copy(),
            **{f"true_{c}": votes[:, j].copy() for j, c in enumerate(names)},
        }
    )

    # Klimek stuffing: per-region settings, or the scenario's everywhere
    f_i = np.array([r.stuffing[0] if r.stuffing else scenario.f_incremental for r in regions])[
        region_idx
    ]
    f_e = np.array([r.stuffing[1] if r.stuffing else scenario.f_extreme for r in regions])[
        region_idx
    ]
    theta = np.array([r.stuffing[2] if r.stuffing else scenario.theta for r in regions])[region_idx]
    x = _klimek_x(rng, f_i, f_e, theta)
    observed = np.zeros(n, dtype=bool)
    if scenario.observer_region is not None and scenario.observer_share > 0:
        names_by_idx = np.array([r.name for r in regions])
        candidates = np.flatnonzero(names_by_idx[region_idx] == scenario.observer_region)
        if len(candidates) == 0:
            raise KzvoteError("unknown_region", f"no region called {scenario.observer_region!r}")
        k = max(1, int(round(scenario.observer_share * len(candidates))))
        observed[rng.choice(candidates, size=k, replace=False)] = True
        x[observed] *= 1 - scenario.deterrence
    counts = Counts(registered, issued, cast, valid, invalid, votes)
    apply_stuffing(rng, counts, x, scenario.alpha)
    whole_share = np.array(
        [r.whole_percent_share or scenario.whole_percent_share for r in regions]
    )[region_idx]
    whole = rng.random(n) < whole_share
    apply_whole_percent(counts, whole)
    rounded = rng.random(n) < scenario.rounded_share
    apply_rounding(rng, counts, rounded)

    codes = np.array([r.code for r in regions])[region_idx]
    number = np.concatenate([np.arange(1, s + 1) for s in sizes])
    table = pd.DataFrame(
        {
            "station_id": [f"{c}-{k:04d}" for c, k in zip(codes, number, strict=True)],
            "region": np.array([r.name for r in regions])[region_idx],
            "registered": registered.astype(np.int64),
            "ballots_issued": issued.astype(np.int64),
            "ballots_cast": cast.astype(np.int64),
            "valid": valid.astype(np.int64),
            "invalid": invalid.astype(np.int64),
        }
    )
    for j, c in enumerate(names):
        table[c] = votes[:, j].astype(np.int64)
    truth.insert(0, "station_id", table["station_id"])
    truth.insert(1, "region", table["region"])
    truth.insert(2, "registered", table["registered"])
    truth["stuffing_x"] = x
    truth["observed"] = observed
    truth["whole_percent"] = whole
    truth["rounded"] = rounded
    return table, truth


@dataclass
class Counts:
    """Station counts being manipulated in place; the leader is column ``leader``."""

    registered: np.ndarray
    issued: np.ndarray
    cast: np.ndarray
    valid: np.ndarray
    invalid: np.ndarray
    votes: np.ndarray
    leader: int = 0

    def others(self) -> np.ndarray:
        return np.delete(np.arange(self.votes.shape[1]), self.leader)


def apply_stuffing(rng, c: Counts, x: np.ndarray, alpha: float) -> None:
    """Klimek stuffing: a fraction x of non-voters for the leader, x**alpha switched."""
    stuffed = rng.binomial(np.maximum(c.registered - c.issued, 0).astype(np.int64), x)
    stuffed = stuffed.astype(float)
    others = c.others()
    switch = np.power(x, alpha)
    switched = rng.binomial(c.votes[:, others].astype(np.int64), switch[:, None]).astype(float)
    c.votes[:, others] -= switched
    c.votes[:, c.leader] += switched.sum(axis=1) + stuffed
    c.issued += stuffed
    c.cast += stuffed
    c.valid += stuffed


def apply_whole_percent(c: Counts, mask: np.ndarray) -> None:
    """Set turnout to its nearest whole percent at the masked stations (via the leader)."""
    if not mask.any():
        return
    reg = c.registered[mask]
    target = np.clip(np.round(100 * c.issued[mask] / reg), 1, 99)
    new_issued = np.ceil(reg * target / 100)
    # make sure the integer count lands on the whole percent exactly
    new_issued = np.where(
        np.abs(100 * new_issued / reg - target) <= 0.05, new_issued, np.round(reg * target / 100)
    )
    delta = np.maximum(new_issued - c.issued[mask], -c.votes[mask, c.leader])
    c.issued[mask] += delta
    c.cast[mask] += delta
    c.valid[mask] += delta
    c.votes[mask, c.leader] += delta


def apply_rounding(rng, c: Counts, mask: np.ndarray) -> None:
    """Invented counts: every candidate's count rounded to a multiple of 5 or 10."""
    if not mask.any():
        return
    base = np.where(rng.random(int(mask.sum())) < 0.5, 5.0, 10.0)[:, None]
    new_votes = np.round(c.votes[mask] / base) * base
    delta = new_votes.sum(axis=1) - c.votes[mask].sum(axis=1)
    c.votes[mask] = new_votes
    c.valid[mask] += delta
    c.cast[mask] += delta
    c.issued[mask] = np.maximum(c.issued[mask], c.cast[mask])


def _truncnorm(rng, mean: float, sd: float, n: int) -> np.ndarray:
    """N(mean, sd) truncated to [0, 1], by the inverse CDF."""
    from scipy.special import ndtr, ndtri

    lo, hi = ndtr(-mean / sd), ndtr((1 - mean) / sd)
    return np.clip(mean + sd * ndtri(lo + rng.random(n) * (hi - lo)), 0.0, 1.0)


def _klimek_x(rng, f_i, f_e, theta):
    n = len(f_i)
    u = rng.random(n)
    extreme = u < f_e
    incremental = ~extreme & (u < f_e + f_i)
    x = np.zeros(n)
    x[incremental] = np.minimum(np.abs(rng.normal(0, theta[incremental])), 1.0)
    x[extreme] = np.clip(1 - np.abs(rng.normal(0, 0.075, int(extreme.sum()))), 0, 1)
    return x


def _generic_regions(scenario: Scenario, rng) -> tuple[Region, ...]:
    k = max(1, scenario.regions)
    base = scenario.stations // k
    sizes = [base + (1 if i < scenario.stations - base * k else 0) for i in range(k)]
    turnouts = np.clip(_expit(_logit(scenario.turnout) + rng.normal(0, 0.25, k)), 0.05, 0.95)
    leans = rng.normal(0, 0.2, k)
    return tuple(
        Region(
            f"Region {i + 1:02d}", f"R{i + 1:02d}", sizes[i], float(turnouts[i]), float(leans[i])
        )
        for i in range(k)
    )


def kazakhstan_2023() -> Scenario:
    """The bundled national sample: shaped like the 2023 Majilis vote (synthetic)."""
    return Scenario(stations=sum(r.stations for r in KZ_REGIONS), region_list=KZ_REGIONS)


def observers(truth: pd.DataFrame) -> pd.DataFrame:
    """Observers' tallies: the honest counts at the stations they watched."""
    chosen = truth["observed"].to_numpy()
    if not chosen.any():
        raise KzvoteError("no_observers", "the scenario places no observers")
    parties = [
        c[5:]
        for c in truth.columns
        if c.startswith("true_") and c[5:] not in ("ballots_issued", "ballots_cast", "valid")
    ]
    out = pd.DataFrame(
        {
            "station_id": truth["station_id"].to_numpy()[chosen],
            "region": truth["region"].to_numpy()[chosen],
            "ballots_cast": truth["true_ballots_cast"].to_numpy()[chosen].astype(np.int64),
        }
    )
    for party in parties:
        out[party] = truth[f"true_{party}"].to_numpy()[chosen].astype(np.int64)
    return out


#: The lines of the Kazakh CEC precinct protocol (Majilis party lists), in the order
#: of the form, in Kazakh and in Russian; ``None`` marks where the parties stand.
PROTOCOL_LINES = {
    "kk": (
        ("region", "Облыс"),
        ("station_id", "Учаске №"),
        ("registered", "Сайлаушылар тізіміне енгізілген сайлаушылар саны"),
        ("received", "Учаскелік сайлау комиссиясы алған сайлау бюллетеньдерінің саны"),
        ("ballots_issued", "Сайлау бюллетеньдерін алған сайлаушылар саны"),
        ("ballots_cast", "Дауыс беруге қатысқан сайлаушылар саны"),
        ("spoiled", "Бүлінген сайлау бюллетеньдерінің саны"),
        ("unused", "Пайдаланылмаған (жойылған) сайлау бюллетеньдерінің саны"),
        ("invalid", "Жарамсыз деп танылған сайлау бюллетеньдерінің саны"),
        (None, None),
    ),
    "ru": (
        ("region", "Область"),
        ("station_id", "Участок №"),
        ("registered", "Число избирателей, внесенных в списки избирателей"),
        (
            "received",
            "Число избирательных бюллетеней, полученных участковой избирательной комиссией",
        ),
        ("ballots_issued", "Число избирателей, получивших избирательные бюллетени"),
        ("ballots_cast", "Число избирателей, принявших участие в голосовании"),
        ("spoiled", "Число испорченных избирательных бюллетеней"),
        ("unused", "Число неиспользованных (погашенных) избирательных бюллетеней"),
        ("invalid", "Число избирательных бюллетеней, признанных недействительными"),
        (None, None),
    ),
}
#: Party names as the Kazakh and Russian protocols print them.
PROTOCOL_PARTIES = {
    "kk": {
        "Amanat": '"AMANAT" партиясы',
        "Auyl": '"Ауыл" халықтық-демократиялық патриоттық партиясы',
        "Respublica": '"Respublica" партиясы',
        "Ak Zhol": '"Ақ жол" Қазақстанның демократиялық партиясы',
        "People's Party": "Қазақстан Халық партиясы",
        "NSDP": "Жалпыұлттық социал-демократиялық партия",
        "Baytaq": '"Байтақ" Қазақстанның жасылдар партиясы',
        "Against all": "Барлығына қарсы",
    },
    "ru": {
        "Amanat": 'Партия "AMANAT"',
        "Auyl": 'Народно-демократическая патриотическая партия "Ауыл"',
        "Respublica": 'Партия "Respublica"',
        "Ak Zhol": 'Демократическая партия Казахстана "Ак жол"',
        "People's Party": "Народная партия Казахстана",
        "NSDP": "Общенациональная социал-демократическая партия",
        "Baytaq": 'Партия зеленых Казахстана "Байтак"',
        "Against all": "Против всех",
    },
}
LAYOUTS = ("canonical", "kk", "ru")


def protocol_layout(table: pd.DataFrame, layout: str, seed: int) -> pd.DataFrame:
    """The same stations laid out as a Kazakh CEC precinct protocol table.

    Adds the protocol lines that are neither fields nor candidates, consistent with
    the counts: ballots received (the register plus a 1% reserve, as the law
    provides), spoiled papers (about 0.1% of those issued) and unused ones
    (received - issued - spoiled). No valid line: the form has none. Parties keep
    their votes under the names the protocol prints.
    """
    if layout == "canonical":
        return table
    if layout not in PROTOCOL_LINES:
        raise KzvoteError("bad_option", f"--layout must be one of {', '.join(LAYOUTS)}")
    rng = np.random.default_rng([seed, 2023])
    registered = table["registered"].to_numpy(dtype=np.int64)
    issued = table["ballots_issued"].to_numpy(dtype=np.int64)
    received = np.maximum(np.ceil(registered * 1.01).astype(np.int64), issued + 5)
    spoiled = rng.binomial(issued, 0.001)
    lines = {
        "received": received,
        "spoiled": spoiled,
        "unused": np.maximum(received - issued - spoiled, 0),
    }
    known = {name for name, _ in PROTOCOL_LINES[layout] if name}
    parties = [c for c in table.columns if c not in known and c != "valid"]
    names = PROTOCOL_PARTIES[layout]
    out = {}
    for name, header in PROTOCOL_LINES[layout]:
        if name is None:
            for party in parties:
                out[names.get(party, party)] = table[party].to_numpy()
        elif name in lines:
            out[header] = lines[name]
        elif name == "station_id":
            out[header] = table["station_id"].str.split("-").str[-1].astype(int).to_numpy()
        else:
            out[header] = table[name].to_numpy()
    # station numbers repeat across regions, as on the real forms: region + number is the key
    return pd.DataFrame(out)


def concurrent_pair(
    table: pd.DataFrame,
    seed: int,
    *,
    inflate_share: float = 0.0,
    inflate_range: tuple[int, int] = (40, 250),
    inflate: str = "a",
    districts_per_region: int = 4,
    candidates_per_district: tuple[int, int] = (3, 5),
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A party-list contest (``table``) and a single-mandate contest at the same stations.

    Honest differences between the two are a few papers: a voter refusing the district
    ballot (0.15% of those issued), one taking only the district ballot (0.05% of the
    rest), spoiled papers. Each district has its own 3-5 candidates; the other
    districts' candidate columns are blank. With ``inflate_share``, that share of
    stations gets ``U(inflate_range)`` extra ballots in one contest only (``inflate``:
    ``a`` the party list, ``b`` the district), all for its leader, capped so that
    turnout stays at most 100%.

    Returns (contest a, contest b, truth) where truth has ``station_id``, ``region``,
    ``inflated_contest`` and ``inflated_ballots``.
    """
    if inflate not in ("a", "b"):
        raise KzvoteError("bad_option", "--inflate-contest must be a or b")
    lo, hi = inflate_range
    if not 0 <= lo <= hi:
        raise KzvoteError("bad_option", "--inflate-min must be between 0 and --inflate-max")
    rng = np.random.default_rng([seed, 19])
    a = table.copy()
    n = len(a)
    registered = a["registered"].to_numpy(dtype=np.int64)
    issued_a = a["ballots_issued"].to_numpy(dtype=np.int64)
    refused = rng.binomial(issued_a, 0.0015)
    only_b = rng.binomial(np.maximum(registered - issued_a, 0), 0.0005)
    issued_b = issued_a - refused + only_b
    cast_b = issued_b - rng.binomial(issued_b, 0.002)
    invalid_b = rng.binomial(cast_b, 0.02)
    valid_b = cast_b - invalid_b
    # districts: consecutive blocks of stations inside each region
    district = np.empty(n, dtype=object)
    for region, idx in a.groupby("region", sort=False).indices.items():
        k = max(1, min(districts_per_region, len(idx)))
        blocks = np.array_split(np.sort(idx), k)
        for d, block in enumerate(blocks, start=1):
            district[block] = f"{region} district {d}"
    names = list(dict.fromkeys(district))
    columns: dict[str, np.ndarray] = {}
    leader_col = {}
    for d in names:
        rows = np.flatnonzero(district == d)
        k = int(rng.integers(candidates_per_district[0], candidates_per_district[1] + 1))
        shares = rng.dirichlet(np.ones(k) * 2, size=1)[0]
        shares = np.sort(shares)[::-1]
        draws = np.array(
            [rng.multinomial(v, rng.dirichlet(shares * 60)) for v in valid_b[rows]]
        ).reshape(len(rows), k)
        for c in range(k):
            header = f"{d}: candidate {c + 1}"
            column = np.full(n, -1, dtype=np.int64)
            column[rows] = draws[:, c]
            columns[header] = column
        leader_col[d] = f"{d}: candidate 1"
    b = pd.DataFrame(
        {
            "station_id": a["station_id"].to_numpy(),
            "region": a["region"].to_numpy(),
            "district": district,
            "registered": registered,
            "ballots_issued": issued_b,
            "ballots_cast": cast_b,
            "valid": valid_b,
            "invalid": invalid_b,
        }
    )
    extra = np.zeros(n, dtype=np.int64)
    chosen = rng.random(n) < inflate_share
    if chosen.any():
        want = rng.integers(lo, hi + 1, size=n)
        target = a if inflate == "a" else b
        room = registered - target["ballots_issued"].to_numpy(dtype=np.int64)
        extra = np.where(chosen, np.clip(np.minimum(want, room), 0, None), 0)
        for name in ("ballots_issued", "ballots_cast", "valid"):
            target[name] = target[name].to_numpy(dtype=np.int64) + extra
        if inflate == "a":
            leader = a.columns[7]  # the first party column of the party-list layout
            a[leader] = a[leader].to_numpy(dtype=np.int64) + extra
        else:
            for d, header in leader_col.items():
                rows = district == d
                columns[header][rows] += extra[rows]
    for header, column in columns.items():
        b[header] = pd.array(np.where(column >= 0, column, 0), dtype="Int64")
        b.loc[column < 0, header] = pd.NA
    truth = pd.DataFrame(
        {
            "station_id": a["station_id"].to_numpy(),
            "region": a["region"].to_numpy(),
            "inflated_contest": np.where(extra > 0, inflate, ""),
            "inflated_ballots": extra,
        }
    )
    return a, b, truth
