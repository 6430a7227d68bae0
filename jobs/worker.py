"""Queued runs on Celery workers (RabbitMQ): the app, the task, ``worker`` and ``dispatch``.

The task is one thin entry point beside the CLI and the scheduler: it calls the same run wiring
(``jobs.run.execute_run``) with ``queued_as`` set, so each delivery is one attempt of the queued
run and a run that completed or published is never run again (``jobs.queued``).

Delivery is at least once: a message is acknowledged only after its task returned
(``acks_late``), a message whose worker process died goes back to the queue
(``task_reject_on_worker_lost``), and a worker holds one message per pool process (prefetch 1).
No result backend: outcomes go to the run history, which workers on several hosts must share
(PostgreSQL). One company's failure is its own: each company is its own message.

A run that fails for a passing reason is tried again after ``retry_delay`` (the one place the
worker asks the retry policy); the alert goes out only when the last try fails. A run whose
company is locked by another run waits for it and then finds its work done, or runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.signals import after_setup_logger, after_setup_task_logger, worker_ready
from kombu import Queue
from kombu.exceptions import KombuError, OperationalError
from kombu.utils.url import maybe_sanitize_url

from jobs.queued import (
    RETRY_NOTE,
    QueuedRun,
    QueuedState,
    attempts_of,
    failed_tries,
    queued_state,
    record_failed_attempt,
)
from jobs.retry import is_retriable, next_delay
from jobs.run import RunRequest, execute_run
from reconcile.config import Settings
from reconcile.errors import AlreadyReconciled, QboReconError, RunLocked, SourceError
from reconcile.history import RunHistory

log = logging.getLogger("qbo_recon.worker")

#: The task's registered name (messages carry it; keep it stable across releases).
TASK_NAME = "qbo_recon.run_company"
#: A company locked by another run: look again after this many seconds, this many times (2 hours).
LOCK_WAIT_SECONDS = 15.0
LOCK_WAIT_TRIES = 480
#: Tries of a run failing for a passing reason (the first included), and the first pause between tries.
#: Worker log lines: every line names the company and the queued run it belongs to.
LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s [%(company)s %(run_id)s] %(name)s: %(message)s"

_current_run: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar("qbo_recon_run", default=("-", "-"))


# --------------------------------------------------------------------------- log context


class RunContextFilter(logging.Filter):
    """Stamps each log record with the company and run id of the queued run being worked on."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``company`` and ``run_id`` (``-`` outside a run); never drops a record."""
        record.company, record.run_id = _current_run.get()
        return True


@contextlib.contextmanager
def run_context(company: str, run_id: str) -> Iterator[None]:
    """Log lines inside the block belong to ``company``'s queued run ``run_id``."""
    token = _current_run.set((company, run_id))
    try:
        yield
    finally:
        _current_run.reset(token)


def _stamp_handlers(logger: logging.Logger, **_kwargs: Any) -> None:
    for handler in logger.handlers:
        if not any(isinstance(f, RunContextFilter) for f in handler.filters):
            handler.addFilter(RunContextFilter())
        handler.setFormatter(logging.Formatter(LOG_FORMAT))


after_setup_logger.connect(_stamp_handlers, weak=False, dispatch_uid="qbo_recon_log_context")
after_setup_task_logger.connect(_stamp_handlers, weak=False, dispatch_uid="qbo_recon_task_log_context")


# --------------------------------------------------------------------------- the app and the task


def build_app(settings: Settings) -> Celery:
    """The Celery app of ``settings``: its broker and queue, at-least-once delivery, the run task."""
    queue = settings.workers.queue
    app = Celery("qbo_recon", set_as_current=False)
    app.conf.update(
        broker_url=settings.workers.broker_url.reveal(),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        task_queues=(Queue(queue, routing_key=queue, durable=True),),
        task_default_queue=queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # a worker cut off from the broker stops its runs: their messages go to another worker
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_send_task_events=False,
        enable_utc=True,
    )

    # not shared: a shared task would join every app made later in the process, with this app's settings
    @app.task(bind=True, name=TASK_NAME, shared=False, acks_late=True, reject_on_worker_lost=True, max_retries=None)
    def run_company(task: Task, **message: Any) -> str:
        return run_delivered(task, settings, QueuedRun.from_message(message))

    return app


