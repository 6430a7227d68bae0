"""The run folder appears whole or not at all, and its machine files follow the contract."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from reconcile import frames as F
from reconcile.model import EntityTotals, RunResult
from reconcile.params import RunParams
from reports import outputs


def small_result() -> RunResult:
    params = RunParams(
        run_id="20261102T063000000Z-default",
        company="default",
        company_name="Demo Co",
        date_from=date(2026, 8, 1),
        date_to=date(2026, 8, 31),
        now=datetime(2026, 11, 2, 6, 30, tzinfo=UTC),
    )
    findings = F.conform(
        pd.DataFrame(
            {
                "run_id": [params.run_id] * 2,
                "entity": ["invoice", "customer"],
                "category": ["missing_in_qbo", "mapping_missing"],
                "awra_id": ["17", "C9"],
                "awra_number": ["INV-17", "CUST-9"],
                "party": ['=HYPERLINK("http://x","y")', "Zoë & Co"],
                "cause": ["not synced", "no mapping"],
                "action": ["sync it", "map it"],
                "txn_date": [pd.Timestamp("2026-08-03"), pd.NaT],
                "amount_cents": [123456, None],
                "effect_cents": [123456, 0],
            }
        ),
        F.FINDINGS,
    )
    totals = (
        EntityTotals(
            entity="invoice",
            awra_count=3,
            qbo_count=2,
            awra_total_cents=200000,
            qbo_total_cents=76544,
            category_counts={"missing_in_qbo": 1},
            bridge={"missing_in_qbo": 123456},
            unexplained_cents=0,
        ),
    )
    return RunResult(params=params, findings=findings, totals=totals, sources={"awra": "sqlite:///x.db"})


def test_cents_text_is_exact():
    assert outputs.cents_text(0) == "0.00"
    assert outputs.cents_text(-5) == "-0.05"
    assert outputs.cents_text(123456789012) == "1234567890.12"


def test_summary_holds_the_contract_keys():
    summary = outputs.build_summary(small_result())
    for key in ("run_id", "from", "to", "status", "entities", "unexplained"):
        assert key in summary
    invoice = summary["entities"]["invoice"]
    assert invoice["awra_total"] == "2000.00" and invoice["qbo_total"] == "765.44"
    assert invoice["categories"]["missing_in_qbo"] == 1
    assert invoice["unexplained"] == "0.00"
    assert summary["masters"] == {"customer": {"mapping_missing": 1}}
    json.dumps(summary)


def test_findings_csv_has_contract_columns_first_and_decimal_money(tmp_path):
    frame = outputs.findings_csv_frame(small_result().findings)
    assert tuple(frame.columns[: len(F.CONTRACT_FINDING_COLUMNS)]) == F.CONTRACT_FINDING_COLUMNS
    path = tmp_path / "f.csv"
    frame.to_csv(path, index=False)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert rows[0]["amount"] == "1234.56" and rows[0]["txn_date"] == "2026-08-03"
    assert rows[1]["party"] == "Zoë & Co"


def test_run_folder_is_written_whole(tmp_path):
    folder = outputs.write_run_folder(small_result(), tmp_path)
    assert folder == tmp_path / "20261102T063000000Z-default"
    assert sorted(p.name for p in folder.iterdir()) == sorted(outputs.RUN_FILES)
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]


def test_a_failure_while_writing_leaves_no_folder(tmp_path, monkeypatch):
    def explode(result, path):
        raise RuntimeError("disk full")

    monkeypatch.setattr(outputs, "write_html", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        outputs.write_run_folder(small_result(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_a_killed_run_are_swept(tmp_path):
    (tmp_path / ".tmp-old-run-123").mkdir()
    (tmp_path / ".tmp-old-run-123" / "findings.csv").write_text("partial")
    folder = outputs.write_run_folder(small_result(), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
