"""The run folder appears whole or not at all, and its machine files follow the contract."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from reconcile import frames as F
from reconcile.model import CurrencyTotals, EntityTotals, RunResult
from reconcile.params import RunParams
from reports import outputs


def small_result(run_id: str = "20261102T063000000Z-default") -> RunResult:
    params = RunParams(
        run_id=run_id,
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
            category_counts={"missing_in_qbo": 1},
            currencies=(CurrencyTotals("KES", 3, 2, 200000, 76544, {"missing_in_qbo": 123456}, 0),),
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
    assert invoice["currencies"]["KES"] == {
        "awra_count": 3,
        "qbo_count": 2,
        "awra_total": "2000.00",
        "qbo_total": "765.44",
        "difference": "1234.56",
        "bridge": {"missing_in_qbo": "1234.56"},
        "unexplained": "0.00",
    }
    assert summary["masters"] == {"customer": {"mapping_missing": 1}}
    assert summary["accounts"] == [] and summary["currencies"] == ["KES"]
    json.dumps(summary)


def test_summary_never_adds_two_currencies():
    result = small_result()
    two = (
        EntityTotals(
            entity="invoice",
            awra_count=4,
            qbo_count=2,
            category_counts={"missing_in_qbo": 1},
            currencies=(
                CurrencyTotals("KES", 3, 2, 200000, 76544, {"missing_in_qbo": 123456}, 0),
                CurrencyTotals("USD", 1, 0, 5000, 0, {"missing_in_qbo": 4000}, 1000),
            ),
        ),
    )
    summary = outputs.build_summary(RunResult(params=result.params, findings=result.findings, totals=two))
    invoice = summary["entities"]["invoice"]
    # the entity-level money keys would add KES to USD: left out; counts stay
    assert not {"awra_total", "qbo_total", "difference", "bridge", "unexplained"} & set(invoice)
    assert (invoice["awra_count"], invoice["qbo_count"]) == (4, 2)
    assert invoice["currencies"]["USD"]["qbo_total"] == "0.00"
    assert invoice["currencies"]["USD"]["unexplained"] == "10.00"
    assert summary["unexplained"] == "10.00 USD"
    assert summary["unexplained_by_currency"] == {"KES": "0.00", "USD": "10.00"}


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


def _leftover(tmp_path, name, *, locked_by_live_writer=False):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "findings.csv").write_text("partial")
    (folder / ".writing").write_text("")
    if not locked_by_live_writer:
        return folder, None
    # another process (a live run) holds the writer lock, as write_run_folder does
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder / ".writing")], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return folder, holder


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_leftovers_of_a_killed_run_are_swept(tmp_path):
    _leftover(tmp_path, ".tmp-old-run-123")  # its writer died: nobody holds the lock
    folder = outputs.write_run_folder(small_result(), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
    assert sorted(p.name for p in folder.iterdir()) == sorted(outputs.RUN_FILES)


def test_another_runs_folder_in_progress_is_left_alone(tmp_path):
    busy, holder = _leftover(tmp_path, ".tmp-other-run-456", locked_by_live_writer=True)
    try:
        folder = outputs.write_run_folder(small_result(), tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([folder.name, busy.name])
        assert (busy / "findings.csv").read_text() == "partial"
    finally:
        holder.kill()
        holder.wait()
    # once its writer is gone, the next sweep takes it away
    assert outputs.sweep_partial_folders(tmp_path) == [busy]


def test_a_folder_without_lock_is_swept_only_when_old(tmp_path):
    young = tmp_path / ".tmp-young-1"
    young.mkdir()
    assert outputs.sweep_partial_folders(tmp_path) == []
    assert outputs.sweep_partial_folders(tmp_path, now=time.time() + 2 * 3600) == [young]


def test_concurrent_runs_into_one_folder_all_publish(tmp_path):
    # the defect: one run's sweep removed the temporary folder another run was writing
    results = [small_result(run_id=f"20261102T0630000{i:02d}Z-c{i}") for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        folders = list(pool.map(lambda r: outputs.write_run_folder(r, tmp_path), results))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f.name for f in folders)
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == sorted(outputs.RUN_FILES)
