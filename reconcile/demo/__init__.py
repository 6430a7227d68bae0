"""The demo data set: a seeded AWRA SQLite database, the matching QBO snapshot and a manifest.

``build_demo(folder)`` writes, for a small Kenyan trading and services company (home currency
KES, a few USD customers): about 40 customers, 15 vendors, 30 items, 4 tax codes (VAT 16%,
zero-rated, exempt, service tax 8%), 32 accounts, 4 payment methods; about 2,000 invoices, 1,500
payments, 500 bills and 100 journals over the three months from the anchor (the *window*), plus
5% history in the month before it; a sync log (``sync_runs`` every two hours, ``sync_log`` one row
per attempt) and a QBO snapshot in the CONTRACTS §2 format. ``scale`` multiplies the transaction
counts (the planted problems stay the same). Everything derives from ``random.Random(seed)`` and
the anchor date: the same parameters give byte-identical files.

Folder layout::

    awra.db            AWRA database (CONTRACTS §1 tables): awra_url = sqlite:///<abs path>
    qbo/<Entity>.json  QBO snapshot: Invoice, Payment, Bill, JournalEntry, Customer, Vendor, Item,
                       Account, PaymentMethod, TaxCode, TaxRate (JSON arrays, one object a line)
    manifest.json      what was planted (below)
    .demo-complete.json  written last: the parameters of a complete set (``ensure_demo`` checks it)

The manifest
------------
``manifest.json`` holds ``window`` (``from``/``to``), ``status`` (the run's status filter it is
written for: ``posted``), ``counts`` (rows per AWRA table, records per QBO entity, and per entity
the records in the window on each side), ``expected_findings``, ``category_counts``, ``controls``
and ``notes``. Reconciling ``awra_url`` against ``snapshot_dir`` for the window with status
``posted`` must produce **exactly** the expected findings and nothing else. Each expected finding
is ``{"plant", "entity", "category", "awra_id", "awra_number", "qbo_id", "field", "why"}``:

* ``field`` only for ``mismatch`` (every ``frames.MISMATCH_FIELDS`` field: the header fields
  and the line-level ones); ``data_quality`` rows name the AWRA column at fault in ``column``
  instead. A line-level mismatch also names its ``line``: the AWRA ``line_no`` (a payment's
  applications are numbered 1.. in invoice-id order), or the QBO line Id of a line only QBO has.
* Transaction findings: ``awra_id``/``awra_number`` name the AWRA record (``None`` for
  ``missing_in_awra``), ``qbo_id`` the QBO record it is paired with (``None`` when there is none).
  For ``duplicate_in_qbo`` ``qbo_id`` is the *extra* QBO record: the one not linked, which is
  always also the higher QBO Id (one row per extra). For ``duplicate_in_awra`` ``awra_id`` is the
  *extra* AWRA record: the higher AWRA id (one row per extra); its ``qbo_id`` is the QBO record
  carrying that number. ``qbo_id`` is empty for ``data_quality`` rows and for ``sync_conflict``
  "succeeded but absent" (the log's claimed Id is in ``why``: QBO has no such record).
* For the one probable pair the QBO entry carries another number: besides ``txn_date`` it carries a
  ``mismatch`` on ``number``, a field beyond CONTRACTS' list.
* Mapping findings: ``entity`` is the master type, ``awra_id`` the master's id, ``awra_number``
  its code, ``qbo_id`` the QBO id it maps to; for a QBO-side name duplicate ``qbo_id`` is the
  extra QBO record (the higher QBO Id) and ``awra_id`` the AWRA master mapped to the group; for
  two AWRA masters on one QBO record the extra is the higher code (and id).
* ``plant`` groups the rows of one planted record; ``also`` lists the other findings that record
  carries (``missing_in_qbo`` + ``sync_conflict`` for "log says succeeded, QBO lacks it";
  ``retry_loop`` + ``missing_in_qbo``; ``mismatch`` on both ``amount`` and ``line_total``...).
* The key to compare a job's findings against is (entity, category, awra_id or, without one,
  qbo_id, field).

Pairing (CONTRACTS §4), which the expectations assume: per entity, over every record of both
sides in the window or looked up beyond it by link or number, whatever its status: (1) the link
AWRA recorded: the record's ``qbo_id``, else the QBO Id of its latest *succeeded* sync_log row;
(2) the number (``DocNumber``/``PaymentRefNum``) among records still unpaired, so a QBO record
keyed by hand with an AWRA record's number is a number match, not missing; (3) party (the AWRA
party's QBO mapping) + amount + dates at most 3 days apart, for what is still unpaired (one
planted "probable" pair; QBO-only records are given amounts that cannot pair by accident).
A pair is compared when either side passes the status filter (AWRA ``posted``; QBO: not voided);
a pair that is void on both sides is not compared (clean voids are controls). ``not_ready`` is for
``draft``/``submitted`` records only: ``void`` is final, not "not ready". No record is in
``approved`` status, so "ready" and "posted" coincide in the demo.

Line-level plants change one line in QBO so that the header still agrees (an item, an expense
account, a tax code of the same rate, an amount moved between two lines, a journal's debit and
credit swapped, a payment applied to another invoice of the customer, its deposit account or
method); plants that change a line and a total carry both findings. The second currency (USD,
at 130 KES on both sides: AWRA's ``exchange_rate``, QBO's ``ExchangeRate``/``HomeTotalAmt``)
is consistent but for one exchange-rate plant and one tax rounding plant. Many sound mappings
keep a blank (NULL or empty) or stale cached ``qbo_name``: none of them is a finding.

``controls`` lists records built to tempt a false positive (e.g. three equal failures with an edit
in between: not a retry loop; voided on both sides: no finding).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from reconcile.demo._gen import OUTAGE_FAILURES, RUN_EVERY, Ctx, add_months, enrich_history, generate, generate_payments
from reconcile.demo._masters import build_masters
from reconcile.demo._model import Attempt, Expect
from reconcile.demo._plant import Planter, plant_bills, plant_invoices, plant_journals, plant_lines, plant_payments
from reconcile.demo._write import qbo_payloads, resolve, write_awra, write_snapshot

__all__ = ["DEFAULT_ANCHOR", "GENERATOR_VERSION", "DemoSet", "build_demo", "ensure_demo"]

#: Bump when the generator's output changes, so ``ensure_demo`` rebuilds older sets.
GENERATOR_VERSION = 3
DEFAULT_ANCHOR = date(2026, 8, 1)
MARKER = ".demo-complete.json"
_OURS = {"awra.db", "awra.db-journal", "qbo", "manifest.json", MARKER}


@dataclass(frozen=True)
class DemoSet:
    """A built demo data set: where its parts are and the window it is meant to be reconciled for."""

    awra_url: str
    snapshot_dir: Path
    manifest_path: Path
    date_from: date
    date_to: date
    status: str = "posted"


def window_of(anchor: date) -> tuple[date, date]:
    """The demo window: three months from the anchor."""
    return anchor, add_months(anchor, 3) - timedelta(days=1)


def _demo_set(folder: Path, anchor: date) -> DemoSet:
    date_from, date_to = window_of(anchor)
    return DemoSet(
        awra_url=f"sqlite:///{folder / 'awra.db'}",
        snapshot_dir=folder / "qbo",
        manifest_path=folder / "manifest.json",
        date_from=date_from,
        date_to=date_to,
    )


def _marker(seed: int, scale: float, anchor: date) -> dict[str, Any]:
    return {"generator_version": GENERATOR_VERSION, "seed": seed, "scale": scale, "anchor": anchor.isoformat()}


def _context(seed: int, scale: float, anchor: date) -> Ctx:
    rng = random.Random(seed)
    date_from, date_to = window_of(anchor)
    t0 = datetime.combine(anchor - timedelta(days=35), time(0), UTC)
    end = datetime.combine(date_to + timedelta(days=6), time(0), UTC)
    n_runs = int((end - t0) / RUN_EVERY)
    runs = [t0 + k * RUN_EVERY + timedelta(seconds=rng.randrange(1, 50)) for k in range(n_runs)]
    ctx = Ctx(rng, build_masters(), anchor, date_from, date_to, scale, t0, runs)
    # three sync-provider outages on different days of the window, in working hours (08-12 UTC):
    # every attempt in such a run fails and succeeds in the next run
    first = int((datetime.combine(date_from, time(0), UTC) - t0) / RUN_EVERY)
    days = sorted(rng.sample(range(1, (date_to - date_from).days - 1), 3))
    for k, day in enumerate(days):
        ctx.outages[first + 12 * day + 4 + k] = OUTAGE_FAILURES[k]
    return ctx


def generate_demo(seed: int = 7, scale: float = 1.0, anchor: date = DEFAULT_ANCHOR) -> tuple[Ctx, Planter]:
    """Build the whole demo in memory (no I/O): the generation context and the planter."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    ctx = _context(seed, scale, anchor)
    generate(ctx)
    planter = Planter(ctx)
    plant_invoices(planter)
    payable = [d for d in ctx.docs["invoice"] if not d.planted and d.qdoc is not None]
    generate_payments(ctx, payable)
    plant_payments(planter)
    plant_bills(planter)
    plant_journals(planter)
    plant_lines(planter)
    enrich_history(ctx)
    return ctx, planter


