"""What the workbook and the HTML report share: names, links, text cleaning and headline figures.

Everything here is a pure function of a ``RunResult`` (or of plain values): no clock, no I/O,
and stable ordering, so both writers are deterministic.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.model import CurrencyTotals, RunResult

#: Sheet / section title of each known category (stable: documented in reports/README.md).
CATEGORY_TITLES: Mapping[str, str] = {
    "missing_in_qbo": "Missing in QBO",
    "missing_in_awra": "Missing in AWRA",
    "duplicate_in_qbo": "Duplicates in QBO",
    "duplicate_in_awra": "Duplicates in AWRA",
    "mismatch": "Mismatches",
    "sync_conflict": "Sync conflicts",
    "not_ready": "Not ready to sync",
    "mapping_missing": "Mapping missing",
    "mapping_broken": "Mapping broken",
    "mapping_duplicate": "Mapping duplicates",
    "mapping_mismatch": "Mapping mismatches",
    "retry_loop": "Retry loops",
    "data_quality": "Data quality",
}

#: A finding's ``field`` as the report names it to a reader (unknown fields: words, capitalised).
FIELD_WORDS: Mapping[str, str] = {
    "amount": "Amount",
    "tax_amount": "Tax",
    "txn_date": "Date",
    "party": "Customer or vendor",
    "currency": "Currency",
    "status": "Status",
    "line_total": "Total of the lines",
    "exchange_rate": "Exchange rate",
    "deposit_account": "Deposit account",
    "payment_method": "Payment method",
    "line_item": "Line item",
    "line_account": "Line account",
    "line_amount": "Line amount",
    "line_tax_code": "Line tax code",
    "line_posting": "Line debit or credit",
    "line_extra": "Line on one side only",
    "application": "Invoices paid",
    "attempts": "Sync attempts",
}

#: Categories about master data (mapping gaps) rather than transactions.
MAPPING_CATEGORIES: tuple[str, ...] = ("mapping_missing", "mapping_broken", "mapping_duplicate", "mapping_mismatch")

#: Informational categories: listed, but not counted as money at stake.
INFORMATIONAL_CATEGORIES: tuple[str, ...] = ("not_ready",)

#: Excel's limit on the characters in one cell, and the marker a truncated text ends with.
EXCEL_CELL_LIMIT = 32_767
TRUNCATED_MARKER = "… [truncated]"

# Characters XML 1.0 cannot carry (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/FFFF).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# The same without surrogates, for Arrow-backed string columns (which cannot hold them).
_ILLEGAL_ARROW = "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"
_REPLACEMENT = "\ufffd"


def category_title(category: str) -> str:
    """The display title of a category (unknown ones: words capitalised)."""
    return CATEGORY_TITLES.get(category) or category.replace("_", " ").strip().capitalize() or "Uncategorised"


def field_words(field: str) -> str:
    """A finding's field in words (``txn_date`` -> ``Date``), never the internal name."""
    return FIELD_WORDS.get(field) or field.replace("_", " ").strip().capitalize()


def categories_in_order(categories: pd.Series | list[str]) -> list[str]:
    """The distinct categories present, known ones in report order, then unknown ones sorted."""
    present = {str(c) for c in pd.Series(categories, dtype="string").dropna().unique()}
    known = [c for c in F.CATEGORIES if c in present]
    return known + sorted(present - set(known))


def clean_text(value: str, limit: int = EXCEL_CELL_LIMIT) -> str:
    """Text safe to store anywhere: illegal characters replaced, cut to ``limit`` with a marker.

    Control characters XML cannot carry become U+FFFD (visible), CR and CRLF become LF.
    """
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub(_REPLACEMENT, value)
    if "\r" in value:
        # XML readers turn a raw CR into LF anyway; make that explicit and the same everywhere.
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if len(value) > limit:
        value = value[: limit - len(TRUNCATED_MARKER)] + TRUNCATED_MARKER
    return value


