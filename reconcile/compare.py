"""Compare paired records field by field: ``mismatch`` findings with exact-cent tolerances.

A pair is compared when its AWRA row passes the run's status filter and both rows have usable
data (``data_ok``). Fields (``FIELDS``): amount, tax_amount, line_total (Int64 cents,
``abs(AWRA − QBO) > tolerance``), txn_date (days; a pair with one side looked up beyond the
window always differs), party (the AWRA party's QBO mapping vs the QBO party ref; skipped when
either is unknown: mapping gaps are the mapping checks' findings), currency, status (void on
one side only), exchange_rate (where both sides state a rate and the home currency is known:
``abs(AWRA − QBO) > tolerance`` as exact decimals, the home-currency amounts in the cause) and,
for probable pairs, number (the QBO entry carries another number or none).

A pair that is not compared but moves the totals (say an AWRA record outside the status filter
whose QBO twin is live) still gets the one finding that explains the money: ``txn_date`` when a
side lies beyond the window, else ``status``.

Everything is vectorized over the pairs; text is built only for the rows that differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.currencies import home_cents, home_currency_of, money_text, rate_decimal
from reconcile.match import MATCH_METHODS, day_values, int_values, strings_from_codes, texts_at
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams
from reconcile.tieout import CARRIER_RANK, Raw, RunArrays, cents_text, date_text, finish, new_findings

#: The AWRA ↔ QBO field correspondence: mismatch field → the ``TRANSACTIONS`` column compared
#: on both sides (the same schema on both), and how.
FIELDS: Mapping[str, tuple[str, str]] = {
    "amount": ("amount_cents", "cents"),
    "tax_amount": ("tax_cents", "cents"),
    "line_total": ("line_total_cents", "cents"),
    "txn_date": ("txn_date", "days"),
    "party": ("party_id", "mapped"),
    "currency": ("currency", "text"),
    "status": ("is_void", "void"),
    "exchange_rate": ("exchange_rate", "rate"),
}

#: The pairs that are compared (``outside_window`` pairs lie wholly beyond the window).
_COMPARED_OUTCOMES = ("matched", "probable", "out_of_window")

_CAUSE = {
    "amount": "the document total differs",
    "tax_amount": "the tax total differs (check the tax code mapping and rate)",
    "line_total": "the lines add up differently (a line added, removed or changed on one side)",
    "txn_date": "the transaction date differs",
    "party": "the customer/vendor differs from the AWRA party's QBO mapping",
    "currency": "the currency differs",
    "status": "voided on one side only",
    "exchange_rate": "the exchange rate differs",
    "number": "probably keyed by hand in QBO: same party, amount and near date, but another number",
}
_ACTION = {
    "amount": "find which side is wrong; correct QBO (AWRA is the source of record) or correct AWRA and re-sync",
    "tax_amount": "check the tax code mapping and the QBO tax rate, then correct the QBO transaction",
    "line_total": "compare the lines and correct the side that is wrong",
    "txn_date": "correct the date on the wrong side so both fall in the same period",
    "party": "correct the customer/vendor on the QBO transaction, or fix the party mapping",
    "currency": "correct the currency on the wrong side",
    "status": "void it on the other side too, or reinstate it where voided by mistake",
    "exchange_rate": "correct the exchange rate on the wrong side, so both post the same home-currency amount",
    "number": "confirm it is the same transaction; record its QBO Id in AWRA instead of syncing (a sync "
    "would create a duplicate)",
}


def compared_pairs(
    matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams, arrays: RunArrays | None = None
) -> np.ndarray:
    """Per ``MATCHES`` row: a pair whose AWRA row passes the status filter, both data usable."""
    run = arrays or RunArrays(matches, awra, qbo, params)
    rows = np.flatnonzero(run.with_outcome(_COMPARED_OUTCOMES))
    out = np.zeros(len(matches), dtype=bool)
    if len(rows) == 0:
        return out
    ar, qr = run.awra_row[rows], run.qbo_row[rows]
    out[rows] = run.a_in_filter[ar] & run.a_ok[ar] & run.q_ok[qr]
    return out


def compare_pairs(pairs: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams) -> pd.DataFrame:
    """Mismatch findings for the pairs in ``pairs`` (a ``match.MATCHES`` frame).

    Returns ``frames.FINDINGS`` rows (category ``mismatch``) plus the internal columns
    ``tieout.ROW_COLUMNS`` (``match_row`` is the position in ``pairs``), with ``effect_cents``
    not yet assigned (0). Inputs are not modified.
    """
    run = RunArrays(pairs, awra, qbo, params)
    return finish(compare_parts(pairs, awra, qbo, params, run), pairs, awra, qbo, params, run)


def compare_parts(
    pairs: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams, arrays: RunArrays | None = None
) -> list[Raw]:
    """``compare_pairs`` as findings under construction (see ``tieout.finish``).

    ``arrays``: the run's ``tieout.RunArrays`` when the caller has them (else built here).
    """
    a, q = awra.transactions, qbo.transactions
    run = arrays or RunArrays(pairs, awra, qbo, params)
    rows = np.flatnonzero(run.with_outcome(_COMPARED_OUTCOMES))
    if len(rows) == 0:
        return []
    tol = params.tolerances
    ar, qr = run.awra_row[rows], run.qbo_row[rows]
    compared = compared_pairs(pairs, awra, qbo, params, run)[rows]
    oow = ~(run.a_inwin[ar] & run.q_inwin[qr])
    parts: list[Raw] = []
    words = _ForcedWords(run)

    av_void, qv_void = run.a_void[ar], run.q_void[qr]
    void_differs = av_void != qv_void
    # voided on one side: only the status is reported (the zero amounts follow from the void)
    fields_compared = compared & ~void_differs

    def emit(field: str, mask: np.ndarray, rank: object, awra_value: _Lazy, qbo_value: _Lazy, diff: _Lazy) -> None:
        sel = np.flatnonzero(mask)
        if len(sel) == 0:
            return
        # one wording for the field, except for the few pairs raised only for their money
        forced_rows = np.flatnonzero(~compared[sel])
        cause: object = _CAUSE[field]
        action: object = _ACTION[field]
        if len(forced_rows):
            cause = np.full(len(sel), _CAUSE[field], dtype=object)
            action = np.full(len(sel), _ACTION[field], dtype=object)
            for i in forced_rows:
                cause[i], action[i] = words(field, int(ar[sel[i]]), int(qr[sel[i]]), cause[i], action[i])
        parts.append(
            new_findings(
                len(sel),
                entity=pairs["entity"].iloc[rows[sel]],
                category="mismatch",
                field=field,
                awra_value=_at(awra_value, sel),
                qbo_value=_at(qbo_value, sel),
                difference=_at(diff, sel),
                cause=cause,
                action=action,
                match_method=strings_from_codes(run.method[rows[sel]], MATCH_METHODS),
                effect_cents=0,
                awra_row=ar[sel],
                qbo_row=qr[sel],
                match_row=rows[sel],
                carrier_rank=np.broadcast_to(np.asarray(rank, dtype=np.int64), mask.shape)[sel],
            )
        )

    def lazy(values: pd.Series, at: np.ndarray) -> pd.Series:
        return values.take(at).reset_index(drop=True)

    # money fields
    for field, col, rank in (
        ("amount", "amount_cents", CARRIER_RANK["amount"]),
        ("tax_amount", "tax_cents", CARRIER_RANK["other_field"]),
        ("line_total", "line_total_cents", CARRIER_RANK["other_field"]),
    ):
        av, an = int_values(a[col])
        qv, qn = int_values(q[col])
        av, an, qv, qn = av[ar], an[ar], qv[qr], qn[qr]
        limit = {"amount": tol.amount_cents, "tax_amount": tol.tax_cents, "line_total": tol.line_total_cents}[field]
        both = ~an & ~qn
        differs = both & (np.abs(av - qv) > limit)
        if field == "amount":
            differs |= an != qn  # a known amount against an unknown one cannot tie out
        mask = fields_compared & differs
        emit(
            field,
            mask,
            rank,
            _money_at(a[col], ar),
            _money_at(q[col], qr),
            _money_diff(av, qv, ~both),
        )

    # dates
    ad, adn = day_values(a["txn_date"])
    qd, qdn = day_values(q["txn_date"])
    ad, adn, qd, qdn = ad[ar], adn[ar], qd[qr], qdn[qr]
    dboth = ~adn & ~qdn
    date_differs = (dboth & (np.abs(ad - qd) > tol.date_days)) | oow
    # party through the mapping
    party_differs = ~pairs["party_agrees"].fillna(True).to_numpy(dtype=bool)[rows]
    # currency
    cur_a, cur_q = _codes_pair(a["currency"], q["currency"])
    ca, cq = cur_a[ar], cur_q[qr]
    currency_differs = (ca >= 0) & (cq >= 0) & (ca != cq)
    # status: void on one side only
    number_differs = run.method[rows] == MATCH_METHODS.index("probable")

    # not compared, but moving the totals: one explaining finding
    effects = run.effects[rows]
    a_ok, q_ok = run.a_ok[ar], run.q_ok[qr]
    a_not_ready = run.a_inwin[ar] & ~run.a_ready[ar]
    forced = ~compared & (effects != 0) & a_ok & q_ok & ~a_not_ready
    forced_date = forced & oow
    forced_status = forced & ~oow

    emit(
        "txn_date",
        (fields_compared & date_differs) | forced_date,
        np.where(oow, CARRIER_RANK["txn_date_out_of_window"], CARRIER_RANK["other_field"]),
        _Lazy(lambda s: date_text(lazy(a["txn_date"], ar[s]))),
        _Lazy(lambda s: date_text(lazy(q["txn_date"], qr[s]))),
        _Lazy(lambda s: _days_text(ad[s] - qd[s], ~dboth[s])),
    )
    emit(
        "party",
        fields_compared & party_differs,
        CARRIER_RANK["other_field"],
        _Lazy(lambda s: _party_awra(awra, ar[s])),
        _Lazy(lambda s: _party_qbo(qbo, qr[s])),
        _Lazy(lambda s: pd.Series(pd.array([None] * len(s), dtype="string"))),
    )
    emit(
        "currency",
        fields_compared & currency_differs,
        CARRIER_RANK["currency"],
        _Lazy(lambda s: lazy(a["currency"], ar[s])),
        _Lazy(lambda s: lazy(q["currency"], qr[s])),
        _Lazy(lambda s: pd.Series(pd.array([None] * len(s), dtype="string"))),
    )
    parts.extend(_exchange_rate_parts(pairs, awra, qbo, params, run, rows, fields_compared & ~currency_differs))
    a_void_in_window = av_void & run.a_inwin[ar]
    emit(
        "status",
        ((compared | a_void_in_window) & a_ok & q_ok & void_differs) | forced_status,
        CARRIER_RANK["status"],
        _Lazy(lambda s: lazy(a["status"], ar[s])),
        _Lazy(lambda s: pd.Series(np.where(qv_void[s], "void", "live")).astype("string")),
        _Lazy(lambda s: pd.Series(pd.array([None] * len(s), dtype="string"))),
    )
    emit(
        "number",
        fields_compared & number_differs,
        CARRIER_RANK["other_field"],
        _Lazy(lambda s: lazy(a["number"], ar[s])),
        _Lazy(lambda s: lazy(q["number"], qr[s])),
        _Lazy(lambda s: pd.Series(pd.array([None] * len(s), dtype="string"))),
    )
    return parts


def _exchange_rate_parts(
    pairs: pd.DataFrame,
    awra: AwraData,
    qbo: QboData,
    params: RunParams,
    run: RunArrays,
    rows: np.ndarray,
    compared: np.ndarray,
) -> list[Raw]:
    """``exchange_rate`` mismatches of the compared pairs ``rows[compared]``.

    Only where both sides state a rate and the home currency is known (the finding shows the
    home-currency amounts); rates are compared as exact decimals against the tolerance.
    """
    home = home_currency_of(qbo, params)
    a, q = awra.transactions, qbo.transactions
    if home is None or not compared.any():
        return []
    ar, qr = run.awra_row[rows], run.qbo_row[rows]
    codes_a, codes_q = _codes_pair(a["exchange_rate"], q["exchange_rate"])
    ca, cq = codes_a[ar], codes_q[qr]
    # normalized texts: only differing texts can be differing rates
    candidates = np.flatnonzero(compared & (ca >= 0) & (cq >= 0) & (ca != cq))
    if len(candidates) == 0:
        return []
    a_rates = texts_at(a["exchange_rate"], ar[candidates])
    q_rates = texts_at(q["exchange_rate"], qr[candidates])
    tolerance = params.tolerances.exchange_rate
    chosen: list[int] = []
    picked: list[int] = []
    causes: list[str] = []
    diffs: list[str] = []
    for j, (i, a_text, q_text) in enumerate(zip(candidates.tolist(), a_rates, q_rates, strict=True)):
        a_rate, q_rate = rate_decimal(a_text), rate_decimal(q_text)
        if a_rate is None or q_rate is None or abs(a_rate - q_rate) <= tolerance:
            continue
        chosen.append(i)
        picked.append(j)
        diffs.append(_decimal_text(a_rate - q_rate))
        causes.append(_rate_cause(run, int(ar[i]), int(qr[i]), a_rate, q_rate, home))
    if not chosen:
        return []
    sel = np.array(chosen, dtype=np.int64)
    return [
        new_findings(
            len(sel),
            entity=pairs["entity"].iloc[rows[sel]],
            category="mismatch",
            field="exchange_rate",
            awra_value=np.asarray(a_rates, dtype=object)[picked],
            qbo_value=np.asarray(q_rates, dtype=object)[picked],
            difference=np.array(diffs, dtype=object),
            cause=np.array(causes, dtype=object),
            action=_ACTION["exchange_rate"],
            match_method=strings_from_codes(run.method[rows[sel]], MATCH_METHODS),
            effect_cents=0,
            awra_row=ar[sel],
            qbo_row=qr[sel],
            match_row=rows[sel],
            carrier_rank=np.full(len(sel), CARRIER_RANK["other_field"]),
        )
    ]


def _rate_cause(run: RunArrays, ar: int, qr: int, a_rate: Decimal, q_rate: Decimal, home: str) -> str:
    """The exchange-rate cause, with each side's document total in the home currency."""
    names = run.currency_names
    a_cur, q_cur = names[run.a_currency[ar]], names[run.q_currency[qr]]
    a_amount, q_amount = int(run.a_amount[ar]), int(run.q_amount[qr])
    q_home_values, q_home_missing = int_values(run.qbo.transactions["home_amount_cents"])
    q_home = home_cents(q_amount, q_rate) if q_home_missing[qr] else int(q_home_values[qr])
    return (
        f"the exchange rate differs: AWRA {_decimal_text(a_rate)} {home} per {a_cur} "
        f"({money_text(a_amount, a_cur)} = {money_text(home_cents(a_amount, a_rate), home)}), "
        f"QBO {_decimal_text(q_rate)} {home} per {q_cur} "
        f"({money_text(q_amount, q_cur)} = {money_text(q_home, home)})"
    )


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


