"""What the report's charts show: pure functions from a ``RunResult`` to small frozen values.

The drawing (``reports.chart``) only turns these values into pictures, so the tests check the
numbers here and never the pixels. Every value is hashable: the drawing caches its PNG per value,
and the size of a value depends on the categories and the run-history length only, never on the
number of findings.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reconcile.model import RunResult
from reports._common import (
    INFORMATIONAL_CATEGORIES,
    MAPPING_CATEGORIES,
    categories_in_order,
    category_title,
    cents_text,
    history_aging,
    history_trend,
)

#: How many recent runs the trend chart shows.
TREND_POINTS = 12
#: How many currencies the money panel shows side by side (the most frequent ones).
MAX_CURRENCIES = 3
#: Content-IDs (email) of the three charts, in the order they appear.
CATEGORY_CHART = "findings-chart"
TREND_CHART = "trend-chart"
AGING_CHART = "aging-chart"


@dataclass(frozen=True)
class CategoryBar:
    """One category: how many findings, and the money at stake per currency.

    ``money`` is ``((currency, cents), …)``; a transaction counts once per category (its
    largest finding amount), a mapping finding counts the money it blocks.
    """

    category: str
    title: str
    kind: str  # "transaction", "mapping" or "informational": the bar's colour
    count: int
    money: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class CategoryChart:
    """Findings and money at stake by category; ``currencies`` in the money panel's order."""

    bars: tuple[CategoryBar, ...]
    currencies: tuple[str, ...]
    other_currencies: tuple[str, ...]  # present but left out of the money panel


@dataclass(frozen=True)
class TrendRun:
    """One past run: open findings, and (when recorded) how many were new and resolved."""

    label: str  # MM-DD of the run
    open: int
    new: int | None
    resolved: int | None


@dataclass(frozen=True)
class TrendChart:
    """Open findings over the recent runs, oldest first (this run last)."""

    runs: tuple[TrendRun, ...]


@dataclass(frozen=True)
class AgingChart:
    """Persisting findings per age bucket, in the order run history gives them."""

    buckets: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ChartSpec:
    """One picture of the report: its Content-ID, its alt text and what it draws."""

    cid: str
    alt: str
    data: CategoryChart | TrendChart | AgingChart


def _kind(category: str) -> str:
    if category in MAPPING_CATEGORIES:
        return "mapping"
    if category in INFORMATIONAL_CATEGORIES:
        return "informational"
    return "transaction"


def category_chart(findings: pd.DataFrame, run_currencies: tuple[str, ...] = ()) -> CategoryChart:
    """Counts and money at stake per category present, in report order.

    Money is never added across currencies: each category holds one amount per currency
    (findings without a currency are grouped under ``""``). Master data states no currency:
    when the run's totals are in one currency (``run_currencies``), the money a mapping
    finding blocks is in that one, so it is drawn with it.

    One pass over every finding of the run, on integer codes rather than strings.
    """
    if not len(findings):
        return CategoryChart(bars=(), currencies=(), other_currencies=())
    cat_codes, categories = _codes(findings["category"])
    mapping = np.isin(cat_codes, [i for i, c in enumerate(categories) if c in MAPPING_CATEGORIES])
    cur_codes, currencies_seen = _currency_codes(findings, mapping, run_currencies)
    per_currency = _money_per_category_and_currency(
        cat_codes, cur_codes, _record_codes(findings, mapping), _amount_at_stake(findings, mapping)
    )
    counts = np.bincount(cat_codes[cat_codes >= 0], minlength=len(categories))
    findings_per_currency = np.bincount(cur_codes, minlength=len(currencies_seen))
    ranked = sorted(range(len(currencies_seen)), key=lambda k: (-findings_per_currency[k], currencies_seen[k]))
    ranked = [k for k in ranked if findings_per_currency[k]]
    shown = ranked[:MAX_CURRENCIES]
    bars = []
    for cat in categories_in_order(categories):
        c = categories.index(cat)
        money = tuple((currencies_seen[k], per_currency[(c, k)]) for k in shown if (c, k) in per_currency)
        bars.append(
            CategoryBar(category=cat, title=category_title(cat), kind=_kind(cat), count=int(counts[c]), money=money)
        )
    return CategoryChart(
        bars=tuple(bars),
        currencies=tuple(currencies_seen[k] for k in shown),
        other_currencies=tuple(currencies_seen[k] for k in ranked[MAX_CURRENCIES:]),
    )


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each value's position in the list of distinct values (-1 for a missing one)."""
    codes, names = pd.factorize(values.astype("string"))
    return codes.astype("int64"), [str(name) for name in names]


