"""Plain sentences about results, shared by the console, HTML and Markdown renderers.

Everything here reads the report's JSON layout (``suite.report_dict``); nothing is
computed that the report does not hold.
"""

from __future__ import annotations

from typing import Any

#: what each test looks at, for readers who are not statisticians
WHAT = {
    "arithmetic": "the protocol's own arithmetic at each station",
    "integer_percent": "how often turnout or the leader's share is a whole percent",
    "multiple_of_5_percent": "how often turnout or the leader's share is a multiple of 5%",
    "fingerprint": "the turnout-share picture against Klimek's ballot-stuffing model",
    "high_turnout_cluster": "stations at 95% turnout or more with 95% or more for the leader",
    "turnout_share_dependence": "whether the leader's share rises with turnout inside regions",
    "excess_votes": "the leader's votes above the line of the typical station (Shpilkin)",
    "last_digit": "the last digits of the candidates' counts",
    "last_two_digits": "repeated and adjacent last two digits of the counts",
    "second_digit": "the second digits of the counts",
    "zero_five": "how many counts end in 0 or 5",
}

#: what else could produce each anomaly (besides manipulation)
OTHER_CAUSES = {
    "arithmetic": "typing errors when protocols are entered, late corrections, voters added "
    "on the day (absentee certificates, mobile voting)",
    "integer_percent": "turnout targets written into protocols, or a reporting system that "
    "rounds; a few very small stations hit whole percents easily (see the size sweep)",
    "multiple_of_5_percent": "turnout targets written into protocols, or rounding on entry",
    "fingerprint": "regional blocs with their own turnout and loyalties, special stations "
    "(military units, hospitals, ships), a region whose honest stations are not one "
    "logit-normal blob (the model's honest part)",
    "high_turnout_cluster": "closed stations (military units, hospitals, prisons, ships) "
    "where everyone votes and votes alike",
    "turnout_share_dependence": "areas where the leader's supporters also vote more often, "
    "or mobilisation of one side",
    "excess_votes": "a genuine rise of support with turnout (mobilisation), regional "
    "differences the within-region estimate does not remove",
    "last_digit": "small counts, a dominant candidate, or counts copied between forms",
    "last_two_digits": "small counts or counts copied between forms",
    "second_digit": "a mixture of station sizes; the second digit depends on them",
    "zero_five": "counts estimated rather than counted, or rounding on entry",
}


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def count(value: float | None) -> str:
    """A count of votes or stations for a sentence: 124,281 -> 124,000; 6.4 million."""
    if value is None or value != value:
        return "-"
    value = float(value)
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.1f} million"
    if magnitude >= 10_000:
        return f"{round(value, -3):,.0f}"
    if magnitude >= 1000:
        return f"{round(value, -2):,.0f}"
    return f"{value:,.0f}"


def p_text(value: float | None) -> str:
    """A p-value for people: 0.031, 2.1e-05, < 1e-16 (never 0)."""
    if value is None:
        return "-"
    if value < 1e-16:
        return "< 1e-16"
    if value < 1e-4:
        return f"{value:.1e}"
    return f"{value:.2g}" if value < 0.01 else f"{value:.3f}"


def scope_words(scope: str) -> str:
    if scope == "national":
        return ""
    kind, _, name = scope.partition("=")
    return f" in {name}" if kind == "region" else f" in {scope}"


def _interval(values, fmt, open_sides=()) -> str:
    """`` (low-high)``; an end the data do not bound (``open_sides``) is said so."""
    if not values or values[0] is None or values[1] is None:
        return ""
    if "high" in open_sides:
        return f" ({fmt(values[0])} or more)"
    return f" ({fmt(values[0])}-{fmt(values[1])})"


