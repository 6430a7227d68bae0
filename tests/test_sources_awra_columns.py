"""The columnar fast paths give exactly what the per-value rules give, value for value.

Each rule of ``awra_columns`` is checked against its per-value rule in ``awra_values`` on edge
values of every type a driver delivers (SQLite stores anything in any column), alone and mixed
in one column, and on random values (Hypothesis).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.sources import awra_columns as C
from reconcile.sources import awra_values as V

MONEY_EDGES: list[Any] = [
    None,
    0,
    12,
    -7,
    2**62,
    -(2**62),
    92233720368547758,
    92233720368547759,
    -92233720368547758,
    -92233720368547759,
    0.1 + 0.2,
    1.005,
    1.0049999999999999,
    12.345,
    -0.5,
    1e14,
    1e-9,
    1e300,
    float("nan"),
    float("inf"),
    -float("inf"),
    "12",
    "12.",
    "-0.5",
    "-0",
    ".5",
    "+5",
    "1_000",
    "1e3",
    "1234567890123456.78",
    "12345678901234567.8",
    " 12.5 ",
    "\u300012",
    "",
    "   ",
    "abc",
    "NaN",
    "1.005",
    "٣",
    Decimal("12.30"),
    Decimal("12.3"),
    Decimal("-0.00"),
    Decimal("12.345"),
    Decimal("1E+20"),
    Decimal("NaN"),
    Decimal("Infinity"),
    Decimal("92233720368547758.07"),
    Decimal("92233720368547758.08"),
    Decimal("-92233720368547758.07"),
    Decimal("-92233720368547758.08"),
    True,
    b"12.5",
    date(2024, 1, 1),
]

TEXT_EDGES: list[Any] = [
    None,
    "",
    " ",
    "x",
    " x",
    "x ",
    "\u3000x",
    "x\x1c",
    "\xa0",
    "\x85",
    "é",
    " é ",
    "\u2028",
    "a b",
    12,
    -3,
    12.0,
    12.5,
    float("nan"),
    Decimal("12.00"),
    Decimal("12.5"),
    True,
    b"ab",
    date(2024, 3, 1),
]

DATE_EDGES: list[Any] = [
    None,
    "",
    "  ",
    "2026-03-01",
    "2024-02-29",
    "2026-02-29",
    "2026-02-30",
    "2026-13-01",
    "2026-00-10",
    "2026-01-00",
    "1677-12-31",
    "1678-01-01",
    "2261-12-31",
    "2262-01-01",
    "0000-01-01",
    "9999-12-31",
    "2026-03-01 10:00",
    "2026-03-01T10:00:00",
    "2026-3-1",
    " 2026-03-01",
    "2026-03-01 ",
    "2026/03/01",
    "2026-03-0١",
    "yesterday",
    20260301,
    2026.5,
    True,
    date(2026, 3, 1),
    date(1500, 1, 1),
    datetime(2026, 3, 1, 10, 30),
]

TIMESTAMP_EDGES: list[Any] = [
    None,
    "",
    "2026-03-01 08:00:00",
    "2026-03-01 23:59:59",
    "2026-03-01T08:00:00",
    "2026-03-01 08:00:00+03:00",
    "2026-03-01 08:00:00.5",
    "2026-03-01 24:00:00",
    "2026-03-01 23:59:60",
    "2026-02-30 08:00:00",
    "1677-12-31 23:59:59",
    "1678-01-01 00:00:00",
    "2261-12-31 00:00:00",
    "2261-12-31 10:00:00",
    "2026-03-01",
    "junk",
    datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    datetime(2026, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=3))),
    datetime(2026, 3, 1, 8, 0),
]


def objects(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def columns_of(values: Sequence[Any]) -> list[C.Column]:
    """The shapes a column of these values can arrive in: one batch, batches, each value's own type."""
    shapes = [C.column_of(values), C.concat_columns([C.column_of(values[:3]), C.column_of(values[3:])])]
    by_type: dict[type, list[Any]] = {}
    for value in values:
        by_type.setdefault(type(value), []).append(value)
    shapes += [C.column_of(group) for group in by_type.values()]
    return shapes


