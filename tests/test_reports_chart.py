"""What the charts show (reports.chart_data), checked on the values, never on pixels."""

from __future__ import annotations

import dataclasses

import pandas as pd
from fixtures.reports.report_samples import bare_result, big_result, sample_result

from reconcile import frames as F
from reports.chart import chart_images, draw_chart
from reports.chart_data import (
    AgingChart,
    CategoryChart,
    TrendChart,
    aging_chart,
    category_chart,
    chart_specs,
    trend_chart,
)


def _findings(rows: list[dict]) -> pd.DataFrame:
    return F.conform(pd.DataFrame(rows), F.FINDINGS)


def test_no_findings_draws_an_empty_category_chart_only():
    specs = chart_specs(dataclasses.replace(bare_result(), findings=F.empty_frame(F.FINDINGS)))
    assert [s.cid for s in specs] == ["findings-chart"]
    assert specs[0].data == CategoryChart(bars=(), currencies=(), other_currencies=())
    assert "none" in specs[0].alt and "agree" in specs[0].alt


def test_counts_and_money_per_category_in_report_order():
    chart = category_chart(sample_result().findings)
    got = {b.category: (b.count, dict(b.money), b.kind) for b in chart.bars}
    assert [b.category for b in chart.bars] == [c for c in F.CATEGORIES if c in got]
    # two mismatches of INV-104 (amount and date) put its 2,500.00 at stake once, plus JE-3's 5,000.00
    assert got["mismatch"] == (3, {"KES": 750_000}, "transaction")
    assert got["missing_in_qbo"] == (3, {"KES": 1_250_000 + 48_000 + 321_099}, "transaction")
    # a mapping finding counts the money it blocks (master data states no currency)
    assert got["mapping_missing"][1] == {"": 1_370_000} and got["mapping_missing"][2] == "mapping"
    assert got["not_ready"][2] == "informational"


def test_a_mapping_findings_money_takes_the_runs_one_currency_and_no_guess_with_several():
    result = sample_result()
    (spec, *_) = chart_specs(result)
    bars = {b.category: dict(b.money) for b in spec.data.bars}  # type: ignore[union-attr]
    assert spec.data.currencies == ("KES",)  # type: ignore[union-attr]
    assert bars["mapping_missing"] == {"KES": 1_370_000} and bars["mismatch"] == {"KES": 750_000}
    assert "Mapping missing 1 (13,700.00 KES)" in spec.alt
    # totals in two currencies: the blocked money's currency is not known, it stays apart
    two = category_chart(result.findings, ("KES", "USD"))
    assert {b.category: dict(b.money) for b in two.bars}["mapping_missing"] == {"": 1_370_000}


def test_money_is_never_added_across_currencies():
    rows = [
        {"entity": "invoice", "category": "missing_in_qbo", "awra_id": "1", "amount_cents": 10_000, "currency": "USD"},
        {"entity": "invoice", "category": "missing_in_qbo", "awra_id": "2", "amount_cents": 20_000, "currency": "KES"},
        {"entity": "invoice", "category": "missing_in_qbo", "awra_id": "3", "amount_cents": -5_000, "currency": "KES"},
        {"entity": "bill", "category": "mismatch", "awra_id": "9", "amount_cents": 700, "currency": "EUR"},
        {"entity": "bill", "category": "mismatch", "awra_id": "8", "amount_cents": 300, "currency": "GBP"},
    ]
    chart = category_chart(_findings(rows))
    assert chart.currencies == ("KES", "EUR", "GBP") and chart.other_currencies == ("USD",)
    by_category = {b.category: dict(b.money) for b in chart.bars}
    assert by_category["missing_in_qbo"] == {"KES": 25_000}
    assert by_category["mismatch"] == {"EUR": 700, "GBP": 300}
    assert "USD are in the workbook" in chart_specs(dataclasses.replace(bare_result(), findings=_findings(rows)))[0].alt


def test_trend_has_open_new_and_resolved_per_run_and_keeps_the_last_twelve():
    chart = trend_chart(sample_result().history)
    assert [(r.label, r.open, r.new, r.resolved) for r in chart.runs] == [
        ("03-11", 25, 4, 2),
        ("03-12", 22, 2, 5),
        ("03-13", 21, 3, 4),
        ("03-14", 16, 1, 6),
        ("03-15", 18, 6, 4),
    ]
    long = {
        "trend": [
            {"run_id": f"r{i}", "started_at": f"2026-01-{i + 1:02d}T05:30:00+00:00", "open": i} for i in range(20)
        ]
    }
    runs = trend_chart(long).runs
    assert len(runs) == 12 and runs[0].open == 8 and runs[-1].label == "01-20"
    assert runs[0].new is None and runs[0].resolved is None  # older history without those counts
    assert trend_chart(None) == TrendChart(runs=())


