"""The demo data set: deterministic, complete, and clean everywhere except where it says so.

These tests read the built files directly (sqlite3 + json), independently of the AWRA reader,
the QBO parser and the reconciliation core.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from reconcile import frames as F
from reconcile.demo import DemoSet, build_demo, ensure_demo
from reconcile.sources.awra_schema import awra_metadata

SMALL = 0.2
TXN_TABLES = {"invoice": "invoices", "payment": "payments", "bill": "bills", "journal": "journals"}
QBO_ENTITY = {"invoice": "Invoice", "payment": "Payment", "bill": "Bill", "journal": "JournalEntry"}
PARTY_COLUMN = {"invoice": "customer_id", "payment": "customer_id", "bill": "vendor_id"}
PARTY_REF = {"invoice": "CustomerRef", "payment": "CustomerRef", "bill": "VendorRef"}
MASTER_TABLES = ("customers", "vendors", "items", "tax_codes", "accounts", "payment_methods")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSet:
    return build_demo(tmp_path_factory.mktemp("demo") / "set")


@pytest.fixture(scope="module")
def manifest(demo: DemoSet) -> dict[str, Any]:
    return json.loads(demo.manifest_path.read_text(encoding="utf-8"))


def _db(demo: DemoSet) -> sqlite3.Connection:
    path = demo.awra_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def _qbo(demo: DemoSet, entity: str) -> list[dict[str, Any]]:
    return json.loads((demo.snapshot_dir / f"{entity}.json").read_text(encoding="utf-8"), parse_float=Decimal)


def _cents(value: object) -> int:
    return int((Decimal(str(value)) * 100).to_integral_value())


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    a = build_demo(tmp_path / "a", seed=11, scale=SMALL)
    # the twin is built by another interpreter with another string-hash seed
    code = "import sys; from pathlib import Path; from reconcile.demo import build_demo; "
    code += f"build_demo(Path(sys.argv[1]), seed=11, scale={SMALL})"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "b")], check=True, env=env)
    c = build_demo(tmp_path / "c", seed=12, scale=SMALL)
    files_a, files_b, files_c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert set(files_a) == set(files_b) == set(files_c)
    assert {"awra.db", "manifest.json", "qbo/Invoice.json", ".demo-complete.json"} <= set(files_a)
    for name in files_a:
        assert files_a[name] == files_b[name], name
    assert files_a["awra.db"] != files_c["awra.db"]
    assert files_a["qbo/Invoice.json"] != files_c["qbo/Invoice.json"]
    assert files_a["manifest.json"] != files_c["manifest.json"]
    assert (a.date_from, a.date_to) == (c.date_from, c.date_to) == (date(2026, 8, 1), date(2026, 10, 31))


def test_window_derives_from_the_anchor(tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "d", scale=SMALL, anchor=date(2025, 12, 1))
    assert (demo.date_from, demo.date_to) == (date(2025, 12, 1), date(2026, 2, 28))
    with _db(demo) as conn:
        dates = [r[0] for r in conn.execute("select txn_date from invoices where status = 'posted'")]
    inside = [d for d in dates if "2025-12-01" <= d <= "2026-02-28"]
    assert len(inside) > 0.9 * len(dates)


# ---------------------------------------------------------------------------- shape and counts


def test_demo_set_points_at_its_files(demo: DemoSet) -> None:
    assert demo.awra_url.startswith("sqlite:////")
    assert Path(demo.awra_url.removeprefix("sqlite:///")).is_file()
    assert demo.snapshot_dir.is_dir() and demo.manifest_path.is_file()
    assert demo.status == "posted"


def test_counts_are_those_of_a_small_company(demo: DemoSet, manifest: dict[str, Any]) -> None:
    with _db(demo) as conn:
        n = {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in MASTER_TABLES}
        window = {
            e: conn.execute(
                f"select count(*) from {t} where txn_date between ? and ?",
                (demo.date_from.isoformat(), demo.date_to.isoformat()),
            ).fetchone()[0]
            for e, t in TXN_TABLES.items()
        }
        methods = {r[0] for r in conn.execute("select method_type from payment_methods")}
        item_types = {r[0] for r in conn.execute("select item_type from items")}
        rates = {Decimal(str(r[0])) for r in conn.execute("select rate_percent from tax_codes")}
    assert 38 <= n["customers"] <= 45
    assert 14 <= n["vendors"] <= 17
    assert 28 <= n["items"] <= 33
    assert 3 <= n["tax_codes"] <= 4
    assert 20 <= n["accounts"] <= 35
    assert n["payment_methods"] == 4 and methods == {"cash", "card", "bank", "mobile_money"}
    assert item_types == {"service", "inventory", "non_inventory"}
    assert {Decimal(16), Decimal(0), Decimal(8)} <= rates
    assert 1900 <= window["invoice"] <= 2100
    assert 1400 <= window["payment"] <= 1600
    assert 450 <= window["bill"] <= 550
    assert 90 <= window["journal"] <= 110
    assert manifest["counts"]["awra_tables"]["customers"] == n["customers"]
    assert manifest["window"] == {"from": "2026-08-01", "to": "2026-10-31"}


def test_scale_multiplies_transactions_not_planted_problems(tmp_path: Path, manifest: dict[str, Any]) -> None:
    small = build_demo(tmp_path / "s", scale=SMALL)
    m_small = json.loads(small.manifest_path.read_text(encoding="utf-8"))
    big_n = manifest["counts"]["in_window"]["invoice"]["awra"]
    small_n = m_small["counts"]["in_window"]["invoice"]["awra"]
    assert 3.5 * small_n < big_n < 6 * small_n
    assert m_small["category_counts"] == manifest["category_counts"]


def test_sqlite_holds_every_awra_table_with_its_columns(demo: DemoSet) -> None:
    with _db(demo) as conn:
        for table in awra_metadata().tables.values():
            cols = {r[1] for r in conn.execute(f"pragma table_info({table.name})")}
            assert cols == {c.name for c in table.columns}, table.name
            assert conn.execute(f"select count(*) from {table.name}").fetchone()[0] > 0, table.name


def test_snapshot_files_are_json_arrays_of_objects_with_ids(demo: DemoSet) -> None:
    names = {p.stem for p in demo.snapshot_dir.glob("*.json")}
    assert names == {
        "Preferences",
        "Invoice",
        "Payment",
        "Bill",
        "JournalEntry",
        "Customer",
        "Vendor",
        "Item",
        "Account",
        "PaymentMethod",
        "TaxCode",
        "TaxRate",
    }
    for name in names:
        objs = _qbo(demo, name)
        assert isinstance(objs, list) and objs, name
        assert all(isinstance(o, dict) and isinstance(o.get("Id"), str) and o["Id"] for o in objs), name
        assert len({o["Id"] for o in objs}) == len(objs), name


def test_money_is_written_with_two_decimals(demo: DemoSet) -> None:
    text = (demo.snapshot_dir / "Invoice.json").read_text(encoding="utf-8")
    totals = re.findall(r'"TotalAmt":([^,}]+)', text)
    assert totals and all(re.fullmatch(r"\d+\.\d\d", t) for t in totals)
    assert "@M:" not in text
    first = _qbo(demo, "Invoice")[0]
    sub = [x for x in first["Line"] if x["DetailType"] == "SubTotalLineDetail"]
    items = [x for x in first["Line"] if x["DetailType"] == "SalesItemLineDetail"]
    assert len(sub) == 1 and sub[0]["Amount"] == sum(x["Amount"] for x in items)
    assert first["TotalAmt"] == sub[0]["Amount"] + first["TxnTaxDetail"]["TotalTax"]


# ---------------------------------------------------------------------------- the manifest


def test_manifest_covers_every_category_and_mismatch_field(manifest: dict[str, Any]) -> None:
    rows = manifest["expected_findings"]
    assert {r["category"] for r in rows} == set(F.CATEGORIES)
    assert {r["field"] for r in rows if r["category"] == "mismatch"} >= set(F.MISMATCH_FIELDS)
    counts = manifest["category_counts"]
    for category in F.CATEGORIES:
        assert counts[category] >= 3, category
    for r in rows:
        assert set(r) >= {"plant", "entity", "category", "awra_id", "awra_number", "qbo_id", "field", "why"}
        assert (r["field"] is not None) == (r["category"] == "mismatch")
        if r["category"].startswith("mapping_"):
            assert r["entity"] in F.MASTER_TYPES and r["awra_id"]
        else:
            assert r["entity"] in F.ENTITIES
        if r["category"] == "missing_in_awra":
            assert r["awra_id"] is None and r["qbo_id"]
        if r["category"] == "data_quality":
            assert r["column"]
    # several findings on one record are listed with each other
    multi = [r for r in rows if r["also"]]
    assert any(r["category"] == "sync_conflict" and "missing_in_qbo" in r["also"] for r in multi)


def test_date_mismatches_include_the_out_of_window_cases(demo: DemoSet, manifest: dict[str, Any]) -> None:
    lo, hi = demo.date_from.isoformat(), demo.date_to.isoformat()
    qbo_dates = {(e, o["Id"]): o["TxnDate"] for e, q in QBO_ENTITY.items() for o in _qbo(demo, q)}
    qbo_outside = awra_outside = 0
    with _db(demo) as conn:
        for r in manifest["expected_findings"]:
            if r["field"] != "txn_date":
                continue
            qdate = qbo_dates[(r["entity"], r["qbo_id"])]
            table = TXN_TABLES[r["entity"]]
            adate = conn.execute(f"select txn_date from {table} where id = ?", (r["awra_id"],)).fetchone()[0]
            assert qdate != adate
            qbo_outside += not lo <= qdate <= hi
            awra_outside += not lo <= adate <= hi and lo <= qdate <= hi
    assert qbo_outside >= 2
    assert awra_outside >= 1


def test_planted_data_quality_values_are_in_the_database(demo: DemoSet, manifest: dict[str, Any]) -> None:
    rows = [r for r in manifest["expected_findings"] if r["category"] == "data_quality"]
    seen = set()
    with _db(demo) as conn:
        customers = {r[0] for r in conn.execute("select id from customers")}
        for r in rows:
            table = TXN_TABLES[r["entity"]]
            value = conn.execute(f"select {r['column']} from {table} where id = ?", (r["awra_id"],)).fetchone()[0]
            if value is None:
                seen.add("null")
            elif r["column"] in ("amount", "total_amount"):
                assert isinstance(value, str) and not re.fullmatch(r"-?\d+(\.\d+)?", value)
                seen.add("text")
            elif r["column"] == "txn_date":
                with pytest.raises(ValueError):
                    date.fromisoformat(value)
                assert demo.date_from.isoformat() <= value <= demo.date_to.isoformat()
                seen.add("date")
            elif r["column"] == "status":
                assert value not in F.AWRA_STATUSES
                seen.add("status")
            else:
                assert value not in customers
                seen.add("dangling")
    assert seen == {"null", "text", "date", "status", "dangling"}


def _latest_attempts(conn: sqlite3.Connection) -> dict[tuple[str, str], list[sqlite3.Row]]:
    out: dict[tuple[str, str], list[sqlite3.Row]] = defaultdict(list)
    for r in conn.execute("select * from sync_log order by attempted_at"):
        out[(r["record_type"], r["record_id"])].append(r)
    return out


def test_retry_loops_repeat_one_error_with_nothing_changed(demo: DemoSet, manifest: dict[str, Any]) -> None:
    loops = [r for r in manifest["expected_findings"] if r["category"] == "retry_loop"]
    assert len(loops) >= 3
    with _db(demo) as conn:
        log = _latest_attempts(conn)
        for r in loops:
            tail = log[(r["entity"], r["awra_id"])][-4:]
            assert [a["status"] for a in tail] == ["failed"] * 4
            assert len({(a["error_code"], a["message"]) for a in tail}) == 1
            table = TXN_TABLES[r["entity"]]
            updated = conn.execute(f"select updated_at from {table} where id = ?", (r["awra_id"],)).fetchone()[0]
            assert updated < tail[0]["attempted_at"]
        # nothing else fails three times with one error
        loop_ids = {(r["entity"], r["awra_id"]) for r in loops}
        for key, attempts in log.items():
            if key in loop_ids:
                continue
            failures = [(a["error_code"], a["message"]) for a in attempts if a["status"] == "failed"]
            assert max((failures.count(f) for f in failures), default=0) <= 3, key


# ---------------------------------------------------------------------------- everything else is clean


def _awra_transactions(conn: sqlite3.Connection, entity: str) -> list[dict[str, Any]]:
    table = TXN_TABLES[entity]
    rows = [dict(r) for r in conn.execute(f"select * from {table}")]
    if entity == "invoice":
        sums = dict(conn.execute("select invoice_id, sum(amount) from invoice_lines group by invoice_id").fetchall())
    elif entity == "bill":
        sums = dict(conn.execute("select bill_id, sum(amount) from bill_lines group by bill_id").fetchall())
    elif entity == "payment":
        sums = dict(
            conn.execute("select payment_id, sum(amount) from payment_applications group by payment_id").fetchall()
        )
    else:
        sums = dict(conn.execute("select journal_id, sum(debit) from journal_lines group by journal_id").fetchall())
        credits = dict(conn.execute("select journal_id, sum(credit) from journal_lines group by journal_id").fetchall())
        for r in rows:
            assert _cents(sums[r["id"]]) == _cents(credits[r["id"]]), r["number"]
    for r in rows:
        r["line_cents"] = _cents(sums.get(r["id"], 0))
    return rows


def _qbo_lines(entity: str, obj: dict[str, Any]) -> int:
    if entity == "payment":
        return sum(_cents(x["Amount"]) for x in obj["Line"])
    if entity == "journal":
        return sum(_cents(x["Amount"]) for x in obj["Line"] if x["JournalEntryLineDetail"]["PostingType"] == "Debit")
    return sum(_cents(x["Amount"]) for x in obj["Line"] if x["DetailType"] != "SubTotalLineDetail")


def test_every_unplanted_record_agrees_exactly_on_both_sides(demo: DemoSet, manifest: dict[str, Any]) -> None:
    planted_awra = {(r["entity"], r["awra_id"]) for r in manifest["expected_findings"] if r["awra_id"]}
    planted_qbo = {(r["entity"], r["qbo_id"]) for r in manifest["expected_findings"] if r["qbo_id"]}
    controls = {(c["entity"], c["awra_id"]) for c in manifest["controls"]}
    lo, hi = demo.date_from.isoformat(), demo.date_to.isoformat()
    with _db(demo) as conn:
        mapping = {(r[0], r[1]): r[2] for r in conn.execute("select mapping_type, awra_id, qbo_id from qbo_mappings")}
        log = _latest_attempts(conn)
        linked_qbo: set[tuple[str, str]] = set()
        checked = 0
        for entity, qbo_entity in QBO_ENTITY.items():
            qbo = {o["Id"]: o for o in _qbo(demo, qbo_entity)}
            for r in _awra_transactions(conn, entity):
                attempts = log[(entity, r["id"])]
                succeeded = [a["qbo_id"] for a in attempts if a["status"] == "succeeded"]
                link = r["qbo_id"] or (succeeded[-1] if succeeded else None)
                if link:
                    linked_qbo.add((entity, link))
                key = (entity, r["id"])
                if key in planted_awra or key in controls:
                    continue
                checked += 1
                assert r["status"] == "posted", key
                assert attempts and attempts[-1]["status"] == "succeeded", key
                assert link in qbo, key  # referential integrity: AWRA's link exists in QBO
                q = qbo[link]
                number = q.get("PaymentRefNum") if entity == "payment" else q.get("DocNumber")
                assert number == r["number"], key
                assert q["TxnDate"] == r["txn_date"], key
                assert q["CurrencyRef"]["value"] == r["currency"], key
                assert q.get("PrivateNote") != "Voided", key
                amount = r["line_cents"] if entity == "journal" else _cents(r.get("total_amount") or r.get("amount"))
                if entity != "journal":
                    assert _cents(q["TotalAmt"]) == amount, key
                assert _qbo_lines(entity, q) == r["line_cents"], key
                if entity in ("invoice", "bill"):
                    assert _cents(q["TxnTaxDetail"]["TotalTax"]) == _cents(r["tax_amount"]), key
                    assert _cents(r["total_amount"]) == r["line_cents"] + _cents(r["tax_amount"]), key
                if entity in PARTY_COLUMN:
                    party_type = "vendor" if entity == "bill" else "customer"
                    mapped = mapping[(party_type, r[PARTY_COLUMN[entity]])]
                    assert q[PARTY_REF[entity]]["value"] == mapped, key
        assert checked > 3500
        # every QBO transaction in the window is linked by an AWRA record or planted
        for entity, qbo_entity in QBO_ENTITY.items():
            for o in _qbo(demo, qbo_entity):
                if lo <= o["TxnDate"] <= hi:
                    assert (entity, o["Id"]) in linked_qbo or (entity, o["Id"]) in planted_qbo, (entity, o["Id"])


def test_payments_apply_to_the_twins_of_their_invoices(demo: DemoSet, manifest: dict[str, Any]) -> None:
    planted = {r["awra_id"] for r in manifest["expected_findings"] if r["entity"] == "payment"}
    with _db(demo) as conn:
        invoice_link = dict(conn.execute("select id, qbo_id from invoices").fetchall())
        apps = conn.execute("select payment_id, invoice_id, amount from payment_applications").fetchall()
        payment_link = dict(conn.execute("select id, qbo_id from payments").fetchall())
    payments = {o["Id"]: o for o in _qbo(demo, "Payment")}
    linked = 0
    for payment_id, invoice_id, _amount in apps:
        q = payments.get(payment_link.get(payment_id) or "")
        if q is None or not q["Line"] or invoice_link.get(invoice_id) is None or payment_id in planted:
            continue
        targets = {t["TxnId"] for x in q["Line"] for t in x["LinkedTxn"]}
        assert invoice_link[invoice_id] in targets
        linked += 1
    assert linked > 1000


def test_mapping_targets_exist_and_agree_except_where_planted(demo: DemoSet, manifest: dict[str, Any]) -> None:
    planted = {
        (r["entity"], r["awra_id"]) for r in manifest["expected_findings"] if r["category"].startswith("mapping_")
    }
    refs = {
        "customer": "Customer",
        "vendor": "Vendor",
        "item": "Item",
        "tax_code": "TaxCode",
        "account": "Account",
        "payment_method": "PaymentMethod",
    }
    qbo = {t: {o["Id"]: o for o in _qbo(demo, e)} for t, e in refs.items()}
    cached: Counter[bool] = Counter()
    with _db(demo) as conn:
        for mapping_type, awra_id, qbo_id, qbo_name in conn.execute(
            "select mapping_type, awra_id, qbo_id, qbo_name from qbo_mappings"
        ):
            if (mapping_type, awra_id) in planted:
                continue
            assert qbo_id in qbo[mapping_type], (mapping_type, awra_id)
            assert qbo[mapping_type][qbo_id]["Active"] is True
            # the cached name may be anything (blank, stale): the qbo_id decides
            shown = qbo[mapping_type][qbo_id].get("DisplayName") or qbo[mapping_type][qbo_id].get("Name")
            cached[(qbo_name or "").strip() == shown] += 1
        # many sound mappings cache a blank or stale name, many the QBO name itself
        assert cached[False] >= 30 and cached[True] >= 30, cached
        mapped = {(r[0], r[1]) for r in conn.execute("select mapping_type, awra_id from qbo_mappings")}
        for table, kind in zip(MASTER_TABLES, refs, strict=True):
            for (awra_id,) in conn.execute(f"select id from {table} where active = 1"):
                assert (kind, awra_id) in mapped or (kind, awra_id) in planted, (kind, awra_id)


# ---------------------------------------------------------------------------- ensure_demo


def test_ensure_demo_reuses_a_complete_set(tmp_path: Path) -> None:
    first = ensure_demo(tmp_path / "set", scale=SMALL)
    db = Path(first.awra_url.removeprefix("sqlite:///"))
    stamp = db.stat().st_mtime_ns, db.stat().st_ino
    again = ensure_demo(tmp_path / "set", scale=SMALL)
    assert again == first
    assert (db.stat().st_mtime_ns, db.stat().st_ino) == stamp
    other = ensure_demo(tmp_path / "set", scale=SMALL, seed=8)  # other parameters: rebuilt
    assert other == first
    assert db.stat().st_ino != stamp[1]


def test_ensure_demo_rebuilds_a_half_built_set(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "awra.db").write_bytes(b"half a database")
    (folder / "manifest.json").write_text("{}", encoding="utf-8")
    demo = ensure_demo(folder, scale=SMALL)
    assert (folder / ".demo-complete.json").is_file()
    with _db(demo) as conn:
        assert conn.execute("select count(*) from invoices").fetchone()[0] > 0
    assert json.loads(demo.manifest_path.read_text(encoding="utf-8"))["expected_findings"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".set.")]  # no temporary leftovers


def test_build_refuses_to_replace_a_folder_that_is_not_a_demo_set(tmp_path: Path) -> None:
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ValueError, match="not part of a demo set"):
        build_demo(folder, scale=SMALL)
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "keep me"


# ---------------------------------------------------------------------------- duplicates and pairing traps


def test_duplicate_extras_are_the_higher_ids(demo: DemoSet, manifest: dict[str, Any]) -> None:
    rows = manifest["expected_findings"]
    with _db(demo) as conn:
        for r in [r for r in rows if r["category"] == "duplicate_in_qbo"]:
            table = TXN_TABLES[r["entity"]]
            link = conn.execute(f"select qbo_id from {table} where id = ?", (r["awra_id"],)).fetchone()[0]
            qbo = {o["Id"]: o for o in _qbo(demo, QBO_ENTITY[r["entity"]])}
            assert link in qbo and r["qbo_id"] in qbo and int(r["qbo_id"]) > int(link)
            number = "PaymentRefNum" if r["entity"] == "payment" else "DocNumber"
            assert qbo[link][number] == qbo[r["qbo_id"]][number] == r["awra_number"]
        for r in [r for r in rows if r["category"] == "duplicate_in_awra"]:
            table = TXN_TABLES[r["entity"]]
            ids = [x[0] for x in conn.execute(f"select id from {table} where number = ?", (r["awra_number"],))]
            assert len(ids) == 2 and r["awra_id"] == max(ids, key=int)


def test_unpaired_records_cannot_pair_by_party_amount_and_date_by_accident(
    demo: DemoSet, manifest: dict[str, Any]
) -> None:
    """Only the one planted probable pair shares party, amount and a date within 3 days."""
    rows = manifest["expected_findings"]
    unpaired_awra = {
        (r["entity"], r["awra_id"])
        for r in rows
        if r["category"] in ("missing_in_qbo", "not_ready", "duplicate_in_awra", "retry_loop")
    }
    unpaired_qbo = {(r["entity"], r["qbo_id"]) for r in rows if r["category"] == "missing_in_awra"}
    probable = [r for r in rows if r["field"] == "number"]
    assert len(probable) == 1
    unpaired_qbo.add((probable[0]["entity"], probable[0]["qbo_id"]))
    unpaired_awra.add((probable[0]["entity"], probable[0]["awra_id"]))
    with _db(demo) as conn:
        mapping = {(r[0], r[1]): r[2] for r in conn.execute("select mapping_type, awra_id, qbo_id from qbo_mappings")}
        awra_side = []
        for entity, awra_id in unpaired_awra:
            if entity == "journal":
                continue
            table = TXN_TABLES[entity]
            amount = "amount" if entity == "payment" else "total_amount"
            row = conn.execute(
                f"select {PARTY_COLUMN[entity]}, {amount}, txn_date from {table} where id = ?", (awra_id,)
            ).fetchone()
            party = mapping.get(("vendor" if entity == "bill" else "customer", row[0]))
            awra_side.append((entity, awra_id, party, _cents(row[1]), date.fromisoformat(row[2])))
    hits = []
    for entity, qbo_id in unpaired_qbo:
        if entity == "journal":
            continue
        q = next(o for o in _qbo(demo, QBO_ENTITY[entity]) if o["Id"] == qbo_id)
        qdate = date.fromisoformat(q["TxnDate"])
        for a_entity, awra_id, party, amount, adate in awra_side:
            if (
                a_entity == entity
                and party == q[PARTY_REF[entity]]["value"]
                and amount == _cents(q["TotalAmt"])
                and abs((adate - qdate).days) <= 3
            ):
                hits.append((entity, awra_id, qbo_id))
    assert hits == [(probable[0]["entity"], probable[0]["awra_id"], probable[0]["qbo_id"])]


def test_sync_conflicts_contradict_the_snapshot(demo: DemoSet, manifest: dict[str, Any]) -> None:
    qbo_ids = {(e, o["Id"]) for e, q in QBO_ENTITY.items() for o in _qbo(demo, q)}
    with _db(demo) as conn:
        log = _latest_attempts(conn)
        for r in [r for r in manifest["expected_findings"] if r["category"] == "sync_conflict"]:
            latest = log[(r["entity"], r["awra_id"])][-1]
            if latest["status"] == "succeeded":
                assert (r["entity"], latest["qbo_id"]) not in qbo_ids  # log says succeeded, QBO lacks it
                assert "missing_in_qbo" in r["also"]
            else:
                assert latest["status"] in ("failed", "retrying", "pending")
                assert (r["entity"], r["qbo_id"]) in qbo_ids  # log says not synced, QBO has it


def test_line_and_currency_plants_name_their_line_and_agree_on_the_header(
    demo: DemoSet, manifest: dict[str, Any]
) -> None:
    rows = manifest["expected_findings"]
    line_rows = [r for r in rows if r["field"] in F.LINE_MISMATCH_FIELDS]
    assert {r["field"] for r in line_rows} == set(F.LINE_MISMATCH_FIELDS)
    assert all(r.get("line") for r in line_rows)
    # a pure line plant keeps the header: the record carries line-level findings only
    header = set(F.HEADER_MISMATCH_FIELDS) - {"deposit_account", "payment_method", "exchange_rate"}
    pure = [r for r in line_rows if not any(a.partition(":")[2] in header for a in r["also"])]
    assert {r["field"] for r in pure} >= {"line_item", "line_account", "line_posting", "line_amount", "application"}
    # the second currency: USD records carry AWRA's rate, QBO's rate and home total agree but for the plant
    rate_plant = next(r for r in rows if r["field"] == "exchange_rate")
    with _db(demo) as conn:
        rates = {r[0]: r[1] for r in conn.execute("select id, exchange_rate from invoices where currency = 'USD'")}
    assert rates[rate_plant["awra_id"]] is not None
    invoices = {o["Id"]: o for o in _qbo(demo, "Invoice")}
    usd = [o for o in invoices.values() if o["CurrencyRef"]["value"] == "USD"]
    assert len(usd) > 20
    odd = [o["Id"] for o in usd if Decimal(str(o["ExchangeRate"])) != 130]
    assert odd == [rate_plant["qbo_id"]]
    for o in usd:
        home = Decimal(str(o["TotalAmt"])) * Decimal(str(o["ExchangeRate"]))
        assert abs(Decimal(str(o["HomeTotalAmt"])) - home) <= Decimal("0.005"), o["Id"]


def _qbo_line_fields(entity: str, line: dict[str, Any]) -> dict[str, Any]:
    """A QBO line's comparable fields: item, account, tax code, amount, posting side."""
    detail = line.get(line["DetailType"], {})
    return {
        "item": (detail.get("ItemRef") or {}).get("value"),
        "account": (detail.get("AccountRef") or {}).get("value"),
        "tax": (detail.get("TaxCodeRef") or {}).get("value"),
        "amount": _cents(line["Amount"]),
        "posting": detail.get("PostingType"),
    }


