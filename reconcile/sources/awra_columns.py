"""Columns of raw AWRA values, and the columnar fast paths of the reader's value rules.

The reader's rules for a value (``awra_values``: integer cents, dates, ids as text...) are
written for one driver value at a time. Applied value by value to a million rows they cost
most of a read, so this module keeps the rows as columns and applies each rule to a whole
column at once where the column's shape allows it, handing only the other values to the
per-value rule. The result is the same as the per-value rule's, value for value: a fast path
exists only for a shape where it is proven equal (tests compare both on edge values).

A raw column (``Column``) is what the driver delivered, in one of two forms:

* an Arrow array, when every value of a fetched batch has one plain type: all ``str`` (or
  NULL) as ``large_string``, all ``int`` as ``int64``, all ``float`` as ``float64``. These hold
  the driver's values exactly and compactly (a text column of a million rows is one buffer,
  not a million Python objects), and turn back into the same Python values when a rule needs
  them (``to_objects``);
* a numpy object array of the driver's values otherwise (``Decimal``, ``date``, ``datetime``,
  ``bool``, a mix of types: SQLite columns can hold anything).

Text results (ids, numbers, statuses) are Arrow ``large_string`` arrays, the storage of the
frames' ``string`` columns, so they go into the frames without a copy.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence, Set
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reconcile.sources import awra_values as V


class LoadedText:
    """A column a server sent as text (PostgreSQL ``COPY``) with the driver's loader for its type.

    ``text`` holds the server's text of each value (NULL as null); ``load`` turns one text into
    the value the driver's own loader gives for the column's type (``Decimal`` for numeric,
    ``date``, ``datetime``). The rules read the text directly where that gives the same result
    as the loaded value (ISO dates and timestamps, money of at most two decimals) and the loaded
    values elsewhere; ``to_objects`` gives the loaded values.
    """

    def __init__(self, text: pa.Array, load: Callable[[str], Any]):
        self.text = text.cast(_TEXT)
        self.load = load

    def __len__(self) -> int:
        return len(self.text)

    def loaded(self) -> np.ndarray:
        """The driver's values (``None`` for NULL)."""
        out = np.empty(len(self.text), dtype=object)
        out[:] = [None if v is None else self.load(v) for v in self.text.to_pylist()]
        return out


#: Raw values of one column: an Arrow array of one plain type, an object array, or server text
#: with its loader (see above).
Column: TypeAlias = pa.Array | np.ndarray | LoadedText

_TEXT = pa.large_string()
_INT64_MAX = 2**63 - 1

#: Every character ``str.isspace`` holds as blank, as an RE2 class: a value starting or ending
#: with one is stripped (or found blank) by the per-value rule, not by Arrow's own notion.
_BLANK_CLASS = "[" + "".join(f"\\x{{{i:x}}}" for i in range(sys.maxunicode + 1) if chr(i).isspace()) + "]"
_EDGE_BLANK = f"^{_BLANK_CLASS}|{_BLANK_CLASS}$"

#: Money text the per-value rule reads without ``Decimal``: optional minus, 1-16 digits, at
#: most two decimals (``"12"``, ``"12."``, ``"-0.5"``, ``"1234.56"``).
_SIMPLE_MONEY = r"^-?[0-9]{1,16}(\.[0-9]{0,2})?$"
_LOW_DAY, _HIGH_DAY = np.datetime64("1678-01-01", "s"), np.datetime64("2261-12-31", "s")


# --------------------------------------------------------------------------- raw columns


def column_of(values: Sequence[Any]) -> Column:
    """One fetched batch of a column: Arrow when its values share a plain type, else objects."""
    objects = np.empty(len(values), dtype=object)
    objects[:] = values
    kind = pd.api.types.infer_dtype(objects, skipna=True)
    try:
        if kind in ("string", "empty"):
            return pa.array(objects, type=_TEXT, from_pandas=False)
        if kind == "integer":
            return pa.array(objects, type=pa.int64(), from_pandas=False)
        if kind == "floating":
            return pa.array(objects, type=pa.float64(), from_pandas=False)
    except (OverflowError, pa.ArrowException):
        pass  # e.g. an unsigned BIGINT beyond int64: kept as Python ints
    return objects


