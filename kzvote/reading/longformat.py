"""Long files (one row per station and candidate) turned into wide ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kzvote.model import KzvoteError
from kzvote.reading.mapping import Overrides, resolve_header
from kzvote.reading.source import RawTable, short
from kzvote.reading.vocabulary import field_for_header


def pivot_long(raw: RawTable, columns: tuple[str, str], overrides: Overrides) -> RawTable:
    """Turn a long file (station, candidate, votes) into a wide one."""
    cand_col, votes_col = columns
    frame = raw.frame
    key_cols = [c for c in frame.columns if c not in (cand_col, votes_col)]
    # Station-level columns are those constant within a station; the key is the id columns.
    id_cols = [c for c in key_cols if field_for_header(c) in ("station_id", "region", "district")]
    if overrides.fields.get("station_id"):
        id_cols = list(
            dict.fromkeys(
                [resolve_header(h, key_cols, raw.path) for h in overrides.fields["station_id"]]
                + [c for c in id_cols if field_for_header(c) in ("region", "district")]
            )
        )
    if not id_cols:
        raise KzvoteError(
            "missing_field",
            "a long-format file needs a station id column",
            file=raw.path,
            hint="name it with --map station_id=HEADER",
        )
    pair = frame[id_cols + [cand_col]]
    repeated = pair.duplicated(keep=False).to_numpy()
    if repeated.any():
        first = int(np.flatnonzero(repeated)[1])
        raise KzvoteError(
            "duplicate_long_pair",
            f"{int(repeated.sum())} rows repeat a (station, candidate) pair",
            file=raw.path,
            line=int(raw.lines[first]),
            column=cand_col,
            value=short(frame[cand_col].iat[first]),
            hint="each station may list each candidate once; remove or add up the repeats",
        )
    group = frame.groupby(id_cols, sort=False, dropna=False)
    station_cols = [c for c in key_cols if c not in id_cols]
    first_rows = group.head(1).reset_index()
    wide = first_rows[id_cols + station_cols].reset_index(drop=True)
    lines = raw.lines[first_rows["index"].to_numpy()]
    pivot = frame.pivot_table(
        index=id_cols, columns=cand_col, values=votes_col, aggfunc="first", sort=False
    )
    pivot = pivot.reindex(pd.MultiIndex.from_frame(wide[id_cols])).reset_index(drop=True)
    pivot = pivot.fillna("")
    pivot.columns = [str(c) for c in pivot.columns]
    clash = set(pivot.columns) & set(wide.columns)
    if clash:
        pivot = pivot.rename(columns={c: f"{c} (votes)" for c in clash})
    wide = pd.concat([wide, pivot], axis=1)
    notes = raw.notes + [
        f"long format: {cand_col!r} x {votes_col!r} pivoted to {pivot.shape[1]} candidate columns"
    ]
    return RawTable(
        raw.path, wide, lines, raw.encoding, raw.delimiter, raw.compression, notes, raw.copies
    )
