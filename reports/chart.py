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
    fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None}, facecolor="white")
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
    rows = max(len(chart.bars), 1)
    height = 0.95 + 0.36 * rows
    fig = _figure(height)
    _title(fig, "Findings and money at stake by category", height)
    if not chart.bars:
        fig.text(0.5, 0.4, "No findings: AWRA and QBO agree.", fontproperties=_font(12), color=_MUTED, ha="center")
        return fig
    top = 1 - 0.62 / height
    bottom = 0.12 / height
    counts_ax = fig.add_axes((0.33, bottom, 0.24, top - bottom))
    money_ax = fig.add_axes((0.62, bottom, 0.36, top - bottom), sharey=counts_ax)
    positions = list(range(rows))
    counts = [bar.count for bar in chart.bars]
    colours = [_COLOURS.get(bar.kind, _COLOURS["transaction"]) for bar in chart.bars]
    counts_ax.barh(positions, counts, height=0.7, color=colours)
    counts_ax.set_xlim(0, max(counts) * 1.45 or 1)
    for y, n in zip(positions, counts, strict=True):
        counts_ax.text(n, y, f" {n:,}", va="center", ha="left", fontproperties=_font(11), color=_TEXT)
    counts_ax.set_yticks(positions, [bar.title for bar in chart.bars])
    for label in counts_ax.get_yticklabels():
        label.set_fontproperties(_font(11))
    counts_ax.invert_yaxis()
    counts_ax.set_xticks([])
    counts_ax.set_title("Findings", loc="left", fontproperties=_font(11, bold=True), color=_TEXT)
    _bare(counts_ax)

    currencies = chart.currencies or ("",)
    band = 0.7 / len(currencies)
    peak = max((c for bar in chart.bars for _, c in bar.money), default=0)
    for i, currency in enumerate(currencies):
        offset = -0.35 + band * (i + 0.5)
        values = [dict(bar.money).get(currency, 0) for bar in chart.bars]
        shade: str | list[str] = colours if len(currencies) == 1 else _CURRENCY_SHADES[i % len(_CURRENCY_SHADES)]
        money_ax.barh([y + offset for y in positions], values, height=band * 0.9, color=shade)
        for y, cents in zip(positions, values, strict=True):
            if cents:
                suffix = f" {currency}" if len(currencies) > 1 and currency else ""
                money_ax.text(
                    cents,
                    y + offset,
                    f" {_money_label(cents)}{suffix}",
                    va="center",
                    ha="left",
                    fontproperties=_font(11 if len(currencies) == 1 else 9),
                    color=_TEXT,
                )
    money_ax.set_xlim(0, peak * 1.6 or 1)
    money_ax.set_xticks([])
    money_ax.tick_params(labelleft=False)
    heading = "Money at stake" + (f" ({currencies[0]})" if len(currencies) == 1 and currencies[0] else "")
    money_ax.set_title(heading, loc="left", fontproperties=_font(11, bold=True), color=_TEXT)
    _bare(money_ax)
    return fig


def _trend_figure(chart: TrendChart) -> Figure:
    height = 2.9
    fig = _figure(height)
    _title(fig, "Open findings over recent runs", height)
    ax = fig.add_axes((0.06, 0.16, 0.9, 0.62))
    xs = list(range(len(chart.runs)))
    opened = [run.open for run in chart.runs]
    ax.plot(xs, opened, color=_OPEN, linewidth=2.5, marker="o", label="Open")
    for label, colour, values in (
        ("New", _NEW, [run.new for run in chart.runs]),
        ("Resolved", _RESOLVED, [run.resolved for run in chart.runs]),
    ):
        points = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
        if points:
            ax.plot(
                [x for x, _ in points],
                [v for _, v in points],
                color=colour,
                linewidth=1.5,
                marker="o",
                markersize=4,
                label=label,
            )
    peak = max(opened + [v for run in chart.runs for v in (run.new, run.resolved) if v is not None])
    ax.set_ylim(0, peak * 1.25 or 1)
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
    ax.set_xticks(xs[::step], [run.label for run in chart.runs][::step])
    for tick in ax.get_xticklabels():
        tick.set_fontproperties(_font(10))
    ax.set_yticks([])
    ax.set_xlim(-0.5, len(xs) - 0.5)
    _bare(ax, keep_bottom=True)
    legend = ax.legend(
        loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False, prop=_font(10), borderaxespad=0.2
    )
    for text in legend.get_texts():
        text.set_color(_TEXT)
    return fig


def _aging_figure(chart: AgingChart) -> Figure:
    height = 2.4
    fig = _figure(height)
    _title(fig, "Age of persisting findings (days since first seen)", height)
    ax = fig.add_axes((0.06, 0.15, 0.9, 0.64))
    xs = list(range(len(chart.buckets)))
    values = [n for _, n in chart.buckets]
    ax.bar(xs, values, width=0.6, color=_AGING)
    ax.set_ylim(0, max(values) * 1.3 or 1)
    for x, n in zip(xs, values, strict=True):
        ax.text(x, n, f"{n:,}", ha="center", va="bottom", fontproperties=_font(11), color=_TEXT)
    ax.set_xticks(xs, [label for label, _ in chart.buckets])
    for tick in ax.get_xticklabels():
        tick.set_fontproperties(_font(11))
    ax.set_yticks([])
    _bare(ax, keep_bottom=True)
    return fig


__all__ = ["CHART_CID", "WIDTH_PX", "ChartImage", "chart_images", "draw_chart", "findings_chart_png"]
