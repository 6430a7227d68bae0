"""Targeted explain: the records one explanation depends on give the whole window's answer.

Two levels. On frames (the documented scenario, the consistent two-currency company): finders
over the complete frames serve ``gather_scope``, and every record's explanation from the scope is
the one from the window read as ``read_sources`` reads it. On the demo's SQLite and snapshot (and
the emulator serving that snapshot): ``explain`` targeted gives the same JSON as ``targeted=False``
for a record of every finding category, a QBO-only record, a clean one, a party and a sync run.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd
import pytest

import jobs.explain as explain_job
from jobs.explain import explain, render_json, render_text
from reconcile import frames as F
from reconcile.config import load_settings
from reconcile.demo import ensure_demo
from reconcile.explain import explain_record
from reconcile.explain_scope import Keys, depends_on_window, gather_scope
from reconcile.match import match_records, plan_lookups
from reconcile.model import AwraData, LookupRequest, QboData
from reconcile.params import RunParams
from reconcile.reconciliation import reconcile
from reconcile.sources.qbo_targeted import TargetedSnapshot, _FileIndex
from reconcile.sources.snapshot import read_snapshot, write_snapshot
from reconcile.triage import DEFAULT_RULES_PATH, load_rules
from tests.company import build_company
from tests.scenario import build_scenario
from tests.test_explain import live_company

NOW = datetime(2026, 11, 2, 6, 30, tzinfo=UTC)


# --------------------------------------------------------------------------- frame finders


def _has(values: pd.Series, wanted: frozenset[str]) -> pd.Series:
    return values.astype("string").isin({str(v) for v in wanted}).fillna(False)


class FrameAwra:
    """An AWRA finder over complete frames (what the SQL finder reads from a database)."""

    def __init__(self, awra: AwraData, params: RunParams):
        self.awra, self.params = awra, params
        self.returned = pd.Series(False, index=awra.transactions.index)

    def _rows(self, mask: pd.Series) -> AwraData:
        a = self.awra
        tx = a.transactions[mask.to_numpy(dtype=bool)]
        keys = set(zip(tx["entity"].astype(str), tx["id"].astype(str), strict=True))
        on = lambda e, i: pd.Series([(str(x), str(y)) in keys for x, y in zip(e, i, strict=True)], index=e.index)  # noqa: E731
        empty = AwraData.empty()
        return AwraData(
            transactions=tx.reset_index(drop=True),
            lines=a.lines[on(a.lines["entity"], a.lines["txn_id"]).to_numpy(dtype=bool)].reset_index(drop=True),
            masters=empty.masters,
            mappings=empty.mappings,
            sync_log=a.sync_log[on(a.sync_log["record_type"], a.sync_log["record_id"]).to_numpy(dtype=bool)],
            sync_runs=a.sync_runs,
            data_quality=a.data_quality[on(a.data_quality["entity"], a.data_quality["awra_id"]).to_numpy(dtype=bool)],
        )

    def base(self) -> AwraData:
        a = self.awra
        masters = a.sync_log["record_type"].isin(F.MASTER_TYPES).fillna(False).to_numpy(dtype=bool)
        dq = a.data_quality["entity"].isin(F.MASTER_TYPES).fillna(False).to_numpy(dtype=bool)
        empty = AwraData.empty()
        return AwraData(
            transactions=empty.transactions,
            lines=empty.lines,
            masters=a.masters,
            mappings=a.mappings,
            sync_log=a.sync_log[masters],
            sync_runs=a.sync_runs,
            data_quality=a.data_quality[dq],
        )

    def _linked(self, entity: str, wanted: frozenset[str]) -> set[str]:
        log = self.awra.sync_log
        ok = log[(log["status"] == "succeeded").fillna(False) & (log["record_type"] == entity).fillna(False)]
        return {str(r) for r in ok.loc[_has(ok["qbo_id"], wanted), "record_id"]}

    def find(self, keys: Keys) -> tuple[AwraData, AwraData]:
        tx = self.awra.transactions
        mask = pd.Series(False, index=tx.index)
        maps = self.awra.mappings
        for entity in self.params.entities:
            of = (tx["entity"] == entity).fillna(False)
            ids = keys.qbo_ids.get(entity, frozenset())
            hit = _has(tx["id"], keys.awra_ids.get(entity, frozenset()) | self._linked(entity, ids))
            hit |= _has(tx["qbo_link"], ids) | _has(tx["number"], keys.numbers.get(entity, frozenset()))
            party_type = F.PARTY_TYPE.get(entity)
            for party, cents in keys.party_amounts.get(entity, frozenset()):
                parties = maps.loc[(maps["mapping_type"] == party_type) & (maps["qbo_id"] == party), "awra_id"]
                hit |= tx["party_id"].isin(set(parties)).fillna(False) & (tx["amount_cents"] == cents).fillna(False)
            mask |= of & hit
        inside = tx["in_window"].fillna(True).astype(bool)
        mask &= ~self.returned
        self.returned |= mask
        return self._rows(mask & inside), self._rows(mask & ~inside)

    def lookup(self, request: LookupRequest) -> AwraData:
        tx = self.awra.transactions
        mask = pd.Series(False, index=tx.index)
        for entity in F.ENTITIES:
            links = request.awra_links.get(entity, frozenset())
            hit = _has(tx["qbo_link"], links) | _has(tx["id"], frozenset(self._linked(entity, links)))
            hit |= _has(tx["number"], request.awra_numbers.get(entity, frozenset()))
            mask |= (tx["entity"] == entity).fillna(False) & hit
        return self._rows(mask & ~tx["in_window"].fillna(True).astype(bool))


class FrameQbo:
    """A QBO finder over complete frames."""

    def __init__(self, qbo: QboData, params: RunParams):
        self.qbo, self.params = qbo, params

    def _rows(self, mask: pd.Series) -> QboData:
        q = self.qbo
        tx = q.transactions[mask.to_numpy(dtype=bool)]
        keys = set(zip(tx["entity"].astype(str), tx["id"].astype(str), strict=True))
        keep = [(str(e), str(i)) in keys for e, i in zip(q.lines["entity"], q.lines["txn_id"], strict=True)]
        return QboData(
            transactions=tx.reset_index(drop=True),
            lines=q.lines[keep].reset_index(drop=True),
            references=F.empty_frame(F.REFERENCES),
        )

    def base(self) -> QboData:
        empty = QboData.empty()
        return QboData(empty.transactions, empty.lines, self.qbo.references, home_currency=self.qbo.home_currency)

    def find(self, keys: Keys) -> tuple[QboData, QboData]:
        tx = self.qbo.transactions
        inside = tx["in_window"].fillna(True).astype(bool)
        mask = pd.Series(False, index=tx.index)
        for entity in self.params.entities:
            hit = _has(tx["id"], keys.qbo_ids.get(entity, frozenset()))
            hit |= _has(tx["number"], keys.numbers.get(entity, frozenset()))
            for party, cents in keys.party_amounts.get(entity, frozenset()):
                hit |= inside & (tx["party_id"] == party).fillna(False) & (tx["amount_cents"] == cents).fillna(False)
            mask |= (tx["entity"] == entity).fillna(False) & hit
        return self._rows(mask & inside), self._rows(mask & ~inside)

    def lookup(self, request: LookupRequest) -> QboData:
        tx = self.qbo.transactions
        mask = pd.Series(False, index=tx.index)
        for entity in F.ENTITIES:
            hit = _has(tx["id"], request.qbo_ids.get(entity, frozenset()))
            hit |= _has(tx["number"], request.qbo_numbers.get(entity, frozenset()))
            mask |= (tx["entity"] == entity).fillna(False) & hit
        return self._rows(mask & ~tx["in_window"].fillna(True).astype(bool))


def _window_read(awra_f: FrameAwra, qbo_f: FrameQbo, also: LookupRequest) -> tuple[AwraData, QboData]:
    """The frames as ``read_sources`` gives them: the window, then what it asks to look up."""
    a, q = awra_f.awra, qbo_f.qbo
    a_in = awra_f._rows(a.transactions["in_window"].fillna(True).astype(bool))
    q_in = qbo_f._rows(q.transactions["in_window"].fillna(True).astype(bool))
    awra, qbo = awra_f.base().extended(a_in), qbo_f.base().extended(q_in)
    lookups = plan_lookups(awra, qbo, awra_f.params).merged(also)
    return awra.extended(awra_f.lookup(lookups)), qbo.extended(qbo_f.lookup(lookups))


def _explain(awra: AwraData, qbo: QboData, params: RunParams, entity: str, awra_id: str) -> dict:
    result = reconcile(awra, qbo, params, load_rules(DEFAULT_RULES_PATH))
    return explain_record(
        entity=entity,
        awra_id=awra_id,
        qbo_id=None,
        awra=awra,
        qbo=qbo,
        matches=match_records(awra, qbo, params),
        result=result,
    )


def _without_mapping_messages(explanation: dict) -> dict:
    out = json.loads(json.dumps(explanation, default=str))
    for master in out.get("mappings") or []:
        for problem in master.get("findings") or []:
            problem["message"] = None
    return out


@pytest.mark.parametrize("build", [build_scenario, build_company], ids=["scenario", "company"])
def test_every_record_explained_from_its_scope_as_from_the_window(build):
    awra_all, qbo_all, params = build()
    records = awra_all.transactions[awra_all.transactions["in_window"].fillna(True).astype(bool)]
    compared = window_bound = 0
    for entity, awra_id, number, link in zip(
        records["entity"], records["id"], records["number"], records["qbo_link"], strict=True
    ):
        entity, awra_id = str(entity), str(awra_id)
        ids = frozenset({str(link)}) if not pd.isna(link) else frozenset()
        numbers = frozenset({str(number)}) if not pd.isna(number) else frozenset()
        also = LookupRequest(qbo_ids={entity: ids}, qbo_numbers={entity: numbers})
        seed = Keys(awra_ids={entity: frozenset({awra_id})}, qbo_ids={entity: ids}, numbers={entity: numbers})
        awra_f, qbo_f = FrameAwra(awra_all, params), FrameQbo(qbo_all, params)
        scoped = gather_scope(awra_f, qbo_f, params, seed, also)
        whole = _window_read(awra_f, qbo_f, also)
        expected = _explain(*whole, params, entity, awra_id)
        actual = _explain(*scoped, params, entity, awra_id)
        if depends_on_window(actual, scoped[0]):
            # the caller reads the window for these: a mapping finding's message counts the
            # window's blocked transactions; everything else must already agree
            actual, expected = _without_mapping_messages(actual), _without_mapping_messages(expected)
            window_bound += 1
        assert json.dumps(actual, default=str) == json.dumps(expected, default=str), (entity, awra_id)
        assert len(scoped[0].transactions) <= len(whole[0].transactions)
        compared += 1
    assert compared == len(records) and window_bound < compared


# --------------------------------------------------------------------------- the demo, end to end


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain-targeted")
    demo = ensure_demo(root / "demo")
    config = root / "config.toml"
    config.write_text(f'[history]\nurl = "sqlite:///{root}/history.db"\n', encoding="utf-8")
    settings = load_settings(config, {})
    company = settings.company(None)
    company = replace(company, awra=replace(company.awra, url=demo.awra_url))
    manifest = json.loads(demo.manifest_path.read_text(encoding="utf-8"))
    return {"demo": demo, "settings": settings, "company": company, "manifest": manifest}


def _refs(demo) -> dict[str, str]:
    """One REF per planted transaction finding category (a QBO Id for ``missing_in_awra``)."""
    out: dict[str, str] = {}
    for case in demo["manifest"]["expected_findings"]:
        if case["entity"] not in F.ENTITIES or case["category"] in out:
            continue
        out[case["category"]] = f"qbo:{case['qbo_id']}" if case["category"] == "missing_in_awra" else case["awra_id"]
    return out


def _both(demo, ref: str, *, targeted_only: bool | None = None) -> tuple[dict | None, dict | None]:
    """(whole window, targeted) explanations of REF; ``targeted_only`` picks one of them."""
    args = (demo["settings"], demo["company"], ref)
    kw = {"qbo_snapshot": demo["demo"].snapshot_dir, "now": NOW}
    whole = None if targeted_only else explain(*args, targeted=False, **kw)
    targeted = None if targeted_only is False else explain(*args, targeted=True, **kw)
    return whole, targeted


def test_targeted_explain_is_the_window_explanation_for_every_category(demo, monkeypatch):
    refs = _refs(demo)
    assert {"missing_in_qbo", "missing_in_awra", "duplicate_in_qbo", "duplicate_in_awra", "mismatch"} <= set(refs)
    whole_window = explain_job._explain_whole_window
    fell_back: list[str] = []

    def counting(*args, **kw):
        fell_back.append(args[-1])
        return whole_window(*args, **kw)

    for category, ref in sorted(refs.items()):
        expected = explain(
            demo["settings"], demo["company"], ref, qbo_snapshot=demo["demo"].snapshot_dir, now=NOW, targeted=False
        )
        monkeypatch.setattr(explain_job, "_explain_whole_window", counting)
        actual = explain(demo["settings"], demo["company"], ref, qbo_snapshot=demo["demo"].snapshot_dir, now=NOW)
        monkeypatch.setattr(explain_job, "_explain_whole_window", whole_window)
        assert render_json(actual) == render_json(expected), category
        assert render_text(actual, colour=False) == render_text(expected, colour=False), category
    # most records are answered from their scope alone (the window is read only for mapping findings)
    assert len(fell_back) < len(refs) / 2, fell_back


def test_a_clean_record_a_party_and_a_sync_run_are_unchanged(demo):
    cases = [e for e in demo["manifest"]["expected_findings"] if e["entity"] in F.ENTITIES]
    flagged = {c["awra_id"] for c in cases}
    import sqlite3

    db = demo["demo"].awra_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        clean = next(str(i) for (i,) in conn.execute("SELECT id FROM invoices ORDER BY id") if str(i) not in flagged)
        run = str(conn.execute("SELECT id FROM sync_runs ORDER BY id LIMIT 1").fetchone()[0])
        customer = str(conn.execute("SELECT code FROM customers ORDER BY id LIMIT 1").fetchone()[0])
    for ref in (clean, f"run:{run}", customer):
        expected, actual = _both(demo, ref)
        assert render_json(actual) == render_json(expected), ref


def test_live_targeted_explain_sends_a_handful_of_queries_and_agrees(demo, tmp_path):
    from qbo_emulator import Emulator

    ref = _refs(demo)["mismatch"]
    offline = explain(demo["settings"], demo["company"], ref, qbo_snapshot=demo["demo"].snapshot_dir, now=NOW)
    with Emulator(demo["demo"].snapshot_dir, realm_id="4620816365", client_secret="app-secret-9") as emu:
        company = live_company(demo["company"], emu, tmp_path)
        live = explain(demo["settings"], company, ref, qbo_snapshot=None, now=NOW)
        queries = [r for r in emu.requests if r.kind == "query"]
        assert not emu.writes
    assert render_json(live) == render_json(offline)
    # the reference lists and Preferences (8) plus a few for the record, not the window's pages
    assert len(queries) <= 14, [getattr(q, "query", q) for q in queries]


# --------------------------------------------------------------------------- the snapshot index


def test_the_index_reads_blocks_of_any_size_and_layout(tmp_path):
    invoices = [
        {
            "Id": str(i),
            "DocNumber": f"N-{i}",
            "TxnDate": "2026-03-02",
            "CustomerRef": {"value": str(i % 3)},
            "TotalAmt": i + 0.5,
            "Line": [{"Id": "1", "Amount": 1, "Description": "a }, { b"}, {"Id": "2", "Amount": 2}],
        }
        for i in range(1, 200)
    ]
    write_snapshot(tmp_path / "snap", {"Invoice": invoices})  # indented: nested "}, {" on their own lines
    path = tmp_path / "snap" / "Invoice.json"
    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(invoices, separators=(",", ":")), encoding="utf-8")
    whole = read_snapshot(tmp_path / "snap")["Invoice"]
    for file in (path, compact):
        for block in (64, 700, 1 << 20):
            index = _FileIndex(file, "invoice", block_bytes=block)
            assert index.ids.to_pylist() == [p["Id"] for p in whole]
            hits = index.matching(["7", "150"], ["N-42"])
            assert index.payloads(hits) == [whole[6], whole[41], whole[149]]


def test_a_damaged_snapshot_falls_back_to_the_usual_read(demo, tmp_path):
    folder = tmp_path / "snap"
    write_snapshot(folder, read_snapshot(demo["demo"].snapshot_dir))
    for name in F.QBO_ENTITY.values():
        (folder / f"{name}.json").write_text("[{]", encoding="utf-8")
    finder = TargetedSnapshot(
        folder, RunParams(run_id="x", company="c", company_name="c", date_from=NOW.date(), date_to=NOW.date())
    )
    with pytest.raises(Exception) as raised:
        finder.find(Keys(numbers={"invoice": frozenset({"x"})}))
    assert type(raised.value).__name__ == "IndexUnavailable"
    ref = _refs(demo)["mismatch"]
    with pytest.raises(Exception) as usual:
        explain(demo["settings"], demo["company"], ref, qbo_snapshot=folder, now=NOW, targeted=False)
    with pytest.raises(type(usual.value)) as targeted:
        explain(demo["settings"], demo["company"], ref, qbo_snapshot=folder, now=NOW)
    assert str(targeted.value) == str(usual.value)


def test_keys_union_and_difference():
    a = Keys(numbers={"invoice": frozenset({"1", "2"})}, party_amounts={"invoice": frozenset({("58", 100)})})
    b = Keys(numbers={"invoice": frozenset({"2"})})
    assert a.minus(b) == Keys(
        numbers={"invoice": frozenset({"1"})}, party_amounts={"invoice": frozenset({("58", 100)})}
    )
    assert b.minus(a).is_empty() and not a.is_empty()
    assert a.union(b).numbers == {"invoice": frozenset({"1", "2"})}


def test_the_emulators_field_indexes_never_change_a_selection():
    from qbo_emulator.query import INDEXED_FIELDS, FieldIndex, narrowed, parse_query, select

    records = [
        {
            "Id": str(i),
            "DocNumber": f"D-{i % 7}",
            "CustomerRef": {"value": str(i % 5)},
            "TotalAmt": i,
            "TxnDate": "2026-03-02",
        }
        for i in range(60)
    ]
    records.append({"Id": 61, "DocNumber": 3, "CustomerRef": {"value": 4}})  # not text: found by a scan
    indexes = {name.lower(): FieldIndex.build(records, name) for name in INDEXED_FIELDS}
    for text in (
        "SELECT * FROM Invoice WHERE Id IN ('3', '61', '99')",
        "SELECT * FROM Invoice WHERE DocNumber = 'D-3'",
        "SELECT * FROM Invoice WHERE DocNumber = '3'",
        "SELECT * FROM Invoice WHERE CustomerRef = '4' AND TotalAmt > '20'",
        "SELECT * FROM Invoice WHERE id = 61",
        "SELECT * FROM Invoice WHERE TotalAmt < '5'",
    ):
        query = parse_query(text)
        assert select(narrowed(records, query, indexes), query, entity="Invoice") == select(
            records, query, entity="Invoice"
        ), text
    assert len(narrowed(records, parse_query("SELECT * FROM Invoice WHERE DocNumber = 'D-3'"), indexes)) < 12
