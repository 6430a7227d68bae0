"""The QBO emulator: query subset, envelopes, tokens with rotation, faults and the request record."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests

from qbo_emulator import Emulator, QueryError, parse_query
from qbo_emulator.query import select

SAMPLES = Path(__file__).parent / "fixtures" / "qbo-samples"
ROOT = Path(__file__).resolve().parent.parent
REALM = "4620816365"


def _invoices(n: int) -> list[dict]:
    return [
        {
            "Id": str(i),
            "DocNumber": f"INV-{i:05d}",
            "TxnDate": f"2026-01-{i % 28 + 1:02d}",
            "TotalAmt": 100 + i,
            "CustomerRef": {"value": str(i % 3 + 1), "name": f"Customer {i % 3 + 1}"},
            "MetaData": {"LastUpdatedTime": f"2026-01-{i % 28 + 1:02d}T10:00:00-08:00"},
        }
        for i in range(1, n + 1)
    ]


CUSTOMERS = [
    {"Id": "1", "DisplayName": "O'Brien Ltd", "Active": True},
    {"Id": "2", "DisplayName": "Acme", "Active": True},
    {"Id": "3", "DisplayName": "Gone Inc", "Active": False},
]


@pytest.fixture
def emu():
    with Emulator({"Invoice": _invoices(30), "Customer": CUSTOMERS}, realm_id=REALM, client_secret="s3cr3t") as e:
        yield e


def _token(emu: Emulator) -> str:
    answer = _refresh(emu, emu.refresh_token)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _refresh(emu: Emulator, refresh_token: str, secret: str = "s3cr3t") -> requests.Response:
    return requests.post(
        emu.token_url,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=("client", secret),
        timeout=5,
    )


def _query(emu: Emulator, sql: str, token: str | None = None, *, get: bool = False) -> requests.Response:
    url = f"{emu.base_url}/company/{REALM}/query"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if get:
        return requests.get(url, params={"query": sql, "minorversion": 75}, headers=headers, timeout=5)
    return requests.post(
        url,
        params={"minorversion": 75},
        data=sql,
        headers={**headers, "Content-Type": "application/text"},
        timeout=5,
    )


# ------------------------------------------------------------------ the query subset


def test_parse_query_full_grammar():
    q = parse_query(
        "select * from Invoice where TxnDate >= '2026-01-01' AND DocNumber IN ('A', 'B\\'s') "
        "AND MetaData.LastUpdatedTime < '2026-02-01T00:00:00Z' ORDER BY TxnDate DESC, Id "
        "STARTPOSITION 11 MAXRESULTS 5"
    )
    assert q.entity == "Invoice" and not q.count
    assert [c.op for c in q.conditions] == [">=", "IN", "<"]
    assert q.conditions[1].values == ("A", "B's")
    assert q.conditions[2].path == ("MetaData", "LastUpdatedTime")
    assert q.order == ((("TxnDate",), True), (("Id",), False))
    assert (q.start_position, q.max_results) == (11, 5)
    count = parse_query("SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)")
    assert count.count and count.conditions[0].values == (True, False)
    assert parse_query("SELECT * FROM Item ORDERBY Name").order == ((("Name",), False),)


@pytest.mark.parametrize(
    "sql",
    ["", "SELECT FROM Invoice", "SELECT * Invoice", "SELECT * FROM Invoice WHERE", "SELECT * FROM Invoice LIMIT 5"],
)
def test_parse_query_rejects(sql):
    with pytest.raises(QueryError):
        parse_query(sql)


def test_select_filters_orders_and_compares_offsets():
    rows = _invoices(10)
    q = parse_query("SELECT * FROM Invoice WHERE CustomerRef = '2' ORDERBY TotalAmt DESC")
    assert [r["Id"] for r in select(rows, q, entity="Invoice")] == ["10", "7", "4", "1"]
    # 10:00-08:00 is 18:00Z: an instant comparison, not a text one
    q = parse_query("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '2026-01-03T17:59:59Z'")
    assert "2" in [r["Id"] for r in select(rows, q, entity="Invoice")]
    q = parse_query("SELECT * FROM Invoice WHERE TotalAmt > 108")
    assert [r["Id"] for r in select(rows, q, entity="Invoice")] == ["9", "10"]


# ------------------------------------------------------------------ the endpoints


def test_query_envelope_paging_and_past_the_end(emu):
    token = _token(emu)
    page = _query(emu, "SELECT * FROM Invoice STARTPOSITION 11 MAXRESULTS 10", token).json()
    assert page["QueryResponse"]["startPosition"] == 11
    assert page["QueryResponse"]["maxResults"] == 10
    assert [r["Id"] for r in page["QueryResponse"]["Invoice"]] == [str(i) for i in range(11, 21)]
    assert "time" in page
    assert _query(emu, "SELECT * FROM Invoice STARTPOSITION 31 MAXRESULTS 10", token).json()["QueryResponse"] == {}
    assert _query(emu, "SELECT COUNT(*) FROM Invoice", token).json()["QueryResponse"] == {"totalCount": 30}
    by_get = _query(emu, "SELECT * FROM Invoice WHERE DocNumber = 'INV-00007'", token, get=True).json()
    assert [r["Id"] for r in by_get["QueryResponse"]["Invoice"]] == ["7"]
    # QBO's default page is 100 rows, its maximum 1000
    assert _query(emu, "SELECT * FROM Invoice", token).json()["QueryResponse"]["maxResults"] == 30


def test_list_entities_answer_active_only_unless_asked(emu):
    token = _token(emu)
    names = lambda r: [c["DisplayName"] for c in r.json()["QueryResponse"].get("Customer", [])]  # noqa: E731
    assert names(_query(emu, "SELECT * FROM Customer", token)) == ["O'Brien Ltd", "Acme"]
    assert names(_query(emu, "SELECT * FROM Customer WHERE Active IN (true, false)", token)) == [
        "O'Brien Ltd",
        "Acme",
        "Gone Inc",
    ]
    assert names(_query(emu, "SELECT * FROM Customer WHERE Active = false", token)) == ["Gone Inc"]
    assert names(_query(emu, "SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien Ltd'", token)) == ["O'Brien Ltd"]


def test_parse_error_is_the_4000_fault_shape(emu):
    token = _token(emu)
    answer = _query(emu, "SELECT * FROM Invoice WHERE TxnDate >>", token)
    assert answer.status_code == 400
    sample = json.loads((SAMPLES / "exquickbooks_fault_4000_query_parse.json").read_text())
    body = answer.json()
    assert body.keys() == sample.keys()
    assert body["Fault"]["type"] == "ValidationFault"
    error = body["Fault"]["Error"][0]
    assert error["code"] == "4000" and error["Message"] == "Error parsing query"
    assert error["Detail"].startswith("QueryParserError")


def test_read_endpoint_and_not_found(emu):
    token = _token(emu)
    url = f"{emu.base_url}/company/{REALM}/invoice/5"
    answer = requests.get(url, params={"minorversion": 75}, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert answer.json()["Invoice"]["DocNumber"] == "INV-00005"
    missing = requests.get(url[:-1] + "999", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert missing.status_code == 400
    assert missing.json()["Fault"]["Error"][0]["code"] == "610"


def test_writes_are_refused_and_recorded(emu):
    token = _token(emu)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{emu.base_url}/company/{REALM}"
    for url in (f"{base}/invoice", f"{base}/batch", f"{base}/invoice?operation=delete"):
        answer = requests.post(url, json={"Line": []}, headers=headers, timeout=5)
        assert answer.status_code == 400
    prefix = f"/v3/company/{REALM}"
    assert [w.path for w in emu.writes] == [f"{prefix}/invoice", f"{prefix}/batch", f"{prefix}/invoice"]
    assert emu.records("Invoice") == _invoices(30)


def test_bearer_check_answers_401_in_the_lowercase_shape(emu):
    answer = _query(emu, "SELECT * FROM Invoice")
    assert answer.status_code == 401
    error = answer.json()["fault"]["error"][0]
    assert error["code"] == "3200" and "AuthenticationFailed" in error["message"]
    token = _token(emu)
    assert _query(emu, "SELECT * FROM Invoice", token).status_code == 200
    emu.expire_access_tokens()
    assert _query(emu, "SELECT * FROM Invoice", token).status_code == 401
    assert [r.fault for r in emu.requests if r.kind == "query"] == ["unauthorized", None, "unauthorized"]


def test_refresh_tokens_rotate_and_the_old_one_dies(emu):
    first = _refresh(emu, emu.refresh_token)
    body = first.json()
    assert set(body) >= {"access_token", "refresh_token", "expires_in", "x_refresh_token_expires_in", "token_type"}
    assert body["refresh_token"] != emu.refresh_token
    reuse = _refresh(emu, emu.refresh_token)
    assert (reuse.status_code, reuse.json()) == (400, {"error": "invalid_grant"})
    assert _refresh(emu, body["refresh_token"]).status_code == 200
    assert _refresh(emu, emu.issue_refresh_token(), secret="wrong").json() == {"error": "invalid_client"}
    fresh = emu.issue_refresh_token()
    emu.revoke_refresh_tokens()
    assert _refresh(emu, fresh).json() == {"error": "invalid_grant"}
    assert {r.kind for r in emu.requests} == {"token"}


def test_access_tokens_expire_after_their_lifetime():
    with Emulator({"Invoice": _invoices(2)}, realm_id=REALM) as emu:
        emu.set_faults(access_token_lifetime=0.05)
        token = _refresh(emu, emu.refresh_token).json()["access_token"]
        assert _query(emu, "SELECT * FROM Invoice", token).status_code == 200
        threading.Event().wait(0.1)
        assert _query(emu, "SELECT * FROM Invoice", token).status_code == 401


def test_injected_faults_take_qbo_shapes(emu):
    token = _token(emu)
    emu.set_faults(throttle_every=2, retry_after="7")
    assert _query(emu, "SELECT * FROM Invoice", token).status_code == 200
    throttled = _query(emu, "SELECT * FROM Invoice", token)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    root = ET.fromstring(throttled.content)
    error = next(el for el in root.iter() if el.tag.endswith("Error"))
    assert error.get("code") == "3001"
    emu.clear_faults()
    emu.reset_requests()
    emu.set_faults(error_every=1)
    assert _query(emu, "SELECT * FROM Invoice", token).status_code == 503
    emu.set_faults(error_every=0, drop_every=1)
    with pytest.raises(requests.ConnectionError):
        _query(emu, "SELECT * FROM Invoice", token)
    assert [r.fault for r in emu.requests] == ["error", "drop"]
    with pytest.raises(TypeError):
        emu.set_faults(no_such_fault=1)


def test_record_counts_requests_in_flight():
    with Emulator({"Invoice": _invoices(5)}, realm_id=REALM) as emu:
        token = _token(emu)
        emu.set_faults(latency=0.2)
        threads = [threading.Thread(target=_query, args=(emu, "SELECT * FROM Invoice", token)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert emu.max_in_flight == 4
        assert max(r.in_flight for r in emu.requests) == 4
        assert all(r.query == "SELECT * FROM Invoice" and r.status == 200 for r in emu.requests if r.kind == "query")


def test_loads_a_snapshot_folder_and_decimals(tmp_path):
    (tmp_path / "Item.json").write_text(
        json.dumps(
            json.loads((SAMPLES / "exquickbooks_query_item_QueryResponse.json").read_text())["QueryResponse"]["Item"]
        )
    )
    with Emulator(tmp_path, realm_id=REALM, require_auth=False) as emu:
        items = _query(emu, "SELECT * FROM Item WHERE Active IN (true, false) MAXRESULTS 1000").json()
        assert len(items["QueryResponse"]["Item"]) == 19
        assert _query(emu, "SELECT * FROM Nonsense").json()["Fault"]["Error"][0]["code"] == "4001"


def test_admin_endpoints_and_command_line(tmp_path):
    (tmp_path / "Invoice.json").write_text(json.dumps(_invoices(3)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbo_emulator", "--port", "0", "--data", str(tmp_path), "--realm", REALM],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        auth = base64.b64encode(b"id:secret").decode()
        token = requests.post(
            info["token_url"],
            data={"grant_type": "refresh_token", "refresh_token": info["refresh_token"]},
            headers={"Authorization": f"Basic {auth}"},
            timeout=5,
        ).json()["access_token"]
        answer = requests.post(
            f"{info['base_url']}/company/{REALM}/query",
            data="SELECT COUNT(*) FROM Invoice",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert answer.json()["QueryResponse"] == {"totalCount": 3}
        base = info["base_url"].removesuffix("/v3")
        faults = requests.post(f"{base}/_emulator/faults", json={"latency": 0.01}, timeout=5).json()
        assert faults["latency"] == 0.01
        stats = requests.get(f"{base}/_emulator/stats", timeout=5).json()
        assert stats["kinds"] == {"token": 1, "query": 1} and stats["writes"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
