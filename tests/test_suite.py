"""Battery: adjustment, verdicts, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLES

from kzvote.model import StatResult
from kzvote.reading import load_stations
from kzvote.render.jsonout import dumps
from kzvote.suite import Params, adjust_pvalues, analyze, finalise, report_dict


def test_holm_and_bh_against_hand_computation():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Holm: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> 0.02, 0.03, 0.06, max(0.06, 0.04)
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    # BH: sorted 0.005*4/1, 0.01*4/2, 0.03*4/3, 0.04*4/4 -> 0.02, 0.02, 0.04, 0.04
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(adjust_pvalues(p, "none"), p)


def test_verdicts_follow_adjusted_p():
    results = [
        StatResult("t", "a", "national", 10, 1.0, 0.001),
        StatResult("t", "b", "national", 10, 1.0, 0.2),
        StatResult("t", "c", "national", 10, None, None, verdict="inconclusive"),
    ]
    out = finalise(results, 0.05, "holm")
    assert [r.verdict for r in out] == ["anomaly", "consistent", "inconclusive"]
    assert out[1].p_adjusted == pytest.approx(0.2)  # Holm: max(0.001 * 2, 0.2 * 1)
    assert out[2].p_adjusted is None


def test_same_seed_gives_identical_json():
    # every seeded test (digit nulls, the dependence and excess bootstraps) nationally
    # and in regions; the fingerprint fit is deterministic and checked by row order below
    table = load_stations(str(SAMPLES / "clean_control.csv"))
    params = Params(seed=5, by_region=True, tests=("digits", "integer_percent"))
    first = dumps(report_dict(analyze(table, params)))
    second = dumps(report_dict(analyze(table, params)))
    assert first == second
    from kzvote.methods.common import Context
    from kzvote.methods.dependence import dependence_tests
    from kzvote.suite import _rng

    def bootstrap(seed):
        ctx = Context(table.leader(), "national", _rng(seed, "fingerprint", "national"))
        return [r.to_dict() for r in dependence_tests(table, ctx)]

    assert bootstrap(5) == bootstrap(5)


def test_row_order_does_not_change_results(write):
    import pandas as pd

    frame = pd.read_csv(SAMPLES / "clean_control.csv")
    shuffled = frame.sample(frac=1.0, random_state=3)
    a = analyze(load_stations(write("a.csv", frame.to_csv(index=False))), Params())
    b = analyze(load_stations(write("b.csv", shuffled.to_csv(index=False))), Params())
    for x, y in zip(a.results, b.results, strict=True):
        assert (x.test, x.subject) == (y.test, y.subject)
        if x.p_value is None:
            assert y.p_value is None and x.statistic == y.statistic
        else:
            assert x.p_value == pytest.approx(y.p_value, rel=1e-9, abs=1e-12)


def test_by_region_scopes():
    table = load_stations(str(SAMPLES / "clean_control.csv"))
    report = analyze(table, Params(by_region=True, tests=("arithmetic", "integer_percent")))
    scopes = {r.scope for r in report.results}
    assert "national" in scopes
    assert len([s for s in scopes if s.startswith("region=")]) == 5
