"""The one QBO client wrapper: python-quickbooks as the transport, plus what it lacks.

python-quickbooks builds the requests (URL, ``minorversion``, headers, ``application/text``
query bodies) and parses single answers with exact decimals (``use_decimal=True``). Query pages,
the bulk of a pull, are read as bytes and decoded by :mod:`reconcile.sources.qbo_decode`
(msgspec: the same exact values, several times faster, and not while the pages are in flight).
This module's :class:`QboClient` owns everything the library does not do:

* a timeout on every request (the library sets none: ``process_request`` is overridden);
* retries with exponential backoff and jitter on HTTP 429 (XML body or not), 5xx, dropped
  connections and timeouts, honoring ``Retry-After``; never on validation or authorization
  faults; on HTTP 401 one token refresh and one retry;
* QBO's limits per company: at most ``max_in_flight`` requests at once and
  ``requests_per_minute`` in any sliding minute, shared by every client of the company;
* faults turned into typed errors (:func:`classify_fault`) with QBO's code, message, detail and
  element, from the ``Fault``/``fault`` JSON shapes, the XML shape, or a Fault inside HTTP 200;
* paging (:meth:`QboClient.query_rows`): ``STARTPOSITION``/``MAXRESULTS 1000`` until a short page,
  pages fetched concurrently once a ``COUNT(*)`` says how many there are, with loop detection.

When the retry budget is spent the caller gets a ``SourceError`` (exit 3, retriable) whose one
line names the company and what failed. Only reads and queries are sent: the client has no
write method.
"""

from __future__ import annotations

import email.utils
import gc
import json
import logging
import os
import random
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
import urllib3
from quickbooks.client import QuickBooks
from quickbooks.exceptions import QuickbooksException
from requests.adapters import HTTPAdapter

from reconcile.config import QboSettings
from reconcile.errors import (
    QboAuthError,
    QboFault,
    QboNotFound,
    QboThrottled,
    QboValidationError,
    SourceError,
)
from reconcile.sources.qbo_auth import OAuthClient
from reconcile.sources.qbo_decode import RawPage, RawRows, UnreadableAnswer, read_page

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Rows per page: QBO's maximum ``MAXRESULTS``.
PAGE_SIZE = 1000

#: The code python-quickbooks gives an answer it cannot read (and so do we).
_UNREADABLE = "10000"

PRODUCTION_API_URL = QuickBooks.api_url_v3
SANDBOX_API_URL = QuickBooks.sandbox_api_url_v3


# --------------------------------------------------------------------------- faults


