"""How far each verdict can be trusted on the user's own data.

``calibrate`` builds clean synthetic *twins* of an election file: the same stations,
registered counts and regions, with turnout and candidate shares drawn from a fair
model fitted to the file, and counts drawn with binomial/multinomial noise. It runs the
``analyze`` battery on every twin and reports, per test and subject, how often the
test rejects at alpha (its false-positive rate on an election shaped like the user's),
with a 95% interval. With injections it puts known manipulation into the twins and
reports each test's power, and the smallest injected size it detects 80% of the time.

The twins and their fair model are in :mod:`kzvote.twins`, beside the simulator;
empirical p-values from a calibration belong to the suite (:mod:`kzvote.suite`).

Nothing here prints; progress is reported through a callback.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np

from kzvote.model import CommandReport, KzvoteError, StationTable
from kzvote.suite import Params, run_battery
from kzvote.twins import draw_twin, fidelity, fit_fair_model

INJECTIONS = {
    "stuffing_incremental": "Klimek incremental ballot stuffing at this f_i (theta 0.1)",
    "stuffing_extreme": "Klimek extreme ballot stuffing at this f_e",
    "whole_percent": "this share of stations with turnout set to a whole percent",
    "invented": "this share of stations with every count rounded to 5 or 10",
}
SWEEP = (0.125, 0.25, 0.5, 1.0)  # fractions of the requested size for the power sweep


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


@contextmanager
def _single_threaded_blas():
    """Workers started here get one BLAS thread each (they inherit the environment):
    with OpenBLAS's default threads, two workers on two cores ran 2.6 times slower."""
    import os

    from kzvote import WORKER_THREAD_VARIABLES as names

    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
        with _single_threaded_blas():
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
