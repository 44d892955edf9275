"""How far each verdict can be trusted on the user's own data.

``calibrate`` builds clean synthetic *twins* of an election file: the same stations,
registered counts and regions, with turnout and candidate shares drawn from a fair
model fitted to the file, and counts drawn with binomial/multinomial noise. It runs the
``analyze`` battery on every twin and reports, per test and subject, how often the
test rejects at alpha (its false-positive rate on an election shaped like the user's),
with a 95% interval. With injections it puts known manipulation into the twins and
reports each test's power, and the smallest injected size it detects 80% of the time.

The fair model, per region (regions with fewer than 30 usable stations share the
national fit):

* turnout: logit-normal, centre and spread from the median and MAD of the stations'
  logit turnout (robust to a minority of manipulated stations);
* candidate shares: per candidate its own logit-normal, centre the median of the
  region's station logit shares and spread their MAD net of binomial noise (on the
  logit scale ``1 / (valid p (1 - p))``), the draws normalised to sum to one. One
  Dirichlet concentration for every candidate (the leader's) gave small parties the
  wrong spread, and tests on their counts false alarms on twins that they did not give
  on independent elections of the same shape;
* ballots lost between issue and box, and invalid ballots: the region's median rates.

Nothing here prints; progress is reported through a callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kzvote.methods.common import leader_share_parts, turnout_parts
from kzvote.model import CommandReport, KzvoteError, StationTable
from kzvote.simulate import Counts, _klimek_x, apply_rounding, apply_stuffing, apply_whole_percent
from kzvote.suite import Params, empirical_pvalues, run_battery  # noqa: F401 (re-export)

INJECTIONS = {
    "stuffing_incremental": "Klimek incremental ballot stuffing at this f_i (theta 0.1)",
    "stuffing_extreme": "Klimek extreme ballot stuffing at this f_e",
    "whole_percent": "this share of stations with turnout set to a whole percent",
    "invented": "this share of stations with every count rounded to 5 or 10",
}
SWEEP = (0.125, 0.25, 0.5, 1.0)  # fractions of the requested size for the power sweep
MIN_REGION = 30


@dataclass(frozen=True)
class FairModel:
    registered: np.ndarray
    region_codes: np.ndarray
    region_names: list[str]
    station_ids: np.ndarray
    turnout_logit: np.ndarray  # (regions, 2): centre, spread
    shares: np.ndarray  # (regions, candidates): median shares
    share_logit: np.ndarray  # (regions, candidates, 2): centre and spread of logit shares
    lost_rate: np.ndarray  # (regions,)
    invalid_rate: np.ndarray  # (regions,)
    candidates: tuple[str, ...]
    leader: int


def _mad(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def fit_fair_model(table: StationTable, leader: str) -> FairModel:
    """The clean model the twins are drawn from (see the module docstring)."""
    t_num, t_den, ok_t, _ = turnout_parts(table)
    s_num, s_den, ok_s, _ = leader_share_parts(table, leader)
    ok = ok_t & ok_s & (t_num < t_den) & (t_num > 0) & np.isfinite(table.votes).all(axis=1)
    if ok.sum() < 50:
        raise KzvoteError(
            "too_small_to_calibrate",
            f"only {int(ok.sum())} usable stations; calibration needs at least 50",
            file=table.path,
        )
    registered = t_den[ok]
    region = table.ids["region"].to_numpy()[ok]
    codes, names = pd.factorize(pd.Series(region).astype(str))
    sizes = np.bincount(codes)
    logit = np.log(t_num[ok] / (t_den[ok] - t_num[ok]))
    votes = table.votes[ok]
    valid = votes.sum(axis=1)
    share = votes / np.maximum(valid, 1)[:, None]
    cast = table.column("ballots_cast")[ok]
    invalid = table.column("invalid")[ok]
    lost = np.clip(1 - np.where(np.isfinite(cast), cast, t_num[ok]) / t_num[ok], 0, 0.5)
    inv = np.clip(
        np.where(np.isfinite(invalid), invalid, 0) / np.maximum(valid + np.nan_to_num(invalid), 1),
        0,
        0.5,
    )
    lead = list(table.candidates).index(leader)

    def fit(mask):
        centre, spread = float(np.median(logit[mask])), max(_mad(logit[mask]), 0.02)
        m = np.median(share[mask], axis=0)
        m = np.maximum(m, 1e-4)
        m = m / m.sum()
        v = np.maximum(valid[mask], 1)[:, None]
        kept = np.clip(share[mask], 0.5 / v, 1 - 0.5 / v)  # half a vote off 0 and 1
        ls = np.log(kept) - np.log1p(-kept)
        c = np.median(ls, axis=0)
        mad = 1.4826 * np.median(np.abs(ls - c), axis=0)
        p = np.clip(1 / (1 + np.exp(-c)), 1e-4, 1 - 1e-4)
        noise = np.mean(1 / (v * p * (1 - p)), axis=0)
        sd = np.sqrt(np.maximum(mad**2 - noise, 0.02**2))
        logit_shares = np.stack([c, sd], axis=1)
        return (
            (centre, spread),
            m,
            logit_shares,
            float(np.median(lost[mask])),
            float(np.median(inv[mask])),
        )

    national = fit(np.ones(len(codes), dtype=bool))
    fits = [fit(codes == r) if sizes[r] >= MIN_REGION else national for r in range(len(names))]
    return FairModel(
        registered=registered,
        region_codes=codes,
        region_names=[str(n) for n in names],
        station_ids=table.ids["station_id"].to_numpy()[ok],
        turnout_logit=np.array([f[0] for f in fits]),
        shares=np.array([f[1] for f in fits]),
        share_logit=np.array([f[2] for f in fits]),
        lost_rate=np.array([f[3] for f in fits]),
        invalid_rate=np.array([f[4] for f in fits]),
        candidates=table.candidates,
        leader=lead,
    )


def draw_twin(model: FairModel, rng: np.random.Generator, inject: dict[str, float] | None = None):
    """One clean (or injected) twin as a canonical DataFrame."""
    n = len(model.registered)
    r = model.region_codes
    centre, spread = model.turnout_logit[r, 0], model.turnout_logit[r, 1]
    turnout = 1 / (1 + np.exp(-(centre + spread * rng.standard_normal(n))))
    registered = model.registered.astype(np.int64)
    issued = rng.binomial(registered, turnout).astype(float)
    cast = issued - rng.binomial(issued.astype(np.int64), model.lost_rate[r])
    invalid = rng.binomial(cast.astype(np.int64), model.invalid_rate[r]).astype(float)
    valid = cast - invalid
    centre, spread = model.share_logit[r, :, 0], model.share_logit[r, :, 1]
    raw = 1 / (1 + np.exp(-(centre + spread * rng.standard_normal(centre.shape))))
    shares = raw / raw.sum(axis=1, keepdims=True)
    votes = rng.multinomial(valid.astype(np.int64), shares).astype(float)
    counts = Counts(registered.astype(float), issued, cast, valid, invalid, votes, model.leader)
    for kind, size in (inject or {}).items():
        if kind == "stuffing_incremental":
            x = _klimek_x(rng, np.full(n, size), np.zeros(n), np.full(n, 0.1))
            apply_stuffing(rng, counts, x, 2.0)
        elif kind == "stuffing_extreme":
            x = _klimek_x(rng, np.zeros(n), np.full(n, size), np.full(n, 0.1))
            apply_stuffing(rng, counts, x, 2.0)
        elif kind == "whole_percent":
            apply_whole_percent(counts, rng.random(n) < size)
        elif kind == "invented":
            apply_rounding(rng, counts, rng.random(n) < size)
    frame = pd.DataFrame(
        {
            "station_id": model.station_ids,
            "region": np.array(model.region_names, dtype=object)[r],
            "registered": registered,
            "ballots_issued": counts.issued.astype(np.int64),
            "ballots_cast": counts.cast.astype(np.int64),
            "valid": counts.valid.astype(np.int64),
            "invalid": counts.invalid.astype(np.int64),
        }
    )
    for j in range(len(model.candidates)):
        frame[f"candidate {j}"] = counts.votes[:, j].astype(np.int64)
    return frame


#: a twin resembles the file when, per count, the two distributions differ by at most
#: this (Kolmogorov-Smirnov distance), or by no more than sampling noise allows
FIDELITY_D = 0.05
FIDELITY_TWINS = 3


def _ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
    if len(a) == 0 or len(b) == 0:
        return 0.0
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def fidelity(table: StationTable, model: FairModel, seed: int) -> dict[str, Any]:
    """Do the twins look like the file? Per candidate (and for turnout), the
    Kolmogorov-Smirnov distance between the file's station counts and those of
    ``FIDELITY_TWINS`` pooled twins; a distance above ``max(FIDELITY_D, 1.5 x the 5%
    critical value of the two-sample test)`` says no, naming the count."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7_771]))
    twins = [draw_twin(model, rng) for _ in range(FIDELITY_TWINS)]
    n = len(model.registered)
    keep = np.isin(table.ids["station_id"].to_numpy(), model.station_ids)
    critical = 1.358 * np.sqrt(1 / n + 1 / (n * FIDELITY_TWINS))
    limit = float(max(FIDELITY_D, 1.5 * critical))
    rows = []
    t_num, t_den, _, _ = turnout_parts(table)
    pairs = [
        ("turnout", (t_num / t_den)[keep], [t["ballots_issued"] / t["registered"] for t in twins])
    ]
    for j, name in enumerate(model.candidates):
        pairs.append((name, table.votes[keep, j], [t[f"candidate {j}"].to_numpy() for t in twins]))
    for name, observed, drawn in pairs:
        d = _ks_distance(np.asarray(observed, dtype=float), np.concatenate(drawn).astype(float))
        rows.append({"count": name, "ks_distance": d, "resembles": bool(d <= limit)})
    off = [r for r in rows if not r["resembles"]]
    return {
        "resembles": not off,
        "limit": limit,
        "twins": FIDELITY_TWINS,
        "counts": rows,
        "because": (
            "every count's distribution in the twins is within "
            f"{limit:.3f} (Kolmogorov-Smirnov distance) of the file's"
            if not off
            else "the twins do not reproduce "
            + ", ".join(f"{r['count']} (distance {r['ks_distance']:.3f})" for r in off)
            + ": rates measured on these twins may not hold for this file"
        ),
    }