def concat_columns(parts: Sequence[Column]) -> Column:
    """The batches of one column as one column."""
    if not parts:
        return pa.array([], type=_TEXT)
    if len(parts) == 1:
        return parts[0]
    arrays = [p for p in parts if isinstance(p, pa.Array)]
    if len(arrays) == len(parts) and len({p.type for p in arrays}) == 1:
        return pa.concat_arrays(arrays)
    loaded = [p for p in parts if isinstance(p, LoadedText)]
    if len(loaded) == len(parts) and len({p.load for p in loaded}) == 1:
        return LoadedText(pa.concat_arrays([p.text for p in loaded]), loaded[0].load)
    return np.concatenate([to_objects(p) for p in parts])


def to_objects(column: Column) -> np.ndarray:
    """The driver's values as an object array (``None`` for NULL)."""
    if isinstance(column, np.ndarray):
        return column
    if isinstance(column, LoadedText):
        return column.loaded()
    out = np.empty(len(column), dtype=object)
    out[:] = column.to_pylist()
    return out


def take(column: Column, mask: np.ndarray) -> Column:
    """The values where ``mask`` is True (the column itself when that is every value)."""
    if mask.all():
        return column
    if isinstance(column, np.ndarray):
        return column[mask]
    if isinstance(column, LoadedText):
        return LoadedText(take(column.text, mask), column.load)
    return column.filter(pa.array(mask, type=pa.bool_()))


def pick(column: Column, mask: np.ndarray) -> list[Any]:
    """The Python values where ``mask`` is True (for data-quality rows: a few values)."""
    return list(to_objects(take(column, mask)))


def notna(column: Column) -> np.ndarray:
    """True where a value is present (not NULL, not a float NaN)."""
    if isinstance(column, np.ndarray | LoadedText):  # pandas holds a Decimal NaN missing too
        return np.asarray(~pd.isna(to_objects(column)), dtype=bool)
    present = _bools(column.is_valid())
    if pa.types.is_floating(column.type):
        present &= ~_bools(pc.is_nan(column).fill_null(False))
    return present


def isin(values: Column, allowed: Set[Any] | pa.Array) -> np.ndarray:
    """Element-wise ``value in allowed``; NULL is never in it."""
    if isinstance(values, LoadedText):
        values = values.loaded()
    if isinstance(values, np.ndarray):
        members = set(allowed.to_pylist()) if isinstance(allowed, pa.Array) else allowed
        return np.fromiter((v is not None and v in members for v in values), dtype=bool, count=len(values))
    if isinstance(allowed, pa.Array):
        value_set = allowed.drop_null()
    else:
        if not all(isinstance(v, str) for v in allowed):
            return isin(to_objects(values), allowed)
        value_set = pa.array(sorted(allowed), type=_TEXT)
    if not pa.types.is_large_string(values.type):
        return isin(to_objects(values), set(value_set.to_pylist()))
    return _bools(pc.is_in(values, value_set=value_set.cast(_TEXT)).fill_null(False))


def constant(value: str, n: int) -> pa.Array:
    """``n`` times the same text."""
    return pa.array([value], type=_TEXT).take(pa.array(np.zeros(n, dtype=np.int64)))


def texts_of(values: Iterable[Any]) -> pa.Array:
    """Python texts (``None`` for NULL) as a text column."""
    return pa.array(list(values), type=_TEXT, from_pandas=False)


def lookup(keys: pa.Array, mapping_keys: pa.Array, mapping_values: pa.Array) -> pa.Array:
    """``mapping[key]`` for each key (NULL where the key is NULL or not mapped)."""
    return mapping_values.take(pc.index_in(keys, value_set=mapping_keys))