def same_values(a: Sequence[Any], b: Sequence[Any]) -> bool:
    def key(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return ("nan",)
        return (type(v), v)

    return [key(v) for v in a] == [key(v) for v in b]


def assert_parsed_equal(got: V.Parsed, want: V.Parsed) -> None:
    assert list(got.missing) == list(want.missing)
    assert list(got.bad) == list(want.bad)
    if isinstance(want.values, np.ndarray):
        np.testing.assert_array_equal(got.values, want.values)
    else:
        assert list(pd.array(got.values, dtype="Int64")) == list(pd.array(want.values, dtype="Int64"))


# --------------------------------------------------------------------------- raw columns


def test_a_column_gives_back_the_drivers_values_exactly() -> None:
    for values in (MONEY_EDGES, TEXT_EDGES, DATE_EDGES, ["a", None, "b"], [1, None, 2**63 + 5], [1.5, None, 2.0]):
        for column in columns_of(values):
            original = values if len(column) == len(values) else None
            if original is not None:
                assert same_values(list(C.to_objects(column)), original)


def test_plain_batches_become_arrow_and_mixed_ones_stay_objects() -> None:
    assert C.column_of(["a", None]).type == pa.large_string()
    assert C.column_of([None, None]).type == pa.large_string()
    assert C.column_of([1, None]).type == pa.int64()
    assert C.column_of([1.5, None]).type == pa.float64()
    assert isinstance(C.column_of([1, 1.5]), np.ndarray)  # int 1 must not become 1.0
    assert isinstance(C.column_of([b"x"]), np.ndarray)
    assert isinstance(C.column_of([True, 1]), np.ndarray)
    assert isinstance(C.column_of([2**64]), np.ndarray)


def test_notna_and_isin_treat_null_and_nan_as_missing() -> None:
    values = [None, float("nan"), 1.5, "x"]
    for column in (C.column_of(values), C.column_of([None, float("nan"), 1.5]), C.column_of(["x", None])):
        want = ~pd.isna(C.to_objects(column))
        assert list(C.notna(column)) == list(want)
    texts = C.column_of(["a", None, "b", "c"])
    assert list(C.isin(texts, {"a", "c"})) == [True, False, False, True]
    assert list(C.isin(texts, pa.array(["b", None], type=pa.large_string()))) == [False, False, True, False]
    assert list(C.isin(objects(["a", None, 1]), {"a", 1})) == [True, False, True]


# --------------------------------------------------------------------------- rules


def test_cents_match_the_per_value_rule() -> None:
    for column in columns_of(MONEY_EDGES):
        assert_parsed_equal(C.cents(column), V.per_value_cents(C.to_objects(column)))


@pytest.mark.parametrize(("blank_is_na", "strip"), [(False, False), (True, False), (False, True), (True, True)])
def test_texts_match_the_per_value_rule(blank_is_na: bool, strip: bool) -> None:
    for column in columns_of(TEXT_EDGES):
        want = [None if v is None else V.id_text(v) for v in C.to_objects(column)]
        if strip:
            want = [None if v is None else v.strip() for v in want]
        if blank_is_na:
            want = [None if v is None or not v or v.isspace() else v for v in want]
        assert C.texts(column, blank_is_na=blank_is_na, strip=strip).to_pylist() == want


def test_dates_match_the_per_value_rule() -> None:
    for column in columns_of(DATE_EDGES):
        assert_parsed_equal(C.dates(column), V.dates(C.to_objects(column)))


def test_timestamps_match_the_per_value_rule() -> None:
    for column in columns_of(TIMESTAMP_EDGES):
        got, want = C.timestamps(column), V.timestamps(C.to_objects(column))
        assert got.dtype == want.dtype
        assert list(got) == list(want) or got.equals(want)


def test_ints_and_lowercase_match_the_per_value_rule() -> None:
    for values in ([1, None, -5, 2**62], [1, "2", None, 2.0, 2.5, "x"]):
        column = C.column_of(values)
        assert list(C.ints(column)) == list(V.ints(C.to_objects(column)))
    statuses = ["Posted", None, "VOID", "İx", "ß"]
    for values in (statuses, statuses[:3]):
        got = C.lower(C.texts(C.column_of(values)))
        assert got.to_pylist() == [None if v is None else v.lower() for v in values]


def test_text_columns_take_the_dtypes_frames_built_from_python_texts_had() -> None:
    assert C.string_array(pa.array(["a", None], type=pa.large_string())).dtype == pd.Series(["a", None]).dtype
    assert C.string_array(pa.array([None], type=pa.large_string())).dtype == pd.StringDtype()


# --------------------------------------------------------------------------- random values

_MONEY_VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, places=2, min_value=-(10**20), max_value=10**20),
    st.decimals(allow_nan=True),
    st.from_regex(r"\A ?-?[0-9]{0,18}(\.[0-9]{0,4})? ?\Z"),
    st.text(max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_MONEY_VALUES, max_size=12))
