"""Sync-log triage: rules (data, not code), root-cause grouping, retry loops and safe retries."""

from __future__ import annotations

import importlib.util
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from reconcile import frames as F
from reconcile.errors import ConfigError
from reconcile.mappings import check_mappings
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams
from reconcile.triage import (
    CAUSE_SENTENCES,
    CAUSES,
    DEFAULT_RULES_PATH,
    TRIAGE,
    TriageRules,
    load_rules,
    triage,
)

#: Real QBO fault bodies, copied verbatim from the shared reference samples (see SOURCES.txt there).
SAMPLES = Path(__file__).parent / "fixtures" / "qbo-samples"
FIXTURES = Path(__file__).parent / "fixtures" / "triage"


def _load_scenario() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scenario_triage", FIXTURES / "scenario_triage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scenario = _load_scenario()

PARAMS = RunParams(
    run_id="run-7",
    company="default",
    company_name="Default",
    date_from=date(2026, 11, 1),
    date_to=date(2026, 11, 7),
    status="posted",
    retry_loop_threshold=3,
    now=datetime(2026, 11, 8, 5, 30, tzinfo=UTC),
)


@pytest.fixture(scope="module")
def rules() -> TriageRules:
    return load_rules(DEFAULT_RULES_PATH)


# --------------------------------------------------------------------------- QBO fault samples


def read_fault(path: Path) -> tuple[str, str]:
    """(code, "Message: Detail") of a QBO fault body: JSON (either case) or XML."""
    text = path.read_text()
    if path.suffix == ".xml":
        root = ET.fromstring(text)
        ns = {"q": "http://schema.intuit.com/finance/v3"}
        error = root.find("q:Fault/q:Error", ns)
        assert error is not None
        return error.get("code", ""), f"{error.findtext('q:Message', '', ns)}: {error.findtext('q:Detail', '', ns)}"
    body = json.loads(text)
    fault = body.get("Fault") or body.get("fault")
    error = (fault.get("Error") or fault.get("error"))[0]
    message = error.get("Message") or error.get("message") or ""
    detail = error.get("Detail") or error.get("detail") or ""
    return str(error.get("code")), f"{message}: {detail}" if detail else message


def sample_paths() -> dict[str, Path]:
    base = SAMPLES
    return {
        "610": base / "exquickbooks_fault_610_object_not_found.json",
        "2020": base / "exquickbooks_fault_2020_required_param.json",
        "4000": base / "exquickbooks_fault_4000_query_parse.json",
        "5010": base / "exquickbooks_fault_5010_stale_object.json",
        "401": base / "issue118_http401_auth_fault_lowercase.json",
        "429": base / "issue83_http429_throttle_fault.xml",
    }


@pytest.mark.parametrize(
    ("sample", "cause", "retry"),
    [
        ("610", "mapping_missing", False),
        ("2020", "missing_field", False),
        ("4000", "validation", False),
        ("5010", "provider_temporary", True),
        ("401", "authorization", False),
        ("429", "provider_temporary", True),
    ],
)
def test_each_qbo_fault_sample_gets_its_cause(rules, sample, cause, retry):
    code, message = read_fault(sample_paths()[sample])
    got_cause, action, got_retry = rules.classify(code, message, "failed")
    assert (got_cause, got_retry) == (cause, retry)
    assert action and "{" not in action


def test_http_status_401_without_body_is_authorization(rules):
    assert rules.classify("401", None, "failed")[0] == "authorization"
    assert rules.classify(None, "message=AuthenticationFailed; errorCode=003200; statusCode=401", "failed")[0] == (
        "authorization"
    )
    assert rules.classify("003200", "", "failed")[0] == "authorization"  # leading zeros ignored