def _finding_row(e: Expect) -> dict[str, Any]:
    awra_id: str | None
    number: str | None
    qbo_id: str | None
    if e.master is not None:
        awra_id, number = e.master.id, e.master.code
        qbo_id = e.qbo_id
    else:
        awra_id = e.doc.id if e.doc is not None else None
        number = e.doc.number if e.doc is not None else None
        qbo_id = e.qdoc.id if e.qdoc is not None else None
    row: dict[str, Any] = {
        "plant": e.plant,
        "entity": e.entity,
        "category": e.category,
        "awra_id": awra_id,
        "awra_number": number,
        "qbo_id": qbo_id,
        "field": e.field,
    }
    if e.line is not None:
        row["line"] = e.line
    if e.column is not None:
        row["column"] = e.column
    row["why"] = e.why
    return row


def _manifest(
    ctx: Ctx,
    planter: Planter,
    attempts: list[Attempt],
    awra_counts: dict[str, int],
    qbo_counts: dict[str, int],
    params: dict[str, Any],
) -> dict[str, Any]:
    rows = [_finding_row(e) for e in [*ctx.expects, *ctx.ms.expects]]
    by_record: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows:
        key = (r["entity"], r["awra_id"] or f"qbo:{r['qbo_id']}")
        by_record[key].append(r["category"] + (f":{r['field']}" if r["field"] else ""))
    for r in rows:
        mine = r["category"] + (f":{r['field']}" if r["field"] else "")
        others = [c for c in by_record[(r["entity"], r["awra_id"] or f"qbo:{r['qbo_id']}")] if c != mine]
        r["also"] = others
    window: dict[str, dict[str, int]] = {}
    qbo_name = {"invoice": "Invoice", "payment": "Payment", "bill": "Bill", "journal": "JournalEntry"}
    live = [q for q in ctx.qdocs if not q.dropped and not q.ghost]
    for entity, docs in ctx.docs.items():
        inside = [d for d in docs if d.in_window]
        qs = [q for q in live if q.entity == qbo_name[entity] and ctx.date_from <= q.txn_date <= ctx.date_to]
        window[entity] = {
            "awra": len(inside),
            "awra_posted": sum(1 for d in inside if d.status == "posted"),
            "qbo": len(qs),
            "qbo_live": sum(1 for q in qs if not q.voided),
        }
    controls = [
        {"entity": doc.entity, "awra_id": doc.id, "awra_number": doc.number, "why": why}
        for doc, why in planter.controls
    ]
    return {
        "generator": "reconcile.demo",
        **params,
        "window": {"from": ctx.date_from.isoformat(), "to": ctx.date_to.isoformat()},
        "status": "posted",
        "ready_statuses": ["approved", "posted"],
        "counts": {
            "awra_tables": awra_counts,
            "qbo_entities": qbo_counts,
            "in_window": window,
            "sync_log_rows": len(attempts),
        },
        "category_counts": dict(sorted(Counter(r["category"] for r in rows).items())),
        "expected_findings": rows,
        "controls": controls,
        "notes": [
            "Pair by link (qbo_id, else latest succeeded sync_log qbo_id), then number, then party+amount+date "
            "(<= 3 days).",
            "A QBO record voided (TotalAmt 0, PrivateNote 'Voided') paired with a posted AWRA record is one "
            "status mismatch; its zero amounts are not further mismatches.",
            "duplicate_in_awra extras are reported only as duplicate_in_awra (not also missing_in_qbo); "
            "duplicate_in_qbo extras only as duplicate_in_qbo (not missing_in_awra).",
            "void is not not_ready (void is final); no record is 'approved'. A data_quality row (e.g. status "
            "'closed') is left out of everything else, not_ready included.",
            "A probable pair (party + amount + date) whose numbers differ carries a mismatch on field 'number'.",
            "qbo_mappings.qbo_name is a cached label, blank or stale on many sound mappings: a mapping is sound "
            "when its qbo_id names an active QBO record of its kind, so those are no findings.",
            "Line-level mismatches name their line (AWRA line_no; for a QBO-only line its QBO line Id); one "
            "finding per line and field.",
            "AWRA account types map to QBO AccountType: bank->Bank, receivable->Accounts Receivable, "
            "asset->Other Current Asset|Fixed Asset, payable->Accounts Payable, liability->Other Current "
            "Liability|Long Term Liability, equity->Equity, income->Income, expense->Expense|Cost of Goods Sold.",
            "Retry loops have 4 failed attempts (retry_count 0..3) with one code and message, and nothing "
            "changed since the first; every other record has at most 3 failed attempts.",
            "Money in SQLite is stored with NUMERIC affinity (REAL or INTEGER): read it as exact decimals "
            "rounded to cents.",
        ],
    }


