"""The QBO client wrapper: typed faults, retries, limits, token refresh and paging, over real HTTP."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from qbo_emulator import Emulator
from reconcile.config import QboSettings, Secret
from reconcile.errors import (
    QboAuthError,
    QboFault,
    QboNotFound,
    QboThrottled,
    QboValidationError,
    SourceError,
)
from reconcile.sources.qbo_auth import OAuthClient
from reconcile.sources.qbo_client import (
    QboClient,
    RateLimiter,
    classify_fault,
    count_query,
    entity_of,
)

SAMPLES = Path(__file__).parent / "fixtures" / "qbo-samples"
REALM = "9130350000000042"
CLIENT_SECRET = "client-secret-Wv55"
WINDOW = "SELECT * FROM Invoice WHERE TxnDate >= '2026-01-01' AND TxnDate <= '2026-12-31' ORDERBY Id"


def _invoices(n: int) -> list[dict]:
    return [
        {
            "Id": str(i),
            "DocNumber": f"INV-{i:05d}",
            "TxnDate": f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
            "TotalAmt": 100 + i + 0.25,
            "CustomerRef": {"value": str(i % 7 + 1)},
        }
        for i in range(1, n + 1)
    ]


@pytest.fixture
def emu():
    with Emulator({"Invoice": _invoices(2500)}, realm_id=REALM, client_secret=CLIENT_SECRET) as e:
        yield e


def _client(emu: Emulator, tmp_path: Path, *, sleep=None, **settings_kw) -> QboClient:
    settings = replace(
        QboSettings(
            realm_id=REALM,
            base_url=emu.base_url,
            token_url=emu.token_url,
            token_store=tmp_path / "tokens.json",
            client_id=Secret("app"),
            client_secret=Secret(CLIENT_SECRET),
            refresh_token=Secret(emu.issue_refresh_token()),
            timeout_seconds=5,
            max_retries=5,
        ),
        **settings_kw,
    )
    kw = {"sleep": sleep} if sleep is not None else {}
    return QboClient(settings, OAuthClient(settings, company="acme"), company="acme", backoff_base=0.001, **kw)


def _ids(rows: list[dict]) -> list[str]:
    return [r["Id"] for r in rows]


# ------------------------------------------------------------------ faults as typed errors


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "status", "cls", "code", "detail_part", "element"),
    [
        ("exquickbooks_fault_2020_required_param.json", 400, QboValidationError, "2020", "Name is missing", "Name"),
        ("exquickbooks_fault_4000_query_parse.json", 400, QboValidationError, "4000", "QueryParserError", ""),
        ("exquickbooks_fault_610_object_not_found.json", 400, QboNotFound, "610", "made inactive", ""),
        ("issue118_http401_auth_fault_lowercase.json", 401, QboAuthError, "3200", "", ""),
        ("issue83_http429_throttle_fault.xml", 429, QboThrottled, "3001", "The request limit was reached", ""),
    ],
)
def test_each_fault_sample_becomes_its_typed_error(name, status, cls, code, detail_part, element):
    fault = classify_fault(status, _sample(name), company="acme")
    assert type(fault) is cls
    assert (fault.code, fault.element, fault.http_status) == (code, element, status)
    assert detail_part in fault.detail
    assert fault.exit_code == 3 and fault.company == "acme"
    assert fault.retriable is (cls is QboThrottled)


def test_fault_sample_messages_are_kept():
    parse = classify_fault(400, _sample("exquickbooks_fault_4000_query_parse.json"))
    assert parse.message == "Error parsing query"
    assert str(parse).startswith("QBO: QBO fault 4000: Error parsing query (QueryParserError")
    required = classify_fault(400, _sample("exquickbooks_fault_2020_required_param.json"))
    assert required.message == "Required param missing, need to supply the required value for the API"
    auth = classify_fault(401, _sample("issue118_http401_auth_fault_lowercase.json"))
    assert "AuthenticationFailed" in str(auth) and auth.fault_type == "AUTHENTICATION"
    throttle = classify_fault(429, _sample("issue83_http429_throttle_fault.xml").decode())
    assert throttle.fault_type == "SERVICE" and "ThrottleExceeded" in str(throttle)


def test_stale_object_5010_is_the_base_fault_not_retriable():
    fault = classify_fault(400, _sample("exquickbooks_fault_5010_stale_object.json"))
    assert type(fault) is QboFault and fault.code == "5010" and not fault.retriable


def test_fault_inside_http_200_and_other_shapes():
    in_200 = classify_fault(200, _sample("exquickbooks_fault_2020_required_param.json"))
    assert isinstance(in_200, QboValidationError) and in_200.http_status == 200
    assert isinstance(classify_fault(400, '{"Fault":{"Error":[{"Message":"m","code":"6240"}]}}'), QboValidationError)
    assert isinstance(classify_fault(403, '{"fault":{"error":[{"message":"m","code":"3100"}]}}'), QboAuthError)
    assert isinstance(classify_fault(400, '{"Fault":{"Error":[{"Message":"m","code":"120"}]}}'), QboAuthError)
    gateway = classify_fault(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>")
    assert type(gateway) is QboFault and gateway.retriable and gateway.code == "HTTP 503"
    assert "503 Service Unavailable" in gateway.detail
    not_found = classify_fault(404, "nothing here")
    assert type(not_found) is QboFault and not not_found.retriable


def test_query_helpers():
    assert entity_of(WINDOW) == "Invoice"
    assert count_query(WINDOW) == (
        "SELECT COUNT(*) FROM Invoice WHERE TxnDate >= '2026-01-01' AND TxnDate <= '2026-12-31'"
    )
    assert count_query("select * from Bill where DocNumber = 'ORDER BY 1'") == (
        "SELECT COUNT(*) from Bill where DocNumber = 'ORDER BY 1'"
    )


def test_rate_limiter_sliding_window():
    now = [100.0]
    limiter = RateLimiter(3, 60.0, clock=lambda: now[0])
    assert [limiter.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire() == pytest.approx(60.0)
    now[0] += 30
    assert limiter.try_acquire() == pytest.approx(30.0)
    now[0] += 30
    assert limiter.try_acquire() == 0.0
    limiter.pause(5)
    now[0] += 60
    assert limiter.try_acquire() == 0.0


# ------------------------------------------------------------------ paging


def test_paging_2500_records_returns_each_once(emu, tmp_path):
    client = _client(emu, tmp_path)
    rows = client.query_all(WINDOW)
    assert sorted(_ids(rows), key=int) == [str(i) for i in range(1, 2501)]
    assert len(set(_ids(rows))) == 2500
    assert rows[0]["TotalAmt"] == Decimal("101.25")  # exact decimals from the library path
    queries = [r.query for r in emu.requests if r.kind == "query"]
    assert sorted(q for q in queries if "STARTPOSITION" in q) == sorted(
        f"{WINDOW} STARTPOSITION {s} MAXRESULTS 1000" for s in (1, 1001, 2001)
    )
    assert sum("COUNT(*)" in q for q in queries) == 1


def test_count_first_asks_the_count_alongside_the_first_page(tmp_path):
    with Emulator({"Invoice": _invoices(2500)}, realm_id=REALM) as emu:
        emu.set_faults(latency=0.2)
        rows = _client(emu, tmp_path).query_all(WINDOW, count_first=True)
        assert sorted(_ids(rows), key=int) == [str(i) for i in range(1, 2501)]
        queries = [r for r in emu.requests if r.kind == "query"]
        assert len(queries) == 4  # the count and 3 pages: no request more than without count_first
        count = next(r for r in queries if "COUNT(*)" in r.query)
        first = next(r for r in queries if "STARTPOSITION 1 " in r.query)
        assert abs(count.arrived - first.arrived) < 0.15  # sent together, not one round trip apart


def test_count_first_on_a_short_answer_costs_one_request_more(emu, tmp_path):
    rows = _client(emu, tmp_path).query_all("SELECT * FROM Invoice WHERE DocNumber = 'INV-00005'", count_first=True)
    assert _ids(rows) == ["5"]
    assert sorted(r.kind for r in emu.requests) == ["query", "query", "token"]


def test_query_rows_keeps_pages_undecoded_until_asked(emu, tmp_path):
    client = _client(emu, tmp_path)
    rows = client.query_rows(WINDOW)
    assert len(rows) == 2500
    assert rows.ids() == [str(i) for i in range(1, 2501)]  # the ids, read for the paging checks
    payloads = rows.payloads()
    assert payloads == client.query_all(WINDOW)
    assert payloads[0]["TotalAmt"] == Decimal("101.25") and type(payloads[0]["TotalAmt"]) is Decimal


def test_a_garbled_answer_is_retried_then_reported(emu, tmp_path, monkeypatch):
    client = _client(emu, tmp_path, max_retries=2)
    real = client._send_for_body
    answers: list[bytes] = []

    def garbled(*args, **kwargs):
        body = real(*args, **kwargs)
        answers.append(body)
        return body[: len(body) // 2] if len(answers) == 1 else body

    monkeypatch.setattr(client, "_send_for_body", garbled)
    assert len(client.query_all("SELECT * FROM Invoice WHERE DocNumber IN ('INV-00001', 'INV-00002')")) == 2
    assert len(answers) == 2  # the half answer was asked again

    monkeypatch.setattr(client, "_send_for_body", lambda *a, **k: b"<html>proxy error</html>")
    with pytest.raises(SourceError) as info:
        client.query_all(WINDOW)
    assert "failed after 3 attempts (last: HTTP 200, unreadable answer: not JSON" in info.value.one_line()


def test_paging_stops_at_a_short_page_even_on_an_exact_multiple(tmp_path):
    with Emulator({"Invoice": _invoices(2000)}, realm_id=REALM) as emu:
        rows = _client(emu, tmp_path).query_all("SELECT * FROM Invoice")
        assert len(rows) == len(set(_ids(rows))) == 2000
        starts = [
            q.split("STARTPOSITION ")[1].split()[0] for q in (r.query or "" for r in emu.requests) if "START" in q
        ]
        assert sorted(map(int, starts)) == [1, 1001, 2001]


def test_small_result_needs_one_request(emu, tmp_path):
    client = _client(emu, tmp_path)
    assert _ids(client.query_all("SELECT * FROM Invoice WHERE DocNumber IN ('INV-00007', 'INV-00009')")) == ["7", "9"]
    assert [r.kind for r in emu.requests] == ["token", "query"]
    assert client.query_all("SELECT * FROM Invoice WHERE DocNumber = 'nope'") == []


def test_paging_loop_is_detected(emu, tmp_path):
    emu.set_faults(ignore_start_position=True)
    with pytest.raises(SourceError, match="paging loop") as info:
        _client(emu, tmp_path).query_all(WINDOW)
    assert info.value.company == "acme"


def test_query_all_refuses_paged_queries(emu, tmp_path):
    with pytest.raises(ValueError):
        _client(emu, tmp_path).query_all("SELECT * FROM Invoice MAXRESULTS 10")


# ------------------------------------------------------------------ resilience: same data under every fault


@pytest.mark.parametrize(
    "faults",
    [
        {"throttle_every": 3},
        {"error_every": 3},
        {"error_every": 4, "error_status": 500},
        {"latency": 0.05},
        {"slow_every": 3, "slow_seconds": 1.0},
        {"drop_every": 3},
        {"cut_every": 2},
        {"throttle_every": 5, "error_every": 7, "drop_every": 4, "cut_every": 6},
    ],
    ids=["xml429", "503", "500", "slow", "timeout", "dropped", "cut", "mixed"],
)
def test_pull_under_fault_equals_a_clean_pull(emu, tmp_path, faults, caplog):
    clean = _client(emu, tmp_path / "clean").query_all(WINDOW)
    emu.reset_requests()
    emu.set_faults(**faults)
    faulty = _client(emu, tmp_path / "faulty", timeout_seconds=0.5).query_all(WINDOW)
    assert faulty == clean
    if "latency" not in faults:
        assert "retry 1 of 5" in caplog.text  # the faults really happened, and were retried


def test_expired_access_token_mid_pull_refreshes_once(emu, tmp_path):
    client = _client(emu, tmp_path)
    clean = client.query_all(WINDOW)
    emu.expire_access_tokens()
    emu.reset_requests()
    assert client.query_all(WINDOW) == clean
    kinds = [r.kind for r in emu.requests]
    assert kinds.count("token") == 1
    assert next(r.fault for r in emu.requests if r.kind == "query") == "unauthorized"


def test_401_twice_is_an_auth_error(emu, tmp_path, monkeypatch):
    client = _client(emu, tmp_path)
    client.query("SELECT COUNT(*) FROM Invoice")
    monkeypatch.setattr(emu, "_authorized", lambda headers: False)
    with pytest.raises(QboAuthError) as info:
        client.query("SELECT COUNT(*) FROM Invoice")
    assert info.value.code == "3200" and not info.value.retriable
    assert [r.kind for r in emu.requests].count("token") == 2  # one refresh, no more


def test_revoked_refresh_token_says_reauthorize(emu, tmp_path):
    client = _client(emu, tmp_path)
    client.query("SELECT COUNT(*) FROM Invoice")
    emu.revoke_refresh_tokens()
    emu.expire_access_tokens()
    with pytest.raises(QboAuthError) as info:
        client.query_all(WINDOW)
    assert info.value.exit_code == 3
    assert "re-authorize the QBO connection" in info.value.one_line()


def test_validation_faults_are_not_retried(emu, tmp_path):
    client = _client(emu, tmp_path)
    with pytest.raises(QboValidationError) as info:
        client.query("SELECT * FROM Invoice WHERE TxnDate >>> 1")
    assert info.value.code == "4000" and "QueryParserError" in info.value.detail
    assert [r.kind for r in emu.requests].count("query") == 1
    with pytest.raises(QboNotFound):
        client.read("Invoice", "999999")
    assert client.read("Invoice", "12")["DocNumber"] == "INV-00012"


def test_retry_budget_exhausted_names_company_and_what_failed(emu, tmp_path):
    emu.set_faults(error_every=1)
    client = _client(emu, tmp_path, max_retries=2)
    with pytest.raises(SourceError) as info:
        client.query_all(WINDOW)
    err = info.value
    assert not isinstance(err, QboFault) and err.retriable and err.exit_code == 3
    line = err.one_line()
    assert line.startswith("acme: QBO: query SELECT * FROM Invoice")
    assert "failed after 3 attempts (last: HTTP 503)" in line
    assert "\n" not in str(err)
    assert [r.kind for r in emu.requests].count("query") == 3


def test_retry_after_is_honored(emu, tmp_path):
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        threading.Event().wait(seconds)

    emu.set_faults(throttle_every=2, retry_after="0.3")
    client = _client(emu, tmp_path, sleep=sleep)
    client.query("SELECT COUNT(*) FROM Invoice")
    client.query("SELECT COUNT(*) FROM Invoice")  # the 2nd request is throttled, then retried
    assert delays and max(delays) >= 0.3


def test_fault_inside_http_200_is_raised_typed(emu, tmp_path, monkeypatch):
    client = _client(emu, tmp_path)
    body = _sample("exquickbooks_fault_2020_required_param.json")

    def fake_request(*args, **kwargs):
        response = requests.Response()
        response.status_code = 200
        response._content = body
        response.headers["Content-Type"] = "application/json"
        return response

    monkeypatch.setattr(client._session, "request", fake_request)
    with pytest.raises(QboValidationError) as info:
        client.query("SELECT * FROM Invoice")
    assert (info.value.code, info.value.element) == ("2020", "Name")


# ------------------------------------------------------------------ limits and what reaches QBO


def test_never_more_than_max_in_flight(tmp_path):
    with Emulator({"Invoice": _invoices(15_000)}, realm_id=REALM) as emu:
        emu.set_faults(latency=0.03)
        clients = [_client(emu, tmp_path / str(k)) for k in range(2)]
        results: list[list[dict]] = []
        threads = [threading.Thread(target=lambda c=c: results.append(c.query_all(WINDOW))) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 2 and all(len(r) == 15_000 for r in results)
        assert 2 < emu.max_in_flight <= 10
        assert max(r.in_flight for r in emu.requests) <= 10


def test_lower_in_flight_limit_is_respected(tmp_path):
    with Emulator({"Invoice": _invoices(6000)}, realm_id="777", client_secret=None) as emu:
        emu.set_faults(latency=0.02)
        client = _client(emu, tmp_path, realm_id="777", max_in_flight=3)
        assert len(client.query_all("SELECT * FROM Invoice")) == 6000
        assert emu.max_in_flight <= 3


def test_proxy_and_ca_bundle_come_from_the_environment(emu, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "corporate-ca.pem"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings = QboSettings(realm_id=REALM, token_store=tmp_path / "tokens.json", client_id=Secret("app"))
    client = QboClient(settings, OAuthClient(settings, company="acme"), company="acme")
    assert client.api_url.startswith("https://quickbooks.api.intuit.com")
    assert client._session.proxies["https"] == "http://proxy.example:3128"
    assert client._session.verify == str(tmp_path / "corporate-ca.pem")
    monkeypatch.setenv("NO_PROXY", "quickbooks.api.intuit.com")
    bypassed = QboClient(settings, OAuthClient(settings, company="acme"), company="acme")
    assert "https" not in bypassed._session.proxies


def test_only_queries_reads_and_token_calls_reach_qbo(emu, tmp_path):
    emu.set_faults(throttle_every=4, drop_every=5)
    client = _client(emu, tmp_path)
    client.query_all(WINDOW)
    client.read("Invoice", "3")
    emu.expire_access_tokens()
    client.count("SELECT * FROM Invoice")
    assert {r.kind for r in emu.requests} <= {"query", "read", "token"}
    assert not emu.writes
    assert all(r.method == "POST" for r in emu.requests if r.kind in ("query", "token"))
    assert all(r.method == "GET" for r in emu.requests if r.kind == "read")


def test_secrets_absent_from_errors_and_logs(emu, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    client = _client(emu, tmp_path, max_retries=1)
    client.query_all(WINDOW)
    errors: list[str] = []
    emu.set_faults(error_every=1)
    with pytest.raises(SourceError) as info:
        client.query("SELECT * FROM Invoice")
    errors.append(str(info.value))
    emu.clear_faults()
    emu.revoke_refresh_tokens()
    emu.expire_access_tokens()
    with pytest.raises(QboAuthError) as info2:
        client.query("SELECT * FROM Invoice")
    errors.append(str(info2.value))
    stored = json.loads((tmp_path / "tokens.json").read_text())
    with emu._lock:
        issued = [*emu._access_tokens, *emu._refresh_tokens]
    secrets = [
        CLIENT_SECRET,
        client.settings.refresh_token.reveal(),
        stored["refresh_token"],
        stored["access_token"],
        *issued,
    ]
    text = "\n".join([*errors, caplog.text, repr(client), repr(client._auth)])
    assert "retry 1 of 1" in caplog.text  # the logs were captured
    for secret in secrets:
        assert secret and secret not in text
