"""The report's charts as PNG pictures, drawn with matplotlib (Agg) from ``reports.chart_data``.

What is drawn is decided in ``chart_data`` (pure, tested on its values); this module only
draws. Every text uses the DejaVu font files that matplotlib ships (by path, never looked up
among the host's fonts) and the drawing runs under matplotlib's default style, so the same
inputs give the same bytes on every machine. A picture is cached per chart value: the HTML
report and the email draw each chart once per run.

Pictures are 640 pixels wide (email width) with text of 13 pixels and up, so that they stay
readable when a phone scales them to its width.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib as mpl
import matplotlib.style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from reconcile.model import RunResult
from reports.chart_data import (
    CATEGORY_CHART,
    AgingChart,
    CategoryChart,
    ChartSpec,
    TrendChart,
    chart_specs,
)

#: Content-ID of the first chart when the report is sent by email (``<img src="cid:findings-chart">``).
CHART_CID = CATEGORY_CHART

#: Width of every chart in pixels (the report's content width).
WIDTH_PX = 640
_DPI = 100
_WIDTH_IN = WIDTH_PX / _DPI

_FONT_DIR = Path(mpl.get_data_path()) / "fonts" / "ttf"
_REGULAR = _FONT_DIR / "DejaVuSans.ttf"
_BOLD = _FONT_DIR / "DejaVuSans-Bold.ttf"

_TEXT = "#222222"
_MUTED = "#666666"
_GRID = "#dddddd"
_COLOURS = {"transaction": "#2f6db5", "mapping": "#d9822b", "informational": "#8a8f98"}
_CURRENCY_SHADES = ("#2f6db5", "#6fa3dc", "#a9c8ec")
_OPEN, _NEW, _RESOLVED = "#1f4e79", "#b3261e", "#2e8b57"
_AGING = "#8e5bb5"


@dataclass(frozen=True)
class ChartImage:
    """One drawn chart: Content-ID, PNG bytes, alt text and pixel size."""

    cid: str
    png: bytes
    alt: str
    width: int
    height: int


def chart_images(result: RunResult) -> tuple[ChartImage, ...]:
    """Every chart of the report, drawn (categories; with history the trend and the aging)."""
    return tuple(draw_chart(spec) for spec in chart_specs(result))


def findings_chart_png(result: RunResult) -> bytes:
    """The first chart (findings and money at stake by category) as PNG bytes."""
    return draw_chart(chart_specs(result)[0]).png


@lru_cache(maxsize=16)
def draw_chart(spec: ChartSpec) -> ChartImage:
    """Draw one chart (cached per value: the same spec is drawn once)."""
    with matplotlib.style.context("default"):
        if isinstance(spec.data, CategoryChart):
            fig = _category_figure(spec.data)
        elif isinstance(spec.data, TrendChart):
            fig = _trend_figure(spec.data)
        else:
            fig = _aging_figure(spec.data)
        png = _png(fig)
    width, height = (round(v) for v in fig.get_size_inches() * _DPI)
    return ChartImage(cid=spec.cid, png=png, alt=spec.alt, width=width, height=height)


def _font(size: float, bold: bool = False) -> FontProperties:
    return FontProperties(fname=_BOLD if bold else _REGULAR, size=size)


def _figure(height_in: float) -> Figure:
    fig = Figure(figsize=(_WIDTH_IN, height_in), dpi=_DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # no Software/date metadata: the same chart is the same bytes
    fig.savefig(
        buffer,
        format="png",
        dpi=_DPI,
        metadata={"Software": None},
        facecolor="white",
        pil_kwargs={"compress_level": 2},  # flat colours compress well even at a fast level
    )
    return buffer.getvalue()


def _bare(ax: Axes, *, keep_bottom: bool = False) -> None:
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_visible(keep_bottom)
    if keep_bottom:
        ax.spines["bottom"].set_color(_GRID)
    ax.tick_params(length=0, colors=_TEXT)


def _title(fig: Figure, text: str, height_in: float) -> None:
    fig.text(0.015, 1 - 0.12 / height_in, text, fontproperties=_font(13, bold=True), color=_TEXT, va="top")


def _money_label(cents: int) -> str:
    """Whole currency units, grouped (the table beside the chart has the cents)."""
    units = (abs(cents) + 50) // 100
    return f"{units:,}"


def _category_figure(chart: CategoryChart) -> Figure:
    """Two panels in one Axes (counts left, money right): one Axes and no tick objects keep it fast."""
    rows = max(len(chart.bars), 1)
    height = 0.95 + 0.36 * rows
    fig = _figure(height)
    _title(fig, "Findings and money at stake by category", height)
    if not chart.bars:
        fig.text(0.5, 0.4, "No findings: AWRA and QBO agree.", fontproperties=_font(12), color=_MUTED, ha="center")
        return fig
    top = 1 - 0.62 / height
    bottom = 0.12 / height
    # x runs over the figure's width after the labels: counts in [0, 0.34), money in [0.42, 1]
    ax = fig.add_axes((0.33, bottom, 0.65, top - bottom))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(rows - 0.5, -0.5)
    counts_room, money_left, money_room = 0.24, 0.42, 0.36
    label = _font(11)
    peak_count = max(bar.count for bar in chart.bars) or 1
    colours = [_COLOURS.get(bar.kind, _COLOURS["transaction"]) for bar in chart.bars]
    widths = [counts_room * bar.count / peak_count for bar in chart.bars]
    ax.barh(range(rows), widths, height=0.7, left=0, color=colours)  # one call: each call costs
    for y, (bar, width) in enumerate(zip(chart.bars, widths, strict=True)):
        ax.text(width, y, f" {bar.count:,}", va="center", ha="left", fontproperties=label, color=_TEXT)
        ax.text(-0.015, y, bar.title, va="center", ha="right", fontproperties=label, color=_TEXT)

    currencies = chart.currencies or ("",)
    band = 0.7 / len(currencies)
    peak = max((c for bar in chart.bars for _, c in bar.money), default=0) or 1
    small = _font(11 if len(currencies) == 1 else 9)
    for i, currency in enumerate(currencies):
        offset = -0.35 + band * (i + 0.5)
        shade = _CURRENCY_SHADES[i % len(_CURRENCY_SHADES)]
        money = [dict(bar.money).get(currency, 0) for bar in chart.bars]
        ax.barh(
            [y + offset for y in range(rows)],
            [money_room * cents / peak for cents in money],
            height=band * 0.9,
            left=money_left,
            color=colours if len(currencies) == 1 else shade,
        )
        for y, cents in enumerate(money):
            if not cents:
                continue
            width = money_room * cents / peak
            suffix = f" {currency}" if len(currencies) > 1 and currency else ""
            ax.text(
                money_left + width,
                y + offset,
                f" {_money_label(cents)}{suffix}",
                va="center",
                ha="left",
                fontproperties=small,
                color=_TEXT,
            )
    heading = _font(11, bold=True)
    ax.text(0, -0.75, "Findings", fontproperties=heading, color=_TEXT, va="bottom")
    money_heading = "Money at stake" + (f" ({currencies[0]})" if len(currencies) == 1 and currencies[0] else "")
    ax.text(money_left, -0.75, money_heading, fontproperties=heading, color=_TEXT, va="bottom")
    return fig


def _trend_figure(chart: TrendChart) -> Figure:
    """Open findings as a bold line, new and resolved as thin ones.

    Labels are plain texts (no ticks, no legend object), which keeps the drawing quick.
    """
    height = 2.9
    fig = _figure(height)
    _title(fig, "Open findings over recent runs", height)
    ax = fig.add_axes((0.04, 0.16, 0.92, 0.62))
    ax.set_axis_off()
    xs = list(range(len(chart.runs)))
    opened = [run.open for run in chart.runs]
    series: list[tuple[str, str, float, int, Sequence[int | None]]] = [("Open", _OPEN, 2.5, 6, opened)]
    for label, colour, values in (
        ("New", _NEW, [run.new for run in chart.runs]),
        ("Resolved", _RESOLVED, [run.resolved for run in chart.runs]),
    ):
        if any(v is not None for v in values):
            series.append((label, colour, 1.5, 4, values))
    peak = max(v for *_, line in series for v in line if v is not None) or 1
    ax.set_ylim(0, peak * 1.25)
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.axhline(0, color=_GRID, linewidth=1)
    key_x = 0.015
    for label, colour, width, size, line in series:
        points = [(x, v) for x, v in zip(xs, line, strict=True) if v is not None]
        ax.plot(
            [x for x, _ in points], [v for _, v in points], color=colour, linewidth=width, marker="o", markersize=size
        )
        fig.text(key_x, 1 - 0.5 / height, f"— {label}", fontproperties=_font(10, bold=True), color=colour)
        key_x += (len(label) + 5) * 0.0125  # about 8 px a character at 10 pt bold
    for x, n in zip(xs, opened, strict=True):
        ax.annotate(
            f"{n:,}",
            (x, n),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontproperties=_font(10),
            color=_OPEN,
        )
    step = max(1, (len(xs) + 7) // 8)  # at most 8 date labels stay legible
    for x in xs[::step]:
        ax.annotate(
            chart.runs[x].label,
            (x, 0),
            textcoords="offset points",
            xytext=(0, -16),
            ha="center",
            fontproperties=_font(10),
            color=_TEXT,
        )
    return fig


def _aging_figure(chart: AgingChart) -> Figure:
    height = 2.4
    fig = _figure(height)
    _title(fig, "Age of persisting findings (days since first seen)", height)
    ax = fig.add_axes((0.06, 0.15, 0.9, 0.64))
    ax.set_axis_off()
    xs = list(range(len(chart.buckets)))
    values = [n for _, n in chart.buckets]
    ax.bar(xs, values, width=0.6, color=_AGING)
    ax.set_ylim(0, max(values) * 1.3 or 1)
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.axhline(0, color=_GRID, linewidth=1)
    for x, (label, n) in zip(xs, chart.buckets, strict=True):
        ax.text(x, n, f"{n:,}", ha="center", va="bottom", fontproperties=_font(11), color=_TEXT)
        ax.annotate(
            label,
            (x, 0),
            textcoords="offset points",
            xytext=(0, -17),
            ha="center",
            fontproperties=_font(11),
            color=_TEXT,
        )
    return fig


__all__ = ["CHART_CID", "WIDTH_PX", "ChartImage", "chart_images", "draw_chart", "findings_chart_png"]
