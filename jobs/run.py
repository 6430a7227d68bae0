"""One reconciliation run, wired end to end: lock, sources, reconcile, history, reports, email.

This module only wires stages together; every decision lives in the stage it belongs to.
``execute_run`` raises the typed errors of ``reconcile.errors`` (exit codes 2, 3, 4); the
caller (CLI or scheduler) turns them into an exit status or an alert.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from jobs import notify
from jobs.queued import claim_attempt
from reconcile import __version__
from reconcile.config import CompanySettings, EmailSettings, Settings
from reconcile.errors import AlreadyReconciled, ConfigError, QboReconError, UsageError
from reconcile.history import LockHandle, RunHistory
from reconcile.match import plan_lookups
from reconcile.model import AwraData, LookupRequest, QboData, RunResult
from reconcile.params import RunParams, build_run_params
from reconcile.profile import NO_PROFILE, Profile
from reconcile.reconciliation import reconcile
from reconcile.sources.awra import awra_label, lookup_awra, read_awra
from reconcile.sources.qbo import QboSource, open_qbo_source
from reconcile.sources.snapshot import write_snapshot
from reconcile.triage import TriageRules, load_rules
from reports.chart import chart_images
from reports.html import render_html
from reports.outputs import build_summary, write_run_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRequest:
    """What one run was asked to do (from the command line or the scheduler)."""

    company: str | None
    date_from: date
    date_to: date
    status: str | None = None
    entities: tuple[str, ...] = ()
    awra_url: str | None = None
    qbo_snapshot: Path | None = None
    save_qbo_snapshot: Path | None = None
    out_dir: Path | None = None
    send_email: bool = True
    triggered_by: str = "manual"
    attempt: int = 1  # the try of a run retried after a passing failure (jobs.retry)
    #: the run id a queued run was given at dispatch; the run is then one attempt of it (``jobs.queued``)
    queued_as: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    """What a completed run produced."""

    params: RunParams
    report_dir: Path
    summary: dict[str, object]
    email_status: str


Progress = Callable[[str], None]


def terminal_progress() -> Progress:
    """Step messages on stderr when it is a terminal; a log line otherwise."""
    if sys.stderr.isatty():
        return lambda message: print(f"qbo-recon: {message}", file=sys.stderr, flush=True)
    return lambda message: log.info(message)


@contextmanager
def _step(progress: Progress, label: str) -> Iterator[None]:
    started = time.perf_counter()
    progress(f"{label}…")
    yield
    progress(f"{label}: done in {time.perf_counter() - started:.1f} s")


def company_for(settings: Settings, request: RunRequest) -> CompanySettings:
    """The company this run is for, with the request's AWRA URL override applied."""
    company = settings.company(request.company)
    if request.awra_url:
        _check_url(request.awra_url)
        company = dataclasses.replace(company, awra=dataclasses.replace(company.awra, url=request.awra_url))
    return company


def qbo_snapshot_of(company: CompanySettings, request: RunRequest) -> Path | None:
    """The snapshot folder the run reads QBO from: ``--qbo-snapshot``, else the company's ``snapshot_dir``."""
    if request.qbo_snapshot is not None:
        return request.qbo_snapshot
    configured = company.qbo.snapshot_dir
    if configured is not None and not configured.is_dir():
        raise ConfigError([f"{company.key}: qbo.snapshot_dir {configured}: no such folder"])
    return configured


def _check_url(url: str) -> None:
    try:
        make_url(url)
    except ArgumentError:
        raise UsageError(f"--awra-url {url!r}: not an SQLAlchemy database URL") from None


def execute_run(
    settings: Settings,
    request: RunRequest,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    profile: Profile | None = None,
) -> RunOutcome:
    """Run one reconciliation and publish its reports; raise a typed error if it cannot.

    ``profile`` collects a stage-by-stage account (wall, CPU, peak memory added); without one
    the stages are still measured and logged at debug level.
    """
    progress = progress or terminal_progress()
    profile = profile if profile is not None else Profile()
    now = now or datetime.now(UTC)
    company = company_for(settings, request)
    params = build_run_params(
        settings,
        company=company.key,
        date_from=request.date_from,
        date_to=request.date_to,
        status=request.status,
        entities=request.entities,
        now=now,
    )
    rules = load_rules(settings.reconcile.triage_rules)
    with profile.stage("QBO source opened (a snapshot is read and parsed here)"):
        qbo_source = open_qbo_source(company, snapshot_dir=qbo_snapshot_of(company, request))
    out_dir = request.out_dir or settings.run.out_dir
    history = RunHistory(settings.history.url, lease_seconds=settings.history.lock_lease_seconds)
    try:
        return _locked_run(company, params, request, qbo_source, rules, out_dir, history, progress, profile=profile)
    finally:
        history.dispose()
        # a snapshot source holds its files open (payloads are re-read on demand), a live one its
        # connections: the scheduler and the workers run company after company in one process
        close = getattr(qbo_source, "close", None)
        if close is not None:
            close()


