"""Retries with backoff (jobs/retry.py) and the nightly run that uses them, against a really locked AWRA."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

from jobs.retry import describe_try, is_retriable, next_delay, run_with_retries
from jobs.run import RunRequest, execute_run
from jobs.scheduler import build_scheduler, run_nightly
from reconcile.config import RetrySettings, Settings, load_settings
from reconcile.demo import DemoSet, build_demo
from reconcile.errors import ConfigError, QboFault, SourceError, UsageError
from reconcile.history import RunHistory

# --------------------------------------------------------------------------- the policy


def test_next_delay_follows_the_configured_backoff_and_stops_at_the_last_try():
    policy = RetrySettings(tries=3, delays_seconds=(60.0, 300.0, 900.0))
    assert [next_delay(policy, n) for n in (1, 2, 3)] == [60.0, 300.0, None]
    assert describe_try(policy, 2) == "try 2 of 3"


def test_the_last_delay_repeats_and_one_try_means_no_retry():
    assert [next_delay(RetrySettings(tries=4, delays_seconds=(10.0,)), n) for n in (1, 2, 3, 4)] == [
        10.0,
        10.0,
        10.0,
        None,
    ]
    assert next_delay(RetrySettings(tries=1, delays_seconds=(10.0,)), 1) is None


def test_only_retriable_source_errors_are_retried():
    assert is_retriable(SourceError("database is locked", source="AWRA", retriable=True))
    assert is_retriable(QboFault("Service unavailable", code="503", retriable=True))
    assert not is_retriable(SourceError("no such table: invoices", source="AWRA"))
    assert not is_retriable(UsageError("bad date"))
    assert not is_retriable(ValueError("a bug"))


def test_run_with_retries_stops_on_a_final_error_and_when_the_process_stops():
    policy = RetrySettings(tries=3, delays_seconds=(1.0,))
    calls: list[int] = []

    def fails_for_good(attempt: int) -> None:
        calls.append(attempt)
        raise SourceError("no such table", source="AWRA")

    with pytest.raises(SourceError):
        run_with_retries(fails_for_good, policy, sleep=lambda _s: True)
    assert calls == [1]

    def passing(attempt: int) -> None:
        calls.append(attempt)
        raise SourceError("database is locked", source="AWRA", retriable=True)

    calls.clear()
    with pytest.raises(SourceError):
        run_with_retries(passing, policy, sleep=lambda _s: False)  # stopping: no second try
    assert calls == [1]
    calls.clear()
    waits: list[float] = []
    with pytest.raises(SourceError):
        run_with_retries(passing, policy, sleep=lambda s: waits.append(s) or True)
    assert calls == [1, 2, 3] and waits == [1.0, 1.0]
    assert run_with_retries(lambda attempt: attempt, policy, sleep=lambda _s: True) == 1


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_retry_config_is_validated_one_line_per_problem(tmp_path: Path):
    settings = load_settings(write(tmp_path, "[retry]\ntries = 2\ndelays_seconds = [5, 7.5]\n"), {})
    assert settings.retry == RetrySettings(tries=2, delays_seconds=(5.0, 7.5))
    assert load_settings(write(tmp_path, ""), {}).retry == RetrySettings()
    with pytest.raises(ConfigError) as info:
        load_settings(
            write(
                tmp_path,
                '[retry]\ntries = 0\ndelays_seconds = [5, "x"]\nbogus = 1\n[history]\nlock_lease_seconds = 1\n',
            ),
            {},
        )
    assert sorted(info.value.lines()) == [
        "config: history.lock_lease_seconds: must be between 5 and 3600",
        "config: retry.bogus: unknown key",
        "config: retry.delays_seconds: expected numbers of seconds, got 'x'",
        "config: retry.tries: must be between 1 and 10",
    ]
    with pytest.raises(ConfigError, match="at least one delay"):
        load_settings(write(tmp_path, "[retry]\ntries = 3\ndelays_seconds = []\n"), {})
    with pytest.raises(ConfigError, match="above 0 and at most 3600"):
        load_settings(write(tmp_path, "[retry]\ndelays_seconds = [0]\n"), {})


# --------------------------------------------------------------------------- a really locked AWRA


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSet:
    return build_demo(tmp_path_factory.mktemp("retry-demo") / "set", scale=0.2)


def nightly_config(tmp_path: Path, demo: DemoSet, *, tries: int, delay: float) -> Path:
    return write(
        tmp_path,
        f'[awra]\nurl = "{demo.awra_url}"\n[qbo]\nrealm_id = "1"\n'
        f'[history]\nurl = "sqlite:///{tmp_path / "history.db"}"\n'
        f'[run]\nout_dir = "{tmp_path / "out"}"\n'
        '[schedule]\ncron = "30 5 * * *"\ntimezone = "UTC"\nwindow_days = 31\n'
        f"[retry]\ntries = {tries}\ndelays_seconds = [{delay}]\n",
    )


def nightly_with_demo(config_path: str, snapshot_dir: str) -> None:
    """The nightly job of these tests: the real run entry point, QBO read from the demo snapshot."""
    settings = load_settings(Path(config_path), {})

    def execute(settings: Settings, company: str, date_from, date_to, attempt: int) -> object:
        request = RunRequest(
            company=company,
            date_from=date_from,
            date_to=date_to,
            triggered_by="schedule",
            attempt=attempt,
            qbo_snapshot=Path(snapshot_dir),
            send_email=False,
        )
        return execute_run(settings, request, progress=lambda _m: None)

    run_nightly(settings, settings.companies[0].key, now=datetime(2026, 8, 1, 5, 30, tzinfo=UTC), execute=execute)


@pytest.fixture
def locked_awra(demo: DemoSet) -> Iterator[threading.Event]:
    """Holds an exclusive lock on the AWRA database (as a backup or a long write would) until set."""
    release = threading.Event()
    taken = threading.Event()
    path = demo.awra_url.removeprefix("sqlite:///")

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        taken.set()
        release.wait(120)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(30)
    yield release
    release.set()
    thread.join(30)


def fire_nightly(config: Path, demo: DemoSet, alerts: list[tuple[str, str]]) -> str:
    """Fire the nightly job once through a real scheduler; return ``executed`` or ``error``."""
    settings = load_settings(config, {})
    scheduler = build_scheduler(settings, blocking=False, alert=lambda c, r: alerts.append((c, r)))
    done: list[str] = []
    finished = threading.Event()

    def on_end(event) -> None:
        done.append("error" if event.code == EVENT_JOB_ERROR else "executed")
        finished.set()

    scheduler.add_listener(on_end, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start(paused=True)
    try:
        scheduler.add_job(
            "test_retry:nightly_with_demo",
            trigger="date",
            run_date=datetime.now(UTC) + timedelta(milliseconds=200),
            id="nightly-default",
            args=[str(config), str(demo.snapshot_dir)],
            replace_existing=True,
        )
        assert finished.wait(90), "the nightly job did not finish"
    finally:
        scheduler.shutdown(wait=True)
    return done[0]


def tries_recorded(config: Path) -> list[tuple[int, str, str]]:
    settings = load_settings(config, {})
    history = RunHistory(settings.history.url)
    try:
        runs = history.recent_runs(limit=10)
    finally:
        history.dispose()
    return [(r.attempt, r.outcome, r.reason or "") for r in reversed(runs)]


def test_a_nightly_run_retries_past_a_briefly_locked_awra_without_alerting(
    tmp_path: Path, demo: DemoSet, locked_awra: threading.Event
):
    config = nightly_config(tmp_path, demo, tries=3, delay=2)
    # sqlite3 waits 5 s for a lock: the first try fails, the lock is gone before the second
    threading.Timer(6.0, locked_awra.set).start()
    alerts: list[tuple[str, str]] = []
    started = time.monotonic()
    assert fire_nightly(config, demo, alerts) == "executed"
    assert alerts == []
    tries = tries_recorded(config)
    assert [(a, o) for a, o, _ in tries] == [(1, "failed"), (2, "completed")]
    assert "database is locked" in tries[0][2]
    assert time.monotonic() - started < 30


def test_a_nightly_run_alerts_once_when_every_try_fails(tmp_path: Path, demo: DemoSet, locked_awra: threading.Event):
    config = nightly_config(tmp_path, demo, tries=2, delay=0.5)
    alerts: list[tuple[str, str]] = []
    assert fire_nightly(config, demo, alerts) == "error"
    assert len(alerts) == 1
    assert alerts[0][0] == "default" and "database is locked" in alerts[0][1]
    tries = tries_recorded(config)
    assert [(a, o) for a, o, _ in tries] == [(1, "failed"), (2, "failed")]
    assert all("database is locked" in reason for _, _, reason in tries)