def _build_into(folder: Path, seed: int, scale: float, anchor: date) -> None:
    ctx, planter = generate_demo(seed, scale, anchor)
    attempts = resolve(ctx)
    awra_counts = write_awra(ctx, folder / "awra.db", attempts)
    qbo_counts = write_snapshot(qbo_payloads(ctx), folder / "qbo")
    params = _marker(seed, scale, anchor)
    manifest = _manifest(ctx, planter, attempts, awra_counts, qbo_counts, params)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / MARKER).write_text(json.dumps(params, sort_keys=True) + "\n", encoding="utf-8")


def _is_complete(folder: Path, seed: int, scale: float, anchor: date) -> bool:
    try:
        info = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        info == _marker(seed, scale, anchor)
        and (folder / "awra.db").is_file()
        and (folder / "qbo").is_dir()
        and (folder / "manifest.json").is_file()
    )


def build_demo(folder: Path, *, seed: int = 7, scale: float = 1.0, anchor: date = DEFAULT_ANCHOR) -> DemoSet:
    """Build the demo set into ``folder`` (replacing a previous demo set there) and describe it.

    The set is built in a temporary sibling folder and renamed into place, so ``folder`` never
    holds a half-built set. A non-empty ``folder`` holding anything but a demo set is refused.
    """
    folder = Path(folder).resolve()
    if folder.exists() and not set(os.listdir(folder)) <= _OURS:
        raise ValueError(f"{folder} holds files that are not part of a demo set; refusing to replace it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.building-", dir=folder.parent))
    try:
        _build_into(tmp, seed, scale, anchor)
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.rename(folder, old / "set")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, folder)
        except OSError:
            # another process put a set in place meanwhile: keep it if it is the one we wanted
            if not _is_complete(folder, seed, scale, anchor):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _demo_set(folder, anchor)


def ensure_demo(folder: Path, *, seed: int = 7, scale: float = 1.0, anchor: date = DEFAULT_ANCHOR) -> DemoSet:
    """The demo set in ``folder``: reused when complete with the same parameters, else built."""
    folder = Path(folder).resolve()
    if _is_complete(folder, seed, scale, anchor):
        return _demo_set(folder, anchor)
    return build_demo(folder, seed=seed, scale=scale, anchor=anchor)
