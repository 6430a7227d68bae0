"""The nightly scheduler: fire times, business dates, persisted jobs, alerts, clean stop."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.base import BaseScheduler

from jobs.scheduler import (
    JOBSTORE_TABLE,
    build_scheduler,
    desired_jobs,
    make_trigger,
    run_nightly,
    scheduled_fire_time,
    startup_of,
)
from jobs.windows import business_date
from reconcile.config import Settings, load_settings
from reconcile.errors import ConfigError, RunLocked
from reconcile.history import RunHistory
from reconcile.params import RunParams

REPO = Path(__file__).resolve().parent.parent
FAR_CRON = "0 3 29 2 *"  # 29 February: never fires during a test


def write_config(
    tmp_path: Path,
    *,
    companies: tuple[str, ...] = ("acme",),
    cron: str = FAR_CRON,
    timezone: str = "Africa/Nairobi",
    window_days: int = 7,
    grace_hours: float = 6,
) -> Path:
    parts = [
        f'[history]\nurl = "sqlite:///{tmp_path / "var" / "history.db"}"\n',
        f'[schedule]\ncron = "{cron}"\ntimezone = "{timezone}"\nwindow_days = {window_days}\n'
        f"misfire_grace_hours = {grace_hours}\n",
        '[awra]\nurl = "sqlite:///data/awra.db"\n',
        '[qbo]\nrealm_id = "123"\n',
    ]
    for key in companies:
        parts.append(f'[companies.{key}]\nname = "{key.title()} Ltd"\n')
    path = tmp_path / "qbo-recon.toml"
    path.write_text("\n".join(parts))
    return path


def settings_for(tmp_path: Path, **kwargs) -> Settings:
    return load_settings(write_config(tmp_path, **kwargs), {})


def fire_times(settings: Settings, start: datetime, end: datetime) -> list[datetime]:
    trigger = make_trigger(settings.schedule)
    out: list[datetime] = []
    previous = None
    now = start
    while True:
        nxt = trigger.get_next_fire_time(previous, now)
        if nxt is None or nxt > end:
            return out
        out.append(nxt)
        previous = now = nxt


class RecordingExecute:
    """Stands in for the run entry point: records a completed scheduled run in the history."""

    def __init__(self, settings: Settings):
        self.history = RunHistory(settings.history.url)
        self.calls: list[tuple[str, date, date]] = []

    def __call__(self, settings: Settings, company: str, date_from: date, date_to: date, attempt: int = 1) -> None:
        self.calls.append((company, date_from, date_to))
        now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=len(self.calls))
        run_id = f"{company}-{len(self.calls)}"
        params = RunParams(
            run_id=run_id, company=company, company_name=company, date_from=date_from, date_to=date_to, now=now
        )
        with self.history.lock(company, now=now):
            self.history.start_run(params, triggered_by="schedule")
            self.history.finish_run(run_id, outcome="completed", now=now)


# --------------------------------------------------------------------------- fire times


def test_next_fire_time_is_in_the_schedule_timezone(tmp_path: Path):
    settings = settings_for(tmp_path, cron="30 5 * * *", timezone="Africa/Nairobi")
    nxt = make_trigger(settings.schedule).get_next_fire_time(None, datetime(2026, 8, 14, 0, 0, tzinfo=UTC))
    assert nxt is not None
    assert nxt.astimezone(UTC) == datetime(2026, 8, 14, 2, 30, tzinfo=UTC)
    tokyo = settings_for(tmp_path, cron="30 5 * * *", timezone="Asia/Tokyo")
    nxt = make_trigger(tokyo.schedule).get_next_fire_time(None, datetime(2026, 8, 14, 0, 0, tzinfo=UTC))
    assert nxt is not None and nxt.astimezone(UTC) == datetime(2026, 8, 14, 20, 30, tzinfo=UTC)


def test_bad_cron_is_a_config_error(tmp_path: Path):
    settings = settings_for(tmp_path, cron="99 5 * * *")
    with pytest.raises(ConfigError):
        make_trigger(settings.schedule)


def test_new_york_fall_back_fires_twice_but_runs_once_per_business_date(tmp_path: Path):
    settings = settings_for(tmp_path, cron="30 1 * * *", timezone="America/New_York")
    fires = fire_times(settings, datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 11, 3, 12, tzinfo=UTC))
    days = [business_date(f, "America/New_York") for f in fires]
    # 01:30 happens twice on 1 November (EDT, then EST)
    assert days.count(date(2026, 11, 1)) == 2
    execute = RecordingExecute(settings)
    outcomes = [run_nightly(settings, "acme", now=f, execute=execute) for f in fires]
    assert outcomes == ["ran", "ran", "ran", "skipped", "ran", "ran"]
    windows = [(f, t) for _, f, t in execute.calls]
    assert len(windows) == len(set(windows)) == 5
    assert (date(2026, 10, 25), date(2026, 10, 31)) not in windows  # 1 November: the whole of October
    assert (date(2026, 10, 1), date(2026, 10, 31)) in windows


def test_london_spring_forward_runs_every_business_date_once(tmp_path: Path):
    settings = settings_for(tmp_path, cron="30 1 * * *", timezone="Europe/London")
    # 01:30 does not exist on 29 March 2026 (clocks go 01:00 -> 02:00)
    fires = fire_times(settings, datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 31, 12, tzinfo=UTC))
    days = [business_date(f, "Europe/London") for f in fires]
    assert days == [date(2026, 3, d) for d in range(27, 32)]
    execute = RecordingExecute(settings)
    assert [run_nightly(settings, "acme", now=f, execute=execute) for f in fires] == ["ran"] * 5
    assert execute.calls[2] == ("acme", date(2026, 3, 22), date(2026, 3, 28))


def test_nightly_on_the_first_reconciles_the_previous_month(tmp_path: Path):
    settings = settings_for(tmp_path, cron="30 5 * * *", timezone="Africa/Nairobi")
    execute = RecordingExecute(settings)
    # 02:30 UTC on 1 September is 05:30 in Nairobi
    run_nightly(settings, "acme", now=datetime(2026, 9, 1, 2, 30, tzinfo=UTC), execute=execute)
    # 22:30 UTC on 31 August is already 1 September in Nairobi
    run_nightly(settings, "acme", now=datetime(2026, 8, 31, 22, 30, tzinfo=UTC), execute=execute)
    assert execute.calls == [("acme", date(2026, 8, 1), date(2026, 8, 31))]


def test_a_late_nightly_run_keeps_the_business_date_it_was_due(tmp_path: Path):
    settings = settings_for(tmp_path, cron="50 23 * * *", timezone="Africa/Nairobi", grace_hours=6)
    execute = RecordingExecute(settings)
    # due 23:50 on 14 August in Nairobi (20:50 UTC); the process was busy until 00:40 local
    late = datetime(2026, 8, 14, 21, 40, tzinfo=UTC)
    assert scheduled_fire_time(settings.schedule, late) == datetime(2026, 8, 14, 20, 50, tzinfo=UTC)
    assert run_nightly(settings, "acme", now=late, execute=execute) == "ran"
    assert execute.calls == [("acme", date(2026, 8, 7), date(2026, 8, 13))]  # 14 August's window
    # the next night's run, on time, is not mistaken for a repeat of it
    assert run_nightly(settings, "acme", now=datetime(2026, 8, 15, 20, 50, tzinfo=UTC), execute=execute) == "ran"
    assert execute.calls[1] == ("acme", date(2026, 8, 8), date(2026, 8, 14))


def test_a_run_outside_any_fire_time_uses_its_own_date(tmp_path: Path):
    settings = settings_for(tmp_path, cron="50 23 * * *", timezone="Africa/Nairobi", grace_hours=1)
    too_late = datetime(2026, 8, 14, 22, 0, tzinfo=UTC)  # 01:00 on 15 August local, 70 min after the fire
    assert scheduled_fire_time(settings.schedule, too_late) == too_late


def test_nightly_reports_a_locked_company_without_failing(tmp_path: Path):
    settings = settings_for(tmp_path)

    def locked(*_args: object) -> None:
        raise RunLocked("acme: another run is in progress; nothing was done")

    assert run_nightly(settings, "acme", now=datetime(2026, 8, 14, tzinfo=UTC), execute=locked) == "locked"


def test_manual_run_of_the_same_window_does_not_count_as_the_nightly(tmp_path: Path):
    settings = settings_for(tmp_path)
    history = RunHistory(settings.history.url)
    now = datetime(2026, 8, 15, 3, tzinfo=UTC)
    p = RunParams(
        run_id="manual",
        company="acme",
        company_name="Acme",
        date_from=date(2026, 8, 8),
        date_to=date(2026, 8, 14),
        now=now,
    )
    history.start_run(p, triggered_by="manual")
    history.finish_run("manual", outcome="completed", now=now)
    execute = RecordingExecute(settings)
    assert run_nightly(settings, "acme", now=now, execute=execute) == "ran"


# --------------------------------------------------------------------------- jobs


def test_one_job_per_company_with_grace_coalesce_and_one_instance(tmp_path: Path):
    settings = settings_for(tmp_path, companies=("acme", "globex"), grace_hours=6)
    specs = desired_jobs(settings)
    assert [s.id for s in specs] == ["nightly-acme", "nightly-globex"]
    for spec in specs:
        assert spec.func == "jobs.scheduler:nightly_job"
        assert spec.args == (spec.company, str((tmp_path / "qbo-recon.toml").resolve()))
        assert spec.options == {"coalesce": True, "max_instances": 1, "misfire_grace_time": 6 * 3600}


PROBE = textwrap.dedent(
    """
    import threading
    from reconcile.errors import SourceError

    calls = []
    done = threading.Event()
    expected = 1

    def job(company, config_path):
        calls.append(company)
        if len(calls) >= expected:
            done.set()
        if company == "bad":
            raise SourceError("connection refused", source="AWRA", company=company)
    """
)


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    name = f"sched_probe_{os.getpid()}_{threading.get_ident()}"
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / f"{name}.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(folder))
    module = __import__(name)
    yield module
    sys.modules.pop(name, None)


class Alerts(list):
    """Collects alerts; ``arrived`` is set on the first."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()

    def __call__(self, company: str, reason: str) -> None:
        self.append((company, reason))
        self.arrived.set()