def _currency_codes(
    findings: pd.DataFrame, mapping: np.ndarray, run_currencies: tuple[str, ...]
) -> tuple[np.ndarray, list[str]]:
    """Each finding's currency (trimmed, upper case, ``""`` when unknown) as a code, and the codes' names.

    A mapping finding without one takes the run's currency when the run has exactly one.
    """
    if "currency" not in findings.columns:
        currency = pd.Series("", index=findings.index, dtype="string")
    else:
        currency = findings["currency"].astype("string").fillna("").str.strip().str.upper()
    codes, names = _codes(currency)
    if len(run_currencies) == 1 and "" in names:
        if run_currencies[0] not in names:
            names.append(run_currencies[0])
        codes = np.where(mapping & (codes == names.index("")), names.index(run_currencies[0]), codes)
    return codes, names


def _amount_at_stake(findings: pd.DataFrame, mapping: np.ndarray) -> np.ndarray:
    """Cents per finding, unsigned: the finding's amount; for a mapping finding the money it blocks."""
    amount = findings["amount_cents"].astype("Int64").abs().fillna(0).to_numpy(dtype="int64")
    if "blocks_cents" not in findings.columns:
        return amount
    blocks = findings["blocks_cents"].astype("Int64").abs().fillna(0).to_numpy(dtype="int64")
    return np.where(mapping, blocks, amount)


def _record_codes(findings: pd.DataFrame, mapping: np.ndarray) -> np.ndarray:
    """One number per record a finding is about: its entity with its AWRA id, else its QBO Id.

    A mapping finding stands for itself, and so does one that names no record.
    """
    n = len(findings)
    entity, _ = _codes(findings["entity"])
    awra = findings["awra_id"].astype("string")
    qbo = findings["qbo_id"].astype("string")
    by_awra = awra.notna().to_numpy(dtype=bool)
    by_qbo = ~by_awra & qbo.notna().to_numpy(dtype=bool)
    record = np.full(n, -1, dtype="int64")
    awra_codes, awra_ids = pd.factorize(awra[by_awra])  # only where needed: ids are mostly distinct
    qbo_codes, qbo_ids = pd.factorize(qbo[by_qbo])
    record[by_awra] = awra_codes
    record[by_qbo] = len(awra_ids) + qbo_codes
    records = len(awra_ids) + len(qbo_ids)
    record = np.where(mapping | (record < 0), records + np.arange(n), record)
    return (entity + 1) * (records + n) + record


