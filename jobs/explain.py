"""``qbo-recon explain REF``: find what REF names, gather its data, render the explanation.

Wiring only: ``reconcile.sources.awra_refs`` resolves REF; for a record, ``reconcile.explain_scope``
gathers the few records its answer depends on (its link and number whatever the date, the party's
records of its amount in the probable-match days, what those are linked to) through the targeted
finders of ``reconcile.sources.awra_targeted`` and ``reconcile.sources.qbo_targeted``, and the pure
pipeline reconciles them; where only the whole window can say it (a master the record uses has a
mapping finding, whose message counts the window's blocked transactions; a snapshot the index
cannot read) the window is read as ``qbo-recon run`` reads it. Parties and sync runs read as
before. ``reconcile.explain`` builds the explanation, and this module renders it as text (colours
only on a terminal) or JSON. Read-only, like every run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from jobs.run import Progress, _step, read_sources
from reconcile import frames as F
from reconcile.config import CompanySettings, Settings
from reconcile.errors import UsageError
from reconcile.explain import explain_party, explain_record, explain_sync_run
from reconcile.explain_scope import Keys, ScopeTooWide, depends_on_window, gather_scope
from reconcile.history import Acknowledgement, RunHistory, fingerprint_findings
from reconcile.match import match_records
from reconcile.model import AwraData, LookupRequest, QboData
from reconcile.params import RunParams, build_run_params
from reconcile.reconciliation import reconcile
from reconcile.sources.awra_refs import Reference, find_references, read_sync_run
from reconcile.sources.awra_targeted import TargetedAwra
from reconcile.sources.qbo import QboSource, open_qbo_source
from reconcile.sources.qbo_targeted import IndexUnavailable, open_qbo_finder
from reconcile.triage import load_rules

log = logging.getLogger(__name__)


class AmbiguousReference(UsageError):
    """REF names several things; ``candidates`` lists them for the user to pick."""

    def __init__(self, ref: str, candidates: Sequence[Reference]):
        self.candidates = tuple(candidates)
        super().__init__(f"{ref!r} matches {len(candidates)} things; ask again with one of these REFs:")


def explain(
    settings: Settings,
    company: CompanySettings,
    ref: str,
    *,
    qbo_snapshot: Path | None,
    now: datetime | None = None,
    progress: Progress | None = None,
    targeted: bool = True,
) -> dict[str, Any]:
    """The explanation of REF as a JSON-ready dict; ``UsageError`` when REF names nothing or many.

    A record is explained from the few records its answer depends on (``targeted``, see
    ``reconcile.explain_scope``); where that cannot give the window's answer (a mapping finding
    counts the window's blocked transactions; a snapshot the index cannot read) the window is
    read as ``qbo-recon run`` reads it. ``targeted=False`` always reads the window.
    """
    now = now or datetime.now(UTC)
    progress = progress or (lambda _message: None)
    found = find_references(company.awra, ref)
    if not found:
        raise UsageError(
            f"nothing matched {ref!r}: give a record number, an AWRA id, qbo:<Id>, "
            "a customer or vendor code or name, or a sync run id"
        )
    if len(found) > 1:
        raise AmbiguousReference(ref, found)
    target = found[0]
    snapshot_dir = qbo_snapshot or company.qbo.snapshot_dir
    if target.kind in F.ENTITIES or target.kind == "qbo":
        if not targeted:
            qbo_source = open_qbo_source(company, snapshot_dir=snapshot_dir)
            return _explain_whole_window(settings, company, qbo_source, target, now, progress, ref)
        return _explain_targeted(settings, company, snapshot_dir, target, now, progress, ref)
    if target.kind == "sync_run":  # AWRA's sync log and the run history only: QBO is not read
        return _explain_sync_run(settings, company, target, now)
    qbo_source = open_qbo_source(company, snapshot_dir=snapshot_dir)
    return _explain_party(settings, company, qbo_source, target, now, progress)


def _params(
    settings: Settings,
    company: CompanySettings,
    *,
    entity: str | None,
    around: date,
    days: int,
    status: str | None,
    now: datetime,
) -> RunParams:
    return build_run_params(
        settings,
        company=company.key,
        date_from=around - timedelta(days=days),
        date_to=around + timedelta(days=days),
        status=status,
        entities=(entity,) if entity else None,
        now=now,
        run_id=f"explain-{company.key}",
    )


@dataclasses.dataclass(frozen=True)
class _Question:
    """What one record's explanation asks: its entity, its window, what to look up, whose it is."""

    entity: str
    params: RunParams
    also: LookupRequest
    seed: Keys
    awra_id: str | None
    qbo_id: str | None
    reference: str