def start(settings: Settings, job_ref: str, alerts: Alerts | None = None) -> BaseScheduler:
    scheduler = build_scheduler(
        settings, job_ref=job_ref, blocking=False, alert=alerts if alerts is not None else Alerts()
    )
    scheduler.start(paused=True)
    assert startup_of(scheduler).running.is_set()
    assert startup_of(scheduler).error is None
    return scheduler


def stored_job_ids(settings: Settings) -> list[str]:
    engine = sa.create_engine(settings.history.url)
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(sa.text(f"SELECT id FROM {JOBSTORE_TABLE}")).scalars())
    finally:
        engine.dispose()


def test_jobs_persist_and_a_restart_neither_duplicates_nor_replaces_them(tmp_path: Path):
    settings = settings_for(tmp_path, companies=("acme", "globex"))
    first = start(settings, "jobs.scheduler:nightly_job")
    assert startup_of(first).actions == {"nightly-acme": "added", "nightly-globex": "added"}
    next_runs = {j.id: j.next_run_time for j in first.get_jobs()}
    first.shutdown()
    assert stored_job_ids(settings) == ["nightly-acme", "nightly-globex"]

    second = start(settings, "jobs.scheduler:nightly_job")
    try:
        assert startup_of(second).actions == {"nightly-acme": "kept", "nightly-globex": "kept"}
        assert {j.id: j.next_run_time for j in second.get_jobs()} == next_runs
        job = second.get_job("nightly-acme")
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 6 * 3600
    finally:
        second.shutdown()
    assert stored_job_ids(settings) == ["nightly-acme", "nightly-globex"]


