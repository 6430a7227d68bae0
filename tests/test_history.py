"""Run history: runs, fingerprints and comparison, the run lock (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from reconcile import frames as F
from reconcile.errors import RunLocked
from reconcile.history import (
    RunHistory,
    aging_bucket,
    fingerprint_findings,
    format_history,
    hash_inputs,
    locks_table,
    process_alive,
)
from reconcile.params import RunParams

T0 = datetime(2026, 8, 1, 5, 30, tzinfo=UTC)


def params(run_id: str, now: datetime, company: str = "acme") -> RunParams:
    return RunParams(
        run_id=run_id,
        company=company,
        company_name=company.title(),
        date_from=date(2026, 7, 1),
        date_to=date(2026, 7, 31),
        now=now,
    )


def finding(awra_id: str, category: str = "missing_in_qbo", field: str | None = None, **extra: object) -> dict:
    return {
        "run_id": "will-change",
        "entity": "invoice",
        "category": category,
        "awra_id": awra_id,
        "awra_number": f"INV-{awra_id}",
        "qbo_id": None,
        "field": field,
        "awra_value": extra.get("awra_value"),
        "qbo_value": extra.get("qbo_value"),
        "amount_cents": extra.get("amount_cents", 1000),
    }


def frame(rows: list[dict]) -> pd.DataFrame:
    return F.conform(pd.DataFrame(rows), F.FINDINGS) if rows else F.empty_frame(F.FINDINGS)


def do_run(history: RunHistory, run_id: str, now: datetime, rows: list[dict], company: str = "acme"):
    p = params(run_id, now, company)
    with history.lock(company, owner="test", now=now):
        history.start_run(p, inputs_hash="h", code_version="0.1.0", qbo_minor_version=75, triggered_by="manual")
        out, summary = history.compare(p, frame(rows))
        history.finish_run(
            run_id,
            outcome="completed",
            counts={"findings": len(out)},
            report_dir=f"/r/{run_id}",
            email_status="sent",
            now=now + timedelta(minutes=2),
        )
    return out, summary


@pytest.fixture
def history(tmp_path: Path) -> Iterator[RunHistory]:
    h = RunHistory(f"sqlite:///{tmp_path / 'var' / 'history.db'}")
    yield h
    h.dispose()


# --------------------------------------------------------------------------- fingerprints


def test_fingerprint_ignores_run_id_and_values_but_not_identity():
    a = frame([finding("1", "mismatch", "amount", awra_value="10.00", qbo_value="9.00")])
    b = frame([finding("1", "mismatch", "amount", awra_value="11.00", qbo_value="8.00")])
    b["run_id"] = pd.array(["another-run"], dtype="string")
    assert fingerprint_findings(a, "acme").tolist() == fingerprint_findings(b, "acme").tolist()
    other_field = frame([finding("1", "mismatch", "txn_date")])
    other_company = fingerprint_findings(a, "globex")
    assert fingerprint_findings(other_field, "acme")[0] != fingerprint_findings(a, "acme")[0]
    assert other_company[0] != fingerprint_findings(a, "acme")[0]


def test_fingerprints_unique_within_a_run_even_for_identical_identities():
    rows = [finding("1", "data_quality", "amount"), finding("1", "data_quality", "amount")]
    fps = fingerprint_findings(frame(rows), "acme")
    assert fps.nunique() == 2


def test_fingerprint_uses_number_when_there_is_no_awra_id():
    row = finding("1")
    row["awra_id"] = None
    other = dict(row, awra_number="INV-2")
    fps = fingerprint_findings(frame([row, other]), "acme")
    assert fps[0] != fps[1]


def test_hash_inputs_is_stable_and_sensitive():
    assert hash_inputs("a", {"x": 1}) == hash_inputs("a", {"x": 1})
    assert hash_inputs("a", {"x": 1}) != hash_inputs("a", {"x": 2})


@pytest.mark.parametrize(
    ("age", "bucket"),
    [(0, "0-7"), (7, "0-7"), (8, "8-30"), (30, "8-30"), (31, "31-90"), (90, "31-90"), (91, "90+"), (400, "90+")],
)
def test_aging_buckets(age, bucket):
    assert aging_bucket(age) == bucket


# --------------------------------------------------------------------------- comparison


def check_three_runs(history: RunHistory) -> None:
    # run 1: A B C                  -> 3 new
    # run 2: A B D (10 days later)  -> D new; A B persisting (age 10); C resolved
    # run 3: A C E (40 days later)  -> A persisting (age 50); C reopened; E new; B D resolved
    t1, t2, t3 = T0, T0 + timedelta(days=10), T0 + timedelta(days=50)
    out1, s1 = do_run(history, "r1", t1, [finding("A"), finding("B"), finding("C")])
    assert (s1["new"], s1["persisting"], s1["resolved"], s1["reopened"], s1["open"]) == (3, 0, 0, 0, 3)
    assert s1["previous_run_id"] is None
    assert out1["history_status"].tolist() == ["new"] * 3
    assert out1["age_days"].tolist() == [0, 0, 0]

    out2, s2 = do_run(history, "r2", t2, [finding("A"), finding("B"), finding("D")])
    assert (s2["new"], s2["persisting"], s2["resolved"], s2["reopened"]) == (1, 2, 1, 0)
    assert s2["previous_run_id"] == "r1"
    by_id = dict(zip(out2["awra_id"], zip(out2["history_status"], out2["age_days"], strict=True), strict=True))
    assert by_id == {"A": ("persisting", 10), "B": ("persisting", 10), "D": ("new", 0)}
    assert s2["aging"] == {"0-7": 0, "8-30": 2, "31-90": 0, "90+": 0}
    assert [r["awra_id"] for r in s2["resolved_findings"]] == ["C"]

    out3, s3 = do_run(history, "r3", t3, [finding("A"), finding("C"), finding("E")])
    assert (s3["new"], s3["persisting"], s3["resolved"], s3["reopened"]) == (1, 1, 2, 1)
    by_id = dict(zip(out3["awra_id"], zip(out3["history_status"], out3["age_days"], strict=True), strict=True))
    # a reopened finding keeps the first time it was ever seen
    assert by_id == {"A": ("persisting", 50), "C": ("reopened", 50), "E": ("new", 0)}
    assert s3["aging"] == {"0-7": 0, "8-30": 0, "31-90": 1, "90+": 0}
    assert sorted(r["awra_id"] for r in s3["resolved_findings"]) == ["B", "D"]
    assert [t["run_id"] for t in s3["trend"]] == ["r1", "r2", "r3"]
    assert [t["open"] for t in s3["trend"]] == [3, 3, 3]
    # the trend carries each run's new and resolved counts (the report's trend chart draws them)
    assert [(t["new"], t["resolved"]) for t in s3["trend"]] == [(3, 0), (1, 1), (1, 2)]
    assert out3["first_seen"].tolist()[0] == pd.Timestamp(t1)
    F.check_frame(out3, F.FINDINGS)

    run = history.get_run("r3")
    assert run is not None and run.outcome == "completed" and run.history["reopened"] == 1
    assert run.report_dir == "/r/r3" and run.email_status == "sent" and run.counts == {"findings": 3}
    assert run.code_version == "0.1.0" and run.qbo_minor_version == 75 and run.inputs_hash == "h"
    assert run.started_at == t3 and run.started_at.tzinfo is not None


def test_three_consecutive_runs_sqlite(history: RunHistory):
    check_three_runs(history)


def test_compare_ignores_failed_runs_and_other_companies(history: RunHistory):
    do_run(history, "r1", T0, [finding("A")])
    # a failed run in between found B; it must not count as the previous run
    p = params("r2", T0 + timedelta(days=1))
    with history.lock("acme", now=p.now):
        history.start_run(p)
        history.compare(p, frame([finding("B")]))
        history.finish_run("r2", outcome="failed", reason="QBO: 503\nService unavailable")
    do_run(history, "g1", T0 + timedelta(days=1), [finding("A")], company="globex")
    _, s = do_run(history, "r3", T0 + timedelta(days=2), [finding("A"), finding("B")])
    assert s["previous_run_id"] == "r1"
    assert (s["new"], s["persisting"], s["resolved"], s["reopened"]) == (1, 1, 0, 0)
    failed = history.get_run("r2")
    assert failed is not None and failed.outcome == "failed" and failed.reason == "QBO: 503 Service unavailable"


def test_empty_findings_resolve_everything(history: RunHistory):
    do_run(history, "r1", T0, [finding("A"), finding("B")])
    out, s = do_run(history, "r2", T0 + timedelta(days=1), [])
    assert out.empty
    assert (s["new"], s["resolved"], s["open"]) == (0, 2, 0)


def test_recent_runs_and_format_history(history: RunHistory):
    do_run(history, "r1", T0, [finding("A")])
    do_run(history, "r2", T0 + timedelta(days=1), [finding("A"), finding("B")])
    do_run(history, "g1", T0 + timedelta(days=2), [], company="globex")
    runs = history.recent_runs()
    assert [r.run_id for r in runs] == ["g1", "r2", "r1"]
    assert [r.run_id for r in history.recent_runs("acme", limit=1)] == ["r2"]
    text = format_history(runs)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["run", "id", "company"]
    assert "r2" in lines[3] and "acme" in lines[3] and "completed" in lines[3] and "2026-07-01..2026-07-31" in lines[3]
    assert "host" in lines[0].split()
    assert all(history.host in line for line in lines[2:])
    assert format_history([]) == "no runs recorded yet"


def test_find_completed_run_by_window_and_trigger(history: RunHistory):
    p = params("s1", T0)
    with history.lock("acme", now=T0):
        history.start_run(p, triggered_by="schedule")
        history.finish_run("s1", outcome="completed")
    assert history.find_completed_run("acme", p.date_from, p.date_to, triggered_by="schedule") is not None
    assert history.find_completed_run("acme", p.date_from, p.date_to, triggered_by="manual") is None
    assert history.find_completed_run("acme", p.date_from, date(2026, 8, 1)) is None


def test_naive_datetime_refused(history: RunHistory):
    p = params("r1", T0)
    history.start_run(p)
    with pytest.raises(ValueError, match="timezone-aware"):
        history.finish_run("r1", outcome="completed", now=datetime(2026, 8, 1))


# --------------------------------------------------------------------------- the lock


def test_lock_blocks_a_second_holder_and_releases(history: RunHistory):
    with history.lock("acme", owner="first"):
        with pytest.raises(RunLocked) as info, history.lock("acme", owner="second"):
            pass
        assert info.value.exit_code == 4
        assert "another run is in progress (first)" in info.value.one_line()
        with history.lock("globex"):  # another company is independent
            pass
    with history.lock("acme"):  # released
        pass


def test_lock_released_when_the_run_raises(history: RunHistory):
    with pytest.raises(ZeroDivisionError), history.lock("acme"):
        1 / 0  # noqa: B018
    with history.lock("acme"):
        pass


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    pid = dead_pid()
    assert not process_alive(pid)
    ghost = RunHistory(url, pid=pid)
    ghost.acquire_lock("acme", owner="ghost")  # never released
    live = RunHistory(url)
    with live.lock("acme") as handle:
        assert handle.took_over is not None and "its process is gone" in handle.took_over


def test_lock_on_another_host_is_respected_while_its_lease_runs(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    other = RunHistory(url, host="other-host", pid=1, lease_seconds=60)
    other.acquire_lock("acme", now=T0)
    mine = RunHistory(url)
    with pytest.raises(RunLocked):
        mine.acquire_lock("acme", now=T0 + timedelta(seconds=50))
    with mine.engine.begin() as conn:
        conn.execute(locks_table.update().values(heartbeat_at=T0 + timedelta(seconds=45)))
    with pytest.raises(RunLocked):
        mine.acquire_lock("acme", now=T0 + timedelta(seconds=100))
    handle = mine.acquire_lock("acme", now=T0 + timedelta(seconds=106))
    assert handle.took_over is not None and "past its 60 s lease" in handle.took_over
    with mine.engine.connect() as conn:
        assert conn.execute(sa.select(locks_table.c.host)).scalar_one() == mine.host


def test_lock_row_without_heartbeat_keeps_the_old_twelve_hours(tmp_path: Path):
    """A lock row left by code from before leases is given up only after ``stale_after``."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    other = RunHistory(url, host="other-host", pid=1)
    other.acquire_lock("acme", now=T0)
    with other.engine.begin() as conn:
        conn.execute(locks_table.update().values(heartbeat_at=None, lease_seconds=None))
    mine = RunHistory(url, stale_after=timedelta(hours=12))
    with pytest.raises(RunLocked):
        mine.acquire_lock("acme", now=T0 + timedelta(hours=11))
    handle = mine.acquire_lock("acme", now=T0 + timedelta(hours=13))
    assert handle.took_over is not None and "older than" in handle.took_over


