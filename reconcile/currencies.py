"""Currencies: the company's home currency, each record's currency, exact exchange-rate arithmetic.

Amounts in different currencies are never added: totals, the tie-out bridge and the account
impact are kept per currency. A record's currency is its own ``currency`` when the side states
it; a record that states none takes its counterpart's (QBO leaves ``CurrencyRef`` out in a
company without multi-currency, AWRA may leave it NULL), else the company's home currency, else
``UNKNOWN_CURRENCY``. Both sides of a pair thus fall in one currency unless both state a
currency and they differ, which is exactly a ``currency`` mismatch.

The home currency is what QBO's Preferences say (``CurrencyPrefs.HomeCurrency``, kept in
snapshots as ``Preferences.json``), else the ``[qbo] home_currency`` config key, else unknown:
then nothing that needs it (exchange-rate differences, home-currency amounts) is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np
import pandas as pd

from reconcile.model import QboData
from reconcile.params import RunParams

#: The currency of a record that states none when no counterpart or home currency says it.
UNKNOWN_CURRENCY = "unknown"


def home_currency_of(qbo: QboData, params: RunParams) -> str | None:
    """The company's home currency: QBO's Preferences, else the config's, else ``None``."""
    return qbo.home_currency or params.home_currency or None


def currency_codes(
    awra_currency: pd.Series, qbo_currency: pd.Series, extra: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Both sides' currency texts as codes into one tuple of names (missing → -1).

    ``extra`` names are added to the names (once each) so a caller can refer to them by code.
    Each side is factorized on its own; only the distinct values are merged.
    """
    a_codes, a_uniques = pd.factorize(awra_currency)
    q_codes, q_uniques = pd.factorize(qbo_currency)
    names: list[str] = [str(u) for u in a_uniques]
    position = {name: i for i, name in enumerate(names)}
    for name in [str(u) for u in q_uniques] + list(extra):
        if name not in position:
            position[name] = len(names)
            names.append(name)
    q_map = np.array([position[str(u)] for u in q_uniques] + [-1], dtype=np.int64)
    return a_codes.astype(np.int64), q_map[q_codes], tuple(names)


def rate_decimal(text: object) -> Decimal | None:
    """An exchange rate held as decimal text, as a ``Decimal`` (``None`` when missing or not a number)."""
    if text is None or text is pd.NA or (isinstance(text, float) and np.isnan(text)):
        return None
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def home_cents(amount_cents: int, rate: Decimal) -> int:
    """``amount × rate`` in home-currency cents, rounded half away from zero (exact)."""
    return int((Decimal(amount_cents) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def money_text(cents: int, currency: str | None = None) -> str:
    """Cents as ``1,234.50`` with the currency code after it when known (``1,234.50 KES``)."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    text = f"{sign}{whole:,}.{frac:02d}"
    return f"{text} {currency}" if currency else text


__all__ = ["UNKNOWN_CURRENCY", "currency_codes", "home_cents", "home_currency_of", "money_text", "rate_decimal"]
