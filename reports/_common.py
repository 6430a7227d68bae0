"""What the workbook and the HTML report share: names, links, text cleaning and headline figures.

Everything here is a pure function of a ``RunResult`` (or of plain values): no clock, no I/O,
and stable ordering, so both writers are deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.model import RunResult

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


@dataclass(frozen=True)
class Headline:
    """The figures an accountant reads first."""

    agrees: bool  # no finding beyond informational and acknowledged ones, and equal totals
    action_findings: int  # findings that need someone to act (informational and acknowledged left out)
    ties_out: bool
    unexplained_cents: int  # sum over entities of |unexplained|
    open_findings: int
    money_at_stake_cents: int
    awra_total_cents: int
    qbo_total_cents: int
    acknowledged: int = 0  # findings someone acknowledged (listed apart, not needing action)


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


def headline(result: RunResult) -> Headline:
    """Headline figures of a run.

    *Money at stake* is the sum of ``|amount|`` over the distinct transactions (by entity and
    AWRA id, else QBO Id) that carry at least one finding other than an informational one.
    Acknowledged findings are counted apart from the findings that need action.
    """
    findings = result.findings
    acked = acknowledged_mask(findings) if len(findings) else pd.Series([], dtype=bool)
    needs_action = (
        int((~findings["category"].isin(INFORMATIONAL_CATEGORIES).fillna(False).astype(bool) & ~acked).sum())
        if len(findings)
        else 0
    )
    awra_total = sum(int(t.awra_total_cents) for t in result.totals)
    qbo_total = sum(int(t.qbo_total_cents) for t in result.totals)
    stake = 0
    if len(findings):
        mask = findings["entity"].isin(F.ENTITIES) & ~findings["category"].isin(INFORMATIONAL_CATEGORIES)
        rows = findings.loc[mask.fillna(False).astype(bool), ["entity", "awra_id", "qbo_id", "amount_cents"]]
        if len(rows):
            key = rows["entity"].astype("string") + "|" + rows["awra_id"].fillna("q:" + rows["qbo_id"].fillna(""))
            amounts = rows["amount_cents"].astype("Int64").abs().fillna(0)
            stake = int(amounts.groupby(key.to_numpy()).max().sum())
    return Headline(
        agrees=needs_action == 0 and all(t.awra_total_cents == t.qbo_total_cents for t in result.totals),
        action_findings=needs_action,
        ties_out=all(t.unexplained_cents == 0 for t in result.totals),
        unexplained_cents=sum(abs(int(t.unexplained_cents)) for t in result.totals),
        open_findings=len(findings),
        money_at_stake_cents=stake,
        awra_total_cents=awra_total,
        qbo_total_cents=qbo_total,
        acknowledged=int(acked.sum()),
    )


@dataclass(frozen=True)
class BridgeLine:
    """One line of an entity's tie-out bridge."""

    label: str
    cents: int
    kind: str  # "total", "difference", "category", "unexplained"


def bridge_lines(result: RunResult) -> list[tuple[str, list[BridgeLine]]]:
    """Per entity: AWRA total, QBO total, difference, each category's effect, unexplained."""
    out: list[tuple[str, list[BridgeLine]]] = []
    for t in result.totals:
        lines = [
            BridgeLine("AWRA total", int(t.awra_total_cents), "total"),
            BridgeLine("QBO total", int(t.qbo_total_cents), "total"),
            BridgeLine("Difference (AWRA − QBO)", int(t.awra_total_cents) - int(t.qbo_total_cents), "difference"),
        ]
        for category in categories_in_order(list(t.bridge)):
            cents = int(t.bridge[category])
            if cents:
                lines.append(BridgeLine(f"Explained by {category_title(category)}", cents, "category"))
        lines.append(BridgeLine("Unexplained", int(t.unexplained_cents), "unexplained"))
        out.append((t.entity, lines))
    return out


@dataclass(frozen=True)
class CategoryCount:
    """A category's row in the counts table."""

    category: str
    title: str
    count: int
    amount_cents: int
    history: Mapping[str, int]  # history_status -> count (empty without history)


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
    amounts = findings["amount_cents"].astype("Int64").abs().fillna(0).groupby(findings["category"]).sum()
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
            amount_cents=int(amounts.get(c, 0)),
            history={s: hist.get(c, {}).get(s, 0) for s in HISTORY_STATUSES} if has_history else {},
        )
        for c in categories_in_order(findings["category"])
    ]


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
