"""The nightly scheduler (APScheduler 3.x): one persisted cron job per company.

``build_scheduler`` makes a scheduler whose jobs live in the run-history database
(``SQLAlchemyJobStore``, table ``qbo_recon_jobs``), with a ``CronTrigger`` from
``[schedule] cron`` in ``[schedule] timezone``, ``coalesce``, one instance at a time and a
misfire grace time of ``misfire_grace_hours`` (APScheduler's default, one second, silently
skips a run whose process was busy or down at the fire time).

Jobs are synchronised when the scheduler starts *paused*: a job is added only if absent,
rescheduled only if its trigger changed, otherwise kept as stored, so a run missed while the
process was down still fires (within the grace time) once the scheduler resumes. Re-adding
jobs with ``replace_existing=True`` at every start would drop it.

A job is stored by textual reference (``jobs.scheduler:nightly_job``) with simple arguments
(company key, config path); it reloads the config at each fire, computes the business date in
the schedule's time zone and the window (``jobs.windows``), skips a window that a scheduled
run already completed (a cron time in a daylight-saving fall-back fires twice), and calls the
run entry point. The run lock in the history database keeps one run per company at a time;
each company is its own job, so one company's failure does not stop the others. Job errors
and missed runs are logged and alerted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
    JobExecutionEvent,
    SchedulerEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import SQLAlchemyError

from jobs.notify import DeliveryError, send_alert
from jobs.retry import SleepFn, run_with_retries
from jobs.windows import business_date, nightly_window
from reconcile.config import DEFAULT_CONFIG_PATH, EmailSettings, ScheduleSettings, Settings, load_settings
from reconcile.errors import AlreadyReconciled, ConfigError, QboReconError, RunLocked
from reconcile.history import RunHistory

logger = logging.getLogger("qbo_recon.scheduler")

#: The persisted job function, by reference.
JOB_REF = "jobs.scheduler:nightly_job"
#: The job store's table in the history database.
JOBSTORE_TABLE = "qbo_recon_jobs"
#: Prefix of the nightly jobs' ids: ``nightly-<company>``.
JOB_PREFIX = "nightly-"

#: ``alert(company, one_line_reason)``: tell someone a job failed.
AlertFn = Callable[[str, str], None]
#: ``execute(settings, company, date_from, date_to, attempt)``: run one try of a reconciliation
#: (raises on failure).
ExecuteFn = Callable[[Settings, str, date, date, int], object]

#: Set while the scheduler stops: a run waiting to be tried again gives up instead of waiting.
_STOPPING = threading.Event()


def _wait_unless_stopping(seconds: float) -> bool:
    return not _STOPPING.wait(seconds)


def job_id(company: str) -> str:
    """The id of a company's nightly job."""
    return f"{JOB_PREFIX}{company}"


def make_trigger(schedule: ScheduleSettings) -> CronTrigger:
    """The cron trigger of the schedule, in its time zone; ``ConfigError`` if the cron is invalid."""
    try:
        return CronTrigger.from_crontab(schedule.cron, timezone=ZoneInfo(schedule.timezone))
    except ValueError as exc:
        raise ConfigError([f"schedule.cron: {schedule.cron!r} is not a valid cron expression ({exc})"]) from None


@dataclass(frozen=True)
class JobSpec:
    """A job the config asks for."""

    id: str
    company: str
    func: str
    args: tuple[str, ...]
    trigger: CronTrigger
    options: Mapping[str, Any]


def desired_jobs(settings: Settings, *, job_ref: str = JOB_REF, config_path: Path | None = None) -> list[JobSpec]:
    """One nightly job per configured company; the job reloads ``config_path`` (default: the settings' file)."""
    trigger = make_trigger(settings.schedule)
    config_file = str(Path(config_path or settings.source or DEFAULT_CONFIG_PATH).resolve())
    options = {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": max(1, int(settings.schedule.misfire_grace_hours * 3600)),
    }
    return [
        JobSpec(
            id=job_id(c.key),
            company=c.key,
            func=job_ref,
            args=(c.key, config_file),
            trigger=trigger,
            options=options,
        )
        for c in settings.companies
    ]