# Every default rule, reached by a row that only it (as the first match) explains.
RULE_CASES = [
    ("qbo-authorization", "3100", "ApplicationAuthorizationFailed", "failed", "authorization"),
    ("authorization-message", None, "Refresh token expired, reconnect", "failed", "authorization"),
    ("qbo-subscription", "6190", "Invalid Company Status", "failed", "authorization"),
    ("qbo-throttled", "3001", "ThrottleExceeded", "retrying", "provider_temporary"),
    ("throttle-message", None, "Too many requests", "retrying", "provider_temporary"),
    ("qbo-unsupported-operation", "500", "Unsupported Operation", "failed", "validation"),
    ("qbo-server-error", "503", "Service error", "retrying", "provider_temporary"),
    ("provider-unreachable", "10000", "Error reading json response", "failed", "provider_temporary"),
    ("connector-timeout", "TIMEOUT", None, "failed", "provider_temporary"),
    ("qbo-stale-object", "5010", "Stale Object Error", "failed", "provider_temporary"),
    ("qbo-duplicate-document-number", "6140", "Duplicate Document Number Error: TxnId=130", "failed", "duplicate"),
    ("qbo-duplicate-name", "6240", "Duplicate Name Exists Error", "failed", "duplicate"),
    ("duplicate-message", None, "Record already exists in QBO", "needs_attention", "duplicate"),
    ("tax-mapping-missing", None, "Tax code not mapped: VAT8", "failed", "mapping_missing"),
    ("customer-mapping-missing", None, "Customer mapping missing for C-017", "failed", "mapping_missing"),
    (
        "customer-mapping-missing",
        "CUSTOMER_NOT_MAPPED",
        "Customer Gamma Traders has no QBO mapping",
        "failed",
        "mapping_missing",
    ),
    ("vendor-mapping-missing", None, "Vendor not mapped", "failed", "mapping_missing"),
    ("item-mapping-missing", None, "Item is not mapped to QBO", "failed", "mapping_missing"),
    ("account-mapping-missing", None, "Income account not mapped", "failed", "mapping_missing"),
    ("payment-method-mapping-missing", None, "Payment method not mapped: M-PESA", "failed", "mapping_missing"),
    ("mapping-missing-message", None, "Class not mapped", "failed", "mapping_missing"),
    ("awra-not-mapped-code", "TAX_CODE_NOT_MAPPED", None, "failed", "mapping_missing"),
    ("qbo-object-not-found", "610", "Object Not Found", "failed", "mapping_missing"),
    ("qbo-invalid-reference", "2500", "Invalid Reference Id", "failed", "mapping_missing"),
    ("qbo-required-field", "2020", "Required param missing", "failed", "missing_field"),
    ("missing-field-message", None, "Due date is required", "needs_attention", "missing_field"),
    ("not-ready", None, "Invoice not approved", "skipped", "not_ready"),
    ("qbo-business-rule", "6000", "A business validation error has occurred", "failed", "validation"),
    ("qbo-query-parse", "4000", "Error parsing query", "failed", "validation"),
    ("qbo-invalid-request", "2010", "Request has invalid or unsupported property", "failed", "validation"),
    ("validation-message", None, "Amount must be positive", "failed", "validation"),
    ("skipped", None, None, "skipped", "not_ready"),
]


@pytest.mark.parametrize(("rule_name", "code", "message", "status", "cause"), RULE_CASES)
def test_each_default_rule_gets_its_cause(rules, rule_name, code, message, status, cause):
    rule = rules.match(code, message, status)
    assert rule is not None and rule.name == rule_name
    assert rules.classify(code, message, status)[0] == cause


def test_every_default_rule_is_covered_and_unknown_is_the_fallback(rules):
    assert {r.name for r in rules.rules} == {case[0] for case in RULE_CASES}
    cause, action, retry = rules.classify("9999", "Something odd happened", "failed")
    assert (cause, retry) == ("unknown", False)
    assert "9999" in action


def test_vectorized_matching_agrees_with_match(rules):
    codes = pd.Series([c[1] for c in RULE_CASES], dtype="string")
    messages = pd.Series([c[2] for c in RULE_CASES], dtype="string")
    statuses = pd.Series([c[3] for c in RULE_CASES], dtype="string")
    chosen = rules.match_frame(codes, messages, statuses)
    assert [rules.rules[i].name for i in chosen] == [c[0] for c in RULE_CASES]