def set_next_run(settings: Settings, job_id: str, when: datetime) -> None:
    """Edit the stored job while no scheduler runs (as if the process was down at its fire time)."""
    engine = sa.create_engine(settings.history.url)
    try:
        with engine.begin() as conn:
            blob = conn.execute(
                sa.text(f"SELECT job_state FROM {JOBSTORE_TABLE} WHERE id = :id"), {"id": job_id}
            ).scalar_one()
            state = pickle.loads(blob)
            state["next_run_time"] = when
            conn.execute(
                sa.text(f"UPDATE {JOBSTORE_TABLE} SET job_state = :s, next_run_time = :t WHERE id = :id"),
                {"s": pickle.dumps(state), "t": when.timestamp(), "id": job_id},
            )
    finally:
        engine.dispose()


def test_a_run_missed_while_down_fires_after_restart(tmp_path: Path, probe):
    settings = settings_for(tmp_path)
    ref = f"{probe.__name__}:job"
    start(settings, ref).shutdown()
    set_next_run(settings, "nightly-acme", datetime.now(UTC) - timedelta(hours=1))  # within 6 h grace
    scheduler = start(settings, ref)
    try:
        assert startup_of(scheduler).actions == {"nightly-acme": "kept"}
        assert probe.done.wait(30)
        assert probe.calls == ["acme"]
        nxt = scheduler.get_job("nightly-acme").next_run_time
        assert nxt > datetime.now(UTC)  # back on its cron schedule
    finally:
        scheduler.shutdown()