def _twin_results(args) -> list[tuple[str, str, float | None, str]]:
    """Worker: draw one twin, run the battery, keep (test, subject, p, verdict)."""
    from kzvote.reading import table_from_frame

    model, seed, inject, params = args
    rng = np.random.default_rng(seed)
    frame = draw_twin(model, rng, inject)
    table = table_from_frame(frame)
    names = {f"candidate {j}": c for j, c in enumerate(model.candidates)}
    results = run_battery(
        table,
        Params(
            alpha=params.alpha,
            seed=params.seed,
            adjust=params.adjust,
            leader=f"candidate {model.leader}",
            tests=params.tests,
            options=params.options,
        ),
    )
    return [
        (r.test, names.get(r.subject, r.subject), r.p_value, r.verdict)
        for r in results
        if r.scope == "national"
    ]


def twin_count(sims: int, power_sims: int | None, inject: dict | None) -> tuple[int, int]:
    """(twins per injected size, twins in the whole run): power_sims defaults to min(sims, 50)."""
    per_size = min(sims, 50) if power_sims is None else power_sims
    return per_size, sims + per_size * len(SWEEP) * len(inject or {})


def _ignore_interrupt() -> None:
    """Worker initialiser: Ctrl-C is the parent's to handle (it keeps finished twins);
    SIGTERM ends a worker at once, without a traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run(model, seeds, inject, params, pool, progress, out: list) -> None:
    """Run the twins of ``seeds``, appending each result to ``out`` as it finishes."""
    tasks = [(model, s, inject, params) for s in seeds]
    results = pool.imap(_twin_results, tasks) if pool is not None else map(_twin_results, tasks)
    for result in results:
        out.append(result)
        if progress:
            progress(1)


def _rate_interval(k: int, n: int) -> list[float]:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(0.95)
    return [float(ci.low), float(ci.high)]


def _acceptance(alpha: float, n: int) -> list[float]:
    """Where the false-positive rate of a calibrated test falls 95% of the time."""
    from scipy.stats import binom

    return [float(binom.ppf(0.025, n, alpha) / n), float(binom.ppf(0.975, n, alpha) / n)]


def _rejects(p: float | None, verdict: str, alpha: float) -> bool | None:
    if verdict == "inconclusive":
        return None
    if p is None:
        return verdict == "anomaly"
    return p < alpha


def calibrate(
    table: StationTable,
    params: Params,
    *,
    sims: int = 200,
    power_sims: int | None = None,
    inject: dict[str, float] | None = None,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The calibration report (JSON-ready)."""
    if not 1 <= sims <= 100_000:
        raise KzvoteError("bad_option", f"--sims must be from 1 to 100,000, not {sims}")
    if power_sims is not None and not 1 <= power_sims <= 100_000:
        raise KzvoteError("bad_option", f"--power-sims must be from 1 to 100,000, not {power_sims}")
    params.validate()
    for kind, size in (inject or {}).items():
        if kind not in INJECTIONS:
            raise KzvoteError(
                "bad_option", f"unknown injection {kind!r}", hint="kinds: " + ", ".join(INJECTIONS)
            )
        if not 0 < size <= 1:
            raise KzvoteError("bad_option", f"--inject {kind}={size}: the size must be in (0, 1]")
    leader = table.leader(params.leader)
    model = fit_fair_model(table, leader)
    power_sims, total = twin_count(sims, power_sims, inject)
    seeds = np.random.SeedSequence(params.seed).generate_state(total)
    pool = None
    if jobs > 1:
        import multiprocessing as mp

        # one pool for the whole run: spawning workers per injected size costs seconds each
        pool = mp.get_context("spawn").Pool(jobs, initializer=_ignore_interrupt)
    clean: list = []
    injected_runs: list[tuple[str, float, list]] = []
    interrupted = False
    try:
        _run(model, [int(s) for s in seeds[:sims]], None, params, pool, progress, clean)
        offset = sims
        for kind, size in (inject or {}).items():
            for fraction in SWEEP:
                twin_seeds = [int(s) for s in seeds[offset : offset + power_sims]]
                offset += power_sims
                runs: list = []
                injected_runs.append((kind, size * fraction, runs))
                _run(model, twin_seeds, {kind: size * fraction}, params, pool, progress, runs)
    except KeyboardInterrupt:
        # keep what finished: a long run stopped by hand still reports its twins so far
        interrupted = True
        if pool is not None:
            pool.terminate()
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    power = []
    for kind, injected, runs in injected_runs:
        for record in _summarise(runs, params.alpha):
            power.append(
                {
                    "kind": kind,
                    "size": injected,
                    "test": record["test"],
                    "subject": record["subject"],
                    "sims": record["sims"],
                    "power": record["false_positive_rate"],
                    "interval": record["interval"],
                    "called_anomaly": record["false_alarm_rate"],
                }
            )
    tests = _summarise(clean, params.alpha)
    keep = ("kind", "size", "sims", "power", "interval", "called_anomaly")
    for record in tests:
        rows = [
            p for p in power if p["test"] == record["test"] and p["subject"] == record["subject"]
        ]
        record["power"] = [{k: p[k] for k in keep} for p in rows]
        # power is None when every twin at a size was inconclusive
        record["detectable_at_80_percent"] = _smallest(rows, inject, "power")
        record["called_at_80_percent"] = _smallest(rows, inject, "called_anomaly")
    return CommandReport(
        command="calibrate",
        input={
            "path": table.path,
            "sha256": table.source.get("sha256"),
            "stations": table.n_stations,
            "stations_in_twins": int(len(model.registered)),
            "leader": leader,
            "candidates": list(table.candidates),
        },
        parameters={
            **params.to_dict(),
            "sims": sims,
            "power_sims": power_sims,
            "inject": inject or {},
            "jobs": jobs,
        },
        summary={},
        sections={
            "fair_model": {
                "regions": model.region_names,
                "turnout_logit_centre": model.turnout_logit[:, 0].tolist(),
                "turnout_logit_spread": model.turnout_logit[:, 1].tolist(),
                "leader_share": model.shares[:, model.leader].tolist(),
                "share_logit_spread": model.share_logit[:, :, 1].tolist(),
            },
            "fidelity": fidelity(table, model, params.seed),
            "complete": not interrupted,
            "twins_run": len(clean) + sum(len(runs) for _, _, runs in injected_runs),
            "battery": _battery(clean, injected_runs),
            "range_check": _range_check(tests, params.alpha),
            "tests": tests,
            "injections": {k: INJECTIONS[k] for k in (inject or {})},
        },
    )


