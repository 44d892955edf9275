"""A second election generator, independent of ``kzvote simulate``.

It shares no code with ``kzvote/simulate.py`` and makes different choices, so that a
method tuned to the project's own simulator shows it here:

* regions differ by region effects whose size is drawn per election (the spread of the
  regions' logit turnout is uniform on 0.1-0.6);
* station turnout is logit-normal around its region's centre, with its own spread
  drawn per election;
* party shares are Dirichlet around regional centres (themselves Dirichlet around the
  national shares), with a concentration drawn per election;
* the leader's share is tied to turnout by a logit shift proportional to the station's
  turnout deviation, so that honest turnout and share correlate (drawn in -0.3..+0.3);
* station sizes are log-normal; spoiled ballots are binomial with a per-station rate
  (Beta-distributed, about 2%);
* Klimek ballot stuffing on stations drawn at random in every region: with ``f_i`` a
  fraction ``x ~ |N(0, theta)|`` of non-voters is added to the leader and a fraction
  ``x**alpha`` of every other party's votes is moved to the leader (binomial draws); with
  ``f_e`` the same with ``1 - x ~ |N(0, 0.075)|``.

    from second_generator import election
    frame, truth = election(10_000, 20, f_i=0.1, f_e=0.01, theta=0.1, seed=3)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PARTIES = ("Leader", "Second", "Third", "Fourth", "Fifth")
NATIONAL = np.array([0.45, 0.25, 0.14, 0.10, 0.06])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _half_normal_below_one(rng, scale, size):
    out = np.abs(rng.normal(0.0, scale, size))
    bad = out > 1
    while bad.any():  # truncation to [0, 1] by redrawing
        out[bad] = np.abs(rng.normal(0.0, scale, int(bad.sum())))
        bad = out > 1
    return out


def election(
    stations: int,
    regions: int,
    *,
    f_i: float = 0.0,
    f_e: float = 0.0,
    theta: float = 0.1,
    alpha: float = 2.0,
    seed: int = 0,
    turnout: float = 0.55,
    parties: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """One election: the published table (canonical columns) and the truth.
    ``parties``: national shares by name, the leader first (default PARTIES/NATIONAL)."""
    names = tuple(parties) if parties else PARTIES
    national = np.array(list(parties.values())) if parties else NATIONAL
    national = national / national.sum()
    rng = np.random.default_rng(seed)
    between = rng.uniform(0.1, 0.6)
    within = rng.uniform(0.15, 0.35)
    concentration = rng.uniform(30, 120)
    link = rng.uniform(-0.3, 0.3)  # honest turnout-share correlation (logit scale)

    weights = rng.dirichlet(np.full(regions, 8.0))
    region = rng.choice(regions, size=stations, p=weights)
    region.sort()
    centre_t = np.log(turnout / (1 - turnout)) + rng.normal(0, between, regions)
    centre_shares = rng.dirichlet(national * 60, size=regions)

    z = rng.standard_normal(stations)
    true_turnout = _sigmoid(centre_t[region] + within * z)
    shares = np.array([rng.dirichlet(concentration * centre_shares[r]) for r in region])
    lead = np.clip(shares[:, 0], 1e-6, 1 - 1e-6)
    # shift the leader's logit share by c z, with c chosen so that within regions the
    # logit turnout and the logit share correlate by `link` (the Dirichlet's leader share
    # is Beta, whose logit has variance trigamma(k p) + trigamma(k (1 - p)))
    from scipy.special import polygamma

    p0 = centre_shares[region, 0]
    logit_sd = np.sqrt(polygamma(1, concentration * p0) + polygamma(1, concentration * (1 - p0)))
    shift = link * logit_sd / np.sqrt(1 - link**2)
    lead_new = _sigmoid(np.log(lead / (1 - lead)) + shift * z)
    rest = shares[:, 1:] / shares[:, 1:].sum(axis=1, keepdims=True)
    shares = np.column_stack([lead_new, rest * (1 - lead_new)[:, None]])

    registered = np.clip(np.round(rng.lognormal(np.log(900), 0.55, stations)), 60, 6000)
    registered = registered.astype(np.int64)
    voters = rng.binomial(registered, true_turnout)
    spoil_rate = rng.beta(2.0, 98.0, stations)
    invalid = rng.binomial(voters, spoil_rate)
    valid = voters - invalid
    votes = np.array([rng.multinomial(v, p) for v, p in zip(valid, shares, strict=True)])

    u = rng.random(stations)
    extreme = u < f_e
    incremental = (u >= f_e) & (u < f_e + f_i)
    x = np.zeros(stations)
    x[incremental] = _half_normal_below_one(rng, theta, int(incremental.sum()))
    x[extreme] = 1 - _half_normal_below_one(rng, 0.075, int(extreme.sum()))
    stuffed = rng.binomial(registered - voters, x)
    moved = rng.binomial(votes[:, 1:], (x**alpha)[:, None])
    votes[:, 1:] -= moved
    votes[:, 0] += moved.sum(axis=1) + stuffed
    cast = voters + stuffed
    valid = valid + stuffed

    frame = pd.DataFrame(
        {
            "station_id": [f"S{r:02d}-{i:05d}" for i, r in enumerate(region)],
            "region": [f"Region {r + 1:02d}" for r in region],
            "registered": registered,
            "ballots_issued": cast,
            "ballots_cast": cast,
            "valid": valid,
            "invalid": invalid,
        }
    )
    for j, name in enumerate(names):
        frame[name] = votes[:, j]
    truth = {
        "f_incremental": f_i,
        "f_extreme": f_e,
        "theta": theta,
        "alpha": alpha,
        "region_effect_sd": between,
        "within_sd": within,
        "concentration": concentration,
        "turnout_share_link": link,
        "stuffed_x": x,
    }
    return frame, truth
