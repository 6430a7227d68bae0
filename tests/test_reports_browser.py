"""report.html in a real browser: headless Chromium renders it, not blank, headline figures shown."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from fixtures.reports.report_samples import hostile_result, sample_result

from reports.html import write_html

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (/usr/bin/chromium); CI installs Debian's chromium")
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _png_rows(data: bytes, max_rows: int) -> tuple[int, int, list[bytes]]:
    """Decode the first ``max_rows`` pixel rows of an 8-bit RGB/RGBA PNG (no interlace)."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, idat, width = 8, b"", 0
    height = bpp = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    stride = width * bpp
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * max_rows)
    rows: list[bytes] = []
    prev = bytearray(stride)
    for r in range(min(max_rows, height, len(raw) // (stride + 1))):
        kind = raw[r * (stride + 1)]
        line = bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                upleft = prev[i - bpp] if i >= bpp else 0
                p = left + up - upleft
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else upleft
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, bpp, rows


@pytest.mark.parametrize("factory", [sample_result, hostile_result])
def test_report_renders_in_headless_chromium(tmp_path, factory):
    report = tmp_path / "report.html"
    write_html(factory(), report)
    shot = tmp_path / "shot.png"
    done = _chromium(tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, done.stderr[-2000:]
    width, bpp, rows = _png_rows(shot.read_bytes(), 500)
    assert width == 1280 and len(rows) == 500
    pixels = {row[i : i + 3] for row in rows[::5] for i in range(0, len(row), bpp * 3)}
    assert len(pixels) > 20, "the page looks blank"
    assert any(p != b"\xff\xff\xff" for p in pixels)

    dom = _chromium(tmp_path, "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    assert 'id="headline-ties-out"' in text and ">Yes<" in text
    assert 'id="headline-open-findings"' in text and ">18<" in text
    assert ">26,417.99 KES<" in text and ">0.00<" in text
    assert "<script" not in text.lower(), "no script may reach the page"


# The report has no script of its own; the test copy gets one that measures the layout once the
# page (images included) has loaded and leaves its findings in the DOM for --dump-dom.
_MEASURE = """<script>
window.addEventListener('load', function () {
  var out = {width: document.documentElement.getBoundingClientRect().width, broken: [], wrapped: [], images: []};
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  // an amount, with its currency code when it has one ("12,500.00 KES")
  var money = /^-?[0-9][0-9,]*\\.[0-9][0-9]( [A-Z]{3})?$/;
  for (var node = walker.nextNode(); node; node = walker.nextNode()) {
    var text = node.textContent, re = /\\S+/g, m;
    if (!text.trim() || node.parentElement.closest('script')) continue;
    while ((m = re.exec(text)) !== null) {
      var range = document.createRange();
      range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
      var lines = {};
      Array.prototype.forEach.call(range.getClientRects(), function (r) {
        if (r.width > 0) lines[Math.round(r.top)] = 1;
      });
      if (Object.keys(lines).length > 1) out.broken.push(m[0]);
    }
    var cell = node.parentElement.closest('td');
    if (cell && money.test(text.trim())) {
      var r2 = document.createRange(); r2.selectNodeContents(node);
      var tops = {};
      Array.prototype.forEach.call(r2.getClientRects(), function (r) { tops[Math.round(r.top)] = 1; });
      if (Object.keys(tops).length > 1) out.wrapped.push(text.trim());
    }
  }
  document.querySelectorAll('img').forEach(function (img) {
    out.images.push({
      alt: img.alt.length, ok: img.complete && img.naturalWidth > 0, width: img.getBoundingClientRect().width
    });
  });
  function bottom(id) { var e = document.getElementById(id); return e ? e.getBoundingClientRect().bottom : -1; }
  out.verdict = bottom('headline-verdict'); out.tiesOut = bottom('headline-ties-out');
  out.unexplained = bottom('headline-unexplained');
  var ack = document.getElementById('acknowledged');
  out.acknowledged = ack ? ack.textContent : '';
  var pre = document.createElement('pre'); pre.id = 'layout'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _measured_copy(report: Path, width: int, tmp_path: Path, *, script: bool) -> Path:
    """A copy of the report laid out ``width`` CSS pixels wide (headless Chromium keeps its window at
    500 px or more, and the report has no media queries, so narrowing the root is the same layout)."""
    html = report.read_text(encoding="utf-8")
    html = html.replace("</head>", f"<style>html{{width:{width}px}}</style></head>", 1)
    if script:
        html = html.replace("</body>", _MEASURE + "</body>", 1)
    copy = tmp_path / f"report-{width}{'-measured' if script else ''}.html"
    copy.write_text(html, encoding="utf-8")
    return copy


@pytest.mark.parametrize("width", [400, 1280])
def test_phone_and_desktop_layouts_keep_amounts_and_words_whole(tmp_path, width):
    import json
    import re

    report = tmp_path / "report.html"
    write_html(sample_result(), report)
    shot = tmp_path / f"shot-{width}.png"
    page = _measured_copy(report, width, tmp_path, script=False)
    done = _chromium(tmp_path, f"--window-size={max(width, 500)},1600", f"--screenshot={shot}", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, done.stderr[-2000:]

    measured = _measured_copy(report, width, tmp_path, script=True)
    dom = _chromium(
        tmp_path,
        f"--window-size={max(width, 500)},1600",
        "--virtual-time-budget=10000",
        "--dump-dom",
        measured.as_uri(),
    )
    found = re.search(r'<pre id="layout">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stderr[-2000:]
    layout = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert layout["width"] == width
    assert layout["broken"] == [], "words broken across lines"
    assert layout["wrapped"] == [], "amounts wrapped"
    assert len(layout["images"]) == 3 and all(i["ok"] and i["alt"] > 20 for i in layout["images"])
    assert all(i["width"] <= width for i in layout["images"])  # the charts shrink to a phone's width
    # the verdict and the tie-out figures are on the first screen (a phone shows about 700 px)
    assert 0 < layout["verdict"] < 700 and 0 < layout["tiesOut"] < 700 and 0 < layout["unexplained"] < 700
    assert layout["acknowledged"].startswith("Acknowledged (2)")
