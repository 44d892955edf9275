"""Deterministic JSON: same report, same bytes."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [clean(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(clean(data), ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def serialize(report) -> dict[str, Any]:
    """The one JSON layout of every command's report (keys documented in the README).

    ``Report`` (analyze) and ``CommandReport`` (compare, crosscheck, calibrate) both go
    through here; the console, HTML and Markdown renderers read what this returns, so
    what they show is what the JSON holds.
    """
    from kzvote import SCHEMA_VERSION, __version__
    from kzvote.model import CommandReport

    if not isinstance(report, CommandReport):
        from kzvote.suite import report_dict

        return report_dict(report)
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kzvote_version": __version__,
        "command": report.command,
        "input": report.input,
        "parameters": report.parameters,
    }
    if report.summary:
        out["summary"] = report.summary
    if report.results or report.command != "calibrate":
        out["results"] = [r.to_dict() for r in report.results]
    out.update(report.sections)
    out["plots"] = list(report.plots)
    return out