def sentence(r: dict[str, Any], leader: str) -> str:
    """One plain sentence for a result, with its key number and interval."""
    d = r.get("details") or {}
    where = scope_words(r["scope"])
    test = r["test"]
    if test == "excess_votes" and "excess_votes" in d:
        return (
            f"{leader}'s votes rise with turnout{where or ' inside regions'}: about "
            f"{count(d['excess_votes'])} votes"
            f"{_interval(d.get('excess_votes_interval'), count)} above the line of the "
            f"typical station ({pct(d.get('excess_share_of_leader'))} of {leader}'s votes)."
        )
    if test == "fingerprint" and "f_incremental" in d:
        opened = d.get("interval_open") or {}
        inc = _interval(
            d.get("f_incremental_interval"),
            lambda v: pct(v, 0),
            opened.get("f_incremental", ()),
        )
        ext = _interval(d.get("f_extreme_interval"), pct, opened.get("f_extreme", ()))
        text = (
            f"The turnout-share picture{where} needs Klimek's ballot-stuffing part: "
            f"incremental stuffing at about {pct(d['f_incremental'], 0)} of stations"
            f"{inc}, extreme at {pct(d['f_extreme'])}{ext}."
        )
        misplaced = (d.get("misfit") or {}).get("share_misplaced")
        if misplaced is not None and misplaced > 0.1:
            text += (
                f" The fitted model misplaces {pct(misplaced, 0)} of stations, so these "
                "sizes are rough."
            )
        return text
    if test == "high_turnout_cluster" and "observed" in d:
        return (
            f"{d['observed']:,} stations{where} report turnout and {leader}'s share both at "
            f"95% or more; honest counting with an allowance for special stations expects "
            f"{count(d['expected'])}."
        )
    if test == "turnout_share_dependence" and "within_region_slope" in d:
        return (
            f"{leader}'s share rises with turnout inside the regions{where}: "
            f"{d['within_region_slope']:+.2f} points of share per point of turnout "
            f"(correlation {d['within_region_correlation']:+.2f})."
        )
    if test in ("integer_percent", "multiple_of_5_percent") and "observed" in d:
        what = {
            "turnout": "turnout",
            "leader_share": f"{leader}'s share",
            "either": f"turnout or {leader}'s share",
        }.get(r["subject"], r["subject"])
        unit = "a whole percent" if test == "integer_percent" else "a multiple of 5%"
        return (
            f"{d['observed']:,} stations{where} have {what} at {unit}, where counting noise "
            f"gives {count(d['expected'])} +- {count(2 * d['sd'])}: {count(d['excess'])} more "
            "than chance."
        )
    if test == "arithmetic":
        return (
            f"{d.get('stations_failing', r['statistic'])} stations{where} fail the protocol "
            f"identity {r['subject']}."
        )
    if test == "zero_five" and "share" in d:
        return (
            f"{pct(d['share'])} of {r['subject']}'s station counts{where} end in 0 or 5; "
            f"honest counting gives {pct(d['expected_share'])}."
        )
    if test == "last_two_digits" and "repeated_share" in d:
        return (
            f"{r['subject']}'s counts{where}: {pct(d['repeated_share'])} end in a repeated "
            f"pair of digits (expected {pct(d['repeated_expected'])}) and "
            f"{pct(d['adjacent_share'])} in adjacent digits (expected "
            f"{pct(d['adjacent_expected'])})."
        )
    if test in ("last_digit", "second_digit"):
        which = "last" if test == "last_digit" else "second"
        stat = r.get("statistic")
        return (
            f"The {which} digits of {r['subject']}'s counts{where} are not spread as honest "
            f"counting spreads them (chi-square {stat:.1f} on {r['n']:,} stations)."
            if stat is not None
            else f"The {which} digits of {r['subject']}'s counts{where} look unusual."
        )
    if r.get("statistic") is not None:
        return f"{test} ({r['subject']}){where}: statistic {r['statistic']:.3g}."
    return f"{test} ({r['subject']}){where}."


def key_number(r: dict[str, Any]) -> str:
    """The one number a table shows for a result, with its unit."""
    d = r.get("details") or {}
    test = r["test"]
    if test == "excess_votes" and "excess_votes" in d:
        return f"{count(d['excess_votes'])} votes"
    if test == "fingerprint" and "f_incremental" in d:
        return f"f_i {pct(d['f_incremental'], 0)}, f_e {pct(d['f_extreme'])}"
    if test == "high_turnout_cluster" and "observed" in d:
        return f"{d['observed']:,} vs {count(d['expected'])}"
    if test in ("integer_percent", "multiple_of_5_percent") and "excess" in d:
        return f"{count(d['excess'])} extra stations"
    if test == "arithmetic":
        return f"{d.get('stations_failing', 0):,} stations"
    if test == "turnout_share_dependence" and "within_region_slope" in d:
        return f"slope {d['within_region_slope']:+.2f}"
    if test == "zero_five" and "share" in d:
        return f"{pct(d['share'])} vs {pct(d['expected_share'])}"
    if r.get("statistic") is not None:
        return f"{r['statistic']:.3g}"
    return "-"


def headline(data: dict[str, Any]) -> list[str]:
    """The first lines of any report: what was read, and how many anomalies."""
    s = data["summary"]
    leader = s["leader"]
    results = data["results"]
    anomalies = [r for r in results if r["verdict"] == "anomaly"]
    tested = [r for r in results if r["verdict"] != "inconclusive"]
    first = (
        f"{s['stations']:,} stations, {s['registered']:,.0f} registered, turnout "
        f"{pct(s['turnout'])}; leader {leader} with {pct(s['leader_share_of_cast'])} of "
        "ballots cast."
    )
    if anomalies:
        second = f"{len(anomalies)} anomalies in {len(tested)} tests"
    else:
        second = f"No anomaly in {len(tested)} tests"
    p = data["parameters"]
    second += f" (alpha {p['alpha']}, adjusted over the battery: {p['adjustment']})."
    return [first, second]
