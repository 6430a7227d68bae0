"""A local stand-in for QuickBooks Online: query and read endpoints, OAuth2 tokens, faults.

The emulator serves, over real HTTP on 127.0.0.1, what this project sends to QBO:

* ``POST /v3/company/{realm}/query?minorversion=N`` with the query text as the body (what
  python-quickbooks sends) and ``GET …/query?query=…`` (see :mod:`qbo_emulator.query` for the
  SELECT subset), answered in QBO's envelope;
* ``GET /v3/company/{realm}/{entity}/{id}``: a read;
* ``POST /oauth2/v1/tokens/bearer``: the refresh-token grant, with rotation (each refresh
  returns a new refresh token and the old one then gets ``invalid_grant``) and access tokens that
  expire; API calls need a valid bearer token (else HTTP 401 with QBO's lowercase fault body).

Anything else that would change QBO (a POST to an entity endpoint, batch…) is refused with HTTP
400 and recorded. Faults in QBO's real shapes can be injected at runtime (:class:`Faults`): an XML
429 every Nth request, a 5xx every Nth, added latency, a dropped connection every Nth, an answer
cut off halfway every Nth, expired access tokens, revoked refresh tokens. Every request is
recorded (:class:`RequestRecord`) with the number of requests in flight when it arrived, so tests
can assert on what reached "QBO".

Python use::

    with Emulator(snapshot_dir_or_payloads, realm_id="123") as emu:
        emu.base_url, emu.token_url, emu.refresh_token  # the first refresh token
        emu.set_faults(throttle_every=3)
        ...
        emu.requests, emu.max_in_flight
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import secrets
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from qbo_emulator.query import (
    INDEXED_FIELDS,
    LIST_ENTITIES,
    FieldIndex,
    Query,
    QueryError,
    narrowed,
    parse_query,
    select,
)

#: Entities QBO knows (queries on others fail as QBO's do).
KNOWN_ENTITIES = frozenset(
    {
        "Account",
        "Attachable",
        "Bill",
        "BillPayment",
        "Class",
        "CreditMemo",
        "Customer",
        "Department",
        "Deposit",
        "Employee",
        "Estimate",
        "Invoice",
        "Item",
        "JournalEntry",
        "Payment",
        "PaymentMethod",
        "Preferences",  # one object per company: its CurrencyPrefs name the home currency
        "Purchase",
        "PurchaseOrder",
        "RefundReceipt",
        "SalesReceipt",
        "TaxAgency",
        "TaxCode",
        "TaxRate",
        "Term",
        "Transfer",
        "Vendor",
        "VendorCredit",
    }
    | LIST_ENTITIES
)

TOKEN_PATH = "/oauth2/v1/tokens/bearer"
ADMIN_PREFIX = "/_emulator/"

_THROTTLE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<IntuitResponse time="{time}" xmlns="http://schema.intuit.com/finance/v3">\n'
    '    <Fault type="SERVICE">\n'
    '        <Error code="3001">\n'
    "            <Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>\n"
    "            <Detail>The request limit was reached.  Try again later</Detail>\n"
    "        </Error>\n"
    "    </Fault>\n"
    "</IntuitResponse>\n"
)


@dataclass
class Faults:
    """What to inject; every ``*_every`` counts API requests (queries and reads) from 1."""

    #: answer HTTP 429 with QBO's XML throttle fault on every Nth request (0 = never)
    throttle_every: int = 0
    #: ``Retry-After`` header on throttled answers (None = no header)
    retry_after: str | None = None
    #: answer ``error_status`` (a 5xx with an HTML body, as a gateway does) on every Nth request
    error_every: int = 0
    error_status: int = 503
    #: close the connection without answering on every Nth request
    drop_every: int = 0
    #: on every Nth request, cut the connection halfway through the answer's body
    cut_every: int = 0
    #: seconds added to every API request (the request counts as in flight meanwhile)
    latency: float = 0.0
    #: every Nth request is slow: ``slow_seconds`` more before the answer (to trip client timeouts)
    slow_every: int = 0
    slow_seconds: float = 0.0
    #: seconds an access token lives
    access_token_lifetime: float = 3600.0
    #: seconds a refresh token lives (QBO: 100 days)
    refresh_token_lifetime: float = 8_640_000.0
    #: answer every page from the first record, whatever STARTPOSITION says (a paging loop)
    ignore_start_position: bool = False


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it."""

    seq: int
    method: str
    path: str
    #: query | read | token | write | other
    kind: str
    query: str | None
    arrived: float
    in_flight: int
    status: int = 0
    #: the fault injected, if any: throttle | error | drop | cut | slow | unauthorized
    fault: str | None = None


