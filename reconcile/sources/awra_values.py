"""The reader's rule for one raw AWRA value: integer cents, dates, timestamps, ids as text, flags.

Each rule takes one value as the driver delivered it (``Decimal``, ``float``, ``int``, ``str``,
``date``...) and says what it means, or that it is missing or bad (see ``reconcile.sources.awra``
for the rules in words). ``awra_columns`` applies the same rules to whole columns, with fast
paths for the common shapes, and falls back to these for every other value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

_CTX = Context(prec=60, rounding=ROUND_HALF_UP)
_CENT = Decimal("0.01")
_INT64_MAX = 2**63 - 1
MISSING, BAD = "missing", "bad"  # sentinels (compared by identity)


def _cents_slow(value: Decimal) -> int | str:
    if not value.is_finite():
        return BAD
    try:
        cents = int(value.quantize(_CENT, context=_CTX).scaleb(2, context=_CTX))
    except InvalidOperation:
        return BAD
    return cents if -_INT64_MAX <= cents <= _INT64_MAX else BAD


def one_cents(value: Any) -> int | str:
    """Integer cents of one raw value, or ``MISSING`` / ``BAD`` (see the module docstring)."""
    kind = type(value)
    if value is None:
        return MISSING
    if kind is float:
        if not math.isfinite(value):
            return BAD
        scaled = value * 100.0
        # clearly a whole number of cents: the float's decimal text rounds to the same cents
        # (range first: a float near the largest one overflows to infinity when scaled)
        if -1e14 < scaled < 1e14:
            whole = round(scaled)
            if -1e-6 < scaled - whole < 1e-6:
                return whole
        return _cents_slow(Decimal(repr(value)))
    if kind is Decimal:
        if value.is_finite():
            scaled_dec = value.scaleb(2)
            whole = int(scaled_dec)
            if whole == scaled_dec and -_INT64_MAX <= whole <= _INT64_MAX:
                return whole
        return _cents_slow(value)
    if kind is int:
        return value * 100 if -_INT64_MAX <= value * 100 <= _INT64_MAX else BAD
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif isinstance(value, float | int) and not isinstance(value, bool):
        return one_cents(float(value) if isinstance(value, float) else int(value))  # numpy scalars
    elif not isinstance(value, str):
        return BAD
    text = value.strip()
    if not text:
        return MISSING
    whole_part, _, fraction = text.partition(".")
    digits = whole_part[1:] if whole_part[:1] == "-" else whole_part
    simple = len(fraction) <= 2 and (fraction.isdigit() or not fraction) and fraction.isascii()
    if simple and digits.isdigit() and digits.isascii() and len(digits) <= 16:
        cents = int(digits) * 100 + int(fraction.ljust(2, "0"))
        return -cents if whole_part[:1] == "-" else cents
    if "_" in text:
        return BAD
    try:
        parsed = Decimal(text)
    except InvalidOperation:
        return BAD
    return _cents_slow(parsed)


@dataclass(frozen=True)
class Parsed:
    """A parsed column: its typed values and which raw values were missing or bad."""

    values: Any  # a pandas array / numpy array aligned with the raw column
    missing: np.ndarray
    bad: np.ndarray


def per_value_cents(raw: np.ndarray) -> Parsed:
    """Integer cents of each raw value, one ``one_cents`` at a time."""
    results = [one_cents(v) for v in raw]
    missing = np.fromiter((r is MISSING for r in results), dtype=bool, count=len(results))
    bad = np.fromiter((r is BAD for r in results), dtype=bool, count=len(results))
    clean: list[Any] = [None if isinstance(r, str) else r for r in results] if missing.any() or bad.any() else results
    return Parsed(pd.array(clean, dtype="Int64"), missing, bad)


def id_text(value: Any) -> str:
    """A raw id or text value as text: an INTEGER (or whole REAL/Decimal) id reads as ``"12"``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        return str(int(value)) if value.is_finite() and value == value.to_integral_value() else str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def raw_text(value: Any) -> str | None:
    """A raw value as shown in a data-quality row."""
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    return id_text(value)


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T].*)?\Z", re.DOTALL)
_LOW_TS = pd.Timestamp("1678-01-01")
_HIGH_TS = pd.Timestamp("2261-12-31")