def _record_question(settings: Settings, company: CompanySettings, target: Reference, now: datetime) -> _Question:
    """The question for an AWRA record: its window, its link and number looked up whatever the date."""
    entity = target.kind
    ids = frozenset(x for x in (target.qbo_id,) if x)
    numbers = frozenset({target.label})
    # the record's own status decides the filter, so it is compared whatever it is
    status = target.status if target.status in F.AWRA_STATUSES else None
    params = _params(
        settings,
        company,
        entity=entity,
        around=target.window_day or now.date(),
        days=settings.reconcile.probable_match_days,
        status=status,
        now=now,
    )
    return _Question(
        entity=entity,
        params=params,
        also=LookupRequest(qbo_ids={entity: ids}, qbo_numbers={entity: numbers}),
        seed=Keys(awra_ids={entity: frozenset({target.key})}, qbo_ids={entity: ids}, numbers={entity: numbers}),
        awra_id=target.key,
        qbo_id=None,
        reference=target.describe(),
    )


def _qbo_question(
    settings: Settings, company: CompanySettings, found: QboData, target: Reference, now: datetime, ref: str
) -> _Question:
    """The question for a QBO Id no AWRA record knows, from the QBO record(s) carrying that Id."""
    tx = found.transactions
    if tx.empty:
        raise UsageError(f"nothing matched {ref!r}: no AWRA record recorded that QBO Id and QBO holds no such record")
    if len(tx) > 1:
        candidates = [
            Reference("qbo", target.key, f"{row.entity} qbo:{row.id}", f"dated {row.txn_date:%Y-%m-%d}")
            for row in tx.itertuples()
        ]
        raise AmbiguousReference(ref, candidates)
    row = tx.iloc[0]
    entity = str(row["entity"])
    around = row["txn_date"].date() if not _isna(row["txn_date"]) else now.date()
    params = _params(
        settings,
        company,
        entity=entity,
        around=around,
        days=settings.reconcile.probable_match_days,
        status=None,
        now=now,
    )
    return _Question(
        entity=entity,
        params=params,
        also=LookupRequest(awra_links={entity: frozenset({target.key})}),
        seed=Keys(qbo_ids={entity: frozenset({target.key})}),
        awra_id=None,
        qbo_id=target.key,
        reference=f"QBO {F.QBO_ENTITY[entity]} Id {target.key}",
    )


def _probe(settings: Settings, company: CompanySettings, now: datetime) -> RunParams:
    return _params(settings, company, entity=None, around=now.date(), days=0, status=None, now=now)


def _every_entity(qbo_id: str) -> LookupRequest:
    return LookupRequest(qbo_ids={e: frozenset({qbo_id}) for e in F.ENTITIES})


def _explain_whole_window(
    settings: Settings,
    company: CompanySettings,
    qbo_source: QboSource,
    target: Reference,
    now: datetime,
    progress: Progress,
    ref: str,
) -> dict[str, Any]:
    """The record explained from the whole window around it, read as a run reads it."""
    if target.kind == "qbo":
        probe = _probe(settings, company, now)
        question = _qbo_question(
            settings, company, qbo_source.lookup(probe, _every_entity(target.key)), target, now, ref
        )
    else:
        question = _record_question(settings, company, target, now)
    awra, qbo = read_sources(company, question.params, qbo_source, progress, also=question.also)
    return _explain_data(settings, company, question, awra, qbo)


