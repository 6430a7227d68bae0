"""`qbo-recon explain` on the demo data set: one explanation per planted finding category."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobs.cli import main
from jobs.explain import explain, render_text
from reconcile.config import load_settings
from reconcile.demo import ensure_demo
from reconcile.errors import UsageError

NOW = datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
TRANSACTION_CATEGORIES = (
    "missing_in_qbo",
    "missing_in_awra",
    "duplicate_in_qbo",
    "duplicate_in_awra",
    "mismatch",
    "sync_conflict",
    "not_ready",
    "retry_loop",
    "data_quality",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    demo = ensure_demo(root / "demo")
    config = root / "config.toml"
    config.write_text(f'[history]\nurl = "sqlite:///{root}/history.db"\n', encoding="utf-8")
    settings = load_settings(config, {})
    company = settings.company(None)
    company = type(company)(
        key=company.key,
        name=company.name,
        awra=type(company.awra)(**{**company.awra.__dict__, "url": demo.awra_url}),
        qbo=company.qbo,
        email=company.email,
    )
    manifest = json.loads(demo.manifest_path.read_text(encoding="utf-8"))
    return {"demo": demo, "settings": settings, "company": company, "config": config, "manifest": manifest}


def run_explain(demo, ref: str) -> dict:
    return explain(demo["settings"], demo["company"], ref, qbo_snapshot=demo["demo"].snapshot_dir, now=NOW)


def planted(demo, category: str) -> list[dict]:
    return [
        e
        for e in demo["manifest"]["expected_findings"]
        if e["category"] == category
        and e["entity"]
        in (
            "invoice",
            "payment",
            "bill",
            "journal",
        )
    ]


@pytest.mark.parametrize("category", TRANSACTION_CATEGORIES)
def test_one_explain_per_category_finds_counterpart_cause_and_action(demo, category):
    cases = planted(demo, category)
    assert cases, f"the demo plants no {category}"
    case = cases[0]
    ref = f"qbo:{case['qbo_id']}" if category == "missing_in_awra" else case["awra_id"]
    out = run_explain(demo, ref)
    assert out["kind"] == "record" and out["entity"] == case["entity"]
    mine = [f for f in out["findings"] if f["category"] == category]
    assert mine, (category, out["findings"])
    if category == "mismatch":
        assert case["field"] in {f["field"] for f in mine}
    for finding in mine:
        assert finding["cause"] and finding["action"]
    if case.get("qbo_id") and category not in ("missing_in_qbo",):
        assert case["qbo_id"] in {q["id"] for q in out["qbo"]}, out["qbo"]
    if category == "missing_in_qbo":
        assert out["escalation"]["actual_qbo_result"] == "not in QBO"
    text = render_text(out, colour=False)
    assert "Escalation (paste into the ticket)" in text
    assert f"Connector: {demo['settings'].company(None).awra.connector}" in text


def test_every_data_quality_plant_is_explained_with_its_finding(demo):
    """A record whose date names no day (2026-09-31) too: its window is the nearest real day's."""
    cases = planted(demo, "data_quality")
    assert any(c["column"] == "txn_date" for c in cases)
    for case in cases:
        out = run_explain(demo, case["awra_id"])
        found = [f for f in out["findings"] if f["category"] == "data_quality"]
        assert case["column"] in {f["field"] for f in found}, (case, out["findings"])
        assert out["retry"]["why"] and not out["retry"]["why"].startswith(("do not retry", "nothing to retry"))


def test_nearest_day_of_a_date_that_names_no_day():
    from reconcile.sources.awra_refs import Reference

    def day(text: str) -> object:
        return Reference(kind="bill", key="1", label="B-1", date_text=text).window_day

    assert str(day("2026-09-31")) == "2026-09-30"
    assert str(day("2025-02-30 10:00")) == "2025-02-28"
    assert str(day("2026-13-05")) == "2026-12-05"
    assert day("31/09/2026") is None and day("") is None