def test_a_rule_added_in_the_file_changes_the_classification(tmp_path, rules):
    assert rules.classify("6000", "Business Validation Error: the accounting period is closed", "failed")[0] == (
        "validation"
    )
    extra = (
        "[[rule]]\n"
        'name = "closed-period"\n'
        'codes = ["6000"]\n'
        'message = "period\\\\s+is\\\\s+closed"\n'
        'cause = "not_ready"\n'
        'action = "Ask the accountant to reopen the period for {record}, then retry."\n'
        "retry_can_succeed = false\n\n"
    )
    custom = tmp_path / "rules.toml"
    custom.write_text(extra + DEFAULT_RULES_PATH.read_text())
    changed = load_rules(custom)
    cause, action, _ = changed.classify("6000", "Business Validation Error: the accounting period is closed", "failed")
    assert cause == "not_ready"
    assert action == "Ask the accountant to reopen the period for the record, then retry."
    # other 6000 messages still fall through to the default rule
    assert changed.classify("6000", "Amount is negative", "failed")[0] == "validation"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '[[rule]]\nname = "a"\ncodes = ["1"]\ncause = "oops"\naction = "x"\nretry_can_succeed = false\n',
            "rule[0].cause",
        ),
        ('[[rule]]\nname = "a"\ncodes = ["1"]\ncause = "unknown"\nretry_can_succeed = false\n', "rule[0].action"),
        (
            '[[rule]]\nname = "a"\ncodes = ["1"]\ncause = "unknown"\naction = "x"\nretry_can_succeed = "no"\n',
            "rule[0].retry_can_succeed",
        ),
        (
            '[[rule]]\nname = "a"\nmessage = "(unclosed"\ncause = "unknown"\naction = "x"\nretry_can_succeed = false\n',
            "rule[0].message",
        ),
        (
            '[[rule]]\nname = "a"\ncodes = ["61/0"]\ncause = "unknown"\naction = "x"\nretry_can_succeed = false\n',
            "rule[0].codes[0]",
        ),
        (
            '[[rule]]\nname = "a"\ncodes = ["1"]\ncause = "unknown"\naction = "x"\nretry_can_succeed = false\n'
            'colour = "red"\n',
            "rule[0].colour",
        ),
        (
            '[[rule]]\nname = "a"\ncodes = ["1"]\ncause = "unknown"\naction = "x"\nretry_can_succeed = false\n'
            '[[rule]]\nname = "b"\ncause = "unknown"\naction = "x"\nretry_can_succeed = false\n',
            "rule[1]: a rule needs at least one of",
        ),
        (
            '[[rule]]\nname = "a"\nstatuses = ["broken"]\ncause = "unknown"\naction = "x"\nretry_can_succeed = false\n',
            "rule[0].statuses",
        ),
        (
            '[[rule]]\nname = "a"\ncodes = ["1"]\ncause = "unknown"\naction = "fix {thing}"\n'
            "retry_can_succeed = false\n",
            "rule[0].action",
        ),
        ("[[rule]\nname = 'a'\n", "not valid TOML"),
    ],
)
def test_a_bad_rules_file_is_a_config_error_naming_the_key(tmp_path, body, expected):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[rule]]\nname = "a"\ncodes = ["1"]\ncause = "nope"\naction = ""\nretry_can_succeed = 1\n')
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert len(err.value.problems) == 3


def test_missing_rules_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_rules(tmp_path / "nope.toml")


# --------------------------------------------------------------------------- a small scenario

T_FAIL1 = scenario.T_FAIL1
build = scenario.build
core_findings = scenario.core_findings


@pytest.fixture(scope="module")
def result(rules):
    awra, qbo = build()
    findings = F.concat_frames([core_findings(), check_mappings(awra, qbo, PARAMS)], F.FINDINGS)
    return triage(awra, qbo, findings, PARAMS, rules)