class Emulator:
    """The QBO emulator: a threaded HTTP server on 127.0.0.1 over a set of QBO payloads."""

    def __init__(
        self,
        data: Path | str | Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
        *,
        realm_id: str = "9130350000000000",
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        faults: Faults | None = None,
        require_auth: bool = True,
    ):
        self.realm_id = str(realm_id)
        self.host = host
        self.port = port
        self.client_id = client_id
        self.client_secret = client_secret
        self.require_auth = require_auth
        self.faults = faults or Faults()
        self._lock = threading.Lock()
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._by_id: dict[str, dict[str, dict[str, Any]]] = {}
        self._indexes: dict[str, dict[str, FieldIndex]] = {}
        self._encoded: dict[str, dict[int, bytes]] = {}
        self._cache: dict[tuple[Any, ...], _Selection] = {}
        self._refresh_tokens: dict[str, float] = {}
        self._access_tokens: dict[str, float] = {}
        self._log: list[RequestRecord] = []
        self._seq = 0
        self._api_count = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.refresh_token = refresh_token or self.issue_refresh_token()
        if refresh_token:
            self._refresh_tokens[refresh_token] = time.monotonic() + self.faults.refresh_token_lifetime
        if isinstance(data, Path | str):
            self.load_snapshot(Path(data))
        elif data is not None:
            for entity, payloads in data.items():
                self.load(entity, payloads)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Emulator:
        """Start serving in a background thread (port 0 picks a free port)."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="qbo-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The API base to configure as ``[qbo] base_url``."""
        return f"http://{self.host}:{self.port}/v3"

    @property
    def token_url(self) -> str:
        """The token endpoint to configure as ``[qbo] token_url``."""
        return f"http://{self.host}:{self.port}{TOKEN_PATH}"

    # ------------------------------------------------------------------ data

    def load_snapshot(self, folder: Path) -> None:
        """Load every ``<Entity>.json`` (a JSON array of entity objects) of a snapshot folder."""
        for path in sorted(folder.glob("*.json")):
            payloads = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(payloads, list):
                self.load(path.stem, payloads)

    def load(self, entity: str, payloads: Iterable[Mapping[str, Any]]) -> None:
        """Replace the records of one entity."""
        rows = [_plain(dict(p)) for p in payloads]
        indexes = {name.lower(): FieldIndex.build(rows, name) for name in INDEXED_FIELDS}
        with self._lock:
            self._records[entity] = rows
            self._indexes[entity] = indexes
            self._by_id[entity] = {str(r.get("Id")): r for r in rows}
            self._encoded[entity] = {}
            self._cache.clear()

    def records(self, entity: str) -> list[dict[str, Any]]:
        """The records of one entity (all of them, active or not)."""
        return list(self._records.get(entity, []))

    # ------------------------------------------------------------------ faults and tokens

    def set_faults(self, **changes: Any) -> None:
        """Change fault injection at runtime, e.g. ``set_faults(throttle_every=3, latency=0.02)``."""
        names = {f.name for f in fields(Faults)}
        unknown = set(changes) - names
        if unknown:
            raise TypeError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        with self._lock:
            self.faults = replace(self.faults, **changes)

    def clear_faults(self) -> None:
        """Back to a well-behaved QBO (token lifetimes kept)."""
        with self._lock:
            self.faults = Faults(
                access_token_lifetime=self.faults.access_token_lifetime,
                refresh_token_lifetime=self.faults.refresh_token_lifetime,
            )

    def issue_refresh_token(self) -> str:
        """A new valid refresh token (as if a user had just authorized the app)."""
        token = "RT1-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = time.monotonic() + self.faults.refresh_token_lifetime
        return token

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (the next API call gets HTTP 401)."""
        with self._lock:
            self._access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token stops working (the next refresh gets ``invalid_grant``)."""
        with self._lock:
            self._refresh_tokens.clear()

    # ------------------------------------------------------------------ the record

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._log)

    @property
    def max_in_flight(self) -> int:
        """The most requests in flight at once since the last reset."""
        return self._max_in_flight

    @property
    def writes(self) -> list[RequestRecord]:
        """The refused attempts to change QBO."""
        return [r for r in self.requests if r.kind == "write"]

    def reset_requests(self) -> None:
        """Forget the record (and the fault counter and max in-flight)."""
        with self._lock:
            self._log.clear()
            self._api_count = 0
            self._max_in_flight = self._in_flight

    def stats(self) -> dict[str, Any]:
        """A summary of the record (also served at ``GET /_emulator/stats``)."""
        log = self.requests
        kinds: dict[str, int] = {}
        for record in log:
            kinds[record.kind] = kinds.get(record.kind, 0) + 1
        return {
            "requests": len(log),
            "kinds": kinds,
            "faults": sum(1 for r in log if r.fault),
            "max_in_flight": self._max_in_flight,
            "writes": kinds.get("write", 0),
        }

    # ------------------------------------------------------------------ request handling

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Answer | None:
        """Answer one request; None means: drop the connection without an answer."""
        parts = urlsplit(target)
        path = unquote(parts.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if path.startswith(ADMIN_PREFIX):
            return self._admin(method, path, body)
        kind, query_text = _classify(method, path, params, body)
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._in_flight += 1
            in_flight = self._in_flight
            self._max_in_flight = max(self._max_in_flight, in_flight)
            if kind in ("query", "read"):
                self._api_count += 1
            api_count = self._api_count
            faults = self.faults
        arrived = time.time()
        fault: str | None = None
        answer: _Answer | None = None
        try:
            if kind == "token":
                answer = self._token(headers, body)
            elif kind == "write":
                answer = _fault_answer(
                    400,
                    "6000",
                    "A business validation error has occurred while processing your request",
                    f"The QBO emulator is read-only: {method} {path} was refused",
                )
            elif kind == "other":
                answer = _fault_answer(
                    400, "500", "Unsupported Operation", f"The QBO emulator does not serve {method} {path}"
                )
            else:
                if faults.latency > 0:
                    time.sleep(faults.latency)
                if faults.slow_every and api_count % faults.slow_every == 0:
                    fault = "slow"
                    time.sleep(faults.slow_seconds)
                injected, answer = self._inject(faults, api_count)
                fault = injected or fault
                if answer is None and injected is None:
                    refused, answer = self._api(kind, path, headers, query_text)
                    fault = refused or fault
                    if faults.cut_every and api_count % faults.cut_every == 0:
                        fault, answer = "cut", replace(answer, cut=True)
            return answer
        finally:
            with self._lock:
                self._in_flight -= 1
                self._log.append(
                    RequestRecord(
                        seq=seq,
                        method=method,
                        path=path,
                        kind=kind,
                        query=query_text,
                        arrived=arrived,
                        in_flight=in_flight,
                        status=answer.status if answer is not None else 0,
                        fault=fault,
                    )
                )

    def _inject(self, faults: Faults, n: int) -> tuple[str | None, _Answer | None]:
        if faults.throttle_every and n % faults.throttle_every == 0:
            headers = {"Retry-After": faults.retry_after} if faults.retry_after is not None else {}
            body = _THROTTLE_XML.format(time=_now_text()).encode("utf-8")
            return "throttle", _Answer(429, body, "application/xml", headers)
        if faults.error_every and n % faults.error_every == 0:
            status = faults.error_status
            body = f"<html><body><h1>{status} Service Unavailable</h1></body></html>".encode()
            return "error", _Answer(status, body, "text/html")
        if faults.drop_every and n % faults.drop_every == 0:
            return "drop", None
        return None, None

    def _api(
        self, kind: str, path: str, headers: Mapping[str, str], query_text: str | None
    ) -> tuple[str | None, _Answer]:
        if self.require_auth and not self._authorized(headers):
            return "unauthorized", _auth_fault(401, "3200", "AuthenticationFailed", "AUTHENTICATION")
        realm = path.split("/")[3]
        if realm != self.realm_id:
            return "unauthorized", _auth_fault(403, "3100", "ApplicationAuthorizationFailed", "AUTHORIZATION")
        if kind == "read":
            return None, self._read(path)
        try:
            query = parse_query(query_text or "")
        except QueryError as exc:
            return None, _query_fault(exc)
        return None, self._query(query)

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        value = headers.get("authorization") or ""
        if not value.lower().startswith("bearer "):
            return False
        token = value[7:].strip()
        with self._lock:
            expires = self._access_tokens.get(token)
        return expires is not None and time.monotonic() < expires

    def _entity_name(self, name: str) -> str | None:
        lowered = name.lower()
        for candidate in (*self._records, *KNOWN_ENTITIES):
            if candidate.lower() == lowered:
                return candidate
        return None

    def _query(self, query: Query) -> _Answer:
        entity = self._entity_name(query.entity)
        if entity is None:
            return _query_fault(
                QueryError(f"QueryValidationError: Invalid context declaration : {query.entity}", code="4001")
            )
        key = (entity, *query.filter_key()[1:])
        with self._lock:
            selected = self._cache.get(key)
        if selected is None:
            rows = narrowed(self._records.get(entity, []), query, self._indexes.get(entity, {}))
            selected = _Selection(select(rows, query, entity=entity))
            with self._lock:
                self._cache[key] = selected
        if query.count:
            return _json_answer({"QueryResponse": {"totalCount": len(selected.rows)}, "time": _now_text()})
        if selected.encoded is None:
            selected.encoded = self._encode(entity, selected.rows)
        start = 1 if self.faults.ignore_start_position else query.start_position
        page = selected.encoded[start - 1 : start - 1 + query.max_results]
        if not page:
            return _json_answer({"QueryResponse": {}, "time": _now_text()})
        body = b"".join(
            (
                b'{"QueryResponse":{"',
                entity.encode(),
                b'":[',
                b",".join(page),
                b'],"startPosition":%d,"maxResults":%d},"time":"' % (start, len(page)),
                _now_text().encode(),
                b'"}',
            )
        )
        return _Answer(200, body, "application/json;charset=UTF-8")

    def _encode(self, entity: str, rows: list[dict[str, Any]]) -> list[bytes]:
        """The JSON of each selected row, each row encoded once whatever the queries selecting it.

        Pages are then joined from bytes: the emulator must not be the slow side of a pull.
        """
        with self._lock:
            encoded = self._encoded.setdefault(entity, {})
        out = []
        for row in rows:
            chunk = encoded.get(id(row))
            if chunk is None:
                chunk = json.dumps(row, separators=(",", ":")).encode("utf-8")
                encoded[id(row)] = chunk
            out.append(chunk)
        return out

    def _read(self, path: str) -> _Answer:
        parts = path.split("/")  # '', v3, company, realm, entity, id
        entity = self._entity_name(parts[4]) if len(parts) == 6 else None
        record = self._by_id.get(entity or "", {}).get(parts[5]) if entity else None
        if entity is None or record is None:
            return _fault_answer(
                400,
                "610",
                "Object Not Found",
                "Object Not Found : Something you're trying to use has been made inactive. "
                "Check the fields with accounts, customers, items, vendors or employees.",
            )
        return _json_answer({entity: record, "time": _now_text()})

    def _token(self, headers: Mapping[str, str], body: bytes) -> _Answer:
        if not self._client_ok(headers.get("authorization") or ""):
            return _json_answer({"error": "invalid_client"}, status=401)
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return _json_answer({"error": "unsupported_grant_type"}, status=400)
        presented = form.get("refresh_token", "")
        now = time.monotonic()
        with self._lock:
            expires = self._refresh_tokens.pop(presented, None)
            if expires is None or now >= expires:
                return _json_answer({"error": "invalid_grant"}, status=400)
            faults = self.faults
            new_refresh = "RT1-" + secrets.token_urlsafe(24)
            access = "AT-" + secrets.token_urlsafe(32)
            self._refresh_tokens[new_refresh] = now + faults.refresh_token_lifetime
            self._access_tokens[access] = now + faults.access_token_lifetime
        return _json_answer(
            {
                "access_token": access,
                "refresh_token": new_refresh,
                "token_type": "bearer",
                "expires_in": faults.access_token_lifetime,
                "x_refresh_token_expires_in": faults.refresh_token_lifetime,
            }
        )

    def _client_ok(self, authorization: str) -> bool:
        if not authorization.lower().startswith("basic "):
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        client_id, _, client_secret = decoded.partition(":")
        if self.client_id is not None and not secrets.compare_digest(client_id, self.client_id):
            return False
        return self.client_secret is None or secrets.compare_digest(client_secret, self.client_secret)

    def _admin(self, method: str, path: str, body: bytes) -> _Answer:
        name = path[len(ADMIN_PREFIX) :]
        if name == "stats" and method == "GET":
            return _json_answer(self.stats())
        if name == "reset" and method == "POST":
            self.reset_requests()
            return _json_answer(self.stats())
        if name == "faults" and method == "POST":
            try:
                self.set_faults(**json.loads(body or b"{}"))
            except (TypeError, ValueError) as exc:
                return _json_answer({"error": str(exc)}, status=400)
            return _json_answer({f.name: getattr(self.faults, f.name) for f in fields(Faults)})
        if name == "refresh-token" and method == "POST":
            return _json_answer({"refresh_token": self.issue_refresh_token()})
        return _json_answer({"error": f"no admin endpoint {method} {path}"}, status=404)


# ---------------------------------------------------------------------- HTTP plumbing


@dataclass
class _Selection:
    """The rows a query selects (cached per query) and, once a page was asked for, their JSON."""

    rows: list[dict[str, Any]]
    encoded: list[bytes] | None = None


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)
    #: send only the first half of the body, then close the connection
    cut: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    emulator: Emulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (timed out, dropped) is normal here: no traceback."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: headers and body go out as two writes: with Nagle on, the body would wait for the client's
    #: delayed ACK (~40 ms a request), which QBO does not do
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (the emulator keeps its own record)."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server.emulator.handle(self.command, self.path, headers, body)
        if answer is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if answer.cut:
            self.wfile.write(answer.body[: len(answer.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


def _classify(method: str, path: str, params: Mapping[str, str], body: bytes) -> tuple[str, str | None]:
    if path == TOKEN_PATH:
        return ("token", None) if method == "POST" else ("other", None)
    parts = path.split("/")
    if len(parts) < 5 or parts[1] != "v3" or parts[2] != "company":
        return ("write", None) if method not in ("GET", "HEAD") else ("other", None)
    if parts[4] == "query" and len(parts) == 5:
        if method == "GET":
            return "query", params.get("query", "")
        if method == "POST":
            return "query", body.decode("utf-8", "replace")
    if method not in ("GET", "HEAD"):
        return "write", None
    if len(parts) == 6 and parts[5] and parts[4] not in ("cdc", "reports", "batch"):
        return "read", None
    return "other", None


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _json_answer(doc: Any, *, status: int = 200) -> _Answer:
    return _Answer(status, json.dumps(doc).encode("utf-8"), "application/json;charset=UTF-8")


def _fault_answer(status: int, code: str, message: str, detail: str) -> _Answer:
    return _json_answer(
        {
            "Fault": {
                "Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}],
                "type": "ValidationFault",
            },
            "time": _now_text(),
        },
        status=status,
    )


def _query_fault(exc: QueryError) -> _Answer:
    message = "Error parsing query" if exc.code == "4000" else "Invalid query"
    return _json_answer(
        {
            "Fault": {
                "Error": [{"Message": message, "Detail": exc.detail, "code": exc.code}],
                "type": "ValidationFault",
            },
            "time": _now_text(),
        },
        status=400,
    )


def _auth_fault(status: int, code: str, name: str, fault_type: str) -> _Answer:
    """QBO's 401/403 body: the lowercase ``fault``/``error`` shape (python-quickbooks #118)."""
    answer = _json_answer(
        {
            "warnings": None,
            "intuitObject": None,
            "fault": {
                "error": [
                    {
                        "message": f"message={name}; errorCode={int(code):06d}; statusCode={status}",
                        "detail": None,
                        "code": code,
                        "element": None,
                    }
                ],
                "type": fault_type,
            },
            "report": None,
            "queryResponse": None,
            "batchItemResponse": [],
            "attachableResponse": [],
            "syncErrorResponse": None,
            "requestId": None,
            "time": int(time.time() * 1000),
            "status": None,
            "cdcresponse": [],
        },
        status=status,
    )
    return replace(answer, headers={"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'})


def _plain(value: Any) -> Any:
    """Decimals as JSON numbers (int when whole, else the float that prints the same digits)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    return value


__all__ = ["KNOWN_ENTITIES", "Emulator", "Faults", "RequestRecord"]