def test_aging_buckets_come_from_the_history_and_are_drawn_only_when_something_persists():
    assert aging_chart(sample_result().history) == AgingChart(
        buckets=(("0-7 days", 9), ("8-30 days", 6), ("31+ days", 3))
    )
    result = sample_result()
    nothing_old = dataclasses.replace(result, history=dict(result.history, aging={"0-7": 0, "8-30": 0}))
    assert [s.cid for s in chart_specs(nothing_old)] == ["findings-chart", "trend-chart"]
    one_run = dataclasses.replace(result, history=dict(result.history, trend=result.history["trend"][-1:]))
    assert [s.cid for s in chart_specs(one_run)] == ["findings-chart", "aging-chart"]


def test_alt_texts_say_what_each_chart_shows():
    alts = {s.cid: s.alt for s in chart_specs(sample_result())}
    assert alts["findings-chart"].startswith(
        "Findings and money at stake by category: Missing in QBO 3 (16,190.99 KES);"
    )
    assert alts["trend-chart"].startswith("Open findings over recent runs: 03-11 25 open (4 new, 2 resolved);")
    assert alts["aging-chart"] == "Persisting findings by age in days: 0-7 days: 9; 8-30 days: 6; 31+ days: 3."


def test_what_is_drawn_does_not_grow_with_the_number_of_findings():
    small, large = chart_specs(big_result(1_000)), chart_specs(big_result(50_000))
    assert len(small[0].data.bars) == len(large[0].data.bars) == len(F.CATEGORIES)  # type: ignore[union-attr]
    assert len(repr(large)) < 2 * len(repr(small))


def test_same_spec_same_bytes_and_drawn_once():
    spec = chart_specs(sample_result())[0]
    draw_chart.cache_clear()
    first = draw_chart(spec)
    again = draw_chart(dataclasses.replace(spec))  # an equal value: served from the cache
    assert again is first and draw_chart.cache_info().hits == 1
    draw_chart.cache_clear()
    assert draw_chart(spec).png == first.png  # and drawn anew: the same bytes
    assert [i.cid for i in chart_images(sample_result())] == ["findings-chart", "trend-chart", "aging-chart"]


def test_a_finding_naming_no_record_counts_its_own_money():
    rows = [
        {"entity": "invoice", "category": "data_quality", "awra_id": "1", "amount_cents": 10_000, "currency": "KES"},
        {"entity": "invoice", "category": "data_quality", "awra_id": "1", "amount_cents": 4_000, "currency": "KES"},
        {"entity": "invoice", "category": "data_quality", "amount_cents": 5_000, "currency": "KES"},
        {"entity": "invoice", "category": "data_quality", "qbo_id": "1", "amount_cents": 700, "currency": "KES"},
    ]
    (bar,) = category_chart(_findings(rows)).bars
    # AWRA record 1 once (its largest amount), the row naming no record, QBO record 1 apart from AWRA's 1
    assert bar.count == 4 and bar.money == (("KES", 10_000 + 5_000 + 700),)


def test_what_is_drawn_is_worked_out_once_per_result():
    result = sample_result()
    assert chart_specs(result) is chart_specs(result)  # the report file, the email and its attachments
    other = dataclasses.replace(result, history=None)
    assert [s.cid for s in chart_specs(other)] == ["findings-chart"]
    assert [s.cid for s in chart_specs(result)] == ["findings-chart", "trend-chart", "aging-chart"]


def test_every_chart_is_an_opaque_png_at_email_width():
    for image in chart_images(sample_result()):
        assert image.png.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = int.from_bytes(image.png[16:20], "big"), int.from_bytes(image.png[20:24], "big")
        assert (width, height) == (image.width, image.height) and width == 640
        assert image.png[25] == 2  # colour type RGB: no transparency for a dark-mode mail reader to show through


def test_the_hosts_matplotlib_settings_do_not_change_the_pictures(monkeypatch):
    import matplotlib as mpl

    spec = chart_specs(sample_result())[0]
    draw_chart.cache_clear()
    usual = draw_chart(spec).png
    draw_chart.cache_clear()
    monkeypatch.setitem(mpl.rcParams, "text.hinting", "none")  # as a matplotlibrc might say
    assert draw_chart(spec).png == usual
    draw_chart.cache_clear()
