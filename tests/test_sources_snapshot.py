"""Snapshots (read/write), the snapshot source, the shared QBO queries and the source wiring."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reconcile import frames as F
from reconcile.config import AwraSettings, CompanySettings, EmailSettings, QboSettings, Secret
from reconcile.errors import ConfigError, UsageError
from reconcile.model import LookupRequest
from reconcile.params import RunParams
from reconcile.sources import snapshot as snapshot_module
from reconcile.sources.qbo import (
    NO_CREDENTIALS,
    QboSource,
    SnapshotSource,
    has_credentials,
    lookup_queries,
    open_qbo_source,
    reference_query,
    window_query,
)
from reconcile.sources.snapshot import read_snapshot, write_snapshot

WINDOW = (date(2026, 8, 1), date(2026, 10, 31))


def params(entities: tuple[str, ...] = F.ENTITIES) -> RunParams:
    return RunParams(
        run_id="r1", company="default", company_name="Demo", date_from=WINDOW[0], date_to=WINDOW[1], entities=entities
    )


def invoice(ident: str, number: str, txn_date: str, total: str = "116.00", **extra: Any) -> dict[str, Any]:
    return {
        "Id": ident,
        "DocNumber": number,
        "TxnDate": txn_date,
        "CustomerRef": {"value": "17", "name": "Mark Cho"},
        "CurrencyRef": {"value": "KES"},
        "Line": [
            {
                "Amount": Decimal("100.00"),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "5"}, "TaxCodeRef": {"value": "2"}},
            },
            {"Amount": Decimal("100.00"), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
        ],
        "TxnTaxDetail": {"TotalTax": Decimal("16.00")},
        "TotalAmt": Decimal(total),
        "MetaData": {"LastUpdatedTime": f"{txn_date}T10:00:00-08:00"},
        **extra,
    }


def company_payloads() -> dict[str, list[dict[str, Any]]]:
    return {
        "Invoice": [
            invoice("1", "INV-1", "2026-08-01"),  # first day of the window
            invoice("2", "INV-2", "2026-10-31"),  # last day
            invoice("3", "INV-3", "2026-07-31"),  # the day before: out
            invoice("4", "INV-4", "2026-11-01"),  # the day after: out
            invoice("5", "INV-5", "2026-09-09", total="0", PrivateNote="Voided"),  # voided: still pulled
        ],
        "Payment": [
            {
                "Id": "20",
                "PaymentRefNum": "MPESA-1",
                "TxnDate": "2026-09-02",
                "TotalAmt": Decimal("116.00"),
                "CustomerRef": {"value": "17"},
                "Line": [{"Amount": Decimal("116.00"), "LinkedTxn": [{"TxnId": "1", "TxnType": "Invoice"}]}],
            },
            {"Id": "21", "PaymentRefNum": "O'Brien-7", "TxnDate": "2025-12-30", "TotalAmt": 5},
        ],
        "Bill": [{"Id": "30", "DocNumber": "B-1", "TxnDate": "2026-08-20", "TotalAmt": Decimal("0.10")}],
        "Customer": [
            {"Id": "17", "DisplayName": "Mark Cho", "Active": True},
            {"Id": "18", "DisplayName": "Gone Ltd", "Active": False},
        ],
        "TaxCode": [
            {
                "Id": "2",
                "Name": "VAT",
                "Active": True,
                "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "3"}}]},
            }
        ],
        "TaxRate": [{"Id": "3", "Name": "VAT 16", "RateValue": Decimal("16"), "Active": True}],
    }


@pytest.fixture
def snapshot_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "snap"
    write_snapshot(folder, company_payloads())
    return folder


# --------------------------------------------------------------------------- read / write


def test_round_trip_is_exact(tmp_path: Path) -> None:
    payloads = {
        "Invoice": [
            {
                "Id": "1",
                "TotalAmt": Decimal("0.10"),
                "Big": Decimal("1234567890123.456789"),
                "Sci": Decimal("1E+2"),
                "Count": 3,
                "Flag": False,
                "Nothing": None,
                "Text": "O'Brien – “quoted” \\ \u00e9",
                "Nested": {"Line": [{"Amount": Decimal("-7.125")}]},
            }
        ],
        "Customer": [],
    }
    folder = tmp_path / "out"
    write_snapshot(folder, payloads)
    back = read_snapshot(folder)
    assert back == payloads
    amount = back["Invoice"][0]["TotalAmt"]
    assert isinstance(amount, Decimal) and str(amount) == "0.10"  # digits kept, no float round trip
    assert str(back["Invoice"][0]["Big"]) == "1234567890123.456789"
    text = (folder / "Invoice.json").read_text(encoding="utf-8")
    assert "0.10" in text and "1234567890123.456789" in text
    assert isinstance(json.loads(text), list)  # plain JSON any reader can load
    assert back["Customer"] == []


def test_a_missing_file_means_none_of_that_entity(snapshot_dir: Path) -> None:
    read = read_snapshot(snapshot_dir)
    assert "JournalEntry" not in read and "Vendor" not in read
    data = SnapshotSource(snapshot_dir).pull(params())
    assert not (data.transactions["entity"] == "journal").any()
    assert not (data.references["ref_type"] == "vendor").any()


def test_write_replaces_a_previous_snapshot_whole(tmp_path: Path) -> None:
    folder = tmp_path / "snap"
    write_snapshot(folder, {"Invoice": [{"Id": "1"}], "Bill": [{"Id": "9"}]})
    write_snapshot(folder, {"Invoice": [{"Id": "2"}]})
    assert read_snapshot(folder) == {"Invoice": [{"Id": "2"}]}  # no stale Bill.json left behind
    assert [p.name for p in tmp_path.iterdir()] == ["snap"]  # no temporary folders left


def test_a_failed_write_leaves_the_previous_snapshot_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "snap"
    write_snapshot(folder, {"Invoice": [{"Id": "1"}]})
    real_dumps = snapshot_module.simplejson.dumps
    calls = {"n": 0}

    def failing_dumps(obj: Any, **kwargs: Any) -> str:  # the writer dumps one element at a time
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        text: str = real_dumps(obj, **kwargs)
        return text

    monkeypatch.setattr(snapshot_module.simplejson, "dumps", failing_dumps)
    with pytest.raises(UsageError, match="No space left"):
        write_snapshot(folder, {"Invoice": [{"Id": "2"}], "Bill": [{"Id": "3"}]})
    assert read_snapshot(folder) == {"Invoice": [{"Id": "1"}]}
    assert [p.name for p in tmp_path.iterdir()] == ["snap"]

    new_folder = tmp_path / "fresh"
    calls["n"] = 0
    with pytest.raises(UsageError):
        write_snapshot(new_folder, {"Invoice": [{"Id": "2"}], "Bill": [{"Id": "3"}]})
    assert not new_folder.exists()  # all or nothing


def test_write_refuses_to_replace_a_folder_holding_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "thesis.docx").write_text("precious")
    with pytest.raises(UsageError, match="holds other files"):
        write_snapshot(folder, {"Invoice": []})
    assert (folder / "thesis.docx").read_text() == "precious"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("Invoice.json", '{"Id": "1"}', "not a JSON array"),
        ("Invoice.json", '[{"Id": "1"}, 5]', "element 1 is not a JSON object"),
        ("Invoice.json", '[{"Id": "1"},', "not valid JSON"),
        ("Invoice.json", '[{"TotalAmt": NaN}]', "not valid JSON"),
        ("Invoice.json", b"[\xff]", "not UTF-8"),
        ("Invoice.json", b'[{"Id": "1"}, {"Id": "2", "Memo": "\xff"}]', "not UTF-8"),  # inside a string
        ("Invoice.json", '[{"Id": "1"}, {"Id": "2"} {"Id": "3"}]', "not valid JSON"),
        ("Invoice.json", '[{"Id": "1"}] []', "not valid JSON"),
        ("Invoice.json", '[[{"Id": "1"}]]', "element 0 is not a JSON object"),
    ],
)
def test_malformed_snapshot_files_give_one_line_usage_errors(
    tmp_path: Path, name: str, content: Any, reason: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(UsageError) as caught:
        read_snapshot(tmp_path)
    message = str(caught.value)
    assert reason in message and str(path) in message
    assert "\n" not in message and caught.value.exit_code == 2
    with pytest.raises(UsageError) as by_source:  # the source reads without holding payloads: same reason
        SnapshotSource(tmp_path)
    assert str(by_source.value) == message


def test_a_missing_snapshot_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such folder"):
        read_snapshot(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        read_snapshot(tmp_path / "file")
    with pytest.raises(UsageError, match="no such folder"):
        open_qbo_source(company(tmp_path), snapshot_dir=tmp_path / "nope")


# --------------------------------------------------------------------------- snapshot source


def test_pull_keeps_the_window_voided_included_and_every_reference(snapshot_dir: Path) -> None:
    source = SnapshotSource(snapshot_dir)
    assert isinstance(source, QboSource)
    assert source.description == f"snapshot {snapshot_dir}"
    data = source.pull(params())
    tx = data.transactions
    assert sorted(zip(tx["entity"], tx["id"], strict=True)) == [
        ("bill", "30"),
        ("invoice", "1"),
        ("invoice", "2"),
        ("invoice", "5"),
        ("payment", "20"),
    ]
    assert bool(tx["in_window"].all())
    assert tx.loc[tx["id"] == "5", "status"].item() == "void"
    # one sales line per invoice (subtotals left out), the payment's line 0 (its own refs) and its
    # application; the bill has none
    assert sorted(zip(data.lines["entity"], data.lines["txn_id"], data.lines["line_no"], strict=True)) == [
        ("invoice", "1", 1),
        ("invoice", "2", 1),
        ("invoice", "5", 1),
        ("payment", "20", 0),
        ("payment", "20", 1),
    ]
    refs = data.references
    assert sorted(refs.loc[refs["ref_type"] == "customer", "id"]) == ["17", "18"]  # inactive included
    assert refs.loc[refs["ref_type"] == "tax_code", "rate_percent"].item() == "16"
    assert set(data.raw["Invoice"]) == {"1", "2", "5"}
    assert tx.loc[tx["id"] == "30", "amount_cents"].item() == 10


def test_pull_only_the_run_entities(snapshot_dir: Path) -> None:
    data = SnapshotSource(snapshot_dir).pull(params(entities=("payment",)))
    assert list(data.transactions["id"]) == ["20"]
    assert list(data.lines["ref_id"].dropna()) == ["1"]
    assert list(data.lines["line_no"]) == [0, 1]  # line 0: the payment's own refs


def test_lookup_finds_records_by_id_or_number_whatever_their_date(snapshot_dir: Path) -> None:
    source = SnapshotSource(snapshot_dir)
    request = LookupRequest(
        qbo_ids={"invoice": frozenset({"3", "404"})},
        qbo_numbers={"invoice": frozenset({"INV-4"}), "payment": frozenset({"O'Brien-7"})},
    )
    data = source.lookup(params(), request)
    tx = data.transactions
    assert sorted(zip(tx["entity"], tx["id"], strict=True)) == [("invoice", "3"), ("invoice", "4"), ("payment", "21")]
    assert not tx["in_window"].any()
    assert tx.loc[tx["id"] == "3", "txn_date"].item() == pd.Timestamp("2026-07-31")
    assert data.references.empty
    assert sorted(data.lines["txn_id"]) == ["21", "3", "4"]  # payment 21 has no application: its line 0
    assert source.lookup(params(), LookupRequest()).transactions.empty


def test_served_payloads_make_a_snapshot_that_pulls_the_same(snapshot_dir: Path, tmp_path: Path) -> None:
    source = SnapshotSource(snapshot_dir)
    first = source.pull(params())
    source.lookup(params(), LookupRequest(qbo_ids={"invoice": frozenset({"3"})}))
    saved = source.payloads()
    assert sorted(p["Id"] for p in saved["Invoice"]) == ["1", "2", "3", "5"]
    assert saved["JournalEntry"] == []  # pulled, none found
    assert len(saved["Customer"]) == 2
    copy_dir = tmp_path / "saved"
    write_snapshot(copy_dir, saved)
    again = SnapshotSource(copy_dir).pull(params())
    pd.testing.assert_frame_equal(again.transactions, first.transactions)
    pd.testing.assert_frame_equal(again.lines, first.lines)
    pd.testing.assert_frame_equal(again.references, first.references)


# --------------------------------------------------------------------------- queries


def test_window_and_reference_queries() -> None:
    assert (
        window_query("invoice", date(2026, 8, 1), date(2026, 10, 31))
        == "SELECT * FROM Invoice WHERE TxnDate >= '2026-08-01' AND TxnDate <= '2026-10-31'"
    )
    assert window_query("JournalEntry", "2026-01-01", "2026-01-31").startswith("SELECT * FROM JournalEntry WHERE")
    assert reference_query("customer") == "SELECT * FROM Customer WHERE Active IN (true, false)"
    assert reference_query("TaxRate") == "SELECT * FROM TaxRate WHERE Active IN (true, false)"
    with pytest.raises(ValueError):
        window_query("customer", "2026-01-01", "2026-01-31")
    with pytest.raises(ValueError):
        window_query("invoice", "2026-1-1", "2026-01-31")
    with pytest.raises(ValueError):
        reference_query("invoice")


def test_lookup_queries_chunk_escape_and_use_the_number_field() -> None:
    ids = [str(i) for i in range(250)]
    queries = lookup_queries("invoice", ids, ["O'Brien", "A-1", "A-1", " "])
    assert len(queries) == 4
    assert all(q.startswith("SELECT * FROM Invoice WHERE Id IN ('") for q in queries[:3])
    assert sum(q.count("'") // 2 for q in queries[:3]) == 250
    assert queries[3] == "SELECT * FROM Invoice WHERE DocNumber IN ('A-1', 'O\\'Brien')"
    assert lookup_queries("payment", [], ["P1"]) == ["SELECT * FROM Payment WHERE PaymentRefNum IN ('P1')"]
    assert lookup_queries("bill", [], []) == []


# --------------------------------------------------------------------------- wiring


def company(tmp_path: Path, **secrets: str) -> CompanySettings:
    return CompanySettings(
        key="default",
        name="Demo",
        awra=AwraSettings(url="sqlite://"),
        qbo=QboSettings(
            realm_id="9130350000000000",
            token_store=tmp_path / "tokens.json",
            client_id=Secret(secrets.get("client_id", "")),
            client_secret=Secret(secrets.get("client_secret", "")),
            refresh_token=Secret(secrets.get("refresh_token", "")),
        ),
        email=EmailSettings(),
    )


def test_a_snapshot_needs_no_credentials(snapshot_dir: Path, tmp_path: Path) -> None:
    source = open_qbo_source(company(tmp_path), snapshot_dir=snapshot_dir)
    assert isinstance(source, SnapshotSource)


def test_no_snapshot_and_no_credentials_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        open_qbo_source(company(tmp_path, client_id="id", client_secret="secret"), snapshot_dir=None)
    assert caught.value.problems == (NO_CREDENTIALS,)
    assert caught.value.exit_code == 2
    assert "QBO_REFRESH_TOKEN" in caught.value.one_line() and "--qbo-snapshot DIR" in caught.value.one_line()
    with pytest.raises(ConfigError):
        open_qbo_source(company(tmp_path, refresh_token="rt"), snapshot_dir=None)


def test_credentials_are_client_id_secret_and_a_refresh_token_or_token_store(tmp_path: Path) -> None:
    assert has_credentials(company(tmp_path, client_id="i", client_secret="s", refresh_token="r"))
    assert not has_credentials(company(tmp_path, client_id="i", client_secret="s"))
    (tmp_path / "tokens.json").write_text("{}")
    assert has_credentials(company(tmp_path, client_id="i", client_secret="s"))
    assert not has_credentials(company(tmp_path, client_id="i"))


# --------------------------------------------------------------------------- Preferences


PREFERENCES = {"Id": "1", "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "KES"}}}


def test_the_home_currency_comes_from_preferences_json_and_is_saved_again(tmp_path: Path) -> None:
    folder = tmp_path / "snap"
    write_snapshot(folder, {**company_payloads(), "Preferences": [PREFERENCES]})
    source = SnapshotSource(folder)
    assert source.pull(params()).home_currency == "KES"
    assert source.payloads()["Preferences"] == [PREFERENCES]
    write_snapshot(tmp_path / "again", source.payloads())
    assert json.loads((tmp_path / "again" / "Preferences.json").read_text()) == [PREFERENCES]
    assert SnapshotSource(tmp_path / "again").pull(params()).home_currency == "KES"


def test_without_preferences_json_the_home_currency_is_unknown(snapshot_dir: Path) -> None:
    source = SnapshotSource(snapshot_dir)
    assert source.pull(params()).home_currency is None
    assert "Preferences" not in source.payloads()


# --------------------------------------------------------------------------- reading without holding payloads


LAYOUTS = {
    "one line": '[{"Id": "1", "TotalAmt": 1.10}, {"Id": "2", "Line": [{"Amount": 2}]},{"Id":"3"}]',
    "a record a line": '[{"Id": "1", "TotalAmt": 1.10},\n{"Id": "2", "Line": [{"Amount": 2}]},\n{"Id": "3"}]\n',
    "uneven": ' \n[ {"Id": "1", "TotalAmt": 1.10}\r\n ,\t{"Id": "2", "Line": [{"Amount": 2}]} ,{"Id":"3"}\n] ',
    "text with separators": '[{"Id": "1", "Memo": "}, {"}, {"Id": "2", "Memo": "\\"},\\n{"}, {"Id": "3"}]',
    "one record": '[{"Id": "1", "TotalAmt": 1.10}]',
    "empty": "[]",
    "a lone surrogate (JSON; msgspec refuses it)": '[{"Id": "1", "Memo": "\\ud800"}, {"Id": "2"}]',
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_file_is_read_a_chunk_at_a_time_as_read_snapshot_reads_it(tmp_path: Path, layout: str) -> None:
    (tmp_path / "Invoice.json").write_text(LAYOUTS[layout], encoding="utf-8")
    expected = read_snapshot(tmp_path)["Invoice"]
    file = snapshot_module.open_snapshot(tmp_path)["Invoice"]
    assert len(file) == len(expected)
    assert [p for chunk in file.chunks(2) for p in chunk.payloads()] == expected
    assert [file.payload(i) for i in range(len(file))] == expected  # re-read from the file, one by one
    assert file.keys().to_pylist() == [str(p.get("Id")) for p in expected]
    assert file.positions_of(["3", "1", "9"]).tolist() == [
        [str(p["Id"]) for p in expected].index(k) if k in [p["Id"] for p in expected] else -1 for k in ("3", "1", "9")
    ]
    amounts = [p["TotalAmt"] for p in expected if "TotalAmt" in p]
    assert all(isinstance(a, Decimal) and str(a) == "1.10" for a in amounts)  # exact, as written
    file.close()


def test_a_written_snapshot_is_what_one_simplejson_dump_of_the_list_writes(tmp_path: Path) -> None:
    import simplejson

    payloads = company_payloads()
    write_snapshot(tmp_path / "snap", payloads)
    for name, rows in payloads.items():
        expected = simplejson.dumps(rows, use_decimal=True, ensure_ascii=False, allow_nan=False, indent=1) + "\n"
        assert (tmp_path / "snap" / f"{name}.json").read_text(encoding="utf-8") == expected
    write_snapshot(tmp_path / "empty", {"Invoice": []})
    assert (tmp_path / "empty" / "Invoice.json").read_text(encoding="utf-8") == "[]\n"


def test_the_source_parses_chunks_as_one_list_repeated_ids_across_chunks_included(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconcile.sources.qbo_parse import qbo_data_from_payloads

    payloads = company_payloads()
    payloads["Invoice"] += [invoice("1", "INV-1", "2026-08-02", total="5.00"), invoice("6", "INV-6", "2026-08-03")]
    payloads["Invoice"].append(dict(payloads["Invoice"][1]))  # "2" again, three chunks later
    write_snapshot(tmp_path / "snap", payloads)
    monkeypatch.setattr(snapshot_module, "CHUNK_RECORDS", 2)
    monkeypatch.setattr(snapshot_module.SnapshotFile.chunks, "__defaults__", (2,))
    source = SnapshotSource(tmp_path / "snap")
    expected = qbo_data_from_payloads(read_snapshot(tmp_path / "snap"))
    for name in ("transactions", "lines", "references"):
        pd.testing.assert_frame_equal(getattr(source._data, name), getattr(expected, name))
    tx = source._data.transactions
    for frame in (tx, source._data.lines):  # one piece per Arrow column, however many chunks were parsed
        for name in frame.columns:
            arrow = frame[name].array.__arrow_array__() if hasattr(frame[name].array, "__arrow_array__") else None
            assert getattr(arrow, "num_chunks", 1) == 1, name
    assert tx.loc[tx["entity"] == "invoice", "id"].tolist() == ["1", "2", "3", "4", "5", "6", "1", "2"]
    assert tx.loc[tx["entity"] == "invoice", "data_ok"].tolist() == [True] * 6 + [False, False]
    data = source.pull(params(entities=("invoice",)))
    # the window holds both copies of "1" and "2" (the later ones flagged); raw has each Id once, its first copy
    assert data.raw["Invoice"]["1"]["TotalAmt"] == Decimal("116.00")
    assert list(data.raw["Invoice"]) == ["1", "2", "5", "6"]
    assert sorted(data.lines["txn_id"]) == ["1", "2", "5", "6"]


def test_raw_payloads_are_read_from_the_file_when_asked_even_after_the_folder_is_replaced(
    snapshot_dir: Path, tmp_path: Path
) -> None:
    source = SnapshotSource(snapshot_dir)
    data = source.pull(params())
    invoices = data.raw["Invoice"]
    assert isinstance(invoices, snapshot_module.SnapshotPayloads)
    assert len(invoices) == 3 and "1" in invoices and "3" not in invoices and 3 not in invoices
    with pytest.raises(KeyError):
        invoices["3"]  # in the file, but not served by this pull
    write_snapshot(snapshot_dir, {"Invoice": [invoice("1", "CHANGED", "2026-08-01")]})  # swapped in whole
    assert invoices["1"] == company_payloads()["Invoice"][0]  # still the snapshot the run opened
    assert invoices["1"] is not invoices["1"]  # decoded on each access: nothing held
    saved = source.payloads()["Invoice"]
    assert isinstance(saved, snapshot_module.PayloadList)
    assert saved == [company_payloads()["Invoice"][i] for i in (0, 1, 4)]
    assert saved[1:] == [company_payloads()["Invoice"][i] for i in (1, 4)]
    source.close()
    with pytest.raises(UsageError, match="closed"):
        invoices["1"]


def test_extending_a_pull_with_a_lookup_merges_raw_without_reading_payloads(snapshot_dir: Path) -> None:
    source = SnapshotSource(snapshot_dir)
    pulled = source.pull(params())
    found = source.lookup(params(), LookupRequest(qbo_ids={"invoice": frozenset({"3", "1"})}))
    both = pulled.extended(found)
    assert list(both.raw["Invoice"]) == ["1", "2", "5", "3"]  # as dict.update orders them
    assert both.raw["Invoice"]["3"]["DocNumber"] == "INV-3"
    assert len(both.raw["Invoice"]) == 4 and "4" not in both.raw["Invoice"]
    assert list(both.raw["Customer"]) == ["17", "18"]
