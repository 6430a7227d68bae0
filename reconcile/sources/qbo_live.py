"""The live QBO source: python-quickbooks (through :class:`QboClient`) against one QBO company.

``LiveSource`` implements the ``QboSource`` protocol of :mod:`reconcile.sources.qbo`: it builds
the queries with that module's builders, reads every page through the client wrapper (limits,
retries, token refresh, paging), turns the payloads into canonical frames with
:func:`reconcile.sources.qbo_parse.qbo_data_from_payloads`, and keeps every payload it pulled so
a run can save them as a snapshot (``payloads()``). It only ever queries and reads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from reconcile import frames as F
from reconcile.config import CompanySettings
from reconcile.model import LookupRequest, QboData
from reconcile.params import RunParams
from reconcile.sources.qbo_auth import OAuthClient
from reconcile.sources.qbo_client import QboClient
from reconcile.sources.qbo_parse import PREFERENCES, qbo_data_from_payloads

#: The query for the company's settings (one object; its CurrencyPrefs give the home currency).
PREFERENCES_QUERY = f"SELECT * FROM {PREFERENCES}"

log = logging.getLogger(__name__)


class LiveSource:
    """QBO read live: the window's transactions, every reference record, and look-ups by Id or number."""

    def __init__(
        self,
        company: CompanySettings,
        *,
        client: QboClient | None = None,
        backoff_base: float = 1.0,
    ):
        self.company = company
        if client is None:
            auth = OAuthClient(company.qbo, company=company.key)
            client = QboClient(company.qbo, auth, company=company.key, backoff_base=backoff_base)
        self.client = client
        self._lock = threading.Lock()
        self._payloads: dict[str, dict[str, Mapping[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"LiveSource({self.description!r})"

    @property
    def description(self) -> str:
        """Where the data comes from, for the report: ``QBO realm <id> (<environment>)``."""
        return f"QBO realm {self.company.qbo.realm_id} ({self.company.qbo.environment})"

    def pull(self, params: RunParams) -> QboData:
        """The window's transactions (every status), all reference records, the Preferences.

        Reference records active or not; the Preferences give the home currency.
        """
        from reconcile.sources.qbo import reference_query, window_query

        queries: dict[str, str] = {}
        for entity in params.entities:
            queries[F.QBO_ENTITY[entity]] = window_query(entity, params.date_from, params.date_to)
        for ref_type, qbo_entity in F.QBO_REFERENCE_ENTITY.items():
            queries[qbo_entity] = reference_query(ref_type)
        # a window's transactions often span pages: count them alongside the first page
        payloads = self._run(queries, count_first=set(F.QBO_ENTITY.values()))
        # the company's one Preferences object says its home currency
        payloads[PREFERENCES] = list(self.client.query_once(PREFERENCES_QUERY))
        self._keep(payloads)
        log.info(
            "QBO %s: pulled %s",
            self.company.key,
            ", ".join(f"{len(rows)} {entity}" for entity, rows in payloads.items()),
        )
        return qbo_data_from_payloads(payloads, in_window=True)

    def lookup(self, params: RunParams, request: LookupRequest) -> QboData:
        """Transactions beyond the window, by QBO Id or number (``in_window`` False).

        The look-up queries (100 values each) run concurrently within ``max_in_flight``: a run
        looking up 10,000 records sends about 100 of them, which one after another cost most of a
        slow connection's run time.
        """
        from reconcile.sources.qbo import lookup_queries

        queries = [
            (F.QBO_ENTITY[entity], sql)
            for entity in F.ENTITIES
            for sql in lookup_queries(
                entity, request.qbo_ids.get(entity, frozenset()), request.qbo_numbers.get(entity, frozenset())
            )
        ]
        answers = self._run_all([sql for _, sql in queries])
        found: dict[str, dict[str, Mapping[str, Any]]] = {}
        # merged in query order, so a record found by Id and by number is kept once, as before
        for (qbo_entity, _), rows in zip(queries, answers, strict=True):
            kept = found.setdefault(qbo_entity, {})
            for row in rows:
                kept.setdefault(str(row.get("Id")), row)
        payloads = {qbo_entity: list(rows.values()) for qbo_entity, rows in found.items()}
        self._keep(payloads)
        return qbo_data_from_payloads(payloads, in_window=False)

    def payloads(self) -> dict[str, list[dict[str, Any]]]:
        """Every payload pulled so far (window, references and look-ups), by QBO entity, once each."""
        with self._lock:
            return {entity: [dict(p) for p in rows.values()] for entity, rows in self._payloads.items()}

    def close(self) -> None:
        """Release the client's connections."""
        self.client.close()

    # -- internals

    def _run(
        self, queries: Mapping[str, str], *, count_first: Collection[str] = ()
    ) -> dict[str, list[Mapping[str, Any]]]:
        """Every query's rows, entities read concurrently (the client keeps QBO's limits)."""
        entities = list(queries)
        answers = self._run_all(
            [queries[e] for e in entities], count_first={queries[e] for e in count_first if e in queries}
        )
        return dict(zip(entities, answers, strict=True))

    def _run_all(self, sqls: Sequence[str], *, count_first: Collection[str] = ()) -> list[list[Mapping[str, Any]]]:
        """Every query's rows, in the order given, the queries read concurrently within ``max_in_flight``."""
        if not sqls:
            return []
        workers = max(1, min(len(sqls), self.company.qbo.max_in_flight))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qbo-query") as pool:
            futures: list[Future[list[dict[str, Any]]]] = [
                pool.submit(self.client.query_all, sql, count_first=sql in count_first) for sql in sqls
            ]
            try:
                return [list(future.result()) for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _keep(self, payloads: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        with self._lock:
            for entity, rows in payloads.items():
                kept = self._payloads.setdefault(entity, {})
                for row in rows:
                    kept.setdefault(str(row.get("Id")), row)


__all__ = ["LiveSource"]