def test_a_run_missed_beyond_the_grace_time_is_alerted(tmp_path: Path, probe):
    settings = settings_for(tmp_path, grace_hours=1)
    ref = f"{probe.__name__}:job"
    start(settings, ref).shutdown()
    set_next_run(settings, "nightly-acme", datetime.now(UTC) - timedelta(hours=3))
    alerts = Alerts()
    scheduler = start(settings, ref, alerts)
    try:
        assert alerts.arrived.wait(30)
    finally:
        scheduler.shutdown()
    assert probe.calls == []
    assert alerts and alerts[0][0] == "acme" and "missed" in alerts[0][1]


def test_changed_trigger_reschedules_and_removed_company_is_dropped(tmp_path: Path):
    settings = settings_for(tmp_path, companies=("acme", "globex"))
    start(settings, "jobs.scheduler:nightly_job").shutdown()
    changed = settings_for(tmp_path, companies=("acme",), cron="0 4 30 4 *")
    scheduler = start(changed, "jobs.scheduler:nightly_job")
    try:
        assert startup_of(scheduler).actions == {"nightly-acme": "rescheduled", "nightly-globex": "removed"}
        job = scheduler.get_job("nightly-acme")
        local = job.next_run_time.astimezone(job.trigger.timezone)
        assert (local.month, local.day, local.hour) == (4, 30, 4)
    finally:
        scheduler.shutdown()
    assert stored_job_ids(settings) == ["nightly-acme"]


def test_one_company_failing_is_alerted_and_does_not_stop_the_others(tmp_path: Path, probe):
    settings = settings_for(tmp_path, companies=("bad", "good"))
    probe.expected = 2
    alerts = Alerts()
    scheduler = start(settings, f"{probe.__name__}:job", alerts)
    try:
        now = datetime.now(UTC)
        for job_id in ("nightly-bad", "nightly-good"):
            scheduler.modify_job(job_id, next_run_time=now)
        scheduler.wakeup()
        assert probe.done.wait(30)
        assert alerts.arrived.wait(30)
    finally:
        scheduler.shutdown()
    assert sorted(probe.calls) == ["bad", "good"]
    assert alerts == [("bad", "bad: AWRA: connection refused")]


