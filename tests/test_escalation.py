"""Escalation packets: one per group, every field taken from the data."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reconcile import frames as F
from reconcile.escalation import build_escalations
from reconcile.mappings import check_mappings
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams
from reconcile.triage import DEFAULT_RULES_PATH, load_rules, triage

FIXTURES = Path(__file__).parent / "fixtures" / "triage"


def _load_scenario() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scenario_triage", FIXTURES / "scenario_triage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scenario = _load_scenario()


def params(**overrides: Any) -> RunParams:
    base = RunParams(
        run_id="run-7",
        company="default",
        company_name="Default",
        date_from=date(2026, 11, 1),
        date_to=date(2026, 11, 7),
        escalation_threshold=2,
        now=datetime(2026, 11, 8, 5, 30, tzinfo=UTC),
    )
    return dataclasses.replace(base, **overrides)


def packets_for(awra: AwraData, qbo: QboData, p: RunParams) -> tuple[dict[str, Any], ...]:
    findings = F.concat_frames([scenario.core_findings(), check_mappings(awra, qbo, p)], F.FINDINGS)
    result = triage(awra, qbo, findings, p, load_rules(DEFAULT_RULES_PATH))
    return build_escalations(awra, result, p)


@pytest.fixture(scope="module")
def packets() -> dict[str, dict[str, Any]]:
    awra, qbo = scenario.build()
    return {pk["packet_id"]: pk for pk in packets_for(awra, qbo, params())}


PLACEHOLDERS = {"", "?", "nan", "NaN", "NaT", "<NA>", "None", "null", "not recorded", "unknown", "TBD", "n/a"}


def assert_filled(value: Any, path: str = "packet") -> None:
    """No missing value or placeholder anywhere in a packet."""
    assert value is not None, path
    if isinstance(value, dict):
        for key, inner in value.items():
            assert_filled(inner, f"{path}.{key}")
    elif isinstance(value, list):
        if not path.endswith("what_changed"):
            assert value, f"{path} is empty"
        for i, inner in enumerate(value):
            assert_filled(inner, f"{path}[{i}]")
    elif isinstance(value, str):
        assert value.strip() not in PLACEHOLDERS, f"{path} = {value!r}"
        assert "{" not in value and "<NA>" not in value and "NaT" not in value, f"{path} = {value!r}"


def test_one_packet_per_group(packets):
    assert list(packets) == [
        "authorization",
        "error_code:3001",
        "error_code:6000",
        "retry_loop:code 6000",
        "sync_conflict:invoice:failed",
        "sync_conflict:invoice:succeeded",
    ]
    json.dumps(list(packets.values()))  # JSON-ready as is


def test_authorization_packet_has_every_field_from_the_data(packets):
    pk = packets["authorization"]
    assert_filled(pk)
    expected = {
        "reason": "authorization",
        "connector": "qbo",
        "company": "default",
        "run_id": "run-7",
        "count": 1,
        "record_numbers": ["INV-11"],
        "sync_run_ids": ["R1"],
        "status": "failed",
        "error_code": "3200",
        "error_message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        "visible_message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        "retry_count": 1,
        "first_failed_at": "2026-11-04T22:00:00Z",
        "last_attempted_at": "2026-11-04T22:00:00Z",
        "cause": "authorization",
        "expected_qbo_result": "Invoice INV-11 present in QBO with total 1,100.00 KES",
        "module": "invoice",
        "branch": "Nairobi",
        "warehouse": "WH-1",
        "user": "jane, scheduler",  # who edited the record, who triggered the sync run
    }
    for key, value in expected.items():
        assert pk[key] == value, key
    assert pk["what_changed"] == [
        {
            "record": "invoice INV-11",
            "what": "invoice INV-11",
            "kind": "record",
            "updated_by": "jane",
            "updated_at": "2026-11-06T09:15:00Z",
        }
    ]
    assert "reconnect" in pk["action"]
    (rec,) = pk["records"]
    assert rec["record_number"] == "INV-11" and rec["sync_run_id"] == "R1" and rec["amount"] == "1,100.00"


def test_every_packet_is_filled(packets):
    for pk in packets.values():
        assert_filled(pk, pk["packet_id"])
        assert pk["count"] == len(pk["record_numbers"]) == len(pk["records"])
        assert pk["connector"] == "qbo"


def test_error_code_group_needs_the_threshold(packets):
    throttled = packets["error_code:3001"]
    assert throttled["record_numbers"] == ["INV-8", "INV-9"]
    assert throttled["count"] == 2
    assert "1,700.00" in throttled["expected_qbo_result"]
    awra, qbo = scenario.build()
    ids = [pk["packet_id"] for pk in packets_for(awra, qbo, params(escalation_threshold=3))]
    assert not [i for i in ids if i.startswith("error_code:")]


def test_retry_loop_packet(packets):
    pk = packets["retry_loop:code 6000"]
    assert pk["record_numbers"] == ["INV-6"]
    assert pk["retry_count"] == 3
    assert pk["sync_run_ids"] == ["R3"]
    assert pk["what_changed"] == []
    assert pk["what_changed_summary"] == "no record or mapping change since the first failure at 2026-11-03T22:00:00Z"


def test_sync_conflict_packets(packets):
    present = packets["sync_conflict:invoice:failed"]
    assert present["record_numbers"] == ["INV-9"]
    assert "QBO Id 309" in present["expected_qbo_result"]
    absent = packets["sync_conflict:invoice:succeeded"]
    assert absent["record_numbers"] == ["INV-14"]
    assert absent["status"] == "succeeded"
    assert absent["expected_qbo_result"].startswith("Invoice INV-14 present in QBO with total 1,400.00 KES")
    assert "first_failed_at" not in absent  # it never failed: omitted, not invented


def test_mapping_change_shows_who_and_when():
    awra, qbo = scenario.build()
    log = awra.sync_log.copy()
    log.loc[log["record_id"] == "10", "error_code"] = "610"  # object not found, behind the customer mapping
    changed = dataclasses.replace(awra, sync_log=log)
    packets = {pk["packet_id"]: pk for pk in packets_for(changed, qbo, params(escalation_threshold=1))}
    pk = packets["error_code:610"]
    assert pk["record_numbers"] == ["INV-10"]
    assert pk["what_changed"] == [
        {
            "record": "invoice INV-10",
            "what": "customer C-002 'Beta' mapping (now QBO 59)",
            "kind": "mapping",
            "updated_by": "amina",
            "updated_at": "2026-11-06T09:15:00Z",
        }
    ]


def test_nothing_to_escalate():
    empty = triage(
        AwraData.empty(), QboData.empty(), F.empty_frame(F.FINDINGS), params(), load_rules(DEFAULT_RULES_PATH)
    )
    assert build_escalations(AwraData.empty(), empty, params()) == ()


def test_large_groups_list_every_number_but_detail_a_hundred(monkeypatch):
    import reconcile.escalation as esc

    monkeypatch.setattr(esc, "MAX_RECORD_DETAIL", 1)
    awra, qbo = scenario.build()
    packets = {pk["packet_id"]: pk for pk in packets_for(awra, qbo, params())}
    pk = packets["error_code:3001"]
    assert pk["record_numbers"] == ["INV-8", "INV-9"]
    assert len(pk["records"]) == 1
    assert pk["records_note"] == "the first 1 of 2 records are detailed"


def test_a_group_total_is_per_currency(packets):
    assert "(AWRA total 1,700.00 KES)" in packets["error_code:3001"]["expected_qbo_result"]
    awra, qbo = scenario.build()
    t = awra.transactions
    usd = t.assign(currency=t["currency"].mask((t["number"] == "INV-9").fillna(False), "USD"))
    found = {pk["packet_id"]: pk for pk in packets_for(dataclasses.replace(awra, transactions=usd), qbo, params())}
    text = found["error_code:3001"]["expected_qbo_result"]
    assert "1,700.00" not in text  # never added across currencies
    assert " KES; " in text and text.split(":")[0].endswith(" USD)")
