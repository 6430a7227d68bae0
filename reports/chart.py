"""The findings chart as a small PNG, drawn without a plotting library.

A horizontal bar per finding category (label, bar, count) and, when run history has a trend,
a column per recent run with its open findings. Text uses a built-in 5×7 pixel font (upper
case, digits and a few signs), so the picture needs no font files and is the same bytes for
the same inputs on every machine (numpy for the pixels, zlib + struct for the PNG).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from reconcile.model import RunResult
from reports._common import INFORMATIONAL_CATEGORIES, MAPPING_CATEGORIES, category_counts, history_trend

#: Content-ID of the chart when the report is sent by email (``<img src="cid:findings-chart">``).
CHART_CID = "findings-chart"

WIDTH = 640
_SCALE = 2  # each font pixel is 2×2 screen pixels
_CHAR_W = 6 * _SCALE
_ROW_H = 24
_BAR_H = 16
_LABEL_W = 19 * _CHAR_W  # room for "DUPLICATES IN AWRA"
_COUNT_W = 8 * _CHAR_W

_WHITE = (255, 255, 255)
_TEXT = (34, 34, 34)
_GRID = (221, 221, 221)
_TRANSACTION = (47, 109, 181)
_MAPPING = (217, 130, 43)
_INFO = (138, 143, 152)
_TREND = (46, 139, 87)

# 5×7 glyphs, one string of 35 bits per character (rows top to bottom).
_GLYPHS: dict[str, str] = {
    "A": "01110100011000111111100011000110001",
    "B": "11110100011000111110100011000111110",
    "C": "01110100011000010000100001000101110",
    "D": "11110100011000110001100011000111110",
    "E": "11111100001000011110100001000011111",
    "F": "11111100001000011110100001000010000",
    "G": "01110100011000010111100011000101111",
    "H": "10001100011000111111100011000110001",
    "I": "01110001000010000100001000010001110",
    "J": "00111000100001000010000101001001100",
    "K": "10001100101010011000101001001010001",
    "L": "10000100001000010000100001000011111",
    "M": "10001110111010110101100011000110001",
    "N": "10001100011100110101100111000110001",
    "O": "01110100011000110001100011000101110",
    "P": "11110100011000111110100001000010000",
    "Q": "01110100011000110001101011001001101",
    "R": "11110100011000111110101001001010001",
    "S": "01111100001000001110000010000111110",
    "T": "11111001000010000100001000010000100",
    "U": "10001100011000110001100011000101110",
    "V": "10001100011000110001100010101000100",
    "W": "10001100011000110101101011010101010",
    "X": "10001100010101000100010101000110001",
    "Y": "10001100011000101010001000010000100",
    "Z": "11111000010001000100010001000011111",
    "0": "01110100011001110101110011000101110",
    "1": "00100011000010000100001000010001110",
    "2": "01110100010000100010001000100011111",
    "3": "11111000100010000010000011000101110",
    "4": "00010001100101010010111110001000010",
    "5": "11111100001111000001000011000101110",
    "6": "00110010001000011110100011000101110",
    "7": "11111000010001000100010000100001000",
    "8": "01110100011000101110100011000101110",
    "9": "01110100011000101111000010001001100",
    "-": "00000000000000011111000000000000000",
    ".": "00000000000000000000000000110001100",
    ",": "00000000000000000000011000010001000",
    ":": "00000011000110000000011000110000000",
    "/": "00000000010001000100010001000000000",
    "(": "00010001000100001000010000010000010",
    ")": "01000001000001000010000100010001000",
    "%": "11000110010001000100010001001100011",
    "?": "01110100010000100010001000000000100",
    " ": "0" * 35,
}
_MASKS: dict[str, np.ndarray] = {
    ch: np.kron(np.array([int(b) for b in bits], dtype=bool).reshape(7, 5), np.ones((_SCALE, _SCALE), dtype=bool))
    for ch, bits in _GLYPHS.items()
}


def findings_chart_png(result: RunResult) -> bytes:
    """A PNG bar chart of findings by category (plus the open-findings trend, with history)."""
    counts = category_counts(result)
    trend = history_trend(result.history)
    bars_h = 36 + max(len(counts), 1) * _ROW_H + 8
    trend_h = 40 + 120 + 2 * 7 * _SCALE + 16 if trend else 0
    canvas = np.full((bars_h + trend_h, WIDTH, 3), 255, dtype=np.uint8)
    _text(canvas, 8, 8, "FINDINGS BY CATEGORY", _TEXT)
    if not counts:
        _text(canvas, 8, 40, "NO FINDINGS", _TEXT)
    top = max((c.count for c in counts), default=0)
    bar_room = WIDTH - _LABEL_W - _COUNT_W - 16
    for i, cc in enumerate(counts):
        y = 36 + i * _ROW_H
        _text(canvas, 8, y + (_ROW_H - 7 * _SCALE) // 2, cc.title.upper()[:19], _TEXT)
        width = max(2, round(bar_room * cc.count / top)) if top else 0
        colour = (
            _MAPPING
            if cc.category in MAPPING_CATEGORIES
            else _INFO
            if cc.category in INFORMATIONAL_CATEGORIES
            else _TRANSACTION
        )
        x0 = _LABEL_W + 8
        _rect(canvas, x0, y + (_ROW_H - _BAR_H) // 2, width, _BAR_H, colour)
        _text(canvas, x0 + width + 6, y + (_ROW_H - 7 * _SCALE) // 2, f"{cc.count:,}", _TEXT)
    if trend:
        _draw_trend(canvas, bars_h, trend_h, trend)
    return _png(canvas)


def _draw_trend(canvas: np.ndarray, top_y: int, height: int, trend: list) -> None:
    _rect(canvas, 0, top_y, WIDTH, 1, _GRID)
    _text(canvas, 8, top_y + 10, "OPEN FINDINGS, RECENT RUNS", _TEXT)
    points = trend[-12:]
    base_y = top_y + 40 + 120
    peak = max((p.open for p in points), default=0)
    slot = (WIDTH - 16) // max(len(points), 1)
    col_w = min(40, slot - 12)
    for i, point in enumerate(points):
        x = 8 + i * slot + (slot - col_w) // 2
        h = max(1, round(100 * point.open / peak)) if peak else 1
        _rect(canvas, x, base_y - h, col_w, h, _TREND)
        label = f"{point.open:,}"
        _text(canvas, x + (col_w - len(label) * _CHAR_W) // 2, base_y - h - 7 * _SCALE - 4, label, _TEXT)
        day = point.date[5:10] if len(point.date) >= 10 else point.date[:5]
        _text(canvas, x + (col_w - len(day) * _CHAR_W) // 2, base_y + 6, day, _TEXT)
    _rect(canvas, 8, base_y, WIDTH - 16, 1, _GRID)


def _rect(canvas: np.ndarray, x: int, y: int, w: int, h: int, colour: tuple[int, int, int]) -> None:
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = colour


def _text(canvas: np.ndarray, x: int, y: int, text: str, colour: tuple[int, int, int]) -> None:
    for ch in text.upper():
        mask = _MASKS.get(ch, _MASKS["?"])
        h, w = mask.shape
        if x + w > canvas.shape[1] or y + h > canvas.shape[0] or x < 0 or y < 0:
            break
        region = canvas[y : y + h, x : x + w]
        region[mask] = colour
        x += _CHAR_W


def _png(canvas: np.ndarray) -> bytes:
    """Encode an RGB canvas as PNG (filter 0, fixed compression level: same bytes every time)."""
    height, width, _ = canvas.shape
    raw = np.concatenate([np.zeros((height, 1), dtype=np.uint8), canvas.reshape(height, width * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + chunk(b"IEND", b"")
    )