def test_a_qbo_twin_dated_outside_any_window_is_found(demo):
    outside = [
        e
        for e in demo["manifest"]["expected_findings"]
        if e["category"] == "mismatch" and e["field"] == "txn_date" and e.get("qbo_id")
    ]
    assert outside
    for case in outside:
        out = run_explain(demo, case["awra_number"])
        assert case["qbo_id"] in {q["id"] for q in out["qbo"]}
        assert any(f["category"] == "mismatch" and f["field"] == "txn_date" for f in out["findings"])


def test_a_clean_record_has_no_findings_and_its_twin(demo):
    manifest = demo["manifest"]
    planted_ids = {e["awra_id"] for e in manifest["expected_findings"]}
    import sqlite3

    db = demo["demo"].awra_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        row = next(
            r
            for r in conn.execute(
                "SELECT id, number, qbo_id FROM invoices WHERE status = 'posted' AND qbo_id IS NOT NULL ORDER BY id"
            )
            if str(r[0]) not in planted_ids
        )
    out = run_explain(demo, row[1])
    assert out["findings"] == []
    assert [q["id"] for q in out["qbo"]] == [str(row[2])]
    assert all(not f["differs"] for f in out["comparison"][0]["fields"])
    [lines] = out["lines"]
    assert lines["qbo_id"] == str(row[2]) and lines["lines"]
    assert all(ln["awra"] and ln["qbo"] and not ln["differs"] for ln in lines["lines"])
    assert out["retry"]["safe"] is False  # it is in QBO: retrying would duplicate it
    assert out["qbo"][0]["link"] == f"https://app.qbo.intuit.com/app/invoice?txnId={row[2]}"
    sandbox_config = demo["config"].with_name("sandbox.toml")
    sandbox_config.write_text(demo["config"].read_text() + '[qbo]\nenvironment = "sandbox"\n', encoding="utf-8")
    sandbox = load_settings(sandbox_config, {})
    out = explain(sandbox, demo["company"], row[1], qbo_snapshot=demo["demo"].snapshot_dir, now=NOW)
    assert out["qbo"][0]["link"] == f"https://app.sandbox.qbo.intuit.com/app/invoice?txnId={row[2]}"


def test_a_line_difference_shows_in_the_lines_side_by_side(demo):
    expected = demo["manifest"]["expected_findings"]
    # the plant that changes only a line's tax code (others change the header too)
    [planted_line] = [
        e
        for e in expected
        if e["entity"] == "invoice"
        and e["field"] == "line_tax_code"
        and {x["field"] for x in expected if x["awra_number"] == e["awra_number"]} == {"line_tax_code"}
    ]
    out = run_explain(demo, planted_line["awra_number"])
    [comparison] = out["lines"]
    differing = [ln for ln in comparison["lines"] if ln["differs"]]
    assert [ln["differs"] for ln in differing] == [["line_tax_code"]]
    [finding] = [f for f in out["findings"] if f["field"] == "line_tax_code"]
    assert differing[0]["line"] == finding["line"]
    text = render_text(out, colour=False)
    assert f"Lines side by side (QBO Id {comparison['qbo_id']})" in text
    assert "DIFFERS: line_tax_code" in text


def test_customer_explanation_lists_its_mapping_and_findings(demo):
    case = next(e for e in demo["manifest"]["expected_findings"] if e["entity"] == "customer")
    out = run_explain(demo, case["awra_number"] or case["awra_id"])
    assert out["kind"] == "customer"
    assert case["category"] in out["party"]["state"]