def test_line_plants_differ_on_the_named_line_and_field(demo: DemoSet, manifest: dict[str, Any]) -> None:
    """Each line-level expectation points at a line whose named field really differs (read from the files)."""
    rows = [r for r in manifest["expected_findings"] if r["field"] in F.LINE_MISMATCH_FIELDS]
    with _db(demo) as conn:
        mapping = {(r[0], r[1]): r[2] for r in conn.execute("select mapping_type, awra_id, qbo_id from qbo_mappings")}
        links = {r[0]: r[1] for r in conn.execute("select id, qbo_id from invoices")}
        for r in rows:
            entity, line_no = r["entity"], int(r["line"])
            q = {o["Id"]: o for o in _qbo(demo, QBO_ENTITY[entity])}[r["qbo_id"]]
            if entity == "payment":
                apps = conn.execute(
                    "select invoice_id, amount from payment_applications where payment_id = ? order by invoice_id",
                    (r["awra_id"],),
                ).fetchall()
                ours = {(links[i], _cents(a)) for i, a in apps}
                theirs = {(t["TxnId"], _cents(x["Amount"])) for x in q["Line"] for t in x["LinkedTxn"]}
                assert ours != theirs, r
                continue
            table = {"invoice": "invoice_lines", "bill": "bill_lines", "journal": "journal_lines"}[entity]
            key = f"{entity}_id"
            awra_lines = {
                row["line_no"]: dict(row)
                for row in conn.execute(f"select * from {table} where {key} = ?", (r["awra_id"],))
            }
            qbo_lines = [x for x in q["Line"] if x["DetailType"] != "SubTotalLineDetail"]
            theirs = _qbo_line_fields(entity, qbo_lines[line_no - 1]) if line_no <= len(qbo_lines) else None
            ours = awra_lines.get(line_no)
            if r["field"] == "line_extra":
                assert (ours is None) != (theirs is None), r
                continue
            assert ours is not None and theirs is not None, r
            if r["field"] == "line_item":
                assert mapping[("item", ours["item_id"])] != theirs["item"], r
            elif r["field"] == "line_tax_code":
                assert mapping[("tax_code", ours["tax_code_id"])] != theirs["tax"], r
            elif r["field"] == "line_account":
                assert mapping[("account", ours["account_id"])] != theirs["account"], r
            elif r["field"] == "line_amount":
                assert _cents(ours["amount"]) != theirs["amount"], r
            elif r["field"] == "line_posting":
                assert ("Debit" if ours["debit"] else "Credit") != theirs["posting"], r