def test_the_holder_renews_its_lease_and_notices_a_takeover(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    holder = RunHistory(url, lease_seconds=0.4)
    with holder.lock("acme") as handle:
        with holder.engine.connect() as conn:
            first = conn.execute(sa.select(locks_table.c.heartbeat_at)).scalar_one()
        time.sleep(0.5)
        with holder.engine.connect() as conn:
            assert conn.execute(sa.select(locks_table.c.heartbeat_at)).scalar_one() > first
        handle.ensure_held()
        with holder.engine.begin() as conn:  # another process took it over while this one stalled
            conn.execute(locks_table.update().values(token="someone-else"))
        time.sleep(0.3)
        assert handle.lost.is_set()
        with pytest.raises(RunLocked, match="lease lapsed"):
            handle.ensure_held()
    with holder.engine.connect() as conn:  # releasing did not remove the other holder's lock
        assert conn.execute(sa.select(locks_table.c.token)).scalar_one() == "someone-else"


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import UTC, date, datetime
    from reconcile.history import RunHistory
    from reconcile.params import RunParams
    h = RunHistory(sys.argv[1])
    h.acquire_lock("acme", owner="doomed")
    h.start_run(RunParams(run_id="killed", company="acme", company_name="Acme", date_from=date(2026, 7, 1),
                          date_to=date(2026, 7, 31), now=datetime(2026, 8, 1, tzinfo=UTC)))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_killed_run_is_marked_failed_by_the_next(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, url], timeout=60, check=False)
    assert proc.returncode == -9
    history = RunHistory(url)
    assert history.get_run("killed").outcome == "running"  # type: ignore[union-attr]
    _, summary = do_run(history, "next", T0 + timedelta(days=1), [finding("A")])
    killed = history.get_run("killed")
    assert killed is not None and killed.outcome == "interrupted" and "interrupted" in (killed.reason or "")
    assert killed.finished_at is not None
    assert summary["previous_run_id"] is None  # the killed run is not a baseline
    assert history.get_run("next").outcome == "completed"  # type: ignore[union-attr]