def _locked_run(
    company: CompanySettings,
    params: RunParams,
    request: RunRequest,
    qbo_source: QboSource,
    rules: TriageRules,
    out_dir: Path,
    history: RunHistory,
    progress: Progress,
    *,
    profile: Profile = NO_PROFILE,
) -> RunOutcome:
    with history.lock(company.key, owner=f"{socket.gethostname()}:{os.getpid()}") as lock:
        if request.triggered_by == "schedule":
            # checked again under the lock: another scheduler may have just finished this window
            done = history.find_completed_run(company.key, params.date_from, params.date_to, triggered_by="schedule")
            if done is not None:
                raise AlreadyReconciled(
                    f"{company.key}: {params.date_from}..{params.date_to} already reconciled by run {done.run_id}"
                )
        if request.queued_as is not None:
            # under the lock, so two deliveries of one message cannot both run it
            params = dataclasses.replace(params, run_id=claim_attempt(history, out_dir, request.queued_as))
        history.start_run(
            params,
            inputs_hash=None,
            code_version=__version__,
            qbo_minor_version=company.qbo.minor_version,
            triggered_by=request.triggered_by,
            attempt=request.attempt,
        )
        try:
            outcome = _reconcile_and_publish(
                company, params, request, qbo_source, rules, out_dir, history, progress, lock=lock, profile=profile
            )
        except QboReconError as exc:
            history.finish_run(params.run_id, outcome="failed", reason=exc.one_line())
            _alert(company, request, exc.one_line(), progress)
            raise
        except BaseException as exc:
            history.finish_run(params.run_id, outcome="failed", reason=f"internal error: {type(exc).__name__}")
            raise
    return outcome


def _reconcile_and_publish(
    company: CompanySettings,
    params: RunParams,
    request: RunRequest,
    qbo_source: QboSource,
    rules: TriageRules,
    out_dir: Path,
    history: RunHistory,
    progress: Progress,
    *,
    lock: LockHandle | None = None,
    profile: Profile = NO_PROFILE,
) -> RunOutcome:
    awra, qbo = read_sources(company, params, qbo_source, progress, profile=profile)
    if request.save_qbo_snapshot is not None:
        write_snapshot(request.save_qbo_snapshot, qbo_source.payloads())
        progress(f"QBO snapshot saved to {request.save_qbo_snapshot}")
    with profile.stage("inputs hash"):
        input_digest = inputs_hash(awra, qbo)
    sources = {"awra": awra_label(company.awra), "qbo": qbo_source.description}
    with _step(progress, "reconciling"):
        result = reconcile(awra, qbo, params, rules, sources=sources, profile=profile)
    with profile.stage("history (compared with the last run)"):
        findings, history_counts = history.compare(params, result.findings)
    result = dataclasses.replace(result, findings=findings, history=history_counts)
    if lock is not None:
        lock.ensure_held()  # a run whose lease lapsed (another took over) must not publish
    with _step(progress, "writing reports"):
        report_dir = write_run_folder(result, out_dir, profile=profile)
    with profile.stage("email"):
        email_status = _email(company, result, report_dir, request, progress)
    with profile.stage("history (run recorded)"):
        summary = build_summary(result)
        history.finish_run(
            params.run_id,
            outcome="completed",
            counts=summary["categories"],
            report_dir=str(report_dir),
            email_status=email_status,
            inputs_hash=input_digest,
        )
    return RunOutcome(params=params, report_dir=report_dir, summary=summary, email_status=email_status)


def read_sources(
    company: CompanySettings,
    params: RunParams,
    qbo_source: QboSource,
    progress: Progress,
    *,
    also: LookupRequest | None = None,
    profile: Profile = NO_PROFILE,
) -> tuple[AwraData, QboData]:
    """Both sides for the run's window, plus counterparts looked up beyond it (and ``also``)."""
    with _step(progress, f"reading AWRA ({awra_label(company.awra)})"), profile.stage("AWRA read"):
        awra = read_awra(company.awra, params)
    with _step(progress, f"reading QBO ({qbo_source.description})"), profile.stage("QBO read (window)"):
        qbo = qbo_source.pull(params)
    with profile.stage("lookups beyond the window"):
        lookups = plan_lookups(awra, qbo, params).merged(also)
        if not lookups.is_empty():
            with _step(progress, "looking up counterparts outside the window"):
                awra = awra.extended(lookup_awra(company.awra, params, lookups))
                qbo = qbo.extended(qbo_source.lookup(params, lookups))
    return awra, qbo