def record(result, tid: str) -> pd.Series:
    tri = result.triage
    sel = tri.loc[(tri["record_type"] == "invoice") & (tri["record_id"] == tid)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_triage_frame_has_one_row_per_failing_record(result):
    F.check_frame(result.triage, TRIAGE)
    ids = set(result.triage["record_id"])
    assert ids == {str(i) for i in range(1, 13)}  # 13 succeeded at last; the xero row is another connector
    assert record(result, "12")["cause"] == "not_ready"
    assert record(result, "11")["cause"] == "authorization"
    assert record(result, "6")["triggered_by"] == "scheduler"
    assert record(result, "6")["sync_run_id"] == "R3"


def test_many_failed_invoices_behind_one_missing_tax_mapping(result):
    for i in range(1, 6):
        row = record(result, str(i))
        assert row["cause"] == "mapping_missing"
        assert row["root_ref"] == "tax_code:t2"
        assert row["action"].startswith("Map tax code VAT8 'VAT 8%' to its QBO tax code")
        assert not row["retry_safe"]
    f = result.findings
    mapping = f.loc[(f["category"] == "mapping_missing") & (f["entity"] == "tax_code")]
    assert len(mapping) == 1  # one line...
    assert mapping.iloc[0]["awra_id"] == "t2"
    assert mapping.iloc[0]["blocks_count"] == 5  # ...with five invoices behind it
    assert mapping.iloc[0]["blocks_cents"] == 150_000
    behind = f.loc[(f["category"] == "missing_in_qbo") & (f["root_ref"] == "tax_code:t2")]
    assert sorted(behind["awra_id"]) == ["1", "2", "3", "4", "5"]
    assert (behind["cause_code"] == "mapping_missing").all()
    assert (behind["cause"] == CAUSE_SENTENCES["mapping_missing"]).all()  # the reader gets a sentence
    assert not behind["retry_safe"].any()
    assert (behind["sync_status"] == "failed").all()


def test_retry_loop_when_nothing_changed(result):
    row = record(result, "6")
    assert row["retry_loop"]
    assert row["attempts"] == 3
    assert row["first_failed_at"] == pd.Timestamp(T_FAIL1)
    f = result.findings
    loops = f.loc[f["category"] == "retry_loop"]
    assert loops["awra_id"].tolist() == ["6"]
    loop = loops.iloc[0]
    assert loop["entity"] == "invoice"
    assert loop["effect_cents"] == 0
    assert loop["currency"] == "KES"  # the record's currency, as every transaction finding
    assert loop["retry_count"] == 3
    assert loop["action"].startswith("Stop retrying; fix the invalid data QBO rejected first")
    assert loop["cause_code"] == "validation"
    assert loop["cause"] == CAUSE_SENTENCES["validation"]


def test_no_retry_loop_when_the_record_was_edited_after_the_first_failure(result):
    row = record(result, "7")
    assert row["attempts"] == 3
    assert not row["retry_loop"]
    assert row["changed_since_failure"]
    assert row["retry_safe"]  # the record was corrected: retrying may now work
    change = result.changes.loc[result.changes["record_id"] == "7"].iloc[0]
    assert (change["kind"], change["updated_by"]) == ("record", "jane")


def test_retry_loop_threshold_is_configurable(rules):
    awra, qbo = build()
    params = RunParams(**{**PARAMS.__dict__, "retry_loop_threshold": 4})
    out = triage(awra, qbo, F.empty_frame(F.FINDINGS), params, rules)
    assert not out.triage["retry_loop"].any()
    assert out.findings.empty


def test_safe_and_unsafe_retries(result):
    safe = result.safe_to_retry
    assert set(safe["record_id"]) == {"7", "8", "10"}
    assert record(result, "8")["retry_safe"]  # a throttle: retry as is
    nine = record(result, "9")
    assert nine["in_qbo"] and nine["qbo_match_id"] == "309"
    assert not nine["retry_safe"]  # already in QBO: a retry would duplicate it
    assert nine["action"].startswith("Do not retry: QBO already holds invoice INV-9 (QBO Id 309)")
    ten = safe.loc[safe["record_id"] == "10"].iloc[0]
    assert ten["cause"] == "mapping_missing"
    assert "customer C-002 'Beta' mapping" in ten["reason"] and "amina" in ten["reason"]
    assert record(result, "10")["action"].startswith(
        "Retry now: customer C-002 'Beta' mapping (now QBO 59) was updated by amina at 2026-11-06T09:15:00Z"
    )
    assert record(result, "7")["action"].startswith("Retry now: invoice INV-7 was updated by jane")
    assert not record(result, "11")["retry_safe"]  # authorization is never judged fixed from AWRA's data
    assert not record(result, "6")["retry_safe"]


def test_findings_filled_but_not_overwritten(result):
    f = result.findings
    nine = f.loc[f["awra_id"] == "9"].set_index("category")
    assert nine.loc["sync_conflict", "cause_code"] == "provider_temporary"
    assert nine.loc["sync_conflict", "cause"] == CAUSE_SENTENCES["provider_temporary"]
    assert nine.loc["mismatch", "cause"] == "amount changed in QBO"  # the core's own cause is kept
    assert pd.isna(nine.loc["mismatch", "cause_code"])
    assert nine.loc["mismatch", "action"] == "Correct the amount in QBO"
    assert not nine.loc["mismatch", "retry_safe"]
    auth = f.loc[(f["awra_id"] == "11") & (f["category"] == "missing_in_qbo")].iloc[0]
    assert auth["cause_code"] == "authorization"
    assert auth["cause"] == CAUSE_SENTENCES["authorization"]
    assert "reconnect" in auth["action"]
    assert auth["retry_count"] == 1
    assert re.search("AuthenticationFailed", auth["message"])


def test_inputs_are_not_modified(rules):
    awra, qbo = build()
    findings = core_findings()
    copies = (awra.sync_log.copy(), awra.transactions.copy(), awra.mappings.copy(), findings.copy())
    triage(awra, qbo, findings, PARAMS, rules)
    pd.testing.assert_frame_equal(awra.sync_log, copies[0])
    pd.testing.assert_frame_equal(awra.transactions, copies[1])
    pd.testing.assert_frame_equal(awra.mappings, copies[2])
    pd.testing.assert_frame_equal(findings, copies[3])


def test_no_failing_records(rules):
    out = triage(AwraData.empty(), QboData.empty(), F.empty_frame(F.FINDINGS), PARAMS, rules)
    assert out.triage.empty and out.safe_to_retry.empty and out.findings.empty
    F.check_frame(out.findings, F.FINDINGS)


# --------------------------------------------------------------------------- the shared scenario


def _shared_scenario() -> ModuleType | None:
    path = Path(__file__).parent / "scenario.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("shared_scenario", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shared_scenario_master_cases(rules):
    shared = _shared_scenario()
    if shared is None or not hasattr(shared, "MASTER_CASES"):
        pytest.skip("tests/scenario.py (the transaction core's scenario) is not there yet")
    cases = shared.MASTER_CASES
    awra, qbo, params = shared.build_scenario()
    found = check_mappings(awra, qbo, params)

    def has(category: str, awra_id: str) -> bool:
        return bool(((found["category"] == category) & (found["awra_id"] == awra_id)).any())

    assert has("mapping_missing", cases["customer_without_mapping"])
    assert has("mapping_missing", cases["active_unused_item_without_mapping"])
    assert has("mapping_broken", cases["mapping_to_inactive_qbo_customer"][0])
    assert any(has("mapping_duplicate", a) for a in cases["two_awra_customers_one_qbo"][0])
    assert has("mapping_mismatch", cases["tax_code_rate_differs"][0])
    out = triage(awra, qbo, found, params, rules)
    tri = out.triage.set_index("record_id")
    looped = cases["failed_three_times_same_error"]
    assert tri.loc[looped, "root_ref"] == f"customer:{cases['customer_without_mapping']}"
    assert tri.loc[looped, "attempts"] >= 3
    assert not tri.loc[looped, "retry_safe"]
    assert cases["failed_mapping_now_exists"] in set(out.safe_to_retry["record_id"])


def test_extra_finding_columns_are_kept(rules):
    awra, qbo = build()
    findings = core_findings().assign(severity="high")
    out = triage(awra, qbo, findings, PARAMS, rules).findings
    F.check_frame(out, F.FINDINGS)
    assert "severity" in out.columns
    assert (out.loc[out["category"] != "retry_loop", "severity"] == "high").all()


def test_every_cause_code_has_a_sentence_without_codes():
    assert set(CAUSE_SENTENCES) == set(CAUSES)
    for code, sentence in CAUSE_SENTENCES.items():
        assert sentence[0].isupper() and sentence.endswith("."), code
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", sentence), f"{code}: a code leaks into {sentence!r}"


def test_findings_causes_are_sentences_and_codes_have_their_own_column(result):
    triaged = result.findings[result.findings["cause_code"].notna()]
    assert len(triaged) and set(triaged["cause_code"]) <= set(CAUSES)
    assert not triaged["cause"].isin(CAUSES).any()
    assert (triaged["cause"] == triaged["cause_code"].map(CAUSE_SENTENCES)).all()