def _explain_targeted(
    settings: Settings,
    company: CompanySettings,
    snapshot_dir: Path | None,
    target: Reference,
    now: datetime,
    progress: Progress,
    ref: str,
) -> dict[str, Any]:
    """The record explained from the records connected to it (``gather_scope``), else the window."""
    finder = open_qbo_finder(company, snapshot_dir=snapshot_dir, params=_probe(settings, company, now))
    try:
        try:
            if target.kind == "qbo":
                found = finder.lookup(_every_entity(target.key))
                question = _qbo_question(settings, company, found, target, now, ref)
            else:
                question = _record_question(settings, company, target, now)
            finder = finder.with_params(question.params)
            with _step(progress, f"reading the records {question.reference} depends on ({finder.description})"):
                awra, qbo = gather_scope(
                    TargetedAwra(company.awra, question.params), finder, question.params, question.seed, question.also
                )
        except (IndexUnavailable, ScopeTooWide) as exc:
            log.info("explain %s: reading the whole window (%s)", ref, exc)
            return _explain_whole_window(
                settings, company, open_qbo_source(company, snapshot_dir=snapshot_dir), target, now, progress, ref
            )
    finally:
        finder.close()
    out = _explain_data(settings, company, question, awra, qbo)
    if depends_on_window(out, awra):
        # a mapping finding counts the transactions it blocks in the whole window
        log.info("explain %s: a master it uses has a mapping finding; reading the whole window", ref)
        return _explain_whole_window(
            settings, company, open_qbo_source(company, snapshot_dir=snapshot_dir), target, now, progress, ref
        )
    return out


def _explain_data(
    settings: Settings, company: CompanySettings, question: _Question, awra: AwraData, qbo: QboData
) -> dict[str, Any]:
    """Reconcile what was read and explain the record (only AWRA's side known for ``awra_id``)."""
    params, entity = question.params, question.entity
    result = reconcile(awra, qbo, params, load_rules(settings.reconcile.triage_rules))
    findings = result.findings.assign(fingerprint=fingerprint_findings(result.findings, company.key))
    matches = match_records(awra, qbo, params)
    awra_id = question.awra_id
    if awra_id is None:
        mine = matches[(matches["entity"] == entity) & (matches["qbo_id"] == question.qbo_id)]
        paired = [str(a) for a in mine["awra_id"].dropna().unique()]
        awra_id = paired[0] if paired else None
    out = explain_record(
        entity=entity,
        awra_id=awra_id,
        qbo_id=question.qbo_id,
        awra=awra,
        qbo=qbo,
        matches=matches,
        result=dataclasses.replace(result, findings=findings),
        seen=_history_seen(settings, company, findings),
    )
    out["reference"] = question.reference
    return out


def _explain_party(
    settings: Settings,
    company: CompanySettings,
    qbo_source: QboSource,
    target: Reference,
    now: datetime,
    progress: Progress,
) -> dict[str, Any]:
    days = settings.schedule.window_days
    params = build_run_params(
        settings,
        company=company.key,
        date_from=now.date() - timedelta(days=days),
        date_to=now.date(),
        status=None,
        entities=None,
        now=now,
        run_id=f"explain-{company.key}",
    )
    awra, qbo = read_sources(company, params, qbo_source, progress)
    result = reconcile(awra, qbo, params, load_rules(settings.reconcile.triage_rules))
    out = explain_party(party_type=target.kind, party_id=target.key, awra=awra, qbo=qbo, result=result)
    out["reference"] = target.describe()
    return out


def _explain_sync_run(settings: Settings, company: CompanySettings, target: Reference, now: datetime) -> dict[str, Any]:
    run, attempts = read_sync_run(company.awra, target.key)
    params = build_run_params(
        settings,
        company=company.key,
        date_from=now.date(),
        date_to=now.date(),
        status=None,
        entities=None,
        now=now,
        run_id=f"explain-{company.key}",
    )
    out = explain_sync_run(run=run, attempts=attempts, rules=load_rules(settings.reconcile.triage_rules), params=params)
    out["reference"] = target.describe()
    return out


def _history_seen(
    settings: Settings, company: CompanySettings, findings: Any
) -> Mapping[str, Mapping[str, Any]] | None:
    """First/last time each finding was seen in completed runs, if a run history exists."""
    if not _history_exists(settings.history.url):
        return None
    history = RunHistory(settings.history.url)
    try:
        fingerprints = list(fingerprint_findings(findings, company.key))
        seen = history.seen(company.key, fingerprints)
        acks = history.acknowledgements(company.key, fingerprints=fingerprints)
    finally:
        history.dispose()
    return with_acknowledgements(seen, acks)