def date_head(value: Any) -> str | None:
    """The ``YYYY-MM-DD`` part of a value that starts with a date, else ``None``."""
    if isinstance(value, date):
        return value.isoformat()[:10]
    text = id_text(value).strip()
    return text[:10] if _DATE_RE.match(text) else None


def dates(raw: np.ndarray) -> Parsed:
    """Dates (tz-naive midnight). A value with a time part keeps its date part."""
    missing = np.fromiter(
        (v is None or (isinstance(v, str) and (not v or v.isspace())) for v in raw), dtype=bool, count=len(raw)
    )
    # a number in a date column is bad data, not an epoch: parse it as text (so it fails)
    raw = np.array([str(v) if isinstance(v, int | float) else v for v in raw], dtype=object)
    parsed = pd.to_datetime(pd.Series(raw, dtype=object), format="%Y-%m-%d", errors="coerce")
    retry = np.flatnonzero(parsed.isna().to_numpy() & ~missing)
    if len(retry):  # date-time text, padded text...: take the date part where there is one
        heads = raw.copy()
        heads[retry] = [date_head(v) for v in raw[retry]]
        parsed = pd.to_datetime(pd.Series(heads, dtype=object), format="%Y-%m-%d", errors="coerce")
    parsed = parsed.dt.normalize()
    parsed = parsed.where((parsed >= _LOW_TS) & (parsed <= _HIGH_TS))
    values = parsed.astype("datetime64[ns]").to_numpy()
    bad = ~missing & np.isnat(values)
    return Parsed(values, missing, bad)


def timestamps(raw: np.ndarray) -> pd.Series:
    """UTC timestamps; naive values are taken as UTC (CONTRACTS §1); unusable ones are NaT."""
    parsed = pd.to_datetime(pd.Series(raw, dtype=object), format="ISO8601", utc=True, errors="coerce")
    low, high = _LOW_TS.tz_localize("UTC"), _HIGH_TS.tz_localize("UTC")
    return parsed.where((parsed >= low) & (parsed <= high)).astype("datetime64[ns, UTC]").reset_index(drop=True)


_TRUE = frozenset({"1", "true", "t", "yes", "y"})
_FALSE = frozenset({"0", "false", "f", "no", "n"})


def one_flag(value: Any) -> bool | str:
    """A 0/1 (or true/false, yes/no) flag, or ``MISSING`` / ``BAD``."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        if value == 1:
            return True
        if value == 0:
            return False
        return BAD
    text = id_text(value).strip().lower()
    if not text:
        return MISSING
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return BAD


def flags(raw: np.ndarray) -> Parsed:
    """Flags (``boolean``) of raw values."""
    results = [one_flag(v) for v in raw]
    missing = np.fromiter((r is MISSING for r in results), dtype=bool, count=len(results))
    bad = np.fromiter((r is BAD for r in results), dtype=bool, count=len(results))
    clean = [r if isinstance(r, bool) else None for r in results]
    return Parsed(pd.array(clean, dtype="boolean"), missing, bad)


def one_int(value: Any) -> int | None:
    """An integer, or ``None`` when the value is NULL or not a whole number."""
    if value is None:
        return None
    if isinstance(value, int):  # bool included
        return int(value)
    if isinstance(value, float | Decimal):
        return int(value) if math.isfinite(value) and value == int(value) else None
    text = id_text(value).strip()
    return int(text) if re.fullmatch(r"-?\d{1,18}", text) else None


def ints(raw: np.ndarray) -> Any:
    """Integers (``Int64``) of raw values; NULL or non-integer values are ``<NA>``."""
    if pd.api.types.infer_dtype(raw, skipna=True) in ("integer", "empty"):
        return pd.array(list(raw), dtype="Int64")
    return pd.array([one_int(v) for v in raw], dtype="Int64")


def decimal_text(value: Any) -> object:
    """Normalized decimal text of a rate (``"16"``, ``"7.125"``), ``None`` if NULL, else ``BAD``."""
    if value is None:
        return None
    try:
        if isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, int | Decimal):
            number = Decimal(value)
        else:
            text = id_text(value).strip()
            if not text:
                return None
            if "_" in text:
                return BAD
            number = Decimal(text)
    except InvalidOperation:
        return BAD
    if not number.is_finite():
        return BAD
    out = format(number.normalize(), "f")
    return "0" if out in ("-0", "0") else out