class _Lazy:
    """A column of values computed only for the selected rows."""

    def __init__(self, fn: Callable[[np.ndarray], pd.Series]):
        self.fn = fn

    def __call__(self, sel: np.ndarray) -> pd.Series:
        return self.fn(sel)


def _money_at(values: pd.Series, rows: np.ndarray) -> _Lazy:
    """Money values of ``values`` at ``rows[sel]`` as decimal text, computed on demand."""
    return _Lazy(lambda sel: cents_text(values.take(rows[sel]).reset_index(drop=True)))


def _money_diff(left: np.ndarray, right: np.ndarray, missing: np.ndarray) -> _Lazy:
    """``left - right`` cents at the selected rows as decimal text (missing where either is)."""
    return _Lazy(lambda sel: cents_text(_diff_series(left[sel] - right[sel], missing[sel])))


def _at(value: _Lazy, sel: np.ndarray) -> pd.Series:
    return value(sel).reset_index(drop=True)


def _diff_series(values: np.ndarray, missing: np.ndarray) -> pd.Series:
    return pd.Series(pd.arrays.IntegerArray(values.astype(np.int64), missing))


def _days_text(values: np.ndarray, missing: np.ndarray) -> pd.Series:
    return pd.Series(
        pd.array([None if m else str(int(v)) for v, m in zip(values, missing, strict=True)], dtype="string")
    )