def with_acknowledgements(
    seen: Mapping[str, Mapping[str, Any]], acks: Sequence[Acknowledgement]
) -> dict[str, dict[str, Any]]:
    """``seen`` with each acknowledged finding's acknowledgement under ``acknowledgement``."""
    out = {fp: dict(v) for fp, v in seen.items()}
    for ack in acks:
        out.setdefault(ack.fingerprint, {})["acknowledgement"] = {
            "by": ack.by,
            "at": ack.at.isoformat(),
            "note": ack.note,
            "until": ack.until.isoformat() if ack.until else None,
            "in_force": ack.in_force,
            "lapsed": ack.lapsed_reason,
        }
    return out


def _history_exists(url: str) -> bool:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).exists()
    return True


def _isna(value: Any) -> bool:
    try:
        return bool(value != value) or value is None
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- rendering


def render_json(explanation: Mapping[str, Any]) -> str:
    """The explanation as indented JSON (the same content as the text layout)."""
    return json.dumps(explanation, indent=2, ensure_ascii=False, default=str)


class _Style:
    def __init__(self, colour: bool):
        self.colour = colour

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def head(self, text: str) -> str:
        return self._wrap("1", text)

    def bad(self, text: str) -> str:
        return self._wrap("31", text)

    def good(self, text: str) -> str:
        return self._wrap("32", text)


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> list[str]:
    """A plain aligned text table."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return lines


def render_text(explanation: Mapping[str, Any], *, colour: bool | None = None) -> str:
    """The explanation laid out for a terminal, ending with the escalation block."""
    style = _Style(sys.stdout.isatty() if colour is None else colour)
    kind = explanation["kind"]
    renderer: Callable[[Mapping[str, Any], _Style], list[str]] = {
        "record": _render_record,
        "customer": _render_party,
        "vendor": _render_party,
        "sync_run": _render_sync_run,
    }[kind]
    return "\n".join(renderer(explanation, style)) + "\n"


def _kv(pairs: Sequence[tuple[str, Any]]) -> list[str]:
    width = max(len(k) for k, _ in pairs)
    return [f"  {k.ljust(width)}  {'' if v is None else v}" for k, v in pairs]


def _render_record(e: Mapping[str, Any], s: _Style) -> list[str]:
    lines = [s.head(f"{e['entity'].title()}: {e.get('reference', '')}"), ""]
    awra = e.get("awra")
    if awra:
        lines.append(s.head("AWRA"))
        lines += _kv(
            [
                ("number", awra.get("number")),
                ("id", awra.get("id")),
                ("status", f"{awra.get('status')} ({'ready to sync' if awra.get('ready') else 'not ready to sync'})"),
                ("party", f"{awra.get('party_name') or ''} ({awra.get('party_id') or '-'})"),
                ("date", awra.get("txn_date")),
                ("amount", f"{awra.get('amount')} {awra.get('currency') or ''}"),
                ("tax", awra.get("tax")),
                ("line total", awra.get("line_total")),
                ("QBO link recorded", awra.get("qbo_link") or "none"),
                ("branch / warehouse", f"{awra.get('branch') or '-'} / {awra.get('warehouse') or '-'}"),
                ("last changed", f"{awra.get('updated_at')} by {awra.get('updated_by') or 'unknown'}"),
            ]
        )
        if awra.get("lines"):
            lines.append("")
            lines += [
                "  " + x
                for x in table(
                    [
                        (
                            ln["line_no"],
                            ln.get("item") or ln.get("account") or ln.get("applies_to") or ln.get("payment_method"),
                            ln.get("tax_code"),
                            ln.get("amount") or ln.get("debit") or ln.get("credit"),
                        )
                        for ln in awra["lines"]
                    ],
                    ["line", "item / account / invoice", "tax", "amount"],
                )
            ]
    else:
        lines.append(s.bad("AWRA holds no record for it."))
    lines += ["", s.head("QBO")]
    if e["qbo"]:
        lines += [
            "  " + x
            for x in table(
                [
                    (
                        q["id"],
                        q.get("number"),
                        q.get("txn_date"),
                        q.get("party_name"),
                        q.get("amount"),
                        q.get("status"),
                        q.get("match_method") or q.get("outcome"),
                        "yes" if q.get("in_window") else "no",
                    )
                    for q in e["qbo"]
                ],
                ["Id", "number", "date", "party", "amount", "status", "matched by", "in window"],
            )
        ]
        lines += [f"  {q['link']}" for q in e["qbo"]]
    else:
        lines.append(s.bad("  not in QBO (looked up by link, number and probable match, whatever the date)"))
    for comparison in e.get("comparison", []):
        lines += ["", s.head(f"Field by field (QBO Id {comparison['qbo_id']})")]
        rows: list[tuple[object, ...]] = [
            (f["field"], f["awra"], f["qbo"], s.bad("DIFFERS") if f["differs"] else s.good("same"))
            for f in comparison["fields"]
        ]
        lines += ["  " + x for x in table(rows, ["field", "AWRA", "QBO", ""])]
    lines += _render_line_comparisons(e.get("lines") or [], s)
    lines += ["", s.head("Sync log")]
    if e["sync_log"]:
        rows = [
            (a.get("attempted_at"), a.get("sync_run_id"), a.get("status"), a.get("error_code"), a.get("retry_count"))
            for a in e["sync_log"]
        ]
        lines += ["  " + x for x in table(rows, ["attempted", "sync run", "status", "code", "retries"])]
        messages = [a["message"] for a in e["sync_log"] if a.get("message")]
        if messages:
            lines.append(f"  last message: {messages[-1]}")
    else:
        lines.append("  no sync attempt recorded")
    if e["mappings"]:
        lines += ["", s.head("Mappings used")]
        rows = [
            (
                m["type"],
                m.get("code") or m["awra_id"],
                m.get("name"),
                m.get("qbo_id") or "-",
                m.get("qbo_name"),
                m["state"],
            )
            for m in e["mappings"]
        ]
        lines += ["  " + x for x in table(rows, ["type", "AWRA", "name", "QBO Id", "QBO name", "state"])]
        # what the mapping checks said about each master in trouble, in their words
        for m in e["mappings"]:
            for problem in m.get("findings") or []:
                lines.append(f"  {s.bad(problem['category'])}: {problem.get('message') or ''}")
    lines += ["", s.head("Findings")]
    if e["findings"]:
        for f in e["findings"]:
            where = f", line {f['line']}" if f.get("line") else ""
            what = f["category"] + (f" ({f['field']}{where})" if f.get("field") else "")
            lines.append(f"  - {s.bad(what)}: {f.get('cause') or ''}")
            if f.get("awra_value") or f.get("qbo_value"):
                lines.append(f"      AWRA {f.get('awra_value')} vs QBO {f.get('qbo_value')}")
            lines.append(f"      action: {f.get('action') or ''}")
            if f.get("first_seen"):
                lines.append(f"      first seen {f['first_seen']}, last seen {f.get('last_seen')}")
            ack = f.get("acknowledgement")
            if ack and ack.get("in_force"):
                until = f" until {ack['until']}" if ack.get("until") else ""
                lines.append(f"      acknowledged by {ack['by']} on {ack['at'][:10]}{until}: {ack['note']}")
            elif ack:
                lines.append(f"      {ack['lapsed']}")
    else:
        lines.append(s.good("  none: AWRA and QBO agree on this record"))
    retry = e["retry"]
    verdict = {True: s.good("safe to retry"), False: s.bad("do not retry"), None: "nothing to retry"}[retry["safe"]]
    lines += ["", s.head("Retry"), f"  {verdict}: {retry['why']}"]
    lines += _render_escalation(e["escalation"], s)
    return lines


def _render_line_comparisons(comparisons: Sequence[Mapping[str, Any]], s: _Style) -> list[str]:
    """Each counterpart's lines beside the record's: one row per line pair, the differences marked."""
    out: list[str] = []
    for comparison in comparisons:
        if not comparison["lines"]:
            continue
        out += ["", s.head(f"Lines side by side (QBO Id {comparison['qbo_id']})")]
        rows = [
            (
                ln["line"],
                ln.get("awra") or "-",
                ln.get("qbo") or "-",
                s.bad("DIFFERS: " + ", ".join(ln["differs"])) if ln["differs"] else s.good("same"),
            )
            for ln in comparison["lines"]
        ]
        out += ["  " + x for x in table(rows, ["line", "AWRA", "QBO", ""])]
    return out


def _render_escalation(esc: Mapping[str, Any], s: _Style) -> list[str]:
    lines = ["", s.head("Escalation (paste into the ticket)"), "-" * 40]
    lines += [
        f"Connector: {esc.get('connector')}",
        f"Record number: {esc.get('record_number') or '-'}",
        f"Module: {esc.get('module')}",
        f"Branch / warehouse: {esc.get('branch') or '-'} / {esc.get('warehouse') or '-'}",
        f"Sync run: {esc.get('sync_run') or '-'}",
        f"Status: {esc.get('status') or '-'}",
        f"Error message: {esc.get('error_message') or '-'}",
        f"Retry count: {esc.get('retry_count') if esc.get('retry_count') is not None else '-'}",
        f"Expected QBO result: {esc.get('expected_qbo_result')}",
        f"Actual QBO result: {esc.get('actual_qbo_result')}",
        f"Findings: {', '.join(esc.get('findings') or []) or 'none'}",
        f"User: {esc.get('user') or '-'}",
        "What changed recently: " + ("; ".join(esc.get("changed_recently") or []) or "nothing recorded"),
        "-" * 40,
    ]
    return lines


def _render_party(e: Mapping[str, Any], s: _Style) -> list[str]:
    party = e["party"]
    lines = [s.head(f"{e['kind'].title()}: {e.get('reference', '')}"), ""]
    lines += _kv(
        [
            ("AWRA", f"{party.get('code') or party['awra_id']} {party.get('name') or ''}"),
            ("QBO", f"{party.get('qbo_id') or 'not mapped'} {party.get('qbo_name') or ''}"),
            ("mapping", party["state"]),
            ("window", f"{e['window']['from']} .. {e['window']['to']}"),
            ("transactions in window", e["transactions_in_window"]),
            ("open findings", len(e["findings"])),
            ("money at stake", e["money_at_stake"]),
        ]
    )
    for action in party.get("actions") or []:
        lines.append(f"  action: {action}")
    if e["findings"]:
        lines += ["", s.head("Open findings")]
        rows = [
            (f["entity"], f["category"], f.get("field"), f.get("awra_number"), f.get("qbo_id"), f.get("amount"))
            for f in e["findings"]
        ]
        lines += ["  " + x for x in table(rows, ["entity", "category", "field", "number", "QBO Id", "amount"])]
    return lines


def _render_sync_run(e: Mapping[str, Any], s: _Style) -> list[str]:
    run = e["run"]
    lines = [s.head(f"Sync run {run.get('id')}"), ""]
    lines += _kv(
        [
            ("connector", run.get("connector") or e["connector"]),
            ("started", run.get("started_at")),
            ("finished", run.get("finished_at")),
            ("status", run.get("status")),
            ("triggered by", run.get("triggered_by")),
            ("attempts", e["attempts"]),
        ]
    )
    lines += ["", s.head("By status")]
    lines += ["  " + x for x in table(sorted(e["by_status"].items()), ["status", "records"])]
    for group in e["root_causes"]:
        title = f"{group['cause']}" + (f" (code {group['error_code']})" if group.get("error_code") else "")
        lines += ["", s.head(f"{title}: {len(group['records'])} record(s)")]
        lines.append(f"  action: {group['action']}")
        lines.append(f"  retry can succeed: {'yes' if group['retry_can_succeed'] else 'no, fix the cause first'}")
        if group.get("message"):
            lines.append(f"  message: {group['message']}")
        rows = [(r["record_type"], r["record_number"], r["status"], r["retry_count"]) for r in group["records"]]
        lines += ["  " + x for x in table(rows, ["type", "number", "status", "retries"])]
    lines += _render_escalation(
        {
            "connector": run.get("connector") or e["connector"],
            "record_number": ", ".join(
                r["record_number"] for g in e["root_causes"] for r in g["records"] if r.get("record_number")
            ),
            "module": "sync run",
            "sync_run": run.get("id"),
            "status": run.get("status"),
            "error_message": "; ".join(
                f"{g.get('error_code') or g['cause']}: {g.get('message') or ''}".strip() for g in e["root_causes"]
            ),
            "retry_count": max(
                (int(r["retry_count"]) for g in e["root_causes"] for r in g["records"] if r.get("retry_count")),
                default=None,
            ),
            "expected_qbo_result": "every record of the run present in QBO",
            "actual_qbo_result": f"{sum(len(g['records']) for g in e['root_causes'])} record(s) not synced",
            "user": run.get("triggered_by"),
        },
        s,
    )
    return lines
