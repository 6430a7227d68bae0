"""The workbook: sheets, formats, links, hostile text, determinism, golden contents."""

from __future__ import annotations

import dataclasses
import io
import os
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from fixtures.reports.report_samples import (
    HOSTILE_STRINGS,
    LONG_TEXT,
    bare_result,
    hostile_result,
    sample_result,
)

import reports.excel as excel
from reconcile import frames as F
from reports._common import TRUNCATED_MARKER, clean_text
from reports.excel import MONEY_FORMAT, write_workbook

GOLDEN = Path(__file__).parent / "golden" / "reports"
FIXED_SHEETS = ["Mapping gaps", "Sync triage", "Safe to retry", "Escalations", "Parameters"]


def _write(result, tmp_path: Path, name: str = "book.xlsx") -> Path:
    path = tmp_path / name
    write_workbook(result, path)
    return path


def _cell_text(cell) -> str:
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    if cell.hyperlink is not None and cell.hyperlink.target:
        text += f" -> {cell.hyperlink.target}"
    return text


def sheet_frames(path: Path) -> dict[str, pd.DataFrame]:
    """Every sheet read back with openpyxl as a frame of display texts (no header row)."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        rows = [[_cell_text(c) for c in row] for row in ws.iter_rows()]
        out[ws.title] = pd.DataFrame(rows, dtype="string")
    return out


def header(ws) -> list[str]:
    return [c.value for c in next(ws.iter_rows(min_row=1, max_row=1))]


def column(ws, name: str) -> list:
    idx = header(ws).index(name)
    return [row[idx] for row in ws.iter_rows(min_row=2)]


def test_sheets_come_in_the_documented_order(tmp_path):
    wb = openpyxl.load_workbook(_write(sample_result(), tmp_path))
    assert wb.sheetnames == [
        "Summary",
        "Account impact",
        "Missing in QBO",
        "Missing in AWRA",
        "Duplicates in QBO",
        "Duplicates in AWRA",
        "Mismatches",
        "Sync conflicts",
        "Not ready to sync",
        "Mapping missing",
        "Mapping broken",
        "Mapping duplicates",
        "Mapping mismatches",
        "Retry loops",
        "Data quality",
        "Acknowledged",
        *FIXED_SHEETS,
    ]


def test_acknowledged_findings_get_their_own_sheet_with_who_when_until_and_note(tmp_path):
    wb = openpyxl.load_workbook(_write(sample_result(), tmp_path))
    rows = list(wb["Acknowledged"].iter_rows(values_only=True))
    header = rows[0]
    got = {r[header.index("AWRA number")]: r for r in rows[1:]}
    assert set(got) == {"INV-900", "PAY-55"}
    inv = got["INV-900"]
    assert inv[header.index("Category")] == "Missing in AWRA"
    assert inv[header.index("Acknowledged by")] == "Grace Wambui"
    assert inv[header.index("Acknowledged at (UTC)")] == datetime(2026, 3, 10, 8, 15)
    assert inv[header.index("Acknowledged until")] == datetime(2026, 3, 31)
    assert inv[header.index("Acknowledgement note")].startswith("Cash sale keyed in QBO")
    # the category sheets keep every finding, with the acknowledgement (or its lapse) beside it
    mism = list(wb["Mismatches"].iter_rows(values_only=True))
    lapsed = [r[mism[0].index("Acknowledgement lapsed")] for r in mism[1:] if r[mism[0].index("AWRA number")] == "JE-3"]
    assert lapsed == ["the finding changed since it was acknowledged (other values)"]
    summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(values_only=True) if r and r[0]}
    assert summary["Need action"] == 15 and summary["Acknowledged"] == 2


def test_no_acknowledgement_no_sheet_and_no_columns(tmp_path):
    result = sample_result()
    findings = result.findings.drop(columns=["ack_by", "ack_note", "ack_at", "ack_until", "ack_lapsed"])
    wb = openpyxl.load_workbook(_write(dataclasses.replace(result, findings=F.conform(findings, F.FINDINGS)), tmp_path))
    assert "Acknowledged" not in wb.sheetnames
    assert "Acknowledged by" not in next(wb["Missing in AWRA"].iter_rows(values_only=True))


def test_the_cause_code_has_its_own_column_after_the_documented_ones(tmp_path):
    result = sample_result()
    findings = result.findings.copy()
    findings.loc[findings["awra_id"] == "101", "cause_code"] = "mapping_missing"
    wb = openpyxl.load_workbook(_write(dataclasses.replace(result, findings=findings), tmp_path))
    rows = list(wb["Missing in QBO"].iter_rows(values_only=True))
    header = rows[0]
    assert header.index("Cause code") == header.index("Match method") + 1
    row = next(r for r in rows[1:] if r[header.index("AWRA id")] == "101")
    assert row[header.index("Cause code")] == "mapping_missing"
    assert row[header.index("Cause")] == "Sync failed: customer not mapped"


def test_only_categories_with_findings_get_a_sheet(tmp_path):
    result = sample_result()
    findings = result.findings[result.findings["category"].isin(["mismatch", "mapping_missing"])]
    wb = openpyxl.load_workbook(
        _write(type(result)(result.params, findings.reset_index(drop=True), result.totals), tmp_path)
    )
    assert wb.sheetnames == ["Summary", "Account impact", "Mismatches", "Mapping missing", *FIXED_SHEETS]


def test_every_sheet_has_a_frozen_header_and_a_filter(tmp_path):
    wb = openpyxl.load_workbook(_write(sample_result(), tmp_path))
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert ws.auto_filter.ref, ws.title
        if ws.title != "Summary":
            assert ws.auto_filter.ref.startswith("A1:"), ws.title
            assert all(ws.column_dimensions[letter].width for letter in "AB"), ws.title


def test_money_is_a_number_with_a_currency_format_and_dates_are_dates(tmp_path):
    wb = openpyxl.load_workbook(_write(sample_result(), tmp_path))
    ws = wb["Missing in QBO"]
    amounts = column(ws, "Amount")
    assert [c.value for c in amounts] == [12500, 480, 3210.99]  # sorted by entity, then number
    assert all(c.data_type == "n" and c.number_format == MONEY_FORMAT for c in amounts)
    dates = column(ws, "Date")
    assert dates[0].value == datetime(2026, 3, 2)
    assert dates[0].is_date and dates[0].number_format == "yyyy-mm-dd"
    mismatches = wb["Mismatches"]
    differences = [c.value for c in column(mismatches, "Difference")]
    assert differences == [25, -2, None]
    blocks = wb["Mapping gaps"]
    assert [c.value for c in column(blocks, "Blocks amount")] == [13700, 8800, 3210.99, 0]


def test_qbo_ids_link_to_the_record_and_awra_numbers_are_shown(tmp_path):
    wb = openpyxl.load_workbook(_write(sample_result(), tmp_path))
    missing = wb["Missing in AWRA"]
    links = {c.value: c.hyperlink.target for c in column(missing, "QBO Id")}
    assert links == {
        "9001": "https://app.qbo.intuit.com/app/invoice?txnId=9001",
        "9055": "https://app.qbo.intuit.com/app/recvpayment?txnId=9055",
    }
    assert [c.value for c in column(missing, "AWRA number")] == ["INV-900", "PAY-55"]
    journal = column(wb["Mismatches"], "QBO Id")[-1]
    assert journal.hyperlink.target == "https://app.qbo.intuit.com/app/journal?txnId=9303"
    vendor = column(wb["Mapping broken"], "QBO Id")[0]
    assert vendor.hyperlink.target == "https://app.qbo.intuit.com/app/vendordetail?nameId=58"
    item = column(wb["Mapping duplicates"], "QBO Id")[0]
    assert item.value == "12" and item.hyperlink is None


def test_a_sandbox_company_links_to_the_sandbox_app(tmp_path):
    result = sample_result()
    sandbox = dataclasses.replace(result, params=dataclasses.replace(result.params, qbo_environment="sandbox"))
    wb = openpyxl.load_workbook(_write(sandbox, tmp_path))
    targets = [c.hyperlink.target for c in column(wb["Missing in AWRA"], "QBO Id")]
    assert targets == [
        "https://app.sandbox.qbo.intuit.com/app/invoice?txnId=9001",
        "https://app.sandbox.qbo.intuit.com/app/recvpayment?txnId=9055",
    ]


def test_links_past_the_budget_are_hyperlink_formulas(tmp_path, monkeypatch):
    monkeypatch.setattr(excel, "REAL_LINK_BUDGET", 1)
    wb = openpyxl.load_workbook(_write(sample_result(), tmp_path))
    cells = column(wb["Missing in AWRA"], "QBO Id")
    assert cells[0].hyperlink.target.endswith("txnId=9001")
    assert cells[1].data_type == "f"
    assert cells[1].value == '=HYPERLINK("https://app.qbo.intuit.com/app/recvpayment?txnId=9055","9055")'


def test_summary_shows_the_run_and_the_tie_out(tmp_path):
    result = sample_result()
    ws = openpyxl.load_workbook(_write(result, tmp_path))["Summary"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    labels = {row[0]: row[1] for row in rows if row and row[0] is not None and len(row) > 1}
    assert labels["Run id"] == result.params.run_id
    assert labels["Run at (UTC)"] == datetime(2026, 3, 15, 5, 30)
    assert labels["From"] == datetime(2026, 3, 1)
    assert labels["Status filter"] == "posted"
    assert labels["Ties out"] == "Yes"
    assert labels["Unexplained"] == 0
    assert labels["Open findings"] == 18
    assert labels["Source: awra"].startswith("postgresql+psycopg://")
    totals = next(row for row in rows if row[0] == "invoice")
    assert totals[1:3] == ["KES", 40]  # per entity and currency
    bridge = [row for row in rows if row[0] == "invoice (KES)"]
    assert bridge[0][1:3] == ["AWRA total", 125000]
    assert bridge[-1][1:3] == ["Unexplained", 0]
    explained = sum(r[2] for r in bridge if r[1].startswith("Explained by"))
    assert round(explained, 2) == bridge[2][2]  # the categories add up to the difference
    history = {row[0]: row[1] for row in rows if row[0] in ("New", "Persisting", "Resolved", "Reopened")}
    assert history == {"New": 6, "Persisting": 6, "Resolved": 4, "Reopened": 6}
    counts = next(i for i, row in enumerate(rows) if row[:5] == ["Category", "Sheet", "Findings", "Amount", "Currency"])
    assert rows[counts][5:8] == ["New", "Persisting", "Reopened"]
    first = ws.cell(row=counts + 2, column=2)
    assert first.value == "Missing in QBO" and first.hyperlink.location == "'Missing in QBO'!A1"


def test_account_impact_sheet_lists_accounts_largest_difference_first(tmp_path):
    ws = openpyxl.load_workbook(_write(sample_result(), tmp_path))["Account impact"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0][:8] == [
        "QBO account",
        "Name",
        "Currency",
        "AWRA net (debit − credit)",
        "QBO net (debit − credit)",
        "Difference",
        "Explained",
        "Unexplained",
    ]
    assert [r[0] for r in rows[1:]] == ["80", "61", "35"]
    assert rows[1][1:8] == ["Sales", "KES", -125000, -112500, -12500, -12500, 0]
    assert rows[1][9] == "missing_in_qbo invoice INV-101"


def test_findings_sheets_show_the_currency_of_each_amount(tmp_path):
    ws = openpyxl.load_workbook(_write(sample_result(), tmp_path))["Missing in QBO"]
    assert {c.value for c in column(ws, "Currency")} == {"KES"}


def test_without_history_or_triage_the_workbook_still_has_every_fixed_sheet(tmp_path):
    wb = openpyxl.load_workbook(_write(bare_result(), tmp_path))
    assert wb.sheetnames[-5:] == FIXED_SHEETS
    assert header(wb["Sync triage"]) == ["Entity", "Message"]
    assert wb["Sync triage"].max_row == 1
    values = [c.value for row in wb["Summary"].iter_rows() for c in row]
    assert "New" not in values and "History" not in header(wb["Missing in QBO"])


def test_triage_and_escalations_sheets_carry_the_producers_columns(tmp_path):
    wb = openpyxl.load_workbook(_write(sample_result(), tmp_path))
    triage = wb["Sync triage"]
    assert header(triage)[:4] == ["Entity", "AWRA id", "AWRA number", "Sync status"]
    assert [c.value for c in column(triage, "Retry can succeed")] == [False, False, True]
    attempted = column(triage, "Attempted at (UTC)")[0]
    assert attempted.value == datetime(2026, 3, 14, 22, 0) and attempted.is_date
    safe = wb["Safe to retry"]
    assert [c.value for c in column(safe, "Amount")] == [480]
    esc = wb["Escalations"]
    assert header(esc)[:3] == ["Reason", "Connector", "Status"]
    assert [c.value for c in column(esc, "AWRA numbers")] == ["PAY-4", "INV-101, INV-107"]
    params = {row[0].value: row[1].value for row in wb["Parameters"].iter_rows(min_row=2)}
    assert params["run_id"] == "20260315T053000Z-acme" and params["tolerances.amount_cents"] == 0


def test_hostile_text_is_stored_as_text_never_as_a_formula(tmp_path):
    wb = openpyxl.load_workbook(_write(hostile_result(), tmp_path))
    texts: dict[str, str] = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    assert cell.data_type == "s", (ws.title, cell.coordinate, cell.value[:40])
                    texts[cell.value] = cell.data_type
    for hostile in HOSTILE_STRINGS:
        assert clean_text(hostile) in texts, hostile
    assert '=HYPERLINK("http://x","y")' in texts and "@SUM(A1)" in texts and "-1+2" in texts
    assert "bell\ufffdnull\ufffdvt\ufffdend" in texts  # control characters replaced, visibly
    assert "\nCR-led text" in texts and "\tTab-led text" in texts
    truncated = [t for t in texts if t.startswith("LLLL")]
    assert truncated and all(len(t) <= 32_767 and t.endswith(TRUNCATED_MARKER) for t in truncated)
    assert len(LONG_TEXT) > 32_767
    assert wb["Summary"]["A1"].value == "QBO reconciliation — <script>alert(1)</script> & =cmd|' /C calc'!A0"


def test_the_fast_path_and_the_cell_by_cell_path_write_the_same_workbook(tmp_path, monkeypatch):
    for name, result in (("sample", sample_result()), ("hostile", hostile_result())):
        monkeypatch.setattr(excel, "FAST_PATH_MIN_ROWS", 0)  # small samples: force the fast path
        fast = _write(result, tmp_path, f"{name}-fast.xlsx")
        monkeypatch.setattr(excel, "_fast_path_available", lambda ws: False)
        slow = _write(result, tmp_path, f"{name}-slow.xlsx")
        monkeypatch.undo()
        fast_wb, slow_wb = openpyxl.load_workbook(fast), openpyxl.load_workbook(slow)
        for ws in fast_wb.worksheets:
            other = slow_wb[ws.title]
            for a_row, b_row in zip(ws.iter_rows(), other.iter_rows(), strict=True):
                for a, b in zip(a_row, b_row, strict=True):
                    assert (a.value, a.data_type, a.number_format) == (b.value, b.data_type, b.number_format), (
                        name,
                        ws.title,
                        a.coordinate,
                    )
                    assert (a.hyperlink.target if a.hyperlink else None) == (
                        b.hyperlink.target if b.hyperlink else None
                    )


def test_rows_past_excels_limit_are_cut_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(excel, "EXCEL_MAX_DATA_ROWS", 2)
    wb = openpyxl.load_workbook(_write(sample_result(), tmp_path))
    assert wb["Missing in QBO"].max_row == 3
    notes = [row[1].value for row in wb["Summary"].iter_rows() if row[0].value == "Note"]
    assert notes == [
        "Sheet 'Missing in QBO' holds the first 2 of 3 rows; every finding is in findings.csv.",
        "Sheet 'Mismatches' holds the first 2 of 3 rows; every finding is in findings.csv.",
    ]


def test_same_result_gives_the_same_bytes(tmp_path):
    first = _write(sample_result(), tmp_path, "a.xlsx").read_bytes()
    second = _write(sample_result(), tmp_path, "b.xlsx").read_bytes()
    assert first == second


def _golden_text(frames: dict[str, pd.DataFrame]) -> str:
    out = io.StringIO()
    for name, frame in frames.items():
        out.write(f"## {name}\n")
        frame.to_csv(out, index=False, header=False, lineterminator="\n")
    return out.getvalue()


@pytest.mark.parametrize("name,factory", [("sample", sample_result), ("hostile", hostile_result)])
def test_workbook_matches_the_golden_file(tmp_path, name, factory):
    frames = sheet_frames(_write(factory(), tmp_path))
    golden = GOLDEN / f"workbook_{name}.csv"
    text = _golden_text(frames)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), "run with UPDATE_GOLDEN=1 to create the golden file"
    assert text == golden.read_text(encoding="utf-8")


def test_an_unknown_category_gets_a_safe_sheet_name_and_a_working_link(tmp_path):
    import dataclasses

    result = bare_result()
    findings = result.findings.copy()
    findings.loc[0, "category"] = "o'brien_[x]"
    wb = openpyxl.load_workbook(_write(dataclasses.replace(result, findings=findings), tmp_path))
    assert wb.sheetnames[wb.sheetnames.index("Data quality") + 1] == "O'brien x"
    link = next(row[1] for row in wb["Summary"].iter_rows() if row[0].value == "O'brien [x]")
    assert link.hyperlink.location == "'O''brien x'!A1"


def test_a_triage_frame_keyed_by_record_type_links_its_qbo_ids(tmp_path):
    import dataclasses

    triage = pd.DataFrame(
        {
            "record_type": pd.array(["bill", "invoice"], dtype="string"),
            "record_id": pd.array(["B-7", "101"], dtype="string"),
            "qbo_match_id": pd.array(["77", None], dtype="string"),
            "retry_can_succeed": pd.array([True, False], dtype="boolean"),
            "retry_safe": pd.array([True, None], dtype="boolean"),
            "in_qbo": pd.array(["yes", "no"], dtype="string"),
            "updated_at": pd.array(["not a date", "2026-03-01"], dtype="string"),
        }
    )
    wb = openpyxl.load_workbook(_write(dataclasses.replace(sample_result(), triage=triage), tmp_path))
    ws = wb["Sync triage"]
    assert header(ws) == [
        "Record type",
        "AWRA id",
        "QBO Id",
        "Retry can succeed",
        "Retry safe",
        "In QBO",
        "Updated at (UTC)",
    ]
    assert column(ws, "QBO Id")[0].hyperlink.target == "https://app.qbo.intuit.com/app/bill?txnId=77"
    assert [c.value for c in column(ws, "In QBO")] == ["yes", "no"]  # kept as given, not coerced
    assert [c.value for c in column(ws, "Updated at (UTC)")] == ["not a date", "2026-03-01"]


def test_sync_triage_sheet_shows_causes_as_sentences_and_keeps_the_code(tmp_path):
    from reconcile.triage import CAUSE_SENTENCES

    result = sample_result()
    triage = result.triage.assign(cause=pd.array(["mapping_missing", "duplicate", "not_ready"], dtype="string"))
    wb = openpyxl.load_workbook(_write(dataclasses.replace(result, triage=triage), tmp_path))
    rows = list(wb["Sync triage"].iter_rows(values_only=True))
    header = rows[0]
    assert header[-1] == "Cause code"
    assert [r[header.index("Cause")] for r in rows[1:]] == [
        CAUSE_SENTENCES["mapping_missing"],
        CAUSE_SENTENCES["duplicate"],
        CAUSE_SENTENCES["not_ready"],
    ]
    assert [r[-1] for r in rows[1:]] == ["mapping_missing", "duplicate", "not_ready"]