#: The ``str`` dtype pandas infers for a column of Python texts (missing values are NaN).
_INFERRED_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def string_array(values: pa.Array) -> pd.api.extensions.ExtensionArray:
    """A text column as a frame's ``string`` column, without a copy.

    Its dtype is the one the frame's column had when built from Python texts: ``str`` (pandas'
    inferred text dtype) when it holds a text, ``string`` when it holds none (a column of only
    ``None`` is not inferred as text and was cast to the schema's ``string``). Stages downstream
    see the same dtypes as before, and so compare and fill missing values the same way.
    """
    values = values.cast(_TEXT)
    if values.null_count < len(values):
        return pd.arrays.ArrowStringArray(values, dtype=_INFERRED_TEXT)  # type: ignore[call-arg]  # pandas 3 takes it
    return pd.arrays.ArrowStringArray(values)


def _bools(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


# --------------------------------------------------------------------------- text


def texts(column: Column, *, blank_is_na: bool = False, strip: bool = False) -> pa.Array:
    """Text of raw values (see ``awra_values.id_text``); ``strip`` trims, ``blank_is_na`` drops blanks."""
    if isinstance(column, pa.Array) and pa.types.is_large_string(column.type):
        out = column
    elif isinstance(column, pa.Array) and pa.types.is_int64(column.type):
        out = column.cast(_TEXT)  # str(int): the same digits
    else:
        out = texts_of(None if v is None else V.id_text(v) for v in to_objects(column))
    if not (strip or blank_is_na):
        return out
    if blank_is_na:
        empty = pc.equal(pc.binary_length(out), 0).fill_null(False)
        out = pc.if_else(empty, pa.scalar(None, type=_TEXT), out)
    edge = _maybe_edge_blank(out)
    if edge.any():
        edge[edge] = _bools(pc.match_substring_regex(out.filter(pa.array(edge)), _EDGE_BLANK).fill_null(False))
    if edge.any():
        fixed = []
        for value in out.filter(pa.array(edge)).to_pylist():
            text = value.strip() if strip else value
            fixed.append(None if blank_is_na and (not text or text.isspace()) else text)
        out = pc.replace_with_mask(out, pa.array(edge), pa.array(fixed, type=_TEXT))
    return out


def _maybe_edge_blank(values: pa.Array) -> np.ndarray:
    """Texts that may start or end with a blank: an ASCII blank or any non-ASCII first/last byte."""
    offsets, data, present = _text_buffers(values)
    starts, ends = offsets[:-1], offsets[1:]
    filled = present & (ends > starts)
    first = np.zeros(len(values), dtype=np.uint8)
    last = np.zeros(len(values), dtype=np.uint8)
    first[filled] = data[starts[filled]]
    last[filled] = data[ends[filled] - 1]

    def suspect(byte: np.ndarray) -> np.ndarray:
        return ((byte >= 9) & (byte <= 13)) | ((byte >= 28) & (byte <= 32)) | (byte >= 0x80)

    return filled & (suspect(first) | suspect(last))


def _text_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``large_string`` array's offsets (n + 1), its UTF-8 bytes and where a value is present."""
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, dtype=np.uint8)
    return offsets, data, _bools(values.is_valid())