def _smallest(rows: list[dict], inject: dict | None, key: str) -> dict[str, float | None]:
    """Per injected kind, the smallest size from which ``key`` stays at 0.8 or more.

    "From which": at that size and every larger size tried, so that one lucky small
    size among noisy estimates does not count as detection (None: not reached).
    """
    out: dict[str, float | None] = {}
    for kind in inject or {}:
        rates = sorted(((p["size"], p[key]) for p in rows if p["kind"] == kind), reverse=True)
        smallest = None
        for size, rate in rates:
            if rate is None or rate < 0.8:
                break
            smallest = size
        out[kind] = smallest
    return out


def _range_check(tests: list[dict], alpha: float) -> dict[str, Any]:
    """Which tests fall outside their acceptance range, and how many would by chance.

    Each acceptance range holds a perfectly calibrated test's rate 95% of the time, so
    with dozens of tests a few fall outside by chance alone; ``expected_outside`` is that
    number (the sum of each range's exact binomial miss probability at alpha). The tests
    share twins, so it is a guide, not a test.
    """
    from scipy.stats import binom

    checked = [r for r in tests if r["calibrated"] is not None and r["test"] != "arithmetic"]
    expected = 0.0
    for r in checked:
        n = r["sims"]
        low, high = (round(rate * n) for rate in _acceptance(alpha, n))
        expected += float(binom.cdf(low - 1, n, alpha) + binom.sf(high, n, alpha))
    return {
        "checked": len(checked),
        "outside": [f"{r['test']} / {r['subject']}" for r in checked if not r["calibrated"]],
        "expected_outside": expected,
    }


