"""AWRA read for one record's explanation: the records carrying given keys, not the whole window.

``TargetedAwra`` is the AWRA finder of ``reconcile.explain_scope``. It finds the ids of the
records carrying a key with narrow SQL (the header's id, number, ``qbo_id`` and, for the party
and amount keys, the party's records in the window; the sync log's succeeded QBO Ids), then
reads those records through the reader of ``reconcile.sources.awra`` (the same raw fetch, value
parsing and data-quality rules), so each record comes back exactly as ``read_awra`` (dated in
the window or undated) or ``lookup_awra`` (otherwise) would give it. Master records, mappings
and the masters' sync log are read whole, as ``read_awra`` reads them: they are small and the
mapping checks need all of them.

Read-only, through ``open_awra`` like every AWRA read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reconcile import frames as F
from reconcile.config import AwraSettings
from reconcile.explain_scope import Keys
from reconcile.model import AwraData, LookupRequest
from reconcile.params import RunParams
from reconcile.sources import awra as reader
from reconcile.sources import awra_columns as C
from reconcile.sources import awra_values as V
from reconcile.sources.awra import lookup_awra, open_awra


class TargetedAwra:
    """AWRA records by key (see ``reconcile.explain_scope.AwraFinder``)."""

    def __init__(self, settings: AwraSettings, params: RunParams):
        self.settings = settings
        self.params = params
        self._base: AwraData | None = None
        #: per entity, the ids ``find`` returned already (a record comes once: its data-quality
        #: rows would otherwise be counted twice)
        self._returned: dict[str, set[str]] = {}

    def base(self) -> AwraData:
        """Masters, mappings, the masters' sync log (and its sync runs), the masters' data quality."""
        if self._base is None:
            with open_awra(self.settings) as conn:
                tables = reader._resolve_tables(conn, self.settings, self.params.entities)
                masters, master_dq = reader._read_masters(conn, tables)
                sync_log = reader._read_master_sync_log(conn, tables, self.settings)
                empty = AwraData.empty()
                self._base = AwraData(
                    transactions=empty.transactions,
                    lines=empty.lines,
                    masters=masters,
                    mappings=reader._read_mappings(conn, tables),
                    sync_log=reader._sorted_sync_log(sync_log),
                    sync_runs=reader._read_sync_runs(conn, tables, sync_log["sync_run_id"]),
                    data_quality=reader._sorted_findings(master_dq),
                ).check()
        return self._base

    def find(self, keys: Keys) -> tuple[AwraData, AwraData]:
        """(records as the window read gives them, the others as a look-up gives them)."""
        base = self.base()
        known = reader._known_ids(base.masters)
        names = reader._party_names(base.masters)
        window: list[AwraData] = []
        beyond: list[AwraData] = []
        with open_awra(self.settings) as conn:
            tables = reader._resolve_tables(conn, self.settings, self.params.entities)
            for entity in [e for e in F.ENTITIES if e in self.params.entities]:
                spec = reader._SPECS[entity]
                returned = self._returned.setdefault(entity, set())
                ids = self._ids(conn, tables, spec, keys, base.mappings) - returned
                returned.update(ids)
                if not ids:
                    continue
                header = tables[spec.header]
                by_id = [header.c("id").in_(chunk) for chunk in reader._chunks(sorted(ids))]
                # the window read's SQL condition too, so a record it leaves out is left out here
                in_window = reader._window_condition(conn, header, self.params)
                reads = (("window", [sa.and_(c, in_window) for c in by_id], window), ("lookup", by_id, beyond))
                for mode, conditions, out in reads:
                    raw = reader._read_entity_raw(conn, tables, self.settings, spec, conditions)
                    built = reader._build_entity(raw, spec, tables, known, names, self.params, mode=mode)
                    runs = reader._read_sync_runs(conn, tables, built.sync_log["sync_run_id"])
                    out.append(_bundle(built, runs))
        return _joined(window), _joined(beyond)

    def lookup(self, request: LookupRequest) -> AwraData:
        """``lookup_awra``, with the sync runs its rows name (``read_awra`` reads those too)."""
        found = lookup_awra(self.settings, self.params, request)
        if found.sync_log.empty:
            return found
        with open_awra(self.settings) as conn:
            tables = reader._resolve_tables(conn, self.settings, self.params.entities)
            runs = reader._read_sync_runs(conn, tables, found.sync_log["sync_run_id"])
        return AwraData(
            transactions=found.transactions,
            lines=found.lines,
            masters=found.masters,
            mappings=found.mappings,
            sync_log=found.sync_log,
            sync_runs=runs,
            data_quality=found.data_quality,
        )

    # -- finding ids

    def _ids(
        self,
        conn: Connection,
        tables: Mapping[str, Any],
        spec: Any,
        keys: Keys,
        mappings: pd.DataFrame,
    ) -> set[str]:
        """Ids of the records of one entity that carry a key (a superset is harmless)."""
        entity = spec.entity
        header, sync = tables[spec.header], tables["sync_log"]
        qbo_ids = sorted(keys.qbo_ids.get(entity, frozenset()))
        numbers = sorted(keys.numbers.get(entity, frozenset()))
        ids = {str(i) for i in keys.awra_ids.get(entity, frozenset())}
        conditions = []
        for chunk in reader._chunks(qbo_ids):
            conditions.append(header.c("qbo_id").in_(chunk))
        for chunk in reader._chunks(numbers):
            conditions.append(header.c("number").in_(chunk))
        if conditions:
            stmt = sa.select(header.c("id").label("id")).where(sa.or_(*conditions))
            ids.update(V.id_text(v) for (v,) in conn.execute(stmt) if v is not None)
        for chunk in reader._chunks(qbo_ids):
            # records whose sync log says QBO created them under that Id (any succeeded attempt)
            stmt = sa.select(sync.c("record_id").label("record_id")).where(
                sync.c("connector") == self.settings.connector,
                sync.c("record_type") == entity,
                sync.c("status") == "succeeded",
                sync.c("qbo_id").in_(chunk),
            )
            ids.update(V.id_text(v) for (v,) in conn.execute(stmt) if v is not None)
        ids.update(self._party_amount_ids(conn, header, spec, keys.party_amounts.get(entity, frozenset()), mappings))
        ids.discard("")
        return ids

    def _party_amount_ids(
        self,
        conn: Connection,
        header: Any,
        spec: Any,
        wanted: frozenset[tuple[str, int]],
        mappings: pd.DataFrame,
    ) -> set[str]:
        """Records in the window whose party maps to a wanted QBO party, with the wanted amount."""
        party_type = F.PARTY_TYPE.get(spec.entity)
        if not wanted or party_type is None or spec.party_col is None or spec.amount_col is None:
            return set()
        by_qbo: dict[str, set[str]] = {}
        of_type = mappings[(mappings["mapping_type"] == party_type).fillna(False).to_numpy(dtype=bool)]
        for awra_id, qbo_id in zip(of_type["awra_id"], of_type["qbo_id"], strict=True):
            if not pd.isna(awra_id) and not pd.isna(qbo_id):
                by_qbo.setdefault(str(qbo_id).strip(), set()).add(str(awra_id))
        amounts: dict[str, set[int]] = {}
        for qbo_party, cents in wanted:
            for party in by_qbo.get(str(qbo_party).strip(), ()):
                amounts.setdefault(party, set()).add(int(cents))
        if not amounts:
            return set()
        window = reader._window_condition(conn, header, self.params)
        found: set[str] = set()
        for chunk in reader._chunks(sorted(amounts)):
            stmt, names = reader._select(
                header.c("id").label("id"),
                header.c(spec.party_col).label("party"),
                header.c(spec.amount_col).label("amount"),
            )
            raw = reader._fetch(conn, stmt.where(header.c(spec.party_col).in_(chunk), window), names)
            parsed = C.cents(raw["amount"])
            parties = C.texts(raw["party"]).to_pylist()
            for ident, party, value, missing, bad in zip(
                C.to_objects(raw["id"]), parties, parsed.values, parsed.missing, parsed.bad, strict=True
            ):
                if ident is None or missing or bad or pd.isna(value) or pd.isna(party):
                    continue
                if int(value) in amounts.get(str(party), ()):
                    found.add(V.id_text(ident))
        return found


def _bundle(built: Any, runs: pd.DataFrame) -> AwraData:
    empty = AwraData.empty()
    return AwraData(
        transactions=built.transactions,
        lines=built.lines,
        masters=empty.masters,
        mappings=empty.mappings,
        sync_log=reader._sorted_sync_log(built.sync_log),
        sync_runs=runs,
        data_quality=reader._sorted_findings(built.data_quality),
    )


def _joined(parts: list[AwraData]) -> AwraData:
    out = AwraData.empty()
    for part in parts:
        out = out.extended(part)
    return out


__all__ = ["TargetedAwra"]
