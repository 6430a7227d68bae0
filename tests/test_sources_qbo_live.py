"""The live QBO source against the emulator: same frames as parsing the payloads directly, under faults too."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from qbo_emulator import Emulator
from reconcile import frames as F
from reconcile.config import AwraSettings, CompanySettings, EmailSettings, QboSettings, Secret
from reconcile.errors import QboAuthError, SourceError
from reconcile.model import LookupRequest, QboData
from reconcile.params import RunParams
from reconcile.sources.qbo import QboSource, SnapshotSource, open_qbo_source
from reconcile.sources.qbo_live import LiveSource
from reconcile.sources.qbo_parse import qbo_data_from_payloads
from reconcile.sources.snapshot import write_snapshot

SAMPLES = Path(__file__).parent / "fixtures" / "qbo-samples"
REALM = "4620816365281237"
STREAMS = {
    "invoices": "Invoice",
    "payments": "Payment",
    "bills": "Bill",
    "journal_entries": "JournalEntry",
    "customers": "Customer",
    "accounts": "Account",
    "items": "Item",
    "payment_methods": "PaymentMethod",
    "tax_codes": "TaxCode",
    "tax_rates": "TaxRate",
}
TRANSACTION_ENTITIES = ("Invoice", "Payment", "Bill", "JournalEntry")


def _dataset() -> dict[str, list[dict]]:
    """Real sandbox payloads (airbyte, quickbooks-go) plus generated invoices, some outside the window."""
    data: dict[str, list[dict]] = {entity: [] for entity in (*STREAMS.values(), "Vendor")}
    for line in (SAMPLES / "airbyte_expected_records_subset.jsonl").read_text().splitlines():
        record = json.loads(line)
        entity = STREAMS.get(record["stream"])
        if entity:
            payload = {k: v for k, v in record["data"].items() if k != "airbyte_cursor"}
            data[entity].append(payload)
    vendor = json.loads((SAMPLES / "quickbooksgo_vendor.json").read_text())["Vendor"]
    data["Vendor"].append(vendor)
    gone = copy.deepcopy(data["Customer"][0])
    gone.update(Id="9001", DisplayName="Closed Customer", Active=False)
    data["Customer"].append(gone)
    template = data["Invoice"][0]
    for i in range(1, 1051):
        inv = copy.deepcopy(template)
        month = "02" if i <= 1000 else "04"  # 50 outside the window
        inv.update(Id=str(5000 + i), DocNumber=f"G-{i:05d}", TxnDate=f"2023-{month}-{i % 27 + 1:02d}")
        data["Invoice"].append(inv)
    return data


@pytest.fixture(scope="module")
def dataset() -> dict[str, list[dict]]:
    return _dataset()


@pytest.fixture
def emu(dataset):
    with Emulator(dataset, realm_id=REALM, client_secret="live-secret-Mm31") as e:
        yield e


def _company(emu: Emulator, tmp_path: Path, **qbo_kw) -> CompanySettings:
    qbo = QboSettings(
        realm_id=REALM,
        environment="sandbox",
        base_url=emu.base_url,
        token_url=emu.token_url,
        token_store=tmp_path / "tokens.json",
        client_id=Secret("app"),
        client_secret=Secret("live-secret-Mm31"),
        refresh_token=Secret(emu.issue_refresh_token()),
        **{"timeout_seconds": 5.0, **qbo_kw},
    )
    return CompanySettings(
        key="acme",
        name="Acme Ltd",
        awra=AwraSettings(url="sqlite://"),
        qbo=replace(qbo, **qbo_kw),
        email=EmailSettings(),
    )


def _source(emu: Emulator, tmp_path: Path, **qbo_kw) -> LiveSource:
    return LiveSource(_company(emu, tmp_path, **qbo_kw), backoff_base=0.001)


PARAMS = RunParams(
    run_id="r1",
    company="acme",
    company_name="Acme Ltd",
    date_from=date(2023, 2, 1),
    date_to=date(2023, 2, 28),
)


def _expected(dataset: dict[str, list[dict]], params: RunParams) -> QboData:
    """What the live pull must equal: the payloads in the window parsed directly (decimals exact)."""
    wanted = {F.QBO_ENTITY[e] for e in params.entities}
    chosen: dict[str, list[dict]] = {}
    for entity, rows in dataset.items():
        exact = json.loads(json.dumps(rows), parse_float=Decimal)
        if entity in TRANSACTION_ENTITIES:
            if entity in wanted:
                chosen[entity] = [
                    r for r in exact if params.date_from.isoformat() <= r["TxnDate"] <= params.date_to.isoformat()
                ]
        else:
            chosen[entity] = exact
    return qbo_data_from_payloads(chosen, in_window=True)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _assert_same(actual: QboData, expected: QboData) -> None:
    txn_keys = ["entity", "id"]
    pd.testing.assert_frame_equal(_sorted(actual.transactions, txn_keys), _sorted(expected.transactions, txn_keys))
    line_keys = [c for c in ("entity", "txn_id", "line_no") if c in actual.lines.columns]
    pd.testing.assert_frame_equal(_sorted(actual.lines, line_keys), _sorted(expected.lines, line_keys))
    ref_keys = [c for c in ("ref_type", "id") if c in actual.references.columns]
    pd.testing.assert_frame_equal(_sorted(actual.references, ref_keys), _sorted(expected.references, ref_keys))


def test_description(emu, tmp_path):
    assert _source(emu, tmp_path).description == f"QBO realm {REALM} (sandbox)"


def test_pull_equals_the_payloads_parsed_directly(emu, tmp_path, dataset):
    source = _source(emu, tmp_path)
    data = source.pull(PARAMS)
    _assert_same(data, _expected(dataset, PARAMS))
    assert (data.transactions["entity"] == "invoice").sum() == 2 + 1000  # two pages
    assert "9001" in set(data.references["id"])  # the inactive customer came too
    kept = source.payloads()
    assert len(kept["Invoice"]) == 1002 and len(kept["Customer"]) == 3
    assert {"Invoice", "Payment", "Bill", "JournalEntry", "Customer", "Vendor", "TaxRate"} <= set(kept)
    assert {r.kind for r in emu.requests} <= {"query", "read", "token"} and not emu.writes


@pytest.mark.parametrize(
    "faults",
    # every fault kind is covered one level down (test_sources_qbo_client); here two, mixed, end to end
    [{"throttle_every": 3, "drop_every": 5}, {"error_every": 4, "slow_every": 7, "slow_seconds": 0.8}],
    ids=["xml429+dropped", "503+timeout"],
)
def test_pull_under_faults_equals_a_clean_pull(emu, tmp_path, dataset, faults):
    clean = _source(emu, tmp_path / "clean").pull(PARAMS)
    emu.set_faults(**faults)
    # faults strike every Nth request across all threads, so one request can be hit several times
    # in a row; a generous retry budget keeps this about equality, not about luck
    faulty = _source(emu, tmp_path / "faulty", timeout_seconds=0.5, max_retries=15).pull(PARAMS)
    _assert_same(faulty, clean)
    assert any(r.fault for r in emu.requests)


def test_expired_access_token_mid_run(emu, tmp_path, dataset):
    source = _source(emu, tmp_path)
    source.pull(PARAMS)
    emu.expire_access_tokens()
    data = source.lookup(PARAMS, LookupRequest(qbo_ids={"invoice": frozenset({"6001"})}))
    assert list(data.transactions["id"]) == ["6001"]
    assert [r.kind for r in emu.requests].count("token") == 2


def test_lookup_beyond_the_window_by_id_and_number(emu, tmp_path):
    source = _source(emu, tmp_path)
    request = LookupRequest(
        qbo_ids={"invoice": frozenset({"6020", "999999"})},
        qbo_numbers={"invoice": frozenset({"G-01049"}), "bill": frozenset({"no-such-bill"})},
    )
    data = source.lookup(PARAMS, request)
    assert sorted(data.transactions["id"]) == ["6020", "6049"]
    assert not data.transactions["in_window"].any()
    assert {"6020", "6049"} <= {p["Id"] for p in source.payloads()["Invoice"]}
    assert {r.kind for r in emu.requests} <= {"query", "read", "token"}


def test_lookup_of_many_records_queries_concurrently_and_finds_each_once(emu, tmp_path):
    """Several 100-value look-up queries are in flight at once; Ids and numbers of one record meet once."""
    ids = {str(5000 + i) for i in range(1, 301)}  # three Id queries
    numbers = {f"G-{i:05d}" for i in range(201, 451)}  # three DocNumber queries, 100 of them the same records
    emu.set_faults(latency=0.05)
    emu.reset_requests()
    data = _source(emu, tmp_path, max_in_flight=4).lookup(
        PARAMS, LookupRequest(qbo_ids={"invoice": frozenset(ids)}, qbo_numbers={"invoice": frozenset(numbers)})
    )
    expected = ids | {str(5000 + i) for i in range(201, 451)}
    assert sorted(data.transactions["id"]) == sorted(expected)
    assert emu.max_in_flight > 1
    assert sum(r.kind == "query" for r in emu.requests) >= 6


def test_revoked_refresh_token_is_exit_3(emu, tmp_path):
    source = _source(emu, tmp_path)
    emu.revoke_refresh_tokens()
    with pytest.raises(QboAuthError) as info:
        source.pull(PARAMS)
    assert info.value.exit_code == 3
    assert "re-authorize the QBO connection" in info.value.one_line()


def test_past_the_retry_budget_says_which_company_and_what(emu, tmp_path):
    emu.set_faults(error_every=1)
    with pytest.raises(SourceError) as info:
        _source(emu, tmp_path, max_retries=1).pull(PARAMS)
    line = info.value.one_line()
    assert info.value.exit_code == 3 and info.value.retriable
    assert line.startswith("acme: QBO: query SELECT") and "failed after 2 attempts" in line
    assert "live-secret-Mm31" not in line


def test_saved_snapshot_replays_the_live_pull(emu, tmp_path):
    source = _source(emu, tmp_path)
    live = source.pull(PARAMS)
    write_snapshot(tmp_path / "snap", source.payloads())
    replay = SnapshotSource(tmp_path / "snap")
    _assert_same(replay.pull(PARAMS), live)
    assert replay.description != source.description


def test_open_qbo_source_wires_the_live_source(emu, tmp_path):
    source = open_qbo_source(_company(emu, tmp_path), snapshot_dir=None)
    assert isinstance(source, LiveSource) and isinstance(source, QboSource)


PREFERENCES = {
    "Id": "1",
    "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "KES"}},
    "SyncToken": "0",
}


def test_pull_reads_the_home_currency_from_the_preferences(dataset, tmp_path):
    with Emulator({**dataset, "Preferences": [PREFERENCES]}, realm_id=REALM, client_secret="live-secret-Mm31") as e:
        source = _source(e, tmp_path)
        data = source.pull(PARAMS)
        assert data.home_currency == "KES"
        assert source.payloads()["Preferences"] == [PREFERENCES]
        assert any("FROM Preferences" in (r.query or "") for r in e.requests)
        # a saved snapshot keeps it (Preferences.json)
        write_snapshot(tmp_path / "snap", source.payloads())
        assert SnapshotSource(tmp_path / "snap").pull(PARAMS).home_currency == "KES"


def test_without_preferences_the_home_currency_is_unknown(emu, tmp_path):
    source = _source(emu, tmp_path)
    assert source.pull(PARAMS).home_currency is None
    assert source.payloads()["Preferences"] == []
