"""How far the fingerprint's quadrature of the stuffed stations' density is from the
converged integral, in units of the log-likelihood.

The fraud part's density is an integral over the stuffed fraction. Production uses the
graded rule (``klimek.RULE``: each station's support found, then Gauss-Legendre in
log distance to each of its edges); the rule before it spread ``--window`` nodes over
the window (four times as many at >= 95% turnout). This script fits the model on each
file, then evaluates the fitted mixture's log-likelihood with both rules and with a
``--reference`` window rule of that many nodes for every station (and the reference
against twice its nodes), at the estimate, along the profile's alpha multiples (what
an interval's 1.92 cut sees) and at two far points of the theta/alpha grid. A
difference near or above 1 unit moves an interval's end or the test's statistic by as
much.

    python benchmarks/bench_quadrature.py [--reference 1500] [--files ...]

Files: the Russia 2011 and Poland 2020 round 2 files of ../shared/realdata when present,
and one election of the second generator with stuffing (f_i 0.25, f_e 0.03).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from kzvote.methods import klimek as K  # noqa: E402
from kzvote.methods import klimek_fit as KF  # noqa: E402
from kzvote.methods.fingerprint import klimek_stations  # noqa: E402

REAL = HERE.parent / ".." / "shared" / "realdata"
FILES = {
    "russia-2011": (REAL / "ru-kobak-shpilkin" / "2011.csv.gz", None),
    "poland-2020-r2": (
        REAL / "poland-2020-pkw" / "round2_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz",
        "poland-pkw",
    ),
}


def _stations_real(path: Path, mapping: str | None):
    from kzvote.reading import load_stations, parse_map_options

    table = load_stations(str(path), overrides=parse_map_options([], mapping))
    return klimek_stations(table, table.leader(None), {})[0]


def _stations_generated():
    from second_generator import election

    from kzvote.reading import table_from_frame

    frame, _ = election(10000, 20, f_i=0.25, f_e=0.03, theta=0.25, seed=1)
    table = table_from_frame(frame)
    return klimek_stations(table, table.leader(), {})[0]


def _loglik(st, fit_, params, rule) -> float:
    """The fit's log-likelihood at ``params`` with the quadrature ``rule``."""
    at = KF.Fit(dict(params), fit_.blobs, fit_.class_weights, 0.0, False)
    return KF.loglik(st, at, nodes=rule)


def study(name: str, st, reference: int, window: int) -> list[str]:
    t0 = time.perf_counter()
    _, fraud = KF.fit_pair(st)
    p = fraud.params
    points = [("estimate", p)]
    for m in KF.NEAR:
        if m != 1.0:
            a = float(np.clip(p["alpha"] * m, *KF.BOUNDS["alpha"]))
            points.append((f"alpha x{m:g}", dict(p, alpha=a)))
    for theta, alpha in ((0.1, 10.0), (0.2, 7.0)):
        points.append((f"theta {theta:g}, alpha {alpha:g}", dict(p, theta=theta, alpha=alpha)))
    lines = [
        f"{name}: {st.n} stations, f_i {p['f_incremental']:.4f} f_e {p['f_extreme']:.5f} "
        f"theta {p['theta']:.3f} alpha {p['alpha']:.2f}",
        f"  {'point':<26} {'graded - ref':>13} {'window - ref':>13}",
    ]
    rules = {"graded": K.RULE, "window": K.Rule(window, False, 4 * window)}
    ref_rule = K.Rule(reference, False, reference)
    local = {name: [] for name in rules}
    seconds = dict.fromkeys(rules, 0.0)
    for label, params in points:
        ref = _loglik(st, fraud, params, ref_rule)
        errors = {}
        for rule_name, rule in rules.items():
            t1 = time.perf_counter()
            errors[rule_name] = _loglik(st, fraud, params, rule) - ref
            seconds[rule_name] += time.perf_counter() - t1
            if label == "estimate" or label.startswith("alpha"):
                local[rule_name].append(errors[rule_name])
        lines.append(f"  {label:<26} {errors['graded']:+13.3f} {errors['window']:+13.3f}")
    # the reference's own error: the same at twice its nodes
    twice = _loglik(st, fraud, p, K.Rule(2 * reference, False, 2 * reference))
    lines.append(
        f"  reference at {reference} - at {2 * reference} nodes (estimate): "
        f"{_loglik(st, fraud, p, ref_rule) - twice:+8.3f}"
    )
    for rule_name in rules:
        err = local[rule_name]
        lines.append(
            f"  {rule_name}: spread of the error over the estimate and its alpha multiples "
            f"{max(err) - min(err):.3f} units; {seconds[rule_name] / len(points):.2f} s per "
            "log-likelihood"
        )
    lines.append(f"  ({time.perf_counter() - t0:.0f} s in all)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=1500, help="nodes of the reference")
    parser.add_argument("--window", type=int, default=24, help="nodes of the window rule")
    parser.add_argument("--files", nargs="*", default=[*FILES, "second-generator"])
    args = parser.parse_args()
    rule = K.RULE
    print(
        f"graded rule: 2 x {rule.nodes} nodes per station, {rule.scan}-point support scan, "
        f"depth {rule.depth:g}; window rule {args.window} nodes ({4 * args.window} at >= "
        f"{K.HIGH_TURNOUT:.0%} turnout); reference {args.reference} window nodes; load "
        f"average {os.getloadavg()[0]:.2f}"
    )
    for name in args.files:
        if name == "second-generator":
            st = _stations_generated()
        else:
            path, mapping = FILES[name]
            if not path.exists():
                print(f"{name}: skipped, {path} is absent")
                continue
            st = _stations_real(path, mapping)
        print("\n".join(study(name, st, args.reference, args.window)), flush=True)


if __name__ == "__main__":
    main()