def test_cents_match_the_per_value_rule_on_random_values(values: list[Any]) -> None:
    for column in columns_of(values):
        assert_parsed_equal(C.cents(column), V.per_value_cents(C.to_objects(column)))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.dates(min_value=date(1600, 1, 1), max_value=date(2300, 12, 31)).map(date.isoformat),
            st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2})?\Z"),
            st.text(max_size=12),
        ),
        max_size=12,
    )
)
def test_dates_and_timestamps_match_the_per_value_rule_on_random_values(values: list[Any]) -> None:
    for column in columns_of(values):
        assert_parsed_equal(C.dates(column), V.dates(C.to_objects(column)))
        got, want = C.timestamps(column), V.timestamps(C.to_objects(column))
        assert got.equals(want)


# --------------------------------------------------------------------------- PostgreSQL COPY text


def test_server_text_with_its_loader_follows_the_rules_of_the_loaded_values() -> None:
    numeric = C.LoadedText(
        pa.array(["12.30", None, "-0.50", "12.345", "NaN", "100000000000000000000.00", "7"]), Decimal
    )
    assert_parsed_equal(C.cents(numeric), V.per_value_cents(numeric.loaded()))
    days = C.LoadedText(pa.array(["2026-03-01", None, "1500-01-01", "2024-02-29", "infinity"]), C.load_date)
    assert_parsed_equal(C.dates(days), V.dates(days.loaded()))
    for load, texts in (
        (C.load_utc_timestamp, ["2026-03-01 08:00:00+00", None, "2026-03-01 23:59:59.5+00", "2300-01-01 00:00:00+00"]),
        (C.load_timestamp, ["2026-03-01 08:00:00", None, "2026-03-01 23:59:59.123456", "1600-01-01 00:00:00"]),
    ):
        moments = C.LoadedText(pa.array(texts), load)
        assert C.timestamps(moments).equals(V.timestamps(moments.loaded()))
    assert list(C.notna(numeric)) == list(~pd.isna(numeric.loaded()))
    assert C.texts(numeric).to_pylist() == [None if v is None else V.id_text(v) for v in numeric.loaded()]


@pytest.mark.postgres
def test_postgres_copy_gives_the_values_the_cursor_gives(postgres_schema_url: str) -> None:
    import sqlalchemy as sa

    from reconcile.config import AwraSettings
    from reconcile.sources import awra

    engine = sa.create_engine(postgres_schema_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE t (s varchar(20), c char(4), n numeric, i integer, d date, ts timestamp,"
                " tz timestamptz, x text)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO t VALUES ('a,b', 'ab', 12.30, 1, '2026-03-01', '2026-03-01 10:00:00',"
                " '2026-03-01 10:00:00+03', 'line one\nline \"two\"'),"
                " ('', NULL, 'NaN', -5, NULL, NULL, NULL, ' padded '),"
                " (NULL, 'x', 100000000000000000000.00, NULL, '1500-01-01', '2026-03-01 10:00:00.5',"
                " '2026-03-01 23:59:59.25+00', 'é')"
            )
        )
    engine.dispose()
    names = ["s", "c", "n", "i", "d", "ts", "tz", "x"]
    table = sa.table("t", *(sa.column(n) for n in names))
    stmt = sa.select(*(table.c[n].label(n) for n in names)).order_by(table.c.i)
    with awra.open_awra(AwraSettings(url=postgres_schema_url)) as conn:
        copied = awra._copy_from_postgres(conn, stmt, names)
        rows = conn.execute(stmt).all()
    assert copied is not None
    for k, name in enumerate(names):
        got, want = list(C.to_objects(copied[name])), [row[k] for row in rows]
        if name in ("tz",):  # the same instants (the cursor's are in the session's time zone)
            assert [None if v is None else v.timestamp() for v in got] == [
                None if v is None else v.timestamp() for v in want
            ]
        elif name == "n":  # Decimal('NaN') != itself: compare the text
            assert [str(v) for v in got] == [str(v) for v in want]
        else:
            assert got == want, name


@pytest.mark.postgres
def test_an_error_during_postgres_copy_is_a_source_error(postgres_schema_url: str) -> None:
    import sqlalchemy as sa

    from reconcile.config import AwraSettings
    from reconcile.errors import SourceError
    from reconcile.sources import awra

    failing = sa.select((sa.literal_column("1") / sa.literal_column("0")).label("x"))  # fails once rows are made
    with (
        pytest.raises(SourceError, match="division by zero"),
        awra.open_awra(AwraSettings(url=postgres_schema_url)) as c,
    ):
        awra._copy_from_postgres(c, failing, ["x"])