def test_sync_run_explanation_groups_by_root_cause(demo):
    import sqlite3

    db = demo["demo"].awra_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        (run_id,) = conn.execute(
            "SELECT sync_run_id FROM sync_log WHERE status = 'failed' GROUP BY sync_run_id "
            "ORDER BY COUNT(*) DESC, sync_run_id LIMIT 1"
        ).fetchone()
        failed = conn.execute(
            "SELECT COUNT(*) FROM sync_log WHERE sync_run_id = ? AND status = 'failed'", (run_id,)
        ).fetchone()[0]
    out = run_explain(demo, f"run:{run_id}")
    assert out["kind"] == "sync_run"
    assert out["by_status"].get("failed") == failed
    assert sum(len(g["records"]) for g in out["root_causes"]) >= failed
    assert all(g["cause"] and g["action"] for g in out["root_causes"])
    # a sync run is AWRA's sync log and the run history: QBO is not opened (a snapshot would be
    # read whole for nothing), so a QBO that cannot be read does not stop it
    gone = explain(demo["settings"], demo["company"], f"run:{run_id}", qbo_snapshot=Path("/no/such/snapshot"), now=NOW)
    assert gone == out


def test_unknown_reference_is_one_line_exit_2(demo, capsys):
    code = main(
        [
            "explain",
            "NO-SUCH-THING-42",
            "--config",
            str(demo["config"]),
            "--awra-url",
            demo["demo"].awra_url,
            "--qbo-snapshot",
            str(demo["demo"].snapshot_dir),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "nothing matched" in err


def test_ambiguous_reference_lists_candidates(demo, capsys):
    case = planted(demo, "duplicate_in_awra")[0]
    code = main(
        [
            "explain",
            case["awra_number"],
            "--config",
            str(demo["config"]),
            "--awra-url",
            demo["demo"].awra_url,
            "--qbo-snapshot",
            str(demo["demo"].snapshot_dir),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "matches 2 things" in err
    lines = err.strip().splitlines()
    assert len(lines) == 3
    # each candidate line starts with the REF that names it alone, and that REF works
    refs = [line.split()[0] for line in lines[1:]]
    assert all(ref.startswith(case["entity"] + ":") for ref in refs)
    assert run_explain(demo, refs[1])["kind"] == "record"


def test_json_output_carries_the_same_content(demo, capsys):
    case = planted(demo, "missing_in_qbo")[0]
    args = ["explain", case["awra_number"], "--config", str(demo["config"]), "--awra-url", demo["demo"].awra_url]
    args += ["--qbo-snapshot", str(demo["demo"].snapshot_dir), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "record"
    assert {"awra", "qbo", "comparison", "sync_log", "mappings", "findings", "retry", "escalation"} <= set(out)


def test_unknown_reference_raises_usage_error(demo):
    with pytest.raises(UsageError):
        run_explain(demo, "qbo:99999999")


def test_explain_never_writes_awra(demo, tmp_path):
    db = Path(demo["demo"].awra_url.removeprefix("sqlite:///"))
    before = db.stat().st_mtime_ns, db.read_bytes()
    run_explain(demo, planted(demo, "mismatch")[0]["awra_id"])
    assert (db.stat().st_mtime_ns, db.read_bytes()) == before


def live_company(company, emu, tmp_path: Path):
    """``company`` reading QBO live from the emulator (realm 4620816365, secret app-secret-9)."""
    from dataclasses import replace

    from reconcile.config import Secret

    qbo = replace(
        company.qbo,
        realm_id="4620816365",
        base_url=emu.base_url,
        token_url=emu.token_url,
        token_store=tmp_path / "tokens.json",
        client_id=Secret("app"),
        client_secret=Secret("app-secret-9"),
        refresh_token=Secret(emu.refresh_token),
    )
    return replace(company, qbo=qbo)


def test_live_explain_against_the_emulator_only_reads(demo, tmp_path):
    from qbo_emulator import Emulator

    case = planted(demo, "mismatch")[0]
    offline = run_explain(demo, case["awra_id"])
    with Emulator(demo["demo"].snapshot_dir, realm_id="4620816365", client_secret="app-secret-9") as emu:
        company = live_company(demo["company"], emu, tmp_path)
        live = explain(demo["settings"], company, case["awra_id"], qbo_snapshot=None, now=NOW)
        kinds = {r.kind for r in emu.requests}
    assert kinds <= {"query", "read", "token"} and "query" in kinds
    assert not emu.writes
    assert [q["id"] for q in live["qbo"]] == [q["id"] for q in offline["qbo"]]
    assert live["findings"] == offline["findings"]