def _money_per_category_and_currency(
    category: np.ndarray, currency: np.ndarray, record: np.ndarray, amount: np.ndarray
) -> dict[tuple[int, int], int]:
    """Cents at stake per (category code, currency code): each record's largest amount, once.

    The three codes are folded into one integer per finding: grouping one integer column
    costs a fraction of grouping three.
    """
    keep = category >= 0
    per_pair = int(currency.max()) + 1
    per_key = int(record.max()) + 1
    key = (category[keep] * per_pair + currency[keep]) * per_key + record[keep]
    per_record = pd.Series(amount[keep]).groupby(key, sort=False).max()
    pair = per_record.index.to_numpy() // per_key
    per_currency = per_record.groupby(pair, sort=False).sum()
    return {
        (int(p) // per_pair, int(p) % per_pair): int(v)
        for p, v in zip(per_currency.index.to_numpy(), per_currency.to_numpy(), strict=True)
    }


def trend_chart(history: Mapping[str, object] | None) -> TrendChart:
    """The last ``TREND_POINTS`` runs of ``history['trend']`` (empty without history)."""
    runs = []
    for point, raw in zip(history_trend(history), _trend_items(history), strict=True):
        runs.append(
            TrendRun(
                label=point.date[5:10] if len(point.date) >= 10 else point.date,
                open=point.open,
                new=_count(raw.get("new")),
                resolved=_count(raw.get("resolved")),
            )
        )
    return TrendChart(runs=tuple(runs[-TREND_POINTS:]))


def _trend_items(history: Mapping[str, object] | None) -> list[Mapping[str, object]]:
    trend = (history or {}).get("trend")
    if not isinstance(trend, list | tuple):
        return []
    return [item for item in trend if isinstance(item, Mapping)]


def _count(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def aging_chart(history: Mapping[str, object] | None) -> AgingChart:
    """Persisting findings per age bucket (empty without history)."""
    return AgingChart(buckets=tuple(history_aging(history)))


def category_alt(chart: CategoryChart) -> str:
    """Alt text: every bar's count and money, as a screen reader or a blocked image shows it."""
    if not chart.bars:
        return "Findings by category: none. AWRA and QBO agree for this window."
    parts = []
    for bar in chart.bars:
        money = ", ".join(f"{cents_text(c)} {cur}".strip() for cur, c in bar.money if c)
        parts.append(f"{bar.title} {bar.count:,}" + (f" ({money})" if money else ""))
    text = "Findings and money at stake by category: " + "; ".join(parts) + "."
    if chart.other_currencies:
        text += f" Amounts in {', '.join(chart.other_currencies)} are in the workbook."
    return text


def trend_alt(chart: TrendChart) -> str:
    """Alt text of the trend: open (new, resolved) per run."""

    def one(run: TrendRun) -> str:
        extra = [f"{n:,} {word}" for n, word in ((run.new, "new"), (run.resolved, "resolved")) if n is not None]
        return f"{run.label} {run.open:,} open" + (f" ({', '.join(extra)})" if extra else "")

    return "Open findings over recent runs: " + "; ".join(one(r) for r in chart.runs) + "."


def aging_alt(chart: AgingChart) -> str:
    """Alt text of the aging chart: persisting findings per age bucket."""
    return "Persisting findings by age in days: " + "; ".join(f"{label}: {n:,}" for label, n in chart.buckets) + "."


def _run_currencies(result: RunResult) -> tuple[str, ...]:
    """The currencies of the run's totals (``EntityTotals.currencies``), sorted."""
    return tuple(sorted({c.currency for t in result.totals for c in t.currencies if c.currency}))


#: The specs of the last few results, by identity (a ``RunResult`` holds frames: it has no hash).
_RECENT: deque[tuple[weakref.ref[RunResult], tuple[ChartSpec, ...]]] = deque(maxlen=4)


def chart_specs(result: RunResult) -> tuple[ChartSpec, ...]:
    """The charts of a report, in order.

    Categories always; the trend from two runs on; the aging when some finding persists.
    Worked out once per result: a run asks for its charts three times (report.html, the
    email's body, its attachments) and each time would pass over every finding again.
    """
    for ref, specs in list(_RECENT):  # a copy: another thread's run may append meanwhile
        if ref() is result:
            return specs
    specs = _chart_specs(result)
    _RECENT.append((weakref.ref(result), specs))
    return specs


def _chart_specs(result: RunResult) -> tuple[ChartSpec, ...]:
    categories = category_chart(result.findings, _run_currencies(result))
    specs = [ChartSpec(CATEGORY_CHART, category_alt(categories), categories)]
    trend = trend_chart(result.history)
    if len(trend.runs) >= 2:
        specs.append(ChartSpec(TREND_CHART, trend_alt(trend), trend))
    aging = aging_chart(result.history)
    if any(n for _, n in aging.buckets):
        specs.append(ChartSpec(AGING_CHART, aging_alt(aging), aging))
    return tuple(specs)


__all__ = [
    "AGING_CHART",
    "CATEGORY_CHART",
    "TREND_CHART",
    "AgingChart",
    "CategoryBar",
    "CategoryChart",
    "ChartSpec",
    "TrendChart",
    "TrendRun",
    "aging_alt",
    "aging_chart",
    "category_alt",
    "category_chart",
    "chart_specs",
    "trend_alt",
    "trend_chart",
]