def _codes_pair(left: pd.Series, right: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes of two text columns in one code space (missing → -1).

    Each side is factorized on its own (Arrow's hash on its own buffer, no 2M-row concat);
    then only the right side's distinct values are looked up among the left side's.
    """
    left_codes, left_uniques = pd.factorize(left)
    right_codes, right_uniques = pd.factorize(right)
    to_left = pd.Index(left_uniques).get_indexer(pd.Index(right_uniques)).astype(np.int64)
    new = to_left < 0  # values only on the right: codes after the left side's
    to_left[new] = len(left_uniques) + np.arange(int(new.sum()), dtype=np.int64)
    table = np.append(to_left, -1)  # code -1 (missing) reads the last slot
    return left_codes.astype(np.int64), table[right_codes]


def _party_awra(awra: AwraData, rows: np.ndarray) -> pd.Series:
    """The AWRA party as ``<name> → QBO <mapped id>`` for AWRA rows."""
    t = awra.transactions[["entity", "party_id", "party_name"]].iloc[rows].reset_index(drop=True)
    kind = t["entity"].map(F.PARTY_TYPE).astype("string")
    maps = awra.mappings[["mapping_type", "awra_id", "qbo_id"]].drop_duplicates(["mapping_type", "awra_id"])
    merged = pd.DataFrame({"t": kind, "p": t["party_id"], "n": t["party_name"]}).merge(
        maps, how="left", left_on=["t", "p"], right_on=["mapping_type", "awra_id"]
    )
    text = [
        f"{n if isinstance(n, str) else p} → QBO {m}"
        for n, p, m in zip(
            merged["n"].astype(object), merged["p"].astype(object), merged["qbo_id"].astype(object), strict=True
        )
    ]
    return pd.Series(pd.array(text, dtype="string"))


def _party_qbo(qbo: QboData, rows: np.ndarray) -> pd.Series:
    """The QBO party as ``<name> (<id>)`` for QBO rows."""
    t = qbo.transactions[["party_id", "party_name"]].iloc[rows]
    text = [
        f"{n} ({p})" if isinstance(n, str) else str(p)
        for n, p in zip(t["party_name"].astype(object), t["party_id"].astype(object), strict=True)
    ]
    return pd.Series(pd.array(text, dtype="string"))


def _text(value: object) -> str:
    return "" if value is None or value is pd.NA else str(value)


class _ForcedWords:
    """Wording for pairs raised only because they move the totals (not compared)."""

    def __init__(self, run: RunArrays):
        # only read for the few pairs raised for their money: the arrays are not touched otherwise
        self.run = run
        self.a_status = run.awra.transactions["status"]
        self.status = run.params.status

    def __call__(self, field: str, ar: int, qr: int, cause: str, action: str) -> tuple[str, str]:
        run = self.run
        side = "AWRA" if run.a_in_total[ar] else "QBO"
        other = "QBO" if side == "AWRA" else "AWRA"
        if field == "status" and run.a_void[ar] != run.q_void[qr]:
            return f"voided in {'AWRA' if run.a_void[ar] else 'QBO'} only", action
        if field == "txn_date":
            return f"the date differs: the {other} twin lies outside the run's window, so only {side} counts it", action
        q_state = "void" if run.q_void[qr] else "live"
        return (
            f"status differs for the run's filter ({self.status}): only {side} counts it "
            f"(AWRA {_text(self.a_status.iat[ar]) or 'unknown'}, QBO {q_state})",
            f"bring the status in line on both sides (the run compares {self.status} records)",
        )
