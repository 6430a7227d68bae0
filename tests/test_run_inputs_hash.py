"""``jobs.run.inputs_hash``: the same inputs give the same hash in any process; any changed value changes it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jobs.run import inputs_hash
from reconcile.model import AwraData, QboData
from tests.scenario import build_scenario

ROOT = Path(__file__).resolve().parent.parent


def _frames(awra: AwraData, qbo: QboData) -> list[tuple[str, str, str]]:
    """(side, frame, column) of every column of both sides that has rows."""
    out = []
    for side, data in (("awra", awra), ("qbo", qbo)):
        for field in dataclasses.fields(data):
            frame = getattr(data, field.name)
            if isinstance(frame, pd.DataFrame) and len(frame):
                out += [(side, field.name, str(column)) for column in frame.columns]
    return out


def _changed(series: pd.Series) -> pd.Series:
    """``series`` with its first value changed (to another value, or from missing to one)."""
    out = series.copy()
    first = out.iloc[0]
    if pd.api.types.is_bool_dtype(out.dtype):
        out.iloc[0] = True if pd.isna(first) else not first
    elif pd.api.types.is_datetime64_any_dtype(out.dtype):
        out.iloc[0] = (
            pd.Timestamp("2001-01-01", tz=getattr(out.dtype, "tz", None))
            if pd.isna(first)
            else first + pd.Timedelta(days=1)
        )
    elif pd.api.types.is_integer_dtype(out.dtype):
        out.iloc[0] = 7 if pd.isna(first) else first + 1
    else:
        out.iloc[0] = "x" if pd.isna(first) else f"{first}x"
    return out


def _with_column(
    awra: AwraData, qbo: QboData, where: tuple[str, str, str], series: pd.Series
) -> tuple[AwraData, QboData]:
    side, name, column = where
    data = awra if side == "awra" else qbo
    frame = getattr(data, name).copy()
    frame[column] = series
    changed = dataclasses.replace(data, **{name: frame})
    return (changed, qbo) if side == "awra" else (awra, changed)  # type: ignore[return-value]


SCENARIO = build_scenario()
COLUMNS = _frames(*SCENARIO[:2])


def test_the_hash_is_the_same_for_the_same_inputs_in_another_process():
    awra, qbo, _ = build_scenario()
    here = inputs_hash(awra, qbo)
    assert here == inputs_hash(*build_scenario()[:2])
    code = (
        "from jobs.run import inputs_hash; from tests.scenario import build_scenario; "
        "print(inputs_hash(*build_scenario()[:2]))"
    )
    there = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "123"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert there == here


@pytest.mark.parametrize("where", COLUMNS, ids=[".".join(c) for c in COLUMNS])
def test_changing_one_value_of_any_column_changes_the_hash(where):
    awra, qbo, _ = SCENARIO
    series = getattr(awra if where[0] == "awra" else qbo, where[1])[where[2]]
    assert inputs_hash(*_with_column(awra, qbo, where, _changed(series))) != inputs_hash(awra, qbo)


def test_a_missing_text_and_an_empty_one_hash_apart():
    awra, qbo, _ = SCENARIO
    where = ("awra", "transactions", "number")
    series = awra.transactions["number"]
    blank = series.copy()
    blank.iloc[0] = ""
    missing = series.copy()
    missing.iloc[0] = None
    assert inputs_hash(*_with_column(awra, qbo, where, blank)) != inputs_hash(*_with_column(awra, qbo, where, missing))


def test_values_moved_between_neighbouring_texts_change_the_hash():
    # "ab","c" and "a","bc" hold the same bytes: the lengths tell them apart
    awra, qbo, _ = SCENARIO
    where = ("awra", "transactions", "number")
    first = awra.transactions["number"].copy()
    second = first.copy()
    first.iloc[0], first.iloc[1] = "ab", "c"
    second.iloc[0], second.iloc[1] = "a", "bc"
    assert inputs_hash(*_with_column(awra, qbo, where, first)) != inputs_hash(*_with_column(awra, qbo, where, second))


def test_the_same_values_stored_in_pieces_hash_alike():
    # Arrow may hold a column in several chunks, or as a slice of a larger buffer
    awra, qbo, _ = SCENARIO
    where = ("awra", "transactions", "number")
    series = awra.transactions["number"]
    values = series.array._pa_array.combine_chunks()
    padded = pa.concat_arrays([pa.array(["padding"], type=values.type), values]).slice(1)
    pieces = pa.chunked_array([padded.slice(0, 2), padded.slice(2)])
    stored = pd.Series(pd.arrays.ArrowStringArray(pieces, dtype=series.dtype), index=series.index)
    assert stored.array._pa_array.num_chunks == 2 and stored.dtype == series.dtype
    assert inputs_hash(*_with_column(awra, qbo, where, stored)) == inputs_hash(awra, qbo)


def test_a_missing_numbers_stored_value_does_not_count():
    awra, qbo, _ = SCENARIO
    frame, column = next(
        (name, str(c))
        for name in ("transactions", "lines")
        for c in getattr(awra, name).columns
        if str(getattr(awra, name)[c].dtype) == "Int64" and getattr(awra, name)[c].isna().any()
    )
    series = getattr(awra, frame)[column]
    at = np.flatnonzero(series.isna().to_numpy())
    data, mask = series.array._data.copy(), series.array._mask.copy()
    data[at] = 12345  # what a missing slot holds is not a value
    other = pd.Series(pd.arrays.IntegerArray(data, mask), index=series.index)
    assert inputs_hash(*_with_column(awra, qbo, ("awra", frame, column), other)) == inputs_hash(awra, qbo)