def clean_series(series: pd.Series, limit: int = EXCEL_CELL_LIMIT) -> list[str | None]:
    """A column as cleaned Python strings (``None`` for missing), vectorized where possible."""
    if not isinstance(series.dtype, pd.StringDtype):
        # Object columns may hold anything (even lone surrogates): clean value by value.
        return [None if _is_missing(v) else clean_text(str(v), limit) for v in series.tolist()]
    present = series.notna()
    values = series.where(present, "")
    needs = values.str.contains(_ILLEGAL_ARROW, regex=True) | values.str.contains("\r", regex=False)
    needs = needs | (values.str.len() > limit)
    out: list[str | None] = values.tolist()
    if bool(needs.any()):
        for pos in np.flatnonzero(needs.to_numpy(dtype=bool)):
            out[pos] = clean_text(str(out[pos]), limit)
    for pos in np.flatnonzero(~present.to_numpy(dtype=bool)):
        out[pos] = None
    return out


def clean_strings(series: pd.Series, limit: int = EXCEL_CELL_LIMIT) -> pd.Series:
    """Like ``clean_series`` but stays a (string-dtype) Series: vectorized end to end."""
    if not isinstance(series.dtype, pd.StringDtype):
        return pd.Series(clean_series(series, limit), dtype="string", index=series.index)
    out = series
    if bool(out.str.contains(_ILLEGAL_ARROW, regex=True).fillna(False).any()):
        out = out.str.replace(_ILLEGAL_ARROW, _REPLACEMENT, regex=True)
    if bool(out.str.contains("\r", regex=False).fillna(False).any()):
        out = out.str.replace("\r\n", "\n", regex=False).str.replace("\r", "\n", regex=False)
    too_long = (out.str.len() > limit).fillna(False).astype(bool)
    if bool(too_long.any()):
        out = out.where(~too_long, out.str.slice(0, limit - len(TRUNCATED_MARKER)) + TRUNCATED_MARKER)
    return out


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def shorten(value: str, limit: int) -> str:
    """Text for the HTML report: cleaned and cut to ``limit`` characters with an ellipsis."""
    value = clean_text(value, EXCEL_CELL_LIMIT)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def cents_text(cents: int | None) -> str:
    """Cents as a grouped decimal amount, e.g. ``-1,234.50`` (empty for unknown)."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}{whole:,}.{part:02d}"


def int_or_none(value: object) -> int | None:
    """A pandas scalar (Int64, NA, numpy int) as int or None."""
    if value is None or value is pd.NA:
        return None
    try:
        if pd.isna(value):  # type: ignore[call-overload]
            return None
    except (TypeError, ValueError):
        pass
    return int(value)  # type: ignore[call-overload]


def text_or_none(value: object) -> str | None:
    """A pandas scalar as str or None (missing and blank are None)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    text = str(value)
    return text if text.strip() else None


def money_text(cents: int | None, currency: str | None) -> str:
    """Cents with their currency, e.g. ``-1,234.50 KES`` (no code when it is not known)."""
    text = cents_text(cents)
    return f"{text} {currency}" if text and currency else text


def amounts_text(amounts: Mapping[str, int], *, zero: str = "0.00") -> str:
    """Amounts in several currencies, never added: ``1,200.00 KES; 80.00 USD`` (``zero`` if none)."""
    parts = [money_text(cents, currency) for currency, cents in sorted(amounts.items()) if cents]
    return "; ".join(parts) if parts else zero


@dataclass(frozen=True)
class Headline:
    """The figures an accountant reads first.

    Money is per currency (``*_by_currency``: currency → cents, never added across
    currencies); the plain ``*_cents`` figures are given only when the run has one currency
    (``None`` otherwise). Counts are of findings, whatever their currency: an acknowledged
    finding is counted in ``acknowledged``, not in ``action_findings``.
    """

    agrees: bool  # no finding beyond informational and acknowledged ones, and equal totals in every currency
    action_findings: int  # findings that need someone to act (informational and acknowledged left out)
    ties_out: bool
    unexplained_cents: int | None  # per currency: sum over entities of |unexplained|
    open_findings: int
    money_at_stake_cents: int | None
    awra_total_cents: int | None
    qbo_total_cents: int | None
    acknowledged: int = 0  # findings someone acknowledged (listed apart, not needing action)
    currencies: tuple[str, ...] = ()
    unexplained_by_currency: Mapping[str, int] = dataclasses.field(default_factory=dict)
    money_at_stake_by_currency: Mapping[str, int] = dataclasses.field(default_factory=dict)
    difference_by_currency: Mapping[str, int] = dataclasses.field(default_factory=dict)


