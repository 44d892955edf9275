"""Protocol arithmetic as results: how many stations break each identity.

These are not statistical tests (no p-value): a protocol identity either holds or it
does not. A station that breaks one is an ``anomaly`` in the plain sense; the result's
``details`` list what else, besides manipulation, commonly causes it.
"""

from __future__ import annotations

from kzvote.methods.common import Context
from kzvote.model import StationTable, StatResult

#: Innocent explanations the report shows beside each identity.
OTHER_CAUSES = {
    "turnout_over_100": "voters added to the roll on the day (absentee certificates, "
    "hospitals, mobile voting counted elsewhere) or a typing error in the registered count",
    "issued_below_cast": "postal or absentee ballots put into the box without being "
    "issued at the station, or a counting slip of one or two ballots",
    "valid_invalid_mismatch": "a typing error in one of the three lines, or ballots "
    "found in the box that were set aside (e.g. of another form)",
    "candidate_sum_mismatch": "a typing error in a candidate's line or in the valid total",
    "duplicate_station": "the file joins two versions of a protocol (e.g. before and after "
    "a recount)",
}


def arithmetic(table: StationTable, ctx: Context) -> list[StatResult]:
    """One result per protocol identity that the file allows to check."""
    if table.flags is None:
        return []
    out = []
    for code, explanation in OTHER_CAUSES.items():
        if code not in table.flags:
            continue
        failing = table.flags[code].to_numpy()
        checked = table.flags[f"checked_{code}"].to_numpy()
        n = int(checked.sum())
        count = int((failing & checked).sum())
        out.append(
            StatResult(
                test="arithmetic",
                subject=code,
                scope=ctx.scope,
                n=n,
                statistic=float(count),
                p_value=None,
                effect=count / n if n else None,
                verdict=("anomaly" if count else "consistent") if n else "inconclusive",
                details={"stations_failing": count, "other_causes": explanation},
                warnings=() if n else ("no station has the fields this identity needs",),
                method="exact protocol identity; no statistics involved",
            )
        )
    return out
