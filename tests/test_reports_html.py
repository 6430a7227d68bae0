"""The HTML report: escaping, email safety, size bound, content, determinism, golden text."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import struct
from pathlib import Path

import pytest
from fixtures.reports.report_samples import bare_result, big_result, hostile_result, sample_result

import reports.html as html_mod
from reports.chart import CHART_CID, chart_images, findings_chart_png
from reports.html import BODY_LIMIT, chart_data_uri, render_html, write_html

GOLDEN = Path(__file__).parent / "golden" / "reports"
CID = f"cid:{CHART_CID}"


def _render(result, **kw) -> str:
    return render_html(result, chart_src=CID, **kw)


def _section(html: str, title: str) -> str:
    found = re.search(rf"<h2[^>]*>{re.escape(title)} \(", html)
    assert found, title
    end = html.find("<h2", found.end())
    return html[found.start() : end]


def test_templates_autoescape():
    assert html_mod._ENV.autoescape is True


def test_hostile_strings_are_escaped_and_no_script_survives():
    html = _render(hostile_result())
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "=HYPERLINK(&#34;http://x&#34;,&#34;y&#34;)" in html
    assert "شركة النور للتجارة" in html and "北京贸易有限公司" in html and "🧾💸" in html
    assert "\x00" not in html and "\x07" not in html
    assert "L" * 200 not in html  # long text cut for the page
    # the hostile QBO Id stays inside its (quoted, URL-encoded) href
    assert 'href="https://app.qbo.intuit.com/app/invoice?txnId=9%22%29%3B%20alert%281%29%3B%20%28%22"' in html


def test_email_safe_markup():
    html = _render(sample_result())
    assert "<style" not in html.lower() and "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert f'<img src="{CID}"' in html
    alt = r'<img [^>]*alt="Findings and money at stake by category: Missing in QBO 3 \(16,190.99 KES\); '
    assert re.search(alt, html)
    # every picture has its alt text, and each chart is linked by its own Content-ID
    images = re.findall(r"<img [^>]*>", html)
    assert len(images) == 3 and all(re.search(r'alt="[^"]{20,}"', img) for img in images)
    assert {re.search(r'src="([^"]*)"', img).group(1) for img in images} == {  # type: ignore[union-attr]
        "cid:findings-chart",
        "cid:trend-chart",
        "cid:aging-chart",
    }
    assert "<div style" in html and "<table" in html  # inline styles, table layout
    assert "class=" not in html


def test_summary_comes_first_with_the_headline_figures():
    html = _render(sample_result())
    assert re.search(r'id="headline-ties-out"[^>]*>Yes<', html)
    verdict = re.search(r'id="headline-verdict"[^>]*>([^<]*)<', html)
    assert verdict and verdict.group(1).startswith("AWRA and QBO do not agree:")
    assert "every cent of the difference is explained below" in verdict.group(1)
    assert re.search(r'id="headline-unexplained"[^>]*>0.00<', html)
    assert re.search(r'id="headline-open-findings"[^>]*>18<', html)
    assert re.search(r'id="headline-money-at-stake"[^>]*>26,417.99 KES<', html)
    order = [html.index(marker) for marker in ("headline-ties-out", "Tie-out bridge", CID, "Missing in QBO (3)")]
    assert order == sorted(order)
    assert "Explained by Missing in QBO" in html and ">Unexplained<" in html


def test_totals_and_amounts_show_their_currency():
    html = _render(sample_result())
    assert "Totals per entity and currency" in html and "invoice (KES)" in html
    assert "12,500.00 KES" in _section(html, "Missing in QBO")


def test_account_impact_lists_differing_accounts_largest_first():
    html = _render(sample_result())
    section = html[html.index('id="account-impact"') : html.index("Findings by category")]
    assert "2 differ, 1 agree" in section
    assert section.index("Sales") < section.index("Utilities") and "Bank - Equity" not in section
    visible = re.sub(r"<[^>]+>", "", section)
    assert "Missing in QBO: invoice INV-101" in visible
    # the category and field in words, never their internal names; a reference stays on one line
    assert "Mismatches (amount): bill BILL-7; Mapping mismatches: item ITEM-1" in visible
    assert '<span style="white-space:nowrap;">item ITEM-1</span>' in section
    assert "missing_in_qbo" not in section and "mapping_mismatch" not in section
    agree = _render(bare_result())
    assert 'id="account-impact-agree"' in agree


def test_history_counts_and_trend_are_shown_when_history_exists():
    html = _render(sample_result())
    assert "Since the last run" in html and ">Resolved<" in html
    assert "Open findings, recent runs" in html and "2026-03-11: 25" in html
    bare = _render(bare_result())
    assert "Since the last run" not in bare and "recent runs" not in bare and ">Persisting<" not in bare


def test_top_rows_per_category_and_the_pointer_to_the_workbook():
    html = _render(sample_result(), max_rows_per_category=1)
    section = _section(html, "Missing in QBO")
    assert "The top 1 by amount; all 3 are in the workbook, sheet “Missing in QBO”." in section
    assert section.count("<tr") == 2  # header + 1 row
    assert "INV-101" in section  # the biggest amount first
    full = _section(_render(sample_result()), "Missing in QBO")
    assert "All of them; all 3 are in the workbook" in full and full.count("<tr") == 4


def test_mapping_gaps_show_the_money_they_block_largest_first():
    section = _section(_render(sample_result()), "Mapping gaps")
    assert "They block transactions worth 25,710.99 in this window." in section
    amounts = re.findall(r'<td align="right" nowrap style="white-space:nowrap">([\d,]+\.\d\d)</td>', section)
    assert amounts == ["13,700.00", "8,800.00", "3,210.99", "0.00"]
    assert 'href="https://app.qbo.intuit.com/app/vendordetail?nameId=58"' in section


def test_a_sandbox_company_links_to_the_sandbox_app():
    result = sample_result()
    sandbox = dataclasses.replace(result, params=dataclasses.replace(result.params, qbo_environment="sandbox"))
    html = _render(sandbox)
    assert 'href="https://app.sandbox.qbo.intuit.com/app/vendordetail?nameId=58"' in html
    assert "https://app.qbo.intuit.com/" not in html


def test_escalations_are_listed():
    section = _section(_render(sample_result()), "Escalations")
    assert "Sync log says succeeded but QBO has no record" in section
    assert "INV-101, INV-107" in section and "Invalid Reference Id: Customer" in section
    assert "Nothing to escalate." in _section(_render(bare_result()), "Escalations")


@pytest.mark.parametrize("n", [10_000, 200_000])
def test_body_stays_under_the_email_limit_whatever_the_number_of_findings(n):
    html = _render(big_result(n))
    assert len(html.encode("utf-8")) < BODY_LIMIT
    assert "Open findings" in html and re.search(rf'id="headline-open-findings"[^>]*>{n:,}<', html)
    assert "are in the workbook" in html


def test_rows_shrink_when_the_page_would_be_too_big(monkeypatch):
    monkeypatch.setattr(html_mod, "BODY_LIMIT", 37_500)
    html = _render(sample_result(), max_rows_per_category=50)
    assert len(html.encode("utf-8")) <= 37_500
    assert "The top 1 by amount; all 3 are in the workbook" in html


def test_same_result_gives_the_same_html_and_chart():
    assert _render(sample_result()) == _render(sample_result())
    assert findings_chart_png(sample_result()) == findings_chart_png(sample_result())


def test_charts_are_pngs_at_email_width_and_history_adds_the_trend_and_aging():
    images = chart_images(sample_result())
    assert [i.cid for i in images] == ["findings-chart", "trend-chart", "aging-chart"]
    for image in images:
        assert image.png.startswith(b"\x89PNG\r\n\x1a\n")
        assert struct.unpack(">II", image.png[16:24]) == (image.width, image.height)
        assert image.width == 640 and image.alt
    assert [i.cid for i in chart_images(bare_result())] == ["findings-chart"]  # no history, no trend


def test_standalone_file_embeds_the_chart_as_a_data_uri(tmp_path):
    path = tmp_path / "report.html"
    write_html(sample_result(), path)
    text = path.read_text(encoding="utf-8")
    uri = chart_data_uri(sample_result())
    assert f'<img src="{uri}"' in text
    assert base64.b64decode(uri.split(",", 1)[1]) == findings_chart_png(sample_result())
    assert "cid:" not in text
    assert text.count('<img src="data:image/png;base64,') == 3


@pytest.mark.parametrize("name,factory", [("sample", sample_result), ("hostile", hostile_result)])
def test_html_matches_the_golden_file(name, factory):
    result = factory()
    html = _render(result).replace(result.params.now.strftime("%Y-%m-%d %H:%M UTC"), "<RUN-AT>")
    golden = GOLDEN / f"report_{name}.html"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(html, encoding="utf-8")
    assert golden.exists(), "run with UPDATE_GOLDEN=1 to create the golden file"
    assert html == golden.read_text(encoding="utf-8")


def test_trend_points_dated_by_their_start_time_show_that_date():
    import dataclasses

    result = sample_result()
    trend = [{"run_id": "r1", "started_at": "2026-03-14T05:30:00+00:00", "from": "2026-03-01", "open": 7}]
    html = _render(dataclasses.replace(result, history=dict(result.history, trend=trend)))
    assert "2026-03-14: 7" in html


def test_verdict_counts_findings_needing_action_and_acknowledged_ones():
    html = _render(sample_result())
    verdict = re.search(r'id="headline-verdict"[^>]*>([^<]*)<', html)
    # 18 findings: 1 informational (not ready), 2 acknowledged -> 15 need action
    assert verdict and "15 findings need action, 2 acknowledged;" in verdict.group(1)
    none_acked = _without_acknowledgements(sample_result())
    verdict = re.search(r'id="headline-verdict"[^>]*>([^<]*)<', _render(none_acked))
    assert verdict and "17 findings need action;" in verdict.group(1) and "acknowledged" not in verdict.group(1)


def _without_acknowledgements(result):
    findings = result.findings.copy()
    for column in ("ack_by", "ack_note", "ack_at", "ack_until", "ack_lapsed"):
        findings[column] = findings[column].where(findings[column].isna())
    return dataclasses.replace(result, findings=findings)


def test_acknowledged_findings_have_their_own_section_with_who_when_until_and_note():
    html = _render(sample_result())
    section = _section(html, "Acknowledged")
    assert "Acknowledged (2)" in section and "do not count as needing action" in section
    row = next(r for r in section.split("<tr") if "INV-900" in r)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[4:] == [
        "Grace Wambui",
        "2026-03-10",
        "2026-03-31",
        "Cash sale keyed in QBO by the branch; AWRA entry planned for month end",
    ]
    row = next(r for r in section.split("<tr") if "PAY-55" in r)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[4:] == ["jdoe", "2026-03-12", "until resolved", "Customer prepayment, waiting for the invoice"]
    assert "invoice INV-900" in section and "payment PAY-55" in section
    # they leave their category's list of findings that need action, which points to them
    missing = _section(html, "Missing in AWRA")
    assert "INV-900" not in missing and "PAY-55" not in missing
    assert "2 acknowledged, listed under “Acknowledged”." in missing
    assert "Acknowledged (" not in _render(_without_acknowledgements(sample_result()))


def test_a_lapsed_acknowledgement_is_said_next_to_the_finding():
    section = _section(_render(sample_result()), "Mismatches")
    row = next(r for r in section.split("<tr") if "JE-3" in r)
    assert "Acknowledgement lapsed: the finding changed since it was acknowledged (other values)" in row


def test_no_internal_cause_code_nor_field_name_reaches_the_reader():
    from reconcile.frames import MISMATCH_FIELDS
    from reconcile.triage import CAUSES

    html = _render(sample_result())
    visible = re.sub(r"<[^>]+>", " ", html)
    for code in (*CAUSES, *MISMATCH_FIELDS):
        if "_" in code:
            assert code not in visible, code
    row = next(r for r in _section(html, "Mismatches").split("<tr") if "2026-03-11" in r)
    assert "Date: AWRA 2026-03-09 / QBO 2026-03-11 (difference -2)" in row


def test_amounts_and_codes_do_not_wrap_and_nothing_breaks_words():
    html = _render(sample_result())
    # breaking anywhere is what split "10,101.00" and "Entity" on a phone (the browser test measures it)
    assert "overflow-wrap:anywhere" not in html and "word-break:break-word" not in html
    section = _section(html, "Missing in QBO")
    for amount in ("12,500.00 KES", "3,210.99 KES", "480.00 KES"):
        assert f'<td align="right" nowrap style="white-space:nowrap">{amount}</td>' in section
    assert '<td nowrap style="white-space:nowrap">invoice INV-101</td>' in section


def test_a_headline_figure_in_several_currencies_keeps_each_amount_whole():
    result = sample_result()
    findings = result.findings.copy()
    findings.loc[findings["awra_number"] == "INV-102", "currency"] = "USD"
    html = _render(dataclasses.replace(result, findings=findings))
    figure = re.search(r'<div id="headline-money-at-stake"([^>]*)>(.*?)</div>', html)
    assert figure and "white-space:nowrap" not in figure.group(1)  # may break between currencies
    nowrap = '<span style="white-space:nowrap;">'
    assert figure.group(2) == f"{nowrap}25,937.99 KES</span>; {nowrap}480.00 USD</span>"
    # one currency: the figure is the amount itself, kept on one line
    single = re.search(r'<div id="headline-money-at-stake"([^>]*)>([^<]*)</div>', _render(result))
    assert single and "white-space:nowrap" in single.group(1) and single.group(2) == "26,417.99 KES"