def _battery(clean: list, injected_runs: list) -> dict[str, Any]:
    """How often the battery as a whole called anything an anomaly (national results).

    On clean twins this is the chance that an honest election like the user's gets at
    least one 'anomaly' somewhere in the national report; on injected twins, the chance
    that the manipulation is flagged by at least one test.
    """

    def rate(runs):
        if not runs:
            return None, None
        k = sum(any(v == "anomaly" for *_, v in run) for run in runs)
        return k / len(runs), _rate_interval(k, len(runs))

    false_alarm, interval = rate(clean)
    power = []
    for kind, size, runs in injected_runs:
        called, ci = rate(runs)
        power.append(
            {
                "kind": kind,
                "size": size,
                "sims": len(runs),
                "called_anomaly": called,
                "interval": ci,
            }
        )
    kinds = dict.fromkeys(kind for kind, _, _ in injected_runs)
    return {
        "sims": len(clean),
        "false_alarm_rate": false_alarm,
        "interval": interval,
        "power": power,
        "called_at_80_percent": _smallest(power, kinds, "called_anomaly"),
    }


def _summarise(runs, alpha: float) -> list[dict[str, Any]]:
    by_key: dict[tuple[str, str], list] = {}
    for run in runs:
        for test, subject, p, verdict in run:
            by_key.setdefault((test, subject), []).append((p, verdict))
    records = []
    for (test, subject), values in by_key.items():
        flags = [_rejects(p, v, alpha) for p, v in values]
        used = [f for f in flags if f is not None]
        n = len(used)
        k = int(sum(used))
        # the verdict adds adjustment and, for the fingerprint, materiality gates: how
        # often a clean twin is *called* an anomaly, beside how often its p < alpha
        alarms = sum(v == "anomaly" for _, v in values)
        record = {
            "test": test,
            "subject": subject,
            "sims": n,
            "inconclusive": len(flags) - n,
            "false_positive_rate": (k / n) if n else None,
            "interval": _rate_interval(k, n) if n else None,
            "false_alarm_rate": (alarms / n) if n else None,
            "null_p_values": sorted(float(p) for p, _ in values if p is not None),
        }
        if n:
            low, high = _acceptance(alpha, n)
            record["acceptance"] = [low, high]
            record["calibrated"] = bool(low <= k / n <= high) if test != "arithmetic" else k == 0
        else:
            record["acceptance"] = None
            record["calibrated"] = None
        records.append(record)
    return records