def _racer(url: str, barrier, release, results) -> None:
    history = RunHistory(url)
    barrier.wait()
    try:
        with history.lock("acme", owner=f"racer {os.getpid()}"):
            results.put("ran")
            release.wait(60)
    except RunLocked as exc:
        results.put(f"locked: {exc.one_line()}")


def race(url: str) -> list[str]:
    ctx = mp.get_context("fork")
    barrier, release, results = ctx.Barrier(2), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(url, barrier, release, results)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=60) for _ in procs]
    finally:
        release.set()
        for p in procs:
            p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    return sorted(outcomes)


def test_two_processes_race_for_one_company_sqlite(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'race.db'}"  # both racers also race to create the tables
    outcomes = race(url)
    assert outcomes[1] == "ran"
    assert outcomes[0].startswith("locked: acme: another run is in progress")


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_url() -> Iterator[str]:
    admin_url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    name = f"qbo_recon_hist_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.postgres
def test_three_consecutive_runs_postgres(pg_url: str):
    history = RunHistory(pg_url)
    try:
        check_three_runs(history)
    finally:
        history.dispose()


@pytest.mark.postgres
def test_two_processes_race_for_one_company_postgres(pg_url: str):
    outcomes = race(pg_url)  # both racers also race to create the tables
    assert outcomes[1] == "ran"
    assert outcomes[0].startswith("locked: acme: another run is in progress")