# --------------------------------------------------------------------------- foreground process

CHILD = textwrap.dedent(
    """
    import logging, sys
    from reconcile.config import load_settings
    from jobs.scheduler import run_scheduler
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s: %(message)s")
    run_scheduler(load_settings(__import__("pathlib").Path(sys.argv[1]), {}), alert=lambda c, r: None)
    print("exited cleanly", flush=True)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_scheduler_stops_cleanly_on_signal(tmp_path: Path, sig: signal.Signals):
    config = write_config(tmp_path, companies=("acme", "globex"))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        seen: list[str] = []
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "scheduler running" in line:
                break
        assert any("scheduler running with 2 job(s)" in line for line in seen), seen
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "exited cleanly" in out
    assert "scheduler stopped" in err
    assert stored_job_ids(load_settings(config, {})) == ["nightly-acme", "nightly-globex"]


def test_nightly_job_calls_the_run_entry_point_for_the_business_window(tmp_path: Path, monkeypatch):
    run = pytest.importorskip("jobs.run")
    from jobs.scheduler import nightly_job
    from jobs.windows import nightly_window

    requests: list = []
    monkeypatch.setattr(run, "execute_run", lambda settings, request, **kw: requests.append(request))
    config = write_config(tmp_path, companies=("acme", "globex"), window_days=3)
    before = business_date(datetime.now(UTC), "Africa/Nairobi")
    nightly_job("globex", str(config))
    after = business_date(datetime.now(UTC), "Africa/Nairobi")
    assert len(requests) == 1
    request = requests[0]
    assert request.company == "globex" and request.triggered_by == "schedule"
    assert (request.date_from, request.date_to) in {nightly_window(before, 3), nightly_window(after, 3)}


def test_email_alert_sends_to_the_alert_recipients(tmp_path: Path):
    import email as email_lib
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    from jobs.scheduler import email_alert

    received: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(
                (envelope.rcpt_tos, email_lib.message_from_bytes(envelope.content, policy=email.policy.default))
            )
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = write_config(tmp_path)
    config.write_text(
        config.read_text()
        + f'\n[email]\nenabled = true\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsecurity = "none"\n'
        'recipients = ["finance@example.com"]\nalert_recipients = ["ops@example.com"]\n'
    )
    settings = load_settings(config, {"QBO_RECON_SMTP_PASSWORD": "hunter2-secret"})
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        email_alert(settings)("acme", "acme: AWRA: connection refused")
    finally:
        controller.stop()
    assert len(received) == 1
    rcpts, msg = received[0]
    assert rcpts == ["ops@example.com"]
    assert "acme: AWRA: connection refused" in msg["Subject"]
    assert "hunter2-secret" not in msg.as_string()


def test_email_alert_does_nothing_when_email_is_disabled(tmp_path: Path, caplog):
    from jobs.scheduler import email_alert

    settings = settings_for(tmp_path)
    with caplog.at_level("INFO", logger="qbo_recon.scheduler"):
        email_alert(settings)("acme", "boom")
    assert "not emailed (email disabled): boom" in caplog.text


@pytest.mark.postgres
def test_jobs_persist_in_a_postgres_history_database(tmp_path: Path):
    import uuid

    admin_url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    name = f"qbo_recon_sched_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        config = write_config(tmp_path)
        text = config.read_text().replace(
            f"sqlite:///{tmp_path / 'var' / 'history.db'}", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        )
        config.write_text(text)
        settings = load_settings(config, {})
        first = start(settings, "jobs.scheduler:nightly_job")
        assert startup_of(first).actions == {"nightly-acme": "added"}
        first.shutdown()
        second = start(settings, "jobs.scheduler:nightly_job")
        assert startup_of(second).actions == {"nightly-acme": "kept"}
        second.shutdown()
        assert stored_job_ids(settings) == ["nightly-acme"]
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