def run_delivered(task: Task, settings: Settings, job: QueuedRun) -> str:
    """One delivery of a queued run: run it at most once, retry a passing failure, alert the last.

    Returns what happened: ``completed``, ``already done`` or ``failed``; raises celery's
    ``Retry`` when the run is to be tried again later.
    """
    with run_context(job.company, job.run_id):
        log.info("delivered: %s %s..%s (%s)", job.company, job.date_from, job.date_to, job.triggered_by)
        recorded: int | None = None
        try:
            recorded = _attempts_recorded(settings, job)
            outcome = execute_run(settings, _request_of(settings, job))
        except AlreadyReconciled as exc:
            log.info("nothing to do: %s", exc.one_line())
            return "already done"
        except RunLocked as exc:
            if task.request.retries >= LOCK_WAIT_TRIES:
                reason = f"{exc.one_line()} (still locked after {LOCK_WAIT_TRIES * LOCK_WAIT_SECONDS / 3600:.0f} h)"
                log.error("gave up: %s", reason)
                _alert(settings, job, reason)
                return "failed"
            log.info("%s; looking again in %.0f s", exc.one_line(), LOCK_WAIT_SECONDS)
            raise task.retry(countdown=LOCK_WAIT_SECONDS) from None
        except QboReconError as exc:
            return _after_failure(task, settings, job, exc, recorded)
        log.info("completed as run %s: report %s", outcome.params.run_id, outcome.report_dir)
        return "completed"


def _request_of(settings: Settings, job: QueuedRun) -> RunRequest:
    return RunRequest(
        company=job.company,
        date_from=job.date_from,
        date_to=job.date_to,
        status=job.status,
        entities=job.entities,
        out_dir=Path(job.out_dir) if job.out_dir else settings.run.out_dir,
        send_email=job.send_email,
        triggered_by=job.triggered_by,
        queued_as=job.run_id,
    )


def _attempts_recorded(settings: Settings, job: QueuedRun) -> int:
    history = RunHistory(settings.history.url)
    try:
        return len(attempts_of(history, job.run_id))
    finally:
        history.dispose()


def _after_failure(
    task: Task, settings: Settings, job: QueuedRun, exc: QboReconError, recorded_before: int | None
) -> str:
    if recorded_before is None:
        # the run history itself could not be read: nothing can be recorded or counted
        log.error("failed: %s", exc.one_line())
        _alert(settings, job, exc.one_line())
        return "failed"
    history = RunHistory(settings.history.url)
    try:
        attempts = attempts_of(history, job.run_id)
        if len(attempts) == recorded_before:
            # it failed before its run was recorded (bad config, a missing folder): record it as a try
            record_failed_attempt(history, job, exc.one_line())
            attempts = attempts_of(history, job.run_id)
        failed = bool(attempts) and attempts[-1].outcome == "failed"
        delay = retry_delay(settings, exc, failed_tries(attempts)) if failed else None
        if delay is not None:
            # recorded before the retry is queued, so ``dispatch --wait`` never takes it for the end
            note = f"{exc.one_line()}{RETRY_NOTE} {delay:.0f} s"
            history.finish_run(attempts[-1].run_id, outcome="failed", reason=note)
    finally:
        history.dispose()
    if delay is not None:
        log.warning("failed: %s; trying again in %.0f s", exc.one_line(), delay)
        raise task.retry(countdown=delay)
    log.error("failed: %s", exc.one_line())
    _alert(settings, job, exc.one_line())
    return "failed"