def sync_jobs(scheduler: BaseScheduler, specs: list[JobSpec]) -> dict[str, str]:
    """Make the stored jobs match ``specs`` without dropping a pending (missed) run.

    Call it on a started, paused scheduler. Returns ``{job id: action}`` with action ``added``,
    ``kept``, ``updated`` (arguments or options changed; next run time kept), ``rescheduled``
    (trigger changed; next run time recomputed) or ``removed`` (company no longer configured).
    """
    actions: dict[str, str] = {}
    wanted = {spec.id for spec in specs}
    for spec in specs:
        job = scheduler.get_job(spec.id)
        if job is None:
            scheduler.add_job(
                spec.func,
                trigger=spec.trigger,
                id=spec.id,
                name=f"nightly reconciliation of {spec.company}",
                args=list(spec.args),
                replace_existing=False,
                **spec.options,
            )
            actions[spec.id] = "added"
            continue
        action = "kept"
        if repr(job.trigger) != repr(spec.trigger):
            scheduler.reschedule_job(spec.id, trigger=spec.trigger)
            action = "rescheduled"
        changes: dict[str, Any] = {}
        if job.func_ref != spec.func:
            changes["func"] = spec.func
        if tuple(job.args) != spec.args:
            changes["args"] = list(spec.args)
        for key, value in spec.options.items():
            if getattr(job, key) != value:
                changes[key] = value
        if changes:
            scheduler.modify_job(spec.id, **changes)
            action = "rescheduled" if action == "rescheduled" else "updated"
        actions[spec.id] = action
    for job in scheduler.get_jobs():
        if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
            scheduler.remove_job(job.id)
            actions[job.id] = "removed"
    return actions


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, QboReconError):
        return exc.one_line()
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:500]


def email_alert(settings: Settings) -> AlertFn:
    """An alert callback that emails the company's alert recipients when email is enabled."""

    def alert(company: str, reason: str) -> None:
        email: EmailSettings | None
        try:
            email = settings.company(company).email
        except ConfigError:
            email = settings.companies[0].email if settings.companies else None
        if email is None or not email.enabled:
            logger.info("alert for %s not emailed (email disabled): %s", company, reason)
            return
        try:
            send_alert(email, company=company, reason=reason)
        except DeliveryError as exc:
            logger.error("alert email for %s failed: %s", company, exc)

    return alert


class _Startup:
    """Syncs jobs when the scheduler starts (paused), then resumes it; remembers a failure."""

    def __init__(self, scheduler: BaseScheduler, specs: list[JobSpec]):
        self.scheduler = scheduler
        self.specs = specs
        self.error: BaseException | None = None
        self.actions: dict[str, str] = {}
        self.stop_requested = False
        self.running = threading.Event()

    def __call__(self, _event: SchedulerEvent) -> None:
        if self.stop_requested:
            self.scheduler.shutdown(wait=False)
            return
        try:
            self.actions = sync_jobs(self.scheduler, self.specs)
        except (QboReconError, SQLAlchemyError, ValueError, LookupError) as exc:
            # APScheduler would only log an error raised by a listener: report it and stop instead
            self.error = exc
            logger.error("could not set up the nightly jobs: %s", _reason(exc))
            self.scheduler.shutdown(wait=False)
            return
        if self.scheduler.state == STATE_PAUSED:
            self.scheduler.resume()
        for job in self.scheduler.get_jobs():
            logger.info(
                "job %s (%s): next run %s",
                job.id,
                self.actions.get(job.id, "kept"),
                job.next_run_time.isoformat() if job.next_run_time else "none (paused)",
            )
        logger.info("qbo-recon scheduler running with %d job(s)", len(self.specs))
        self.running.set()