def acknowledged_mask(findings: pd.DataFrame) -> pd.Series:
    """True for findings with an acknowledgement in force (``ack_by`` or ``ack_at`` set).

    A lapsed acknowledgement is not in force (``ack_*`` empty, the reason in ``ack_lapsed``):
    that finding needs action again.
    """
    mask = pd.Series(False, index=findings.index)
    for column in ("ack_by", "ack_at"):
        if column in findings.columns:
            mask = mask | findings[column].notna()
    return mask.astype(bool)


def _per_currency(result: RunResult, pick: Callable[[CurrencyTotals], int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in result.totals:
        for c in t.currencies:
            out[c.currency] = out.get(c.currency, 0) + pick(c)
    return out


def headline(result: RunResult) -> Headline:
    """Headline figures of a run.

    *Money at stake* is the sum of ``|amount|`` over the distinct transactions (by entity and
    AWRA id, else QBO Id) that carry at least one finding other than an informational one, per
    currency (an acknowledged finding's money is still at stake). Acknowledged findings are
    counted apart from the findings that need action.
    """
    findings = result.findings
    acked = acknowledged_mask(findings) if len(findings) else pd.Series([], dtype=bool)
    needs_action = (
        int((~findings["category"].isin(INFORMATIONAL_CATEGORIES).fillna(False).astype(bool) & ~acked).sum())
        if len(findings)
        else 0
    )
    awra = _per_currency(result, lambda c: c.awra_total_cents)
    qbo = _per_currency(result, lambda c: c.qbo_total_cents)
    unexplained = _per_currency(result, lambda c: abs(c.unexplained_cents))
    stake: dict[str, int] = {}
    if len(findings):
        mask = findings["entity"].isin(F.ENTITIES) & ~findings["category"].isin(INFORMATIONAL_CATEGORIES)
        columns = ["entity", "awra_id", "qbo_id", "amount_cents", "currency"]
        rows = findings.loc[mask.fillna(False).astype(bool), columns]
        if len(rows):
            key = rows["entity"].astype("string") + "|" + rows["awra_id"].fillna("q:" + rows["qbo_id"].fillna(""))
            amounts = rows["amount_cents"].astype("Int64").abs().fillna(0)
            currency = rows["currency"].astype("string").fillna("")
            per_record = amounts.groupby([currency.to_numpy(), key.to_numpy()]).max()
            for record_key, cents in per_record.items():
                code = str(cast(tuple[str, str], record_key)[0])
                stake[code] = stake.get(code, 0) + int(cents)
    currencies = tuple(sorted(set(awra) | set(qbo) | set(stake)))
    one = len(currencies) <= 1

    def single(values: Mapping[str, int]) -> int | None:
        return sum(values.values()) if one else None

    return Headline(
        agrees=needs_action == 0 and all(awra.get(c, 0) == qbo.get(c, 0) for c in currencies),
        action_findings=needs_action,
        ties_out=all(t.ties_out for t in result.totals),
        unexplained_cents=single(unexplained),
        open_findings=len(findings),
        money_at_stake_cents=single(stake),
        awra_total_cents=single(awra),
        qbo_total_cents=single(qbo),
        acknowledged=int(acked.sum()),
        currencies=currencies,
        unexplained_by_currency={c: v for c, v in unexplained.items() if v},
        money_at_stake_by_currency=stake,
        difference_by_currency={c: awra.get(c, 0) - qbo.get(c, 0) for c in currencies},
    )


@dataclass(frozen=True)
class BridgeLine:
    """One line of an entity's tie-out bridge."""

    label: str
    cents: int
    kind: str  # "total", "difference", "category", "unexplained"


def bridge_lines(result: RunResult) -> list[tuple[str, list[BridgeLine]]]:
    """Per entity and currency (titled ``invoice (KES)``): the tie-out bridge's lines.

    AWRA total, QBO total, difference, each category's effect, unexplained.
    """
    out: list[tuple[str, list[BridgeLine]]] = []
    for t in result.totals:
        for c in t.currencies or (CurrencyTotals("", 0, 0, 0, 0, {}, 0),):
            lines = [
                BridgeLine("AWRA total", int(c.awra_total_cents), "total"),
                BridgeLine("QBO total", int(c.qbo_total_cents), "total"),
                BridgeLine("Difference (AWRA − QBO)", int(c.difference_cents), "difference"),
            ]
            for category in categories_in_order(list(c.bridge)):
                cents = int(c.bridge[category])
                if cents:
                    lines.append(BridgeLine(f"Explained by {category_title(category)}", cents, "category"))
            lines.append(BridgeLine("Unexplained", int(c.unexplained_cents), "unexplained"))
            out.append((f"{t.entity} ({c.currency})" if c.currency else t.entity, lines))
    return out


@dataclass(frozen=True)
class TotalsRow:
    """One row of the totals table: an entity in one currency."""

    entity: str
    currency: str
    awra_count: int
    qbo_count: int
    awra_total_cents: int
    qbo_total_cents: int
    explained_cents: int
    unexplained_cents: int

    @property
    def difference_cents(self) -> int:
        """AWRA total − QBO total."""
        return self.awra_total_cents - self.qbo_total_cents


def totals_rows(result: RunResult) -> list[TotalsRow]:
    """The totals per entity and currency (an entity without records: one row, no currency)."""
    rows = []
    for t in result.totals:
        for c in t.currencies or (CurrencyTotals("", 0, 0, 0, 0, {}, 0),):
            rows.append(
                TotalsRow(
                    entity=t.entity,
                    currency=c.currency,
                    awra_count=c.awra_count,
                    qbo_count=c.qbo_count,
                    awra_total_cents=c.awra_total_cents,
                    qbo_total_cents=c.qbo_total_cents,
                    explained_cents=sum(int(v) for v in c.bridge.values()),
                    unexplained_cents=c.unexplained_cents,
                )
            )
    return rows


@dataclass(frozen=True)
class AccountRow:
    """One row of the account impact as the reports show it."""

    account: str
    name: str
    currency: str
    awra_net_cents: int
    qbo_net_cents: int
    difference_cents: int
    unexplained_cents: int
    explained_by: str


def account_rows(result: RunResult, *, limit: int | None = None, differing_only: bool = False) -> list[AccountRow]:
    """The account impact, largest differences first (``limit`` rows at most)."""
    frame = result.accounts
    if differing_only:
        frame = frame[(frame["difference_cents"] != 0) | (frame["unexplained_cents"] != 0)]
    if limit is not None:
        frame = frame.head(limit)
    rows: list[dict[Any, Any]] = frame.to_dict("records")
    return [
        AccountRow(
            account=text_or_none(r["account"]) or "",
            name=text_or_none(r["name"]) or "",
            currency=text_or_none(r["currency"]) or "",
            awra_net_cents=int(r["awra_net_cents"]),
            qbo_net_cents=int(r["qbo_net_cents"]),
            difference_cents=int(r["difference_cents"]),
            unexplained_cents=int(r["unexplained_cents"]),
            explained_by=text_or_none(r["explained_by"]) or "",
        )
        for r in rows
    ]


@dataclass(frozen=True)
class CategoryCount:
    """A category's row in the counts table."""

    category: str
    title: str
    count: int
    amount_cents: int | None  # the one currency's amount (None when the category spans several)
    history: Mapping[str, int]  # history_status -> count (empty without history)
    amounts: Mapping[str, int] = dataclasses.field(default_factory=dict)  # currency -> cents


HISTORY_STATUSES: tuple[str, ...] = ("new", "persisting", "reopened")


def has_finding_history(findings: pd.DataFrame) -> bool:
    """True when run history has marked the findings (``history_status`` filled in)."""
    return "history_status" in findings.columns and bool(findings["history_status"].notna().any())


def has_acknowledgements(findings: pd.DataFrame) -> bool:
    """True when some finding carries an acknowledgement in force or a lapsed one."""
    return any(c in findings.columns and bool(findings[c].notna().any()) for c in ("ack_by", "ack_at", "ack_lapsed"))


def category_counts(result: RunResult) -> list[CategoryCount]:
    """Counts (and summed record amounts) per category present, in report order."""
    findings = result.findings
    if not len(findings):
        return []
    has_history = has_finding_history(findings)
    counts = findings.groupby("category", dropna=True).size()
    amount = findings["amount_cents"].astype("Int64").abs().fillna(0)
    currency = findings["currency"].astype("string").fillna("")
    amounts: dict[str, dict[str, int]] = {}
    for key, cents in amount.groupby([findings["category"].to_numpy(), currency.to_numpy()]).sum().items():
        category, code = cast(tuple[str, str], key)
        if cents:
            amounts.setdefault(str(category), {})[str(code)] = int(cents)
    hist: dict[str, dict[str, int]] = {}
    if has_history:
        table = findings.groupby(["category", findings["history_status"].astype("string").fillna("")]).size()
        for key, n in table.items():
            pair: tuple[object, object] = key  # type: ignore[assignment]
            hist.setdefault(str(pair[0]), {})[str(pair[1])] = int(n)
    return [
        CategoryCount(
            category=c,
            title=category_title(c),
            count=int(counts.get(c, 0)),
            amount_cents=_single_amount(amounts.get(c, {})),
            history={s: hist.get(c, {}).get(s, 0) for s in HISTORY_STATUSES} if has_history else {},
            amounts=amounts.get(c, {}),
        )
        for c in categories_in_order(findings["category"])
    ]


def _single_amount(amounts: Mapping[str, int]) -> int | None:
    """The amount when it is in one currency (0 when there is none), else ``None``."""
    if len(amounts) > 1:
        return None
    return sum(amounts.values())


def history_counts(history: Mapping[str, object] | None) -> list[tuple[str, int]]:
    """``new``/``persisting``/``resolved``/``reopened`` counts from the history dict (if any)."""
    if not history:
        return []
    out = []
    for key in ("new", "persisting", "resolved", "reopened"):
        value = history.get(key)
        nested = history.get("counts")
        if value is None and isinstance(nested, Mapping):
            value = nested.get(key)
        n = int_or_none(value)
        if n is not None:
            out.append((key, n))
    return out


def history_aging(history: Mapping[str, object] | None) -> list[tuple[str, int]]:
    """Aging buckets (label, count) in the order given (a dict or a list of pairs/dicts)."""
    aging = (history or {}).get("aging")
    rows: list[tuple[str, int]] = []
    if isinstance(aging, Mapping):
        for label, n in aging.items():
            rows.append((str(label), int_or_none(n) or 0))
    elif isinstance(aging, list | tuple):
        for item in aging:
            if isinstance(item, Mapping):
                label = item.get("bucket", item.get("label", ""))
                rows.append((str(label), int_or_none(item.get("count", item.get("open", 0))) or 0))
            elif isinstance(item, list | tuple) and len(item) == 2:
                rows.append((str(item[0]), int_or_none(item[1]) or 0))
    return rows


@dataclass(frozen=True)
class TrendPoint:
    """Open findings of one past run."""

    run_id: str
    date: str
    open: int


def history_trend(history: Mapping[str, object] | None) -> list[TrendPoint]:
    """Trend points (oldest first, as given) from ``history['trend']``."""
    trend = (history or {}).get("trend")
    points: list[TrendPoint] = []
    if isinstance(trend, list | tuple):
        for item in trend:
            if not isinstance(item, Mapping):
                continue
            raw_date = item.get("date") or item.get("started_at") or item.get("to") or ""
            date_text = raw_date.isoformat()[:10] if hasattr(raw_date, "isoformat") else str(raw_date or "")[:10]
            points.append(
                TrendPoint(run_id=str(item.get("run_id", "")), date=date_text, open=int_or_none(item.get("open")) or 0)
            )
    return points


def order_findings(frame: pd.DataFrame, *, by_money: bool) -> pd.DataFrame:
    """Rows in a stable order: by money (desc) first if asked, then entity, number, ids, field."""
    if not len(frame):
        return frame
    return frame.iloc[order_positions(frame, by_money=by_money)]


def order_positions(frame: pd.DataFrame, *, by_money: bool) -> np.ndarray:
    """The row positions of ``frame`` in the order of ``order_findings``."""
    if not len(frame):
        return np.arange(0)
    entity_rank = {e: i for i, e in enumerate((*F.ENTITIES, *F.MASTER_TYPES))}
    keys: dict[str, pd.Series] = {}
    if by_money:
        money = frame["blocks_cents"] if "blocks_cents" in frame.columns else None
        amount = frame["amount_cents"].astype("Int64").abs().fillna(0)
        if money is not None:
            amount = money.astype("Int64").abs().fillna(0).where(money.notna(), amount)
        keys["m"] = -amount.astype("int64")
    keys["e"] = frame["entity"].map(entity_rank).astype("float64").fillna(len(entity_rank))
    for name in ("entity", "awra_number", "awra_id", "qbo_id", "field"):
        keys[name] = frame[name].astype("string").fillna("")
    order = pd.DataFrame(keys).reset_index(drop=True)
    return order.sort_values(list(order.columns), kind="mergesort").index.to_numpy()