def retry_delay(settings: Settings, exc: QboReconError, tries: int) -> float | None:
    """Seconds before a failed queued run is tried again, or None when its failure is final.

    ``tries`` counts the failed tries so far, this one included. The same policy as the embedded
    scheduler's (``jobs.retry``, ``[retry] tries`` and ``delays_seconds``): only a source error
    marked retriable (AWRA locked or unreachable, QBO unavailable after the client's own retries)
    is tried again.
    """
    if not is_retriable(exc):
        return None
    return next_delay(settings, tries)


def _alert(settings: Settings, job: QueuedRun, reason: str) -> None:
    if not job.send_email:
        return
    from jobs.scheduler import email_alert  # the same alert as a nightly run's

    email_alert(settings)(job.company, reason)


# --------------------------------------------------------------------------- the worker


def run_worker(settings: Settings, *, concurrency: int | None = None, pool: str = "prefork") -> None:
    """Consume queued runs in the foreground until stopped (SIGTERM finishes the runs in hand)."""
    app = build_app(settings)
    queue = settings.workers.queue
    broker = maybe_sanitize_url(settings.workers.broker_url.reveal())

    def announce_ready(**_kwargs: Any) -> None:
        log.info("qbo-recon worker ready: taking queued runs from queue %s on %s", queue, broker)

    worker_ready.connect(announce_ready, weak=False, dispatch_uid="qbo_recon_worker_ready")
    argv = [
        "worker",
        "--loglevel=INFO",
        f"--queues={settings.workers.queue}",
        f"--hostname=qbo-recon-{os.getpid()}@%h",
        f"--pool={pool}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    app.worker_main(argv)


# --------------------------------------------------------------------------- dispatch


def queue_runs(settings: Settings, jobs: Sequence[QueuedRun]) -> None:
    """Publish one message per queued run (persistent, on the durable queue); ``SourceError`` if the broker is down."""
    app = build_app(settings)
    broker = maybe_sanitize_url(settings.workers.broker_url.reveal())
    try:
        with app.producer_or_acquire() as producer:
            for job in jobs:
                app.send_task(
                    TASK_NAME,
                    kwargs=job.to_message(),
                    task_id=job.run_id,
                    queue=settings.workers.queue,
                    producer=producer,
                    retry=True,
                    retry_policy={"max_retries": 2, "interval_start": 0.5, "interval_step": 1.0},
                )
    except (OperationalError, KombuError, OSError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise SourceError(f"could not queue the runs at {broker}: {detail}", source="broker", retriable=True) from None


def wait_for(
    settings: Settings,
    jobs: Sequence[QueuedRun],
    timeout: float,
    *,
    poll_seconds: float | None = None,
    on_finished: Callable[[QueuedRun, QueuedState], None] | None = None,
) -> dict[str, QueuedState]:
    """Poll the run history until every queued run finished or ``timeout`` seconds passed.

    ``on_finished`` is called once per run as it finishes. Returns each run's last state by run id.
    By default a round of look-ups comes every second, or every ``len(jobs) / 200`` seconds when
    that is longer, so the wait costs the history database at most ~200 look-ups a second.
    """
    poll_seconds = poll_seconds if poll_seconds is not None else max(1.0, len(jobs) / 200)
    deadline = time.monotonic() + timeout
    states: dict[str, QueuedState] = {}
    history = RunHistory(settings.history.url)
    try:
        while True:
            for job in jobs:
                if job.run_id in states and states[job.run_id].finished:
                    continue
                state = queued_state(history, job.run_id)
                states[job.run_id] = state
                if state.finished and on_finished is not None:
                    on_finished(job, state)
            if all(s.finished for s in states.values()) or time.monotonic() >= deadline:
                return states
            time.sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))
    finally:
        history.dispose()


__all__ = [
    "LOG_FORMAT",
    "TASK_NAME",
    "RunContextFilter",
    "build_app",
    "queue_runs",
    "retry_delay",
    "run_context",
    "run_delivered",
    "run_worker",
    "wait_for",
]