@pytest.mark.postgres
def test_stale_lock_takeover_postgres(pg_url: str):
    ghost = RunHistory(pg_url, pid=dead_pid())
    ghost.acquire_lock("acme")
    ghost.start_run(params("ghost-run", T0))
    live = RunHistory(pg_url)
    try:
        with live.lock("acme") as handle:
            assert handle.took_over is not None
        run = live.get_run("ghost-run")
        assert run is not None and run.outcome == "interrupted"
    finally:
        ghost.dispose()
        live.dispose()


# --------------------------------------------------------------------------- the lease across hosts

LEASE = 1.0
HOLDER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, date, datetime
    from reconcile.history import RunHistory
    from reconcile.params import RunParams
    h = RunHistory(sys.argv[1], lease_seconds=float(sys.argv[2]))
    with h.lock("acme", owner="holder"):
        h.start_run(RunParams(run_id="held", company="acme", company_name="Acme", date_from=date(2026, 7, 1),
                              date_to=date(2026, 7, 31), now=datetime.now(UTC)))
        print("ready", flush=True)
        time.sleep(300)
    """
)


def check_lease_across_hosts(url: str) -> None:
    """A live holder on another host keeps the lock; once SIGKILLed, it is taken over within the lease."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, str(LEASE)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    other = RunHistory(url, host="another-host", pid=1, lease_seconds=LEASE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        until = time.monotonic() + 2.5 * LEASE  # well past one lease: the heartbeats keep it held
        while time.monotonic() < until:
            with pytest.raises(RunLocked):
                other.acquire_lock("acme", owner="thief")
            time.sleep(0.25)
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(30)
        killed_at = time.monotonic()
        while True:
            try:
                handle = other.acquire_lock("acme", owner="successor")
                break
            except RunLocked:
                assert time.monotonic() - killed_at < LEASE + 2.0, "the dead holder's lock was not taken over"
                time.sleep(0.1)
        assert handle.took_over is not None and "lease" in handle.took_over
        run = other.get_run("held")
        assert run is not None and run.outcome == "interrupted" and run.finished_at is not None
        other.release_lock(handle)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait(30)
        other.dispose()


def test_lease_across_hosts_sqlite(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    RunHistory(url).dispose()
    check_lease_across_hosts(url)


@pytest.mark.postgres
def test_lease_across_hosts_postgres(pg_url: str):
    RunHistory(pg_url).dispose()
    check_lease_across_hosts(pg_url)
