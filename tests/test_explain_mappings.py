"""Explain's party and mapping parts on the mirrored US sandbox company (``test_us_sandbox``).

Every mapping there caches a blank ``qbo_name``: explain must still name the QBO party (from QBO)
and show each mapping as the mapping checks decided it (``ok``), and follow them when they do
report a problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.explain import render_text
from reconcile.explain import explain_party, explain_record
from reconcile.mappings import MAPPING_CATEGORIES
from reconcile.match import match_records
from tests.test_us_sandbox import PARAMS, mirror, qbo_payloads, run


def _explain_invoice(tmp_path: Path, payloads: dict[str, list[dict[str, Any]]], plant: Any = None) -> dict[str, Any]:
    m = mirror(payloads)
    if plant is not None:
        plant(m)
    result, awra, qbo = run(tmp_path, m, payloads)
    return explain_record(
        entity="invoice",
        awra_id="inv-119",
        qbo_id=None,
        awra=awra,
        qbo=qbo,
        matches=match_records(awra, qbo, PARAMS),
        result=result,
    ) | {"_findings": result.findings}


def test_sound_mappings_with_blank_cached_names_are_ok_and_qbo_names_come_from_qbo(tmp_path: Path) -> None:
    payloads = qbo_payloads()
    # QBO may leave the name off a reference: the party is still named from its Customer record
    invoice = next(q for q in payloads["Invoice"] if q["Id"] == "119")
    invoice["CustomerRef"] = {"value": "17"}
    out = _explain_invoice(tmp_path, payloads)
    assert out["findings"] == []
    states = {(m["type"], m["awra_id"]): m for m in out["mappings"]}
    assert set(states) == {
        ("customer", "cu-cho"),
        ("item", "it-fountain"),
        ("item", "it-pipes"),
        ("tax_code", "tx-taxable"),
        ("account", "ac-sales"),
        ("account", "ac-cogs"),
    }
    assert {m["state"] for m in out["mappings"]} == {"ok"}
    assert all(not m["cached_qbo_name"] for m in out["mappings"])
    assert states[("customer", "cu-cho")]["qbo_name"] == "Mark Cho"
    assert states[("item", "it-fountain")]["qbo_name"] == "Rock Fountain"
    assert out["qbo"][0]["party_name"] == "Mark Cho"
    party = next(f for f in out["comparison"][0]["fields"] if f["field"] == "party")
    assert party["awra"] == "Mark Cho → QBO 17 'Mark Cho'"
    assert party["qbo"] == "QBO 17 'Mark Cho'"
    assert not party["differs"]
    text = render_text(out, colour=False)
    assert "mapping_missing" not in text


def test_mapping_state_is_what_the_mapping_checks_found(tmp_path: Path) -> None:
    def plant(m: Any) -> None:
        for row in m.rows["qbo_mappings"]:
            if row["awra_id"] == "it-pipes":
                row["qbo_id"] = "404"  # no such QBO item
        m.rows["qbo_mappings"][:] = [r for r in m.rows["qbo_mappings"] if r["awra_id"] != "cu-cho"]

    out = _explain_invoice(tmp_path, qbo_payloads(), plant)
    findings = out["_findings"]
    for state in out["mappings"]:
        mine = findings.loc[
            (findings["entity"] == state["type"])
            & (findings["awra_id"] == state["awra_id"])
            & findings["category"].isin(MAPPING_CATEGORIES)
        ]
        assert state["state"] == (", ".join(sorted(set(mine["category"]))) or "ok")
    states = {m["awra_id"]: m for m in out["mappings"]}
    assert states["cu-cho"]["state"] == "mapping_missing"
    assert states["it-pipes"]["state"] == "mapping_broken"
    assert states["it-fountain"]["state"] == "ok"
    assert "does not exist in QBO" in states["it-pipes"]["findings"][0]["message"]
    party = next(f for f in out["comparison"][0]["fields"] if f["field"] == "party")
    assert party["awra"] == "Mark Cho → QBO unmapped"
    text = render_text(out, colour=False)
    assert "mapping_broken: item PIPES 'Sprinkler Pipes' maps to QBO item 404" in text


def test_party_explanation_names_the_qbo_customer_and_takes_the_checks_state(tmp_path: Path) -> None:
    payloads = qbo_payloads()
    result, awra, qbo = run(tmp_path, mirror(payloads), payloads)
    out = explain_party(party_type="customer", party_id="cu-cool", awra=awra, qbo=qbo, result=result)
    assert out["party"]["state"] == "ok"
    assert out["party"]["qbo_name"] == "Cool Cars"
    assert out["findings"] == []