def build_scheduler(
    settings: Settings,
    *,
    job_ref: str = JOB_REF,
    alert: AlertFn | None = None,
    blocking: bool = True,
    config_path: Path | None = None,
) -> BaseScheduler:
    """A scheduler with one nightly job per company, persisted in the history database.

    Start it with ``start(paused=True)``: on start it syncs the stored jobs with the config
    (see ``sync_jobs``) and then resumes. ``config_path`` is the file each job reloads (default:
    ``settings.source``). ``job_ref`` is the job function by reference
    (``module:function`` taking ``company, config_path``); ``alert(company, reason)`` is called
    when a job fails or misses its run (default: ``email_alert(settings)``). ``blocking=False``
    gives a ``BackgroundScheduler`` (tests, embedding).
    """
    specs = desired_jobs(settings, job_ref=job_ref, config_path=config_path)
    history = RunHistory(settings.history.url)  # creates the database (and its folder) if needed
    jobstore = SQLAlchemyJobStore(engine=history.engine, tablename=JOBSTORE_TABLE)
    workers = max(1, min(4, len(settings.companies)))
    config: dict[str, Any] = {
        "jobstores": {"default": jobstore},
        "executors": {"default": ThreadPoolExecutor(max_workers=workers)},
        "job_defaults": dict(specs[0].options) if specs else {},
        "timezone": ZoneInfo(settings.schedule.timezone),
    }
    scheduler: BaseScheduler = BlockingScheduler(**config) if blocking else BackgroundScheduler(**config)
    startup = _Startup(scheduler, specs)
    scheduler.add_listener(startup, EVENT_SCHEDULER_STARTED)
    alert_fn = alert if alert is not None else email_alert(settings)

    def on_job_event(event: JobExecutionEvent) -> None:
        company = event.job_id.removeprefix(JOB_PREFIX)
        if event.code == EVENT_JOB_ERROR:
            reason = _reason(event.exception)
            logger.error("nightly run of %s failed: %s", company, reason)
        elif event.code == EVENT_JOB_MISSED:
            when = event.scheduled_run_time.isoformat() if event.scheduled_run_time else "?"
            reason = f"the nightly run due at {when} was missed (the scheduler was down or busy past the grace time)"
            logger.error("%s: %s", company, reason)
        else:
            reason = "the previous nightly run was still running; this one was skipped"
            logger.warning("%s: %s", company, reason)
        try:
            alert_fn(company, reason)
        except (DeliveryError, QboReconError, OSError) as exc:
            logger.error("alert for %s failed: %s", company, _reason(exc))

    scheduler.add_listener(on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    scheduler._qbo_recon_startup = startup
    return scheduler


def startup_of(scheduler: BaseScheduler) -> _Startup:
    """The start-up hook of a scheduler made by ``build_scheduler`` (its sync actions, errors)."""
    startup: _Startup = scheduler._qbo_recon_startup
    return startup


def run_scheduler(
    settings: Settings,
    *,
    alert: AlertFn | None = None,
    job_ref: str = JOB_REF,
    config_path: Path | None = None,
) -> None:
    """Run the nightly scheduler in the foreground until SIGTERM or SIGINT.

    A reconciliation already running when the signal arrives finishes before the process
    exits; a second signal stops at once. A failure to set up the jobs is raised after the
    scheduler stopped.
    """
    scheduler = build_scheduler(settings, alert=alert, job_ref=job_ref, blocking=True, config_path=config_path)
    startup = startup_of(scheduler)
    handled = (signal.SIGTERM, signal.SIGINT)

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s: stopping the scheduler", signal.Signals(signum).name)
        for sig in handled:
            signal.signal(sig, signal.SIG_DFL)
        startup.stop_requested = True
        _STOPPING.set()
        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.shutdown(wait=False)

    _STOPPING.clear()
    previous = {sig: signal.signal(sig, stop) for sig in handled}
    try:
        scheduler.start(paused=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if scheduler.state != STATE_STOPPED:
            scheduler.shutdown(wait=False)
    if startup.error is not None:
        if isinstance(startup.error, QboReconError):
            raise startup.error
        raise RuntimeError(f"could not set up the nightly jobs: {_reason(startup.error)}") from startup.error
    logger.info("qbo-recon scheduler stopped")


# --------------------------------------------------------------------------- the nightly job


def scheduled_fire_time(schedule: ScheduleSettings, now: datetime) -> datetime:
    """When the run starting at ``now`` was due (``now`` itself if it was not due at all).

    That is the schedule's latest fire time at or before ``now`` within the misfire grace time;
    none means a run started by hand. So a nightly run that starts late (the process was busy or
    down, within the grace time) keeps the business date of the night it was due, even once the
    local date has moved on.
    """
    trigger = make_trigger(schedule)
    due: datetime | None = None
    moment = trigger.get_next_fire_time(None, now - timedelta(hours=schedule.misfire_grace_hours))
    while moment is not None and moment <= now:
        due = moment
        following = trigger.get_next_fire_time(None, moment + timedelta(seconds=1))
        if following is not None and following <= moment:
            # in a daylight-saving fall-back APScheduler answers the repeated wall time again
            following = trigger.get_next_fire_time(None, moment + timedelta(hours=1))
        if following is not None and following <= moment:
            break
        moment = following
    return due or now


def _execute_run(settings: Settings, company: str, date_from: date, date_to: date, attempt: int = 1) -> object:
    from jobs.run import RunRequest, execute_run  # the run entry point (imported at fire time)

    return execute_run(
        settings,
        RunRequest(company=company, date_from=date_from, date_to=date_to, triggered_by="schedule", attempt=attempt),
    )


def run_nightly(
    settings: Settings,
    company: str,
    *,
    now: datetime | None = None,
    execute: ExecuteFn | None = None,
    sleep: SleepFn | None = None,
) -> str:
    """Run one company's nightly reconciliation for the business date of ``now``.

    Returns ``ran``, ``skipped`` (a scheduled run already completed this window: the second
    fire of a daylight-saving fall-back, or a restart) or ``locked`` (another run of the
    company is in progress). A try that fails with a retriable source error is tried again
    after the ``[retry]`` delay (``jobs.retry``; ``sleep`` waits, by default until the scheduler
    stops); the last failure raises, so the scheduler logs and alerts it once.
    """
    now = now or datetime.now(UTC)
    fired = scheduled_fire_time(settings.schedule, now)
    day = business_date(fired, settings.schedule.timezone)
    if fired != now:
        logger.info("%s: the run due at %s starts late, at %s", company, fired.isoformat(), now.isoformat())
    date_from, date_to = nightly_window(day, settings.schedule.window_days)
    history = RunHistory(settings.history.url)
    try:
        done = history.find_completed_run(company, date_from, date_to, triggered_by="schedule")
    finally:
        history.dispose()
    if done is not None:
        logger.info(
            "%s: business date %s, window %s..%s already reconciled by run %s; nothing to do",
            company,
            day,
            date_from,
            date_to,
            done.run_id,
        )
        return "skipped"
    logger.info("%s: business date %s, reconciling %s..%s", company, day, date_from, date_to)
    run_once = execute or _execute_run
    try:
        run_with_retries(
            lambda attempt: run_once(settings, company, date_from, date_to, attempt),
            settings,
            sleep=sleep or _wait_unless_stopping,
            label=company,
        )
    except RunLocked as exc:
        logger.warning("%s", exc.one_line())
        return "locked"
    except AlreadyReconciled as exc:
        logger.info("%s", exc.one_line())
        return "skipped"
    return "ran"


def nightly_job(company: str, config_path: str) -> None:
    """The persisted job: reload the config, then ``run_nightly`` for ``company``."""
    settings = load_settings(Path(config_path), os.environ)
    run_nightly(settings, company)


__all__ = [
    "JOBSTORE_TABLE",
    "JOB_PREFIX",
    "JOB_REF",
    "AlertFn",
    "ExecuteFn",
    "JobSpec",
    "build_scheduler",
    "desired_jobs",
    "email_alert",
    "job_id",
    "make_trigger",
    "nightly_job",
    "run_nightly",
    "run_scheduler",
    "scheduled_fire_time",
    "startup_of",
    "sync_jobs",
]
