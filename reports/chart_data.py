"""What the report's charts show: pure functions from a ``RunResult`` to small frozen values.

The drawing (``reports.chart``) only turns these values into pictures, so the tests check the
numbers here and never the pixels. Every value is hashable: the drawing caches its PNG per value,
and the size of a value depends on the categories and the run-history length only, never on the
number of findings.
"""

from __future__ import annotations

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
    """
    if not len(findings):
        return CategoryChart(bars=(), currencies=(), other_currencies=())
    category = findings["category"].astype("string")
    currency = (
        findings["currency"].astype("string").fillna("").str.strip().str.upper()
        if "currency" in findings.columns
        else pd.Series("", index=findings.index, dtype="string")
    )
    mapping = category.isin(MAPPING_CATEGORIES).fillna(False).to_numpy(dtype=bool)
    if len(run_currencies) == 1:
        currency = currency.mask(mapping & (currency == "").fillna(True).to_numpy(dtype=bool), run_currencies[0])
    amount = findings["amount_cents"].astype("Int64").abs().fillna(0)
    if "blocks_cents" in findings.columns:
        blocks = findings["blocks_cents"].astype("Int64").abs().fillna(0)
        amount = amount.where(~mapping, blocks)
    per_currency = _money_per_category_and_currency(findings, category, currency, mapping, amount)
    counts = category.value_counts()
    order = currency.value_counts()
    ranked = sorted(order.index, key=lambda c: (-int(order[c]), str(c)))
    currencies = tuple(str(c) for c in ranked[:MAX_CURRENCIES])
    bars = []
    for cat in categories_in_order(category):
        money = tuple((cur, per_currency[(cat, cur)]) for cur in currencies if (cat, cur) in per_currency)
        bars.append(
            CategoryBar(category=cat, title=category_title(cat), kind=_kind(cat), count=int(counts[cat]), money=money)
        )
    return CategoryChart(
        bars=tuple(bars), currencies=currencies, other_currencies=tuple(str(c) for c in ranked[MAX_CURRENCIES:])
    )


def _money_per_category_and_currency(
    findings: pd.DataFrame, category: pd.Series, currency: pd.Series, mapping: np.ndarray, amount: pd.Series
) -> dict[tuple[str, str], int]:
    """Cents at stake per (category, currency).

    A transaction counts its largest amount once per category (by entity and AWRA id, else QBO
    Id); a mapping finding counts the money it blocks. Grouped on integer codes rather than
    joined strings: it runs over every finding of a run.
    """
    cat_codes, cat_names = pd.factorize(category)
    cur_codes, cur_names = pd.factorize(currency)
    entity_codes, _ = pd.factorize(findings["entity"].astype("string"))
    awra_codes, awra_names = pd.factorize(findings["awra_id"].astype("string"))
    qbo_codes, qbo_names = pd.factorize(findings["qbo_id"].astype("string"))
    record = np.where(awra_codes >= 0, awra_codes, len(awra_names) + qbo_codes)
    # a mapping finding stands for itself
    record = np.where(mapping, len(awra_names) + len(qbo_names) + 1 + np.arange(len(findings)), record)
    frame = pd.DataFrame(
        {"c": cat_codes, "k": cur_codes, "e": entity_codes, "r": record, "v": amount.to_numpy(dtype="int64")}
    )
    frame = frame[frame["c"] >= 0]
    per_record = frame.groupby(["c", "k", "e", "r"], sort=False)["v"].max()
    per_currency = per_record.groupby(level=["c", "k"], sort=False).sum()
    keys = per_currency.index
    return {
        (str(cat_names[c]), str(cur_names[k])): int(v)
        for c, k, v in zip(keys.get_level_values("c"), keys.get_level_values("k"), per_currency.to_numpy(), strict=True)
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


def chart_specs(result: RunResult) -> tuple[ChartSpec, ...]:
    """The charts of a report, in order.

    Categories always; the trend from two runs on; the aging when some finding persists.
    """
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
