"""Run the battery of forensic tests, adjust for multiple testing, set verdicts.

A test is registered with :func:`register`; it is a pure function
``(table, ctx) -> list[StatResult]``. The suite runs it nationally and, with
``by_region``, in every region, then adjusts all p-values of the battery together
(Holm by default) and sets each verdict: ``anomaly`` when the adjusted p is below
alpha, ``consistent`` otherwise, ``inconclusive`` when the test could not be run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kzvote import SCHEMA_VERSION, __version__
from kzvote.methods.common import Context
from kzvote.model import KzvoteError, Report, StationTable, StatResult
from kzvote.summary import summarise

ADJUSTMENTS = ("holm", "bh", "none")


@dataclass(frozen=True)
class TestSpec:
    name: str
    family: str
    func: Callable[[StationTable, Context], list[StatResult]]
    by_region: bool = True
    description: str = ""


REGISTRY: dict[str, TestSpec] = {}


def register(name: str, family: str, *, by_region: bool = True, description: str = ""):
    """Decorator-free registration (keeps methods importable without the suite)."""

    def add(func):
        REGISTRY[name] = TestSpec(name, family, func, by_region, description)
        return func

    return add


def _load_registry() -> None:
    if REGISTRY:
        return
    from kzvote.methods.arithmetic import arithmetic
    from kzvote.methods.digits import digit_tests
    from kzvote.methods.fingerprint import fingerprint_tests
    from kzvote.methods.integers import integer_percent

    register("arithmetic", "integrity", description="protocol identities per station")(arithmetic)
    register(
        "integer_percent",
        "integers",
        description="whole-percent turnout and leader share (Kobak et al. 2016)",
    )(integer_percent)
    register(
        "fingerprint",
        "fingerprint",
        description="Klimek model fit, high-turnout cluster, turnout-share dependence, "
        "excess votes",
    )(fingerprint_tests)
    register(
        "digits",
        "digits",
        description="last digit, last two digits, 0/5 endings, second digit (calibrated null)",
    )(digit_tests)


@dataclass(frozen=True)
class Params:
    """Everything that changes a report besides the input. Recorded in the JSON."""

    alpha: float = 0.05
    seed: int = 0
    adjust: str = "holm"
    leader: str | None = None
    by_region: bool = False
    min_region_stations: int = 100
    tests: tuple[str, ...] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not 0 < self.alpha < 1:  # also false for NaN
            raise KzvoteError("bad_option", f"--alpha must be between 0 and 1, not {self.alpha}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise KzvoteError(
                "bad_option", f"--seed must be a whole number from 0 to 2**63-1, not {self.seed}"
            )
        if self.tests:
            known = test_names()
            unknown = [t for t in self.tests if t not in known]
            if unknown:
                raise KzvoteError(
                    "unknown_test",
                    f"no test called {unknown[0]!r}",
                    hint="tests: " + ", ".join(known),
                )
        if self.adjust not in ADJUSTMENTS:
            raise KzvoteError(
                "bad_option",
                f"--adjust must be one of {', '.join(ADJUSTMENTS)}, not {self.adjust!r}",
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "seed": self.seed,
            "adjustment": self.adjust,
            "leader": self.leader,
            "by_region": self.by_region,
            "min_region_stations": self.min_region_stations,
            "tests": list(self.tests) if self.tests else None,
            "options": dict(sorted(self.options.items())),
        }


def test_names() -> list[str]:
    _load_registry()
    return list(REGISTRY)


def _rng(seed: int, test: str, scope: str) -> np.random.Generator:
    """A generator that depends only on the seed, the test and the scope."""
    digest = hashlib.sha256(f"{test}\x1f{scope}".encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


#: progress(message, done, total): told before each step; it must not raise
Progress = Callable[[str, int, int], None]


def run_battery(
    table: StationTable,
    params: Params,
    calibration: dict | None = None,
    progress: Progress | None = None,
) -> list[StatResult]:
    """Run every selected test nationally (and per region) and set verdicts.

    With a ``calibration`` report (``kzvote calibrate --json``), national p-values are
    replaced by empirical ones from the clean twins before the adjustment.
    """
    _load_registry()
    params.validate()
    leader = table.leader(params.leader)
    names = list(params.tests) if params.tests else list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise KzvoteError(
            "unknown_test",
            f"no test called {unknown[0]!r}",
            hint="tests: " + ", ".join(REGISTRY),
        )
    scopes: list[tuple[str, StationTable]] = [("national", table)]
    if params.by_region:
        for name, idx in table.ids.groupby("region", sort=True).indices.items():
            if str(name) == "":
                continue
            mask = np.zeros(table.n_stations, dtype=bool)
            mask[idx] = True
            scopes.append((f"region={name}", table.subset(mask)))
    results: list[StatResult] = []
    steps = [
        (scope, sub, name)
        for scope, sub in scopes
        for name in names
        if scope == "national" or REGISTRY[name].by_region
    ]
    for done, (scope, sub, name) in enumerate(steps):
        spec = REGISTRY[name]
        if progress is not None:
            progress(f"{name} ({scope})", done, len(steps))
        ctx = Context(
            leader=leader,
            scope=scope,
            rng=_rng(params.seed, name, scope),
            alpha=params.alpha,
            options=params.options,
        )
        results.extend(spec.func(sub, ctx))
    if calibration is not None:
        results = empirical_pvalues(results, calibration)
    return finalise(results, params.alpha, params.adjust)


def empirical_pvalues(results: list, calibration: dict[str, Any]) -> list:
    """Replace national p-values by empirical ones from a calibration report.

    ``p_empirical = (1 + #{twins with p <= p_observed}) / (1 + twins)``; the model p is
    kept in ``details['p_model']``.
    """
    null = {(t["test"], t["subject"]): t["null_p_values"] for t in calibration["tests"]}
    out = []
    for r in results:
        values = null.get((r.test, r.subject))
        if r.scope == "national" and r.p_value is not None and values:
            arr = np.asarray(values)
            p_emp = (1 + int((arr <= r.p_value).sum())) / (1 + len(arr))
            details = dict(r.details, p_model=r.p_value, p_empirical_twins=len(arr))
            r = replace(r, p_value=float(p_emp), details=details)
        out.append(r)
    return out


#: below this many clean twins an empirical p cannot go under 1 / (twins + 1) = 0.01
MIN_TWINS = 100


def check_calibration(table: StationTable, params: Params, calibration: dict) -> list[str]:
    """Refuse a calibration made for another file, test set or leader; return warnings.

    Raises ``calibration_mismatch`` (exit 2) when the calibration's input hash, tests or
    leader differ from this analysis: its twins then say nothing about this file.
    """
    inp = calibration.get("input") or {}
    cal_params = calibration.get("parameters") or {}
    made_for = inp.get("path", "another file")
    fix = f"make one for this file and these options: kzvote calibrate {table.path} --json FILE"
    digest = table.source.get("sha256")
    if not inp.get("sha256"):
        raise KzvoteError(
            "calibration_mismatch",
            "the calibration does not record which file it was made from (an older kzvote)",
            hint=fix,
        )
    if digest != inp["sha256"]:
        raise KzvoteError(
            "calibration_mismatch",
            f"the calibration was made from {made_for} (sha256 {inp['sha256'][:12]}...), "
            f"not from this file (sha256 {str(digest)[:12]}...)",
            hint=fix,
        )
    wanted = sorted(params.tests or test_names())
    calibrated = sorted(cal_params.get("tests") or test_names())
    if wanted != calibrated:
        raise KzvoteError(
            "calibration_mismatch",
            f"the calibration covers the tests {', '.join(calibrated)}; this analysis runs "
            f"{', '.join(wanted)}",
            hint=fix + " (with the same --tests)",
        )
    leader = table.leader(params.leader)
    if inp.get("leader") not in (None, leader):
        raise KzvoteError(
            "calibration_mismatch",
            f"the calibration tested the leader {inp['leader']!r}; this analysis tests {leader!r}",
            hint=fix + " (with the same --leader)",
        )
    warnings = []
    twins = int(cal_params.get("sims") or 0)
    if twins < MIN_TWINS:
        warnings.append(
            f"the calibration has {twins} clean twins: an empirical p cannot go below "
            f"1/{twins + 1} = {1 / (twins + 1):.3f}; use --sims {MIN_TWINS} or more"
        )
    if cal_params.get("alpha") not in (None, params.alpha):
        warnings.append(
            f"the calibration was made at alpha {cal_params['alpha']}, this analysis uses "
            f"{params.alpha} (the empirical p-values do not depend on it)"
        )
    return warnings


def adjust_pvalues(pvalues: np.ndarray, method: str) -> np.ndarray:
    """Holm (step-down FWER) or Benjamini-Hochberg (FDR) adjusted p-values.

    Notes
    -----
    Holm: ``p_(i) * (m - i + 1)``, made monotone by a running maximum.
    BH: ``p_(i) * m / i``, made monotone by a running minimum from the top.
    Checked against ``statsmodels.stats.multitest.multipletests`` values in the tests.
    """
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    if m == 0 or method == "none":
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate(ranked * (m - np.arange(m)))
    elif method == "bh":
        adjusted = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    else:
        raise ValueError(method)
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def finalise(results: list[StatResult], alpha: float, method: str) -> list[StatResult]:
    """Adjust the battery's p-values together and set every verdict."""
    testable = [
        i for i, r in enumerate(results) if r.p_value is not None and r.verdict != "inconclusive"
    ]
    adjusted = adjust_pvalues(np.array([results[i].p_value for i in testable]), method)
    out = list(results)
    for i, p_adj in zip(testable, adjusted, strict=True):
        # a method may preset "consistent" when an effect is too small to matter
        material = results[i].verdict != "consistent"
        verdict = "anomaly" if p_adj < alpha and material else "consistent"
        out[i] = replace(results[i], p_adjusted=float(p_adj), verdict=verdict)
    for i, r in enumerate(out):
        if r.verdict is None:
            out[i] = replace(r, verdict="inconclusive")
    return out


def analyze(
    table: StationTable,
    params: Params,
    calibration: dict | None = None,
    progress: Progress | None = None,
) -> Report:
    """The whole report for one table: input, parameters, summary, integrity, results,
    and the stations behind the findings."""
    from kzvote.evidence import station_evidence

    calibration_warnings = (
        check_calibration(table, params, calibration) if calibration is not None else []
    )
    results = run_battery(table, params, calibration, progress)
    if progress is not None:
        progress("stations behind the findings", 1, 1)
    leader = table.leader(params.leader)
    stations = station_evidence(table, leader, results, params.options)
    return Report(
        input={
            "path": table.path,
            "rows": table.source.get("rows", table.n_stations),
            "stations": table.n_stations,
            "encoding": table.source.get("encoding"),
            "delimiter": table.source.get("delimiter"),
            "compression": table.source.get("compression"),
            "sha256": table.source.get("sha256"),
            "reading_notes": list(table.source.get("notes", [])),
            "mapping": table.mapping.to_dict(),
            "candidates": list(table.candidates),
            "leader": leader,
        },
        parameters={
            **params.to_dict(),
            "calibrated_with": None
            if calibration is None
            else calibration.get("input", {}).get("path"),
            "calibration_twins": None
            if calibration is None
            else (calibration.get("parameters") or {}).get("sims"),
            "calibration_warnings": calibration_warnings,
        },
        summary=summarise(table, leader),
        integrity=table.findings,
        results=tuple(results),
        stations=tuple(stations),
    )


def report_dict(report: Report) -> dict[str, Any]:
    """The JSON layout of a report (keys documented in the README)."""
    from kzvote.reading import summarise_findings

    return {
        "schema_version": SCHEMA_VERSION,
        "kzvote_version": __version__,
        "input": report.input,
        "parameters": report.parameters,
        "summary": report.summary,
        "integrity_summary": summarise_findings(report.integrity),
        "integrity": [f.to_dict() for f in report.integrity],
        "results": [r.to_dict() for r in report.results],
        "stations_summary": _stations_summary(report),
        "stations": [s.to_dict() for s in report.stations],
        "plots": list(report.plots),
    }


def _stations_summary(report: Report) -> dict[str, Any]:
    from kzvote.evidence import RULES, reason_counts

    n = report.summary.get("stations") or 0
    return {
        "listed": len(report.stations),
        "share_of_stations": len(report.stations) / n if n else None,
        "by_reason": reason_counts(list(report.stations)),
        "rules": RULES,
    }