def _fixed_width_digits(values: pa.Array, pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """Texts shaped like ``pattern`` (``9`` a digit, other characters themselves), and their digits.

    Returns the rows that match and, for every row, the values of the pattern's digit places
    (an ``(n, digits)`` int32 array; meaningless where the row does not match). Read from the
    UTF-8 bytes: a matching text is ASCII, so its n-th byte is its n-th character.
    """
    width = len(pattern)
    offsets, data, present = _text_buffers(values)
    rows = present & (np.diff(offsets) == width)
    if len(data) < width:
        return np.zeros(len(values), dtype=bool), np.zeros((len(values), pattern.count("9")), dtype=np.int32)
    starts = np.where(rows, offsets[:-1], 0)  # a matching row's bytes lie within the data
    digit_places = [k for k, ch in enumerate(pattern) if ch == "9"]
    # a byte minus "0" wraps around for anything but a digit, so only digits are <= 9
    digits = data[starts[:, None] + np.array(digit_places)] - np.uint8(ord("0"))
    rows &= (digits <= 9).all(axis=1)
    for k, ch in enumerate(pattern):
        if ch != "9":
            rows &= data[starts + k] == ord(ch)
    return rows, digits.astype(np.int32)


def _days_of(rows: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Digits ``YYYYMMDD`` (columns 0-7) naming a real day within 1678..2261: the rows, the days."""
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 1, 12) - 1]
    month_days = month_days + ((month == 2) & leap)
    rows = rows & (year >= 1678) & (year <= 2261) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    months = (np.where(rows, year, 1970) - 1970) * 12 + np.where(rows, month, 1) - 1
    days = months.astype("datetime64[M]").astype("datetime64[D]") + (np.where(rows, day, 1) - 1)
    return rows, days


def _iso_days(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``YYYY-MM-DD`` texts naming a real day within 1678..2261: the rows, and the days (else NaT)."""
    rows, days = _days_of(*_fixed_width_digits(values, "9999-99-99"))
    return rows, np.where(rows, days, np.datetime64("NaT")).astype("datetime64[s]")


def lower(values: pa.Array) -> pa.Array:
    """``str.lower`` of each text (Arrow's when every text is ASCII, where the two agree)."""
    if pc.all(pc.string_is_ascii(values)).as_py() is not False:
        return pc.ascii_lower(values)
    return texts_of(None if v is None else v.lower() for v in values.to_pylist())


# --------------------------------------------------------------------------- money


def cents(column: Column) -> V.Parsed:
    """Integer cents of raw money values (``awra_values.one_cents`` for each value)."""
    n = len(column)
    result = np.zeros(n, dtype=np.int64)
    missing = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    slow = np.zeros(n, dtype=bool)
    if isinstance(column, LoadedText) and column.load is Decimal:
        # the server's numeric text: its simple values are the text rule's, the rest the Decimal's
        missing |= ~_bools(column.text.is_valid())
        _text_cents(column.text, ~missing, result, slow)
    elif isinstance(column, LoadedText):
        _object_cents(column.loaded(), result, missing, bad, slow)
    elif isinstance(column, pa.Array):
        missing |= ~_bools(column.is_valid())
        if pa.types.is_floating(column.type):
            _float_cents(column.fill_null(0.0).to_numpy(), ~missing, result, bad, slow)
        elif pa.types.is_int64(column.type):
            _int_cents(column.fill_null(0).to_numpy(), ~missing, result, bad)
        elif pa.types.is_large_string(column.type):
            _text_cents(column, ~missing, result, slow)
        else:
            slow |= ~missing
    else:
        _object_cents(column, result, missing, bad, slow)
    if slow.any():
        positions = np.flatnonzero(slow)
        for i, value in zip(positions, to_objects(take(column, slow)), strict=True):
            one = V.one_cents(value)
            if one is V.MISSING:
                missing[i] = True
            elif one is V.BAD:
                bad[i] = True
            else:
                result[i] = one
    return V.Parsed(pd.arrays.IntegerArray(result, missing | bad), missing, bad)


def _float_cents(
    values: np.ndarray, present: np.ndarray, result: np.ndarray, bad: np.ndarray, slow: np.ndarray
) -> None:
    values = np.where(present, values, 0.0)
    finite = np.isfinite(values)
    bad |= present & ~finite
    with np.errstate(over="ignore", invalid="ignore"):  # the largest floats scale to infinity: slow path
        scaled = np.where(finite, values, 0.0) * 100.0
        whole = np.round(scaled)  # half to even, as Python's round()
        fast = present & finite & (scaled > -1e14) & (scaled < 1e14) & (np.abs(scaled - whole) < 1e-6)
    result[fast] = whole[fast].astype(np.int64)
    slow |= present & finite & ~fast


def _int_cents(values: np.ndarray, present: np.ndarray, result: np.ndarray, bad: np.ndarray) -> None:
    values = np.where(present, values, 0).astype(np.int64)
    limit = _INT64_MAX // 100
    fits = (values >= -limit) & (values <= limit)
    result[present & fits] = values[present & fits] * 100
    bad |= present & ~fits


def _text_cents(column: pa.Array, present: np.ndarray, result: np.ndarray, slow: np.ndarray) -> None:
    simple = _bools(pc.match_substring_regex(column, _SIMPLE_MONEY).fill_null(False))
    slow |= present & ~simple
    if simple.any():
        text = column.filter(pa.array(simple))
        text = pc.replace_substring_regex(text, pattern=r"^(-?[0-9]+)\.?$", replacement=r"\1.00")
        text = pc.replace_substring_regex(text, pattern=r"^(-?[0-9]+)\.([0-9])$", replacement=r"\1.\20")
        result[simple] = pc.replace_substring(text, ".", "").cast(pa.int64()).to_numpy()


def _object_cents(
    column: np.ndarray, result: np.ndarray, missing: np.ndarray, bad: np.ndarray, slow: np.ndarray
) -> None:
    """Mixed Python values (SQLite's NUMERIC stores 12.50 as REAL and 12.00 as INTEGER; Decimals)."""
    missing |= np.fromiter((v is None for v in column), dtype=bool, count=len(column))
    kinds = np.frompyfunc(type, 1, 1)(column)
    is_int = np.array(kinds == int, dtype=np.bool_)  # noqa: E721  (exact types: bool is not money)
    is_float = np.array(kinds == float, dtype=np.bool_)  # noqa: E721
    if is_int.any():
        try:
            whole = column[is_int].astype(np.int64)
        except OverflowError:
            slow |= is_int
        else:
            part, part_bad = np.zeros(len(whole), dtype=np.int64), np.zeros(len(whole), dtype=bool)
            _int_cents(whole, np.ones(len(whole), dtype=bool), part, part_bad)
            result[is_int], bad[is_int] = part, part_bad
    if is_float.any():
        values = column[is_float].astype(np.float64)
        part = np.zeros(len(values), dtype=np.int64)
        part_bad, part_slow = np.zeros(len(values), dtype=bool), np.zeros(len(values), dtype=bool)
        _float_cents(values, np.ones(len(values), dtype=bool), part, part_bad, part_slow)
        result[is_float], bad[is_float], slow[is_float] = part, part_bad, part_slow
    rest = ~(missing | is_int | is_float)
    if rest.any() and pd.api.types.infer_dtype(column[rest], skipna=True) == "decimal":
        _decimal_cents(column, rest, result, slow)
    else:
        slow |= rest


def _decimal_cents(column: np.ndarray, rows: np.ndarray, result: np.ndarray, slow: np.ndarray) -> None:
    """Decimals with at most two decimal places, exactly, through Arrow's decimal128(38, 2).

    Arrow refuses a value it cannot hold exactly at that scale (more decimals, NaN, infinity,
    too many digits): then every value takes the per-value rule.
    """
    try:
        scaled = pa.array(column[rows], type=pa.decimal128(38, 2), from_pandas=False)
    except (pa.ArrowException, ValueError, TypeError):
        slow |= rows
        return
    words = np.frombuffer(scaled.buffers()[1], dtype=np.int64)[2 * scaled.offset : 2 * (scaled.offset + len(scaled))]
    low, high = words[0::2], words[1::2]
    # a value fits int64 when its high word only repeats the low word's sign; -2**63 is out,
    # as the per-value rule keeps cents within +-(2**63 - 1)
    fits = ((high == 0) & (low >= 0)) | ((high == -1) & (low < 0) & (low != np.iinfo(np.int64).min))
    where = np.flatnonzero(rows)
    result[where[fits]] = low[fits]
    slow[where[~fits]] = True


# --------------------------------------------------------------------------- dates and times


def dates(column: Column) -> V.Parsed:
    """Dates (tz-naive midnight), as ``awra_values.dates`` reads them."""
    if isinstance(column, pa.Array) and pa.types.is_large_string(column.type):
        fast, seconds = _iso_days(column)
        return _merge_dates(column, fast, seconds, V.dates)
    if isinstance(column, LoadedText) and column.load is load_date:
        fast, seconds = _iso_days(column.text)
        return _merge_dates(column, fast, seconds, V.dates)
    objects = to_objects(column)
    if pd.api.types.infer_dtype(objects, skipna=True) == "date" and not any(
        type(v) is not date for v in objects if v is not None
    ):
        days = pa.array(objects, type=pa.date32()).cast(pa.timestamp("s"))
        seconds = days.to_numpy(zero_copy_only=False).astype("datetime64[s]")
        missing = np.isnat(seconds)
        placed = ~missing & (seconds >= _LOW_DAY) & (seconds <= _HIGH_DAY)
        values = np.where(placed, seconds, np.datetime64("NaT")).astype("datetime64[ns]")
        return V.Parsed(values, missing, ~missing & ~placed)
    return V.dates(objects)


def timestamps(column: Column) -> pd.Series:
    """UTC timestamps, as ``awra_values.timestamps`` reads them."""
    text: pa.Array | None = None
    if isinstance(column, pa.Array) and pa.types.is_large_string(column.type):
        text = column
    elif isinstance(column, LoadedText) and column.load is load_timestamp:
        text = column.text
    elif isinstance(column, LoadedText) and column.load is load_utc_timestamp:
        # the server writes UTC (see ``awra._copy_from_postgres``) with a "+00" offset
        text = pc.replace_substring_regex(column.text, pattern=r"\+00$", replacement="")
    if text is not None:
        fast, seconds = _iso_seconds(text)
        placed = fast & (seconds <= _HIGH_DAY)
        values = np.where(placed, seconds, np.datetime64("NaT")).astype("datetime64[ns]")
        if not fast.all():
            rest = V.timestamps(to_objects(take(column, ~fast)))
            values[~fast] = rest.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        return pd.Series(values).dt.tz_localize("UTC")
    return V.timestamps(to_objects(column))


def _iso_seconds(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``YYYY-MM-DD HH:MM:SS`` texts of a real moment within 1678..2261: the rows, their seconds."""
    rows, d = _fixed_width_digits(values, "9999-99-99 99:99:99")
    rows, days = _days_of(rows, d)
    hour, minute, second = (d[:, 8 + 2 * k] * 10 + d[:, 9 + 2 * k] for k in range(3))
    rows &= (hour <= 23) & (minute <= 59) & (second <= 59)
    seconds = days.astype("datetime64[s]") + (hour * 3600 + minute * 60 + second).astype("timedelta64[s]")
    return rows, np.where(rows, seconds, np.datetime64("NaT"))


def _merge_dates(
    column: Column, fast: np.ndarray, seconds: np.ndarray, per_value: Callable[[np.ndarray], V.Parsed]
) -> V.Parsed:
    n = len(column)
    values = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    missing = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    placed = fast & (seconds >= _LOW_DAY) & (seconds <= _HIGH_DAY)
    values[placed] = seconds[placed].astype("datetime64[ns]")
    bad[fast & ~placed] = True
    if not fast.all():
        rest = per_value(to_objects(take(column, ~fast)))
        values[~fast], missing[~fast], bad[~fast] = rest.values, rest.missing, rest.bad
    return V.Parsed(values, missing, bad)


# --------------------------------------------------------------------------- server text loaders


def load_date(text: str) -> Any:
    """A PostgreSQL ``date`` in ISO style, as psycopg loads it; text it cannot hold stays text.

    (psycopg refuses a BC or infinite date outright; as text it becomes a bad-date finding.)
    """
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


def load_timestamp(text: str) -> Any:
    """A PostgreSQL ``timestamp`` in ISO style, as psycopg loads it (naive)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def load_utc_timestamp(text: str) -> Any:
    """A PostgreSQL ``timestamptz`` written in UTC (``...+00``), as an aware datetime."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


# --------------------------------------------------------------------------- integers


def ints(column: Column) -> Any:
    """Integers (``Int64``), as ``awra_values.ints`` reads them."""
    if isinstance(column, pa.Array) and pa.types.is_int64(column.type):
        return pd.arrays.IntegerArray(column.fill_null(0).to_numpy(), ~_bools(column.is_valid()))
    return V.ints(to_objects(column))