def _email(
    company: CompanySettings, result: RunResult, report_dir: Path, request: RunRequest, progress: Progress
) -> str:
    if not request.send_email or not company.email.enabled:
        return "not sent (email disabled)" if request.send_email else "not sent (--no-email)"
    summary = build_summary(result)
    history = summary.get("history") or {}
    subject = notify.report_subject(
        result.params.company_name,
        (result.params.date_from, result.params.date_to),
        {
            "new": int(history.get("new", len(result.findings))),
            "open": len(result.findings),
            "unexplained": str(summary["unexplained"]),
        },
    )
    workbook = report_dir / "reconciliation.xlsx"
    location = workbook_location(company.email, workbook)
    try:
        delivery = notify.send_report(
            company.email,
            subject=subject,
            html=render_html(result, chart_src="cid:findings-chart"),
            images=[(image.cid, image.png) for image in chart_images(result)],
            attachments=[("reconciliation.xlsx", workbook.read_bytes(), notify.XLSX_MIME)],
            detached_html=lambda: render_html(result, chart_src="cid:findings-chart", workbook_location=location),
            workbook_location=location,
        )
    except notify.DeliveryError as exc:
        progress(f"email not delivered: {exc}; the report stays in {report_dir}")
        return f"failed: {exc}"
    progress(f"emailed to {', '.join(company.email.recipients)}: {delivery.status}")
    return delivery.status if delivery.attached else f"{delivery.status}; workbook at {location}"


def workbook_location(email: EmailSettings, workbook: Path) -> str:
    """Where a reader finds the workbook: under ``reports_base_url`` when set, else its path."""
    if email.reports_base_url:
        return f"{email.reports_base_url}/{quote(workbook.parent.name)}/{quote(workbook.name)}"
    return str(workbook.resolve())


def _alert(company: CompanySettings, request: RunRequest, reason: str, progress: Progress) -> None:
    """Tell the recipients a manual run failed.

    Scheduled and queued runs are alerted by their caller (the scheduler, the worker), which
    knows whether the run will be tried again.
    """
    if not (request.send_email and company.email.enabled) or request.triggered_by in ("schedule", "dispatch"):
        return
    try:
        notify.send_alert(company.email, company=company.name, reason=reason)
    except notify.DeliveryError as exc:
        progress(f"alert email not delivered: {exc}")


def inputs_hash(awra: AwraData, qbo: QboData) -> str:
    """A hash of the reconciled inputs, so two runs can be told to have read the same data.

    Every frame of both sides, column by column: names, dtypes, row counts and the values'
    canonical bytes (``_column_parts``), so it changes whenever any value does and is the same
    in every process for the same inputs (no Python ``hash``, no memory addresses).
    """
    digest = hashlib.sha256()
    for side, data in (("awra", awra), ("qbo", qbo)):
        for field in dataclasses.fields(data):
            frame = getattr(data, field.name)
            if isinstance(frame, pd.DataFrame):
                digest.update(f"{side}.{field.name}: {len(frame)} rows\n".encode())
                for column in frame.columns:
                    digest.update(f"{column}: {frame[column].dtype}\n".encode())
                    for part in _column_parts(frame[column]):
                        digest.update(part)
    digest.update(f"qbo.home_currency: {qbo.home_currency}\n".encode())
    return digest.hexdigest()[:16]


def _column_parts(series: pd.Series) -> Iterator[bytes | memoryview]:
    """A column's values as bytes that depend on the values only (not on how they are stored).

    Arrow text and numeric/date columns are read from their buffers (hashing their bytes costs a
    fraction of hashing each value); any other column (Decimal objects…) is hashed value by value.
    """
    data = getattr(series.array, "_pa_array", None)
    if isinstance(data, pa.ChunkedArray) and (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
        yield from _text_parts(data.combine_chunks() if data.num_chunks != 1 else data.chunk(0))
        return
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind in "Mm"):
        yield np.asarray(series.array.asi8).tobytes()  # NaT is one fixed integer
    elif isinstance(dtype, np.dtype) and dtype.kind in "iub":
        yield np.ascontiguousarray(series.to_numpy()).tobytes()
    elif isinstance(dtype, (pd.Int64Dtype, pd.BooleanDtype)):
        # a missing slot's stored value is arbitrary: the mask says it is missing, the value reads 0
        missing = series.isna().to_numpy(dtype=bool)
        yield np.packbits(missing).tobytes()
        yield series.to_numpy(dtype=np.int64, na_value=0).tobytes()
    else:
        yield pd.util.hash_pandas_object(series, index=False).to_numpy().tobytes()


def _text_parts(array: pa.Array) -> Iterator[bytes | memoryview]:
    """A text array as: its null count, which slots are null, each value's length, the values' bytes."""
    yield f"{array.null_count} null\n".encode()
    if array.null_count:
        yield np.packbits(array.is_null().to_numpy(zero_copy_only=False)).tobytes()
        array = pc.fill_null(array, "")  # a null slot may hold any bytes; it reads "" here
    if not len(array):
        return
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=width)[array.offset : array.offset + len(array) + 1]
    yield np.diff(offsets).astype(np.int64).tobytes()
    if data_buffer is not None:
        yield memoryview(data_buffer)[int(offsets[0]) : int(offsets[-1])]


__all__ = ["RunOutcome", "RunRequest", "company_for", "execute_run", "inputs_hash", "qbo_snapshot_of"]