def classify_fault(status: int, body: bytes | str, *, company: str = "") -> QboFault:
    """The typed error for a QBO answer: HTTP status plus body (JSON ``Fault``/``fault``, or XML).

    ``QboAuthError`` for codes 1–499, 3100, 3200 and HTTP 401/403; ``QboThrottled`` for 3001 and
    HTTP 429; a retriable ``QboFault`` for HTTP 5xx; ``QboNotFound`` for 610;
    ``QboValidationError`` for 2000–4999 and 6000+; the base ``QboFault`` otherwise.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    found = _extract_fault(text)
    if found is None:
        reason = _HTTP_REASONS.get(status, "unexpected answer")
        return _fault_for(
            status,
            None,
            code=f"HTTP {status}",
            message=reason,
            detail=_snippet(text),
            element="",
            fault_type="",
            company=company,
        )
    code, message, detail, element, fault_type = found
    number = int(code) if code.isdigit() else None
    return _fault_for(
        status,
        number,
        code=code,
        message=message,
        detail=detail,
        element=element,
        fault_type=fault_type,
        company=company,
    )


def _fault_for(status: int, number: int | None, **kw: Any) -> QboFault:
    cls: type[QboFault] = QboFault
    retriable = False
    if status in (401, 403) or number in (3100, 3200) or (number is not None and 1 <= number <= 499):
        cls = QboAuthError
    elif status == 429 or number == 3001:
        cls, retriable = QboThrottled, True
    elif status >= 500:
        retriable = True
    elif number == 610:
        cls = QboNotFound
    elif number is not None and (2000 <= number <= 4999 or number >= 6000):
        cls = QboValidationError
    return cls(kw.pop("message"), http_status=status, retriable=retriable, **kw)


def _extract_fault(text: str) -> tuple[str, str, str, str, str] | None:
    """(code, message, detail, element, type) of the first error of a fault body, if any."""
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return _extract_xml_fault(stripped)
    if not stripped.startswith("{"):
        return None
    try:
        doc = json.loads(stripped)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    fault = doc.get("Fault") or doc.get("fault")
    if not isinstance(fault, dict):
        return None
    errors = fault.get("Error") or fault.get("error") or []
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    lowered = {str(k).lower(): v for k, v in first.items()}

    def text_of(key: str) -> str:
        value = lowered.get(key)
        return "" if value is None else str(value)

    return (
        text_of("code") or "unknown",
        text_of("message"),
        text_of("detail"),
        text_of("element"),
        str(fault.get("type") or ""),
    )


def _extract_xml_fault(text: str) -> tuple[str, str, str, str, str] | None:
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError:
        return None
    fault = next((el for el in root.iter() if _local(el.tag) == "Fault"), None)
    if fault is None:
        return None
    error = next((el for el in fault.iter() if _local(el.tag) == "Error"), None)
    if error is None:
        return ("unknown", "", "", "", fault.get("type", ""))
    children = {_local(child.tag).lower(): (child.text or "").strip() for child in error}
    return (
        error.get("code", "unknown"),
        children.get("message", ""),
        children.get("detail", ""),
        error.get("element", ""),
        fault.get("type", ""),
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _snippet(text: str, limit: int = 200) -> str:
    plain = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return plain if len(plain) <= limit else plain[: limit - 1] + "…"


_HTTP_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _fault_from_library(exc: QuickbooksException, company: str) -> QboFault:
    """A typed error for what python-quickbooks raised itself (its answer parsing)."""
    code = exc.error_code
    if code == 10000 and str(exc.message).startswith("Error reading json response"):
        # a 200 whose body is not JSON: most likely cut short, so worth another try
        return QboFault(
            "unreadable answer (not JSON)", code=_UNREADABLE, http_status=200, company=company, retriable=True
        )
    number = code if isinstance(code, int) else None
    return _fault_for(
        200,
        number,
        code=str(code),
        message=str(exc.message),
        detail=_snippet(str(exc.detail or "")),
        element="",
        fault_type="",
        company=company,
    )


# --------------------------------------------------------------------------- limits


class RateLimiter:
    """A thread-safe sliding-window limiter: at most ``limit`` admissions per ``window`` seconds."""

    def __init__(self, limit: int, window: float = 60.0, *, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()
        self._not_before = 0.0

    def try_acquire(self) -> float:
        """Admit now and return 0, or return how many seconds to wait before asking again."""
        with self._lock:
            now = self._clock()
            if now < self._not_before:
                return self._not_before - now
            while self._stamps and self._stamps[0] <= now - self.window:
                self._stamps.popleft()
            if len(self._stamps) < self.limit:
                self._stamps.append(now)
                return 0.0
            return max(self._stamps[0] + self.window - now, 0.001)

    def acquire(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Wait until admitted."""
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return
            sleep(wait)

    def pause(self, seconds: float) -> None:
        """Admit nobody for ``seconds`` (QBO said 429: every thread holds back, not just one)."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)


@dataclass
class CompanyLimits:
    """QBO's limits for one company: a semaphore for requests in flight and a rate limiter."""

    in_flight: threading.BoundedSemaphore
    rate: RateLimiter

    @contextmanager
    def slot(self, sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
        """Hold one of the company's in-flight slots, admitted by the rate limiter."""
        with self.in_flight:
            self.rate.acquire(sleep)
            yield


_LIMITS: dict[tuple[str, str], CompanyLimits] = {}
_LIMITS_LOCK = threading.Lock()


def company_limits(settings: QboSettings) -> CompanyLimits:
    """The limits shared by every client of one company (keyed by API base and realm)."""
    key = (settings.base_url or settings.environment, settings.realm_id)
    with _LIMITS_LOCK:
        limits = _LIMITS.get(key)
        if limits is None:
            limits = CompanyLimits(
                in_flight=threading.BoundedSemaphore(settings.max_in_flight),
                rate=RateLimiter(settings.requests_per_minute),
            )
            _LIMITS[key] = limits
        return limits


# --------------------------------------------------------------------------- bulk decoding


class _GcPause:
    """Pause the cyclic garbage collector while pages are decoded (re-entrant, thread-safe).

    Decoded JSON holds no reference cycles, but building 100,000 payloads triggers full
    collections that rescan every payload already kept, which costs several times the decoding
    itself. Reference counting still frees everything; the collector resumes (if it was on)
    when the last bulk read ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._was_enabled:
                gc.enable()


_GC_PAUSE = _GcPause()


# --------------------------------------------------------------------------- transport


class _Failure(Exception):
    """Internal: a QBO answer that is a fault, with what the retry loop needs to decide."""

    def __init__(self, fault: QboFault, *, retry_after: float | None, token: str):
        super().__init__(str(fault))
        self.fault = fault
        self.retry_after = retry_after
        self.token = token


class _BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>`` on one request.

    Passed as the request's auth, it also spares requests a look-up of ``~/.netrc`` per request.
    """

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def _read_body(response: requests.Response) -> bytes:
    """The whole body of a streamed response, its connection released; read errors as requests' own."""
    try:
        body: bytes = response.raw.read(decode_content=True)
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.Timeout(exc) from exc
    except urllib3.exceptions.HTTPError as exc:  # cut short, reset, bad chunking or encoding
        raise requests.ConnectionError(exc) from exc
    finally:
        response.close()
    return body


def _read_environment_once(session: requests.Session, api_url: str) -> None:
    """Take the proxy and CA-bundle settings from the environment once, for every request to QBO.

    requests would otherwise read them (and ``~/.netrc``) again on every request, a fifth of its
    own cost per request; the environment does not change during a run.
    """
    session.proxies.update(requests.utils.get_environ_proxies(api_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False


class _BearerSession(requests.Session):
    """A ``requests.Session`` with the ``access_token`` attribute python-quickbooks expects."""

    def __init__(self, auth: OAuthClient):
        super().__init__()
        self._auth = auth

    @property
    def access_token(self) -> str:
        """The current access token (refreshed when needed)."""
        return self._auth.access_token()


class _Transport(QuickBooks):
    """python-quickbooks' client aimed at our API base, sending through ``QboClient._send``."""

    _base_url = PRODUCTION_API_URL
    _owner: QboClient

    @property
    def api_url(self) -> str:
        """The API base (``[qbo] base_url`` when set, else production or sandbox)."""
        return self._base_url

    def process_request(
        self, request_type: str, url: str, headers: Any = "", params: Any = "", data: Any = ""
    ) -> requests.Response:
        """Send through the owning client (timeout, limits, typed faults)."""
        return self._owner._send(request_type, url, headers or {}, params or {}, data)

    def query_body(self, select: str) -> bytes:
        """The request ``QuickBooks.query`` sends (same URL, ``minorversion``, headers), answered as bytes.

        ``make_request`` would decode the answer with ``json.loads(parse_float=Decimal)``, the
        slowest step of a pull; query pages are decoded by :mod:`reconcile.sources.qbo_decode`.
        """
        url = f"{self.api_url}/company/{self.company_id}/query"
        headers = {"Content-Type": "application/text", "Accept": "application/json", "User-Agent": _USER_AGENT}
        params = {"minorversion": self.minorversion}
        return self._owner._send_for_body("POST", url, headers, params, select)


#: What python-quickbooks sends as User-Agent (``QuickBooks.make_request``).
_USER_AGENT = "python-quickbooks V3 library"


# --------------------------------------------------------------------------- the client


class QboClient:
    """Queries and reads against one QBO company, with QBO's limits, retries and paging.

    ``backoff_base``/``backoff_max`` shape the retry delays (seconds; jittered, doubled per
    failure); ``limits`` defaults to the limits shared by every client of the company.
    """

    def __init__(
        self,
        settings: QboSettings,
        auth: OAuthClient,
        *,
        company: str,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        limits: CompanyLimits | None = None,
    ):
        self.settings = settings
        self.company = company
        self._auth = auth
        self._timeout = settings.timeout_seconds
        self._max_retries = settings.max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._limits = limits or company_limits(settings)
        self._session = _BearerSession(auth)
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(settings.max_in_flight, 1))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        qb = _Transport(
            company_id=settings.realm_id,
            minorversion=settings.minor_version,
            use_decimal=True,
        )
        qb.session = self._session
        qb._owner = self
        if settings.base_url:
            qb._base_url = settings.base_url.rstrip("/")
        elif settings.environment == "sandbox":
            qb._base_url = SANDBOX_API_URL
        self._qb = qb
        _read_environment_once(self._session, qb.api_url)
        self.request_count = 0
        self._count_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"QboClient(company={self.company!r}, realm={self.settings.realm_id!r}, api={self._qb.api_url!r})"

    @property
    def api_url(self) -> str:
        """The API base requests go to."""
        return self._qb.api_url

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    # -- public reads

    def query(self, sql: str) -> dict[str, Any]:
        """One query, answered as QBO's parsed JSON envelope (decimals exact)."""
        result: dict[str, Any] = self._call(f"query {_short(sql)}", lambda: self._qb.query(sql))
        return result

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        """One entity by Id (``GET …/{entity}/{id}``); ``QboNotFound`` when QBO has none."""
        answer: dict[str, Any] = self._call(
            f"read {entity} {entity_id}", lambda: self._qb.get_single_object(entity, entity_id)
        )
        payload = answer.get(entity)
        if not isinstance(payload, dict):
            raise QboFault(
                f"the answer to a read of {entity} {entity_id} holds no {entity}",
                code="unexpected",
                company=self.company,
            )
        return payload

    def count(self, sql: str) -> int:
        """``SELECT COUNT(*)`` for the rows a ``SELECT *`` query (without paging) would return."""
        answer = self.query(count_query(sql))
        total = answer.get("QueryResponse", {}).get("totalCount", 0)
        return int(total)

    def query_all(self, sql: str, *, count_first: bool = False) -> list[dict[str, Any]]:
        """Every row of a ``SELECT *`` query as payload dicts (exact decimals); see ``query_rows``."""
        rows = self.query_rows(sql, count_first=count_first)
        with _GC_PAUSE:
            return rows.payloads()

    def query_once(self, sql: str) -> list[dict[str, Any]]:
        """The rows of one query sent as is, in one request (with the usual retries).

        For entities QBO keeps a single record of, such as ``Preferences``: no paging, no order.
        """
        base = sql.strip().rstrip(";")
        page = self._call(f"query {_short(base)}", lambda: self._read_page(base, entity_of(base)))
        with _GC_PAUSE:
            return list(page.payloads())

    def query_rows(self, sql: str, *, count_first: bool = False) -> RawRows:
        """Every row of a ``SELECT *`` query (without STARTPOSITION/MAXRESULTS), as QBO sent them.

        Pages of 1,000: the first page is fetched alone; if it is full, ``COUNT(*)`` says how many
        pages remain and they are fetched concurrently (within the company's in-flight limit);
        then pages continue one by one until a short page, in case rows were added meanwhile. A
        page whose rows were all returned before is a paging loop (``SourceError``); rows repeated
        by a shifting page are kept once. Without an ORDER BY the query is ordered by Id. Pages
        stay undecoded (``RawRows.payloads`` decodes them) so that decoding under the GIL does
        not hold up the transfer. ``count_first``: send the ``COUNT(*)`` alongside the first page
        instead of after it, one round trip less when the answer is likely to span pages (one
        request more when it is not).
        """
        base = sql.strip().rstrip(";")
        if re.search(r"\b(STARTPOSITION|MAXRESULTS)\b", _outside_literals(base), re.IGNORECASE):
            raise ValueError("query_all pages by itself: give the query without STARTPOSITION/MAXRESULTS")
        if not _ORDER.search(_outside_literals(base)):
            base += " ORDERBY Id"  # a stable order, or concurrent pages could skip or repeat rows
        entity = entity_of(base)
        merged = _PageMerger(self, base)
        first, total = self._first_page_and_count(base, entity, count_first)
        merged.add([first])
        if merged.last_size == PAGE_SIZE:
            total = self.count(base) if total is None else total
            starts = [1 + k * PAGE_SIZE for k in range(1, total // PAGE_SIZE + 1)]
            merged.add(self._pages_concurrently(base, entity, starts))
            while merged.last_size == PAGE_SIZE:
                merged.add([self._page(base, entity, 1 + merged.pages * PAGE_SIZE)])
        if merged.repeated:
            log.warning("QBO %s: %d %s rows came back on two pages (kept once)", self.company, merged.repeated, entity)
        return merged.rows

    # -- internals

    def _first_page_and_count(self, base: str, entity: str, count_first: bool) -> tuple[RawPage, int | None]:
        if not count_first:
            return self._page(base, entity, 1), None
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="qbo-page") as pool:
            counted = pool.submit(self.count, base)
            first = self._page(base, entity, 1)
            return first, counted.result()

    def _page(self, base: str, entity: str, start: int) -> RawPage:
        sql = f"{base} STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"
        return self._call(f"query {_short(sql)}", lambda: self._read_page(sql, entity))

    def _read_page(self, sql: str, entity: str) -> RawPage:
        body = self._qb.query_body(sql)
        try:
            return read_page(body, entity)
        except UnreadableAnswer as exc:
            # most likely cut short: worth another try, like a dropped connection
            fault = QboFault(
                f"unreadable answer: {exc}", code=_UNREADABLE, http_status=200, company=self.company, retriable=True
            )
            raise _Failure(fault, retry_after=None, token="") from None

    def _pages_concurrently(self, base: str, entity: str, starts: list[int]) -> list[RawPage]:
        if not starts:
            return []
        if len(starts) == 1:
            return [self._page(base, entity, starts[0])]
        workers = min(self.settings.max_in_flight, len(starts))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qbo-page") as pool:
            futures: list[Future[RawPage]] = [pool.submit(self._page, base, entity, start) for start in starts]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _send(self, method: str, url: str, headers: dict[str, str], params: Any, data: Any) -> requests.Response:
        """One request as python-quickbooks sends it (reads, single queries): the whole response."""
        response, _ = self._exchange(method, url, headers, params, data, stream=False)
        return response

    def _send_for_body(self, method: str, url: str, headers: dict[str, str], params: Any, data: Any) -> bytes:
        """One request whose answer is wanted as bytes (query pages): read in one go, not in 10 KB chunks."""
        _, body = self._exchange(method, url, headers, params, data, stream=True)
        return body

    def _exchange(
        self, method: str, url: str, headers: dict[str, str], params: Any, data: Any, *, stream: bool
    ) -> tuple[requests.Response, bytes]:
        token = self._auth.access_token()
        with self._limits.slot(self._sleep):  # in flight until its body has been read
            with self._count_lock:
                self.request_count += 1
            response = self._session.request(
                method,
                url,
                headers=headers,
                params=params,
                data=data,
                timeout=self._timeout,
                auth=_BearerAuth(token),
                stream=stream,
            )
            body = _read_body(response) if stream else response.content
        if response.status_code != 200:
            raise _Failure(
                classify_fault(response.status_code, body, company=self.company),
                retry_after=_retry_after(response.headers.get("Retry-After")),
                token=token,
            )
        head = body[:64]
        if b'"Fault"' in head or b'"fault"' in head:
            text = body.decode("utf-8", "replace")
            if _extract_fault(text) is not None:
                raise _Failure(classify_fault(200, text, company=self.company), retry_after=None, token=token)
        return response, body

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        refreshed = False
        failures = 0
        while True:
            retry_after: float | None = None
            try:
                return fn()
            except _Failure as failure:
                fault = failure.fault
                if not refreshed and (fault.http_status == 401 or fault.code == "3200"):
                    refreshed = True
                    log.info("QBO %s: access token refused (HTTP 401); refreshing it once", self.company)
                    self._auth.refresh(stale=failure.token)
                    continue
                if not fault.retriable:
                    raise fault from None
                reason = _describe(fault)
                retry_after = failure.retry_after
                last: BaseException = fault
            except requests.Timeout as exc:
                reason, last = f"timed out after {self._timeout:g}s", exc
            except (
                requests.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                reason, last = f"connection failed ({type(exc).__name__})", exc
            except QuickbooksException as exc:
                fault = _fault_from_library(exc, self.company)
                if not fault.retriable:
                    raise fault from None
                reason, last = _describe(fault), fault
            failures += 1
            if failures > self._max_retries:
                raise SourceError(
                    f"{what} failed after {failures} attempts (last: {reason})",
                    source="QBO",
                    company=self.company,
                    retriable=True,
                ) from last
            delay = self._delay(failures, retry_after)
            if isinstance(last, QboThrottled):
                self._limits.rate.pause(delay)
            log.warning(
                "QBO %s: %s: %s; retry %d of %d in %.2fs",
                self.company,
                what,
                reason,
                failures,
                self._max_retries,
                delay,
            )
            self._sleep(delay)

    def _delay(self, failures: int, retry_after: float | None) -> float:
        backoff = min(self._backoff_max, self._backoff_base * (2 ** (failures - 1)))
        delay = backoff * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, max(self._backoff_max, 120.0)))
        return delay


class _PageMerger:
    """Pages of one ``query_rows`` in order: loop detection and rows kept once, one pass per page.

    A full page (after the first) whose rows were all returned before is a paging loop
    (``SourceError``); a row whose ``Id`` was seen before is dropped and counted in
    ``repeated``; rows without an ``Id`` are kept. The usual page (distinct ids, none seen
    before) is taken whole.
    """

    def __init__(self, client: QboClient, base: str) -> None:
        self._client = client
        self._base = base
        self._seen: set[str] = set()
        self.rows = RawRows()
        self.pages = 0
        self.last_size = 0
        self.repeated = 0

    def add(self, pages: list[RawPage]) -> None:
        """Check, then merge, the next pages in order."""
        for page in pages:
            ids = {key for key in page.ids if key is not None}
            seen = self._seen
            if self.pages and len(page) == PAGE_SIZE and ids and ids <= seen:
                start = 1 + self.pages * PAGE_SIZE
                raise SourceError(
                    f"paging loop in {_short(self._base)}: the page at STARTPOSITION {start}"
                    " repeats rows already returned",
                    source="QBO",
                    company=self._client.company,
                )
            if len(ids) == len(page) and seen.isdisjoint(ids):
                self.rows.add(page)  # the usual page: distinct ids, all new
                seen |= ids
            else:
                self._merge_slowly(page)
            self.pages += 1
            self.last_size = len(page)

    def _merge_slowly(self, page: RawPage) -> None:
        seen, keep = self._seen, []
        for position, key in enumerate(page.ids):
            if key is not None:
                if key in seen:
                    self.repeated += 1
                    continue
                seen.add(key)
            keep.append(position)
        self.rows.add(page, keep)


def _describe(fault: QboFault) -> str:
    status = f"HTTP {fault.http_status}" if fault.http_status else "fault"
    if fault.code.startswith("HTTP "):
        return status
    if fault.code == _UNREADABLE:  # not a code QBO sent: say what was wrong with the answer
        return f"{status}, {_short(str(fault.message), 80)}"
    return f"{status}, QBO fault {fault.code}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _short(sql: str, limit: int = 100) -> str:
    one = " ".join(sql.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


_FROM = re.compile(r"\bFROM\s+([A-Za-z][A-Za-z0-9]*)", re.IGNORECASE)
_ORDER = re.compile(r"\s+(ORDERBY|ORDER\s+BY)\s+.*$", re.IGNORECASE | re.DOTALL)
_SELECT = re.compile(r"^\s*SELECT\s+\*\s+", re.IGNORECASE)


def _outside_literals(sql: str) -> str:
    """The query with its string literals blanked (keywords inside quotes must not count)."""
    return re.sub(r"'(?:\\.|[^'\\])*'", "''", sql)


def entity_of(sql: str) -> str:
    """The entity a query selects from (``SELECT * FROM Invoice …`` → ``Invoice``)."""
    match = _FROM.search(sql)
    if match is None:
        raise ValueError(f"not a QBO query (no FROM): {_short(sql)}")
    return match.group(1)


def count_query(sql: str) -> str:
    """The ``SELECT COUNT(*)`` form of a ``SELECT *`` query (its ordering dropped)."""
    if not _SELECT.match(sql):
        raise ValueError(f"expected a SELECT * query: {_short(sql)}")
    text = _SELECT.sub("SELECT COUNT(*) ", sql.strip(), count=1)
    tail_at = text.rfind("'") + 1  # never look for ORDER BY inside a string literal
    return text[:tail_at] + _ORDER.sub("", text[tail_at:])


__all__ = [
    "PAGE_SIZE",
    "CompanyLimits",
    "QboClient",
    "RateLimiter",
    "classify_fault",
    "company_limits",
    "count_query",
    "entity_of",
]
