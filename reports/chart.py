"""The report's charts as PNG pictures, drawn with matplotlib's Agg renderer from ``reports.chart_data``.

What is drawn is decided in ``chart_data`` (pure, tested on its values); this module only
draws. The pictures are laid out here in pixels and painted with matplotlib's Agg renderer
(its backend drawing interface: filled paths, lines with markers, text), without a ``Figure``
or ``Axes``: a run pays for every chart it sends, and the artist machinery (its import, its
layout, its ticks) cost more than the whole picture (issue 15: under 0.5 s, import included).

Every text uses the DejaVu font files that matplotlib ships (by path, never looked up among the
host's fonts) and the few settings the renderer reads are matplotlib's built-in defaults, whatever
the host's matplotlibrc says, so the same inputs give the same bytes on every machine. A picture
is cached per chart value: the HTML report and the email draw each chart once per run.

Pictures are 640 pixels wide (email width) with text of 13 pixels and up, so that they stay
readable when a phone scales them to its width.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib as mpl
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties, get_font
from matplotlib.path import Path as GeometryPath
from matplotlib.transforms import Affine2D
from PIL import Image

from reconcile.model import RunResult
from reports.chart_data import (
    CATEGORY_CHART,
    AgingChart,
    CategoryChart,
    ChartSpec,
    TrendChart,
    chart_specs,
)

if TYPE_CHECKING:
    from matplotlib.backend_bases import GraphicsContextBase
    from matplotlib.typing import RcKeyType

#: Content-ID of the first chart when the report is sent by email (``<img src="cid:findings-chart">``).
CHART_CID = CATEGORY_CHART

#: Width of every chart in pixels (the report's content width).
WIDTH_PX = 640
_DPI = 100
_PX_PER_PT = _DPI / 72

_FONT_DIR = Path(mpl.get_data_path()) / "fonts" / "ttf"
_REGULAR = _FONT_DIR / "DejaVuSans.ttf"
_BOLD = _FONT_DIR / "DejaVuSans-Bold.ttf"
#: What the Agg renderer reads from matplotlib's settings: pinned to the built-in defaults
#: (those this matplotlib still has: the hinting and kerning factors go away in 3.13).
_RENDERER_SETTINGS: tuple[RcKeyType, ...] = (
    "text.hinting",
    "text.hinting_factor",
    "text.kerning_factor",
    "agg.path.chunksize",
    "path.simplify",
    "path.simplify_threshold",
    "path.snap",
    "hatch.linewidth",
)

#: One drawing at a time: the settings above are process-wide, and a scheduler runs companies in threads.
_DRAWING = threading.Lock()

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
    pinned = {key: mpl.rcParamsDefault[key] for key in _RENDERER_SETTINGS if key in mpl.rcParamsDefault}
    with _DRAWING, mpl.rc_context(pinned):
        if isinstance(spec.data, CategoryChart):
            canvas = _category_picture(spec.data)
        elif isinstance(spec.data, TrendChart):
            canvas = _trend_picture(spec.data)
        else:
            canvas = _aging_picture(spec.data)
        png = canvas.png()
    return ChartImage(cid=spec.cid, png=png, alt=spec.alt, width=WIDTH_PX, height=canvas.height)


@dataclass(frozen=True)
class _Font:
    """A bundled font file at a size in points, with the line box every text of it gets."""

    prop: FontProperties
    ascent: float  # pixels from the baseline up to the top of the line box
    descent: float  # pixels from the baseline down to its bottom


@cache
def _font(size: float, bold: bool = False) -> _Font:
    """A bundled font at ``size`` points, with its line box.

    The line box is the font's typographic ascender and descender, so that labels of one size
    sit at one height whatever their letters (as matplotlib's own text layout does).
    """
    path = _BOLD if bold else _REGULAR
    face = get_font(str(path))
    head, metrics = face.get_sfnt_table("head"), face.get_sfnt_table("OS/2")
    if head is None or metrics is None:
        raise ValueError(f"{path} lacks the font tables that give its line height")
    scale = size * _PX_PER_PT / head["unitsPerEm"]
    return _Font(
        prop=FontProperties(fname=path, size=size),
        ascent=metrics["sTypoAscender"] * scale,
        descent=-metrics["sTypoDescender"] * scale,
    )


class _Canvas:
    """A white picture, ``WIDTH_PX`` wide, painted with the Agg renderer.

    Coordinates are pixels from the top left corner; colours are ``#rrggbb``; line widths and
    marker sizes are in points, as in matplotlib.
    """

    def __init__(self, height: int) -> None:
        self.height = height
        self._renderer = RendererAgg(WIDTH_PX, height, _DPI)
        # the renderer's y runs upwards from the bottom
        self._down = Affine2D().scale(1, -1).translate(0, height)
        self.rect(0, 0, WIDTH_PX, height, "#ffffff")

    def rect(self, left: float, top: float, right: float, bottom: float, colour: str) -> None:
        """A filled rectangle without outline."""
        box = GeometryPath([(left, top), (right, top), (right, bottom), (left, bottom), (left, top)], closed=True)
        gc = self._gc(colour, width=0)
        self._renderer.draw_path(gc, box, self._down, gc.get_rgb())

    def line(self, points: Sequence[tuple[float, float]], colour: str, width: float, marker: float = 0) -> None:
        """A polyline ``width`` points thick; with ``marker`` (points across) a dot on every point."""
        if not points:
            return
        path = GeometryPath(list(points))
        gc = self._gc(colour, width=width)
        gc.set_joinstyle("round")
        gc.set_capstyle("projecting")
        if len(points) > 1:
            self._renderer.draw_path(gc, path, self._down)
        if marker:
            dot = self._gc(colour, width=1.0)  # outlined in its own colour, as matplotlib's markers
            radius = marker * _PX_PER_PT / 2
            self._renderer.draw_markers(
                dot, GeometryPath.unit_circle(), Affine2D().scale(radius), path, self._down, dot.get_rgb()
            )

    def text(
        self, x: float, y: float, text: str, font: _Font, colour: str, *, ha: str = "left", va: str = "baseline"
    ) -> None:
        """Write one line of text anchored at (``x``, ``y``).

        ``ha``: left, center or right; ``va``: top, center, bottom of the line box, or baseline.
        """
        width = 0.0 if ha == "left" else self.text_width(text, font)  # measuring costs as much as drawing
        left = x - {"left": 0.0, "center": width / 2, "right": width}[ha]
        drop = {
            "baseline": 0.0,
            "top": font.ascent,
            "bottom": -font.descent,
            "center": (font.ascent - font.descent) / 2,
        }
        self._renderer.draw_text(self._gc(colour), left, y + drop[va], text, font.prop, 0)

    def text_width(self, text: str, font: _Font) -> float:
        """How wide ``text`` is written in ``font``, in pixels."""
        width, _, _ = self._renderer.get_text_width_height_descent(text, font.prop, ismath=False)
        return float(width)

    def png(self) -> bytes:
        """The picture as PNG: opaque RGB, no metadata (the same picture is the same bytes)."""
        rgba = Image.frombuffer("RGBA", (WIDTH_PX, self.height), self._renderer.buffer_rgba(), "raw", "RGBA", 0, 1)
        buffer = io.BytesIO()
        rgba.convert("RGB").save(buffer, format="png", compress_level=2)  # flat colours compress well even so
        return buffer.getvalue()

    def _gc(self, colour: str, width: float = 0) -> GraphicsContextBase:
        gc = self._renderer.new_gc()
        gc.set_foreground(colour)
        gc.set_linewidth(width)
        return gc


@dataclass(frozen=True)
class _Scale:
    """Maps data values onto pixels linearly: ``lo`` lands on ``px_lo``, ``hi`` on ``px_hi``."""

    lo: float
    hi: float
    px_lo: float
    px_hi: float

    def __call__(self, value: float) -> float:
        return self.px_lo + (value - self.lo) * (self.px_hi - self.px_lo) / (self.hi - self.lo)


def _title(canvas: _Canvas, text: str) -> None:
    canvas.text(0.015 * WIDTH_PX, 26, text, _font(13, bold=True), _TEXT)  # 12 px above the tallest letters


def _money_label(cents: int) -> str:
    """Whole currency units, grouped (the table beside the chart has the cents)."""
    units = (abs(cents) + 50) // 100
    return f"{units:,}"


def _category_picture(chart: CategoryChart) -> _Canvas:
    """Two panels side by side: findings per category (left), money at stake per currency (right)."""
    rows = max(len(chart.bars), 1)
    canvas = _Canvas(95 + 36 * rows)
    _title(canvas, "Findings and money at stake by category")
    if not chart.bars:
        canvas.text(
            WIDTH_PX / 2, 0.6 * canvas.height, "No findings: AWRA and QBO agree.", _font(12), _MUTED, ha="center"
        )
        return canvas
    # x runs from 0 to 1 over the width after the category names: counts in [0, 0.24], money from 0.42
    x = _Scale(0.0, 1.0, 0.33 * WIDTH_PX, 0.98 * WIDTH_PX)
    y = _Scale(-0.5, rows - 0.5, 62, canvas.height - 12)  # row i centred on y(i)
    counts_room, money_left = 0.24, 0.42
    label = _font(11)
    peak_count = max(bar.count for bar in chart.bars) or 1
    colours = [_COLOURS.get(bar.kind, _COLOURS["transaction"]) for bar in chart.bars]
    for row, (bar, colour) in enumerate(zip(chart.bars, colours, strict=True)):
        width = counts_room * bar.count / peak_count
        canvas.rect(x(0), y(row - 0.35), x(width), y(row + 0.35), colour)
        canvas.text(x(width), y(row), f" {bar.count:,}", label, _TEXT, va="center")
        canvas.text(x(-0.015), y(row), bar.title, label, _TEXT, ha="right", va="center")

    currencies = chart.currencies or ("",)
    several = len(currencies) > 1
    band = 0.7 / len(currencies)
    small = _font(9 if several else 11)
    labels = {
        (row, currency): f" {_money_label(cents)}" + (f" {currency}" if several and currency else "")
        for row, bar in enumerate(chart.bars)
        for currency, cents in bar.money
        if cents
    }
    peak = max((c for bar in chart.bars for _, c in bar.money), default=0) or 1
    # the longest bar and its label end inside the picture, however large the amounts
    widest = max((canvas.text_width(text, small) for text in labels.values()), default=0.0)
    money_room = max(0.05, min(0.36, (WIDTH_PX - 6 - widest - x(money_left)) / (x(1) - x(0))))
    for i, currency in enumerate(currencies):
        offset = -0.35 + band * (i + 0.5)
        shade = _CURRENCY_SHADES[i % len(_CURRENCY_SHADES)]
        for row, (bar, colour) in enumerate(zip(chart.bars, colours, strict=True)):
            cents = dict(bar.money).get(currency, 0)
            if not cents:
                continue
            right = x(money_left + money_room * cents / peak)
            top, bottom = y(row + offset - band * 0.45), y(row + offset + band * 0.45)
            canvas.rect(x(money_left), top, right, bottom, shade if several else colour)
            canvas.text(right, y(row + offset), labels[(row, currency)], small, _TEXT, va="center")
    heading = _font(11, bold=True)
    canvas.text(x(0), y(-0.75), "Findings", heading, _TEXT, va="bottom")
    money_heading = "Money at stake" + (f" ({currencies[0]})" if not several and currencies[0] else "")
    canvas.text(x(money_left), y(-0.75), money_heading, heading, _TEXT, va="bottom")
    return canvas


def _trend_picture(chart: TrendChart) -> _Canvas:
    """Open findings as a bold line, new and resolved as thin ones, each point's date below."""
    canvas = _Canvas(290)
    _title(canvas, "Open findings over recent runs")
    plot_top, plot_bottom = 0.22 * canvas.height, 0.84 * canvas.height  # the legend above, dates below
    opened = [run.open for run in chart.runs]
    series: list[tuple[str, str, float, int, Sequence[int | None]]] = [("Open", _OPEN, 2.5, 6, opened)]
    for name, colour, values in (
        ("New", _NEW, [run.new for run in chart.runs]),
        ("Resolved", _RESOLVED, [run.resolved for run in chart.runs]),
    ):
        if any(v is not None for v in values):
            series.append((name, colour, 1.5, 4, values))
    peak = max(v for *_, line in series for v in line if v is not None) or 1
    x = _Scale(-0.5, len(chart.runs) - 0.5, 0.04 * WIDTH_PX, 0.96 * WIDTH_PX)
    y = _Scale(0, peak * 1.25, plot_bottom, plot_top)  # room above the peak for its count
    canvas.line([(x(-0.5), y(0)), (x(len(chart.runs) - 0.5), y(0))], _GRID, 1.0)
    key_x = 0.015 * WIDTH_PX
    for name, colour, width, size, counts in series:
        points = [(x(i), y(n)) for i, n in enumerate(counts) if n is not None]
        canvas.line(points, colour, width, marker=size)
        canvas.text(key_x, 50, f"— {name}", _font(10, bold=True), colour)
        key_x += (len(name) + 5) * 8  # about 8 px a character at 10 pt bold
    value_font = _font(10)
    for i, n in enumerate(opened):
        canvas.text(x(i), y(n) - 7 * _PX_PER_PT, f"{n:,}", value_font, _OPEN, ha="center")
    step = max(1, (len(chart.runs) + 7) // 8)  # at most 8 date labels stay legible
    for i in range(0, len(chart.runs), step):
        canvas.text(x(i), y(0) + 16 * _PX_PER_PT, chart.runs[i].label, value_font, _TEXT, ha="center")
    return canvas


def _aging_picture(chart: AgingChart) -> _Canvas:
    canvas = _Canvas(240)
    _title(canvas, "Age of persisting findings (days since first seen)")
    plot_top, plot_bottom = 0.21 * canvas.height, 0.85 * canvas.height
    values = [n for _, n in chart.buckets]
    x = _Scale(-0.5, len(values) - 0.5, 0.06 * WIDTH_PX, 0.96 * WIDTH_PX)
    y = _Scale(0, max(values, default=0) * 1.3 or 1, plot_bottom, plot_top)  # room for the counts on top
    label = _font(11)
    for i, (name, n) in enumerate(chart.buckets):
        canvas.rect(x(i - 0.3), y(n), x(i + 0.3), y(0), _AGING)
        canvas.text(x(i), y(n), f"{n:,}", label, _TEXT, ha="center", va="bottom")
        canvas.text(x(i), y(0) + 17 * _PX_PER_PT, name, label, _TEXT, ha="center")
    canvas.line([(x(-0.5), y(0)), (x(len(values) - 0.5), y(0))], _GRID, 1.0)
    return canvas


__all__ = ["CHART_CID", "WIDTH_PX", "ChartImage", "chart_images", "draw_chart", "findings_chart_png"]
