"""Queued runs on Celery workers, with the real RabbitMQ and PostgreSQL of this machine.

Each test uses its own queue (deleted afterwards) and its own history database or schema.
Companies are small demo data sets (``reconcile.demo.build_demo``), each read from its own AWRA
SQLite file and QBO snapshot folder (``[qbo] snapshot_dir``).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kombu import Connection

from jobs.cli import main
from jobs.queued import MAX_INTERRUPTED, QueuedRun, attempt_id, attempts_of, is_interrupted, queued_state
from jobs.run import RunRequest, execute_run
from jobs.scheduler import run_nightly
from jobs.worker import TASK_NAME, build_app
from reconcile.config import DEFAULT_BROKER_URL, load_settings
from reconcile.demo import DemoSet, build_demo
from reconcile.errors import AlreadyReconciled
from reconcile.history import RunHistory
from reconcile.params import build_run_params, make_run_id

ROOT = Path(__file__).resolve().parent.parent
BROKER_URL = os.environ.get("QBO_RECON_TEST_BROKER", DEFAULT_BROKER_URL)
#: Small demo sets: a run takes a few seconds, most of it writing the workbook and the HTML.
SCALE = 0.01


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue name of this test only; the queue is deleted afterwards."""
    name = f"qbo-recon-test-{uuid.uuid4().hex[:10]}"
    yield name
    with Connection(BROKER_URL, connect_timeout=5) as conn:
        channel = conn.channel()
        try:
            channel.queue_delete(name)
        finally:
            channel.close()


def make_companies(folder: Path, count: int) -> dict[str, DemoSet]:
    """``count`` companies, each its own demo set (another seed: other records, other findings)."""
    return {f"co{n:02d}": build_demo(folder / f"co{n:02d}", seed=100 + n, scale=SCALE) for n in range(count)}


def write_config(
    path: Path, history_url: str, out_dir: Path, queue: str, companies: dict[str, DemoSet], extra: str = ""
) -> Path:
    lines = [
        f'[history]\nurl = "{history_url}"',
        f'[run]\nout_dir = "{out_dir}"',
        f'[workers]\nbroker_url = "{BROKER_URL}"\nqueue = "{queue}"',
    ]
    for key, demo in companies.items():
        lines.append(
            f'[companies.{key}]\nawra = {{ url = "{demo.awra_url}" }}\nqbo = {{ snapshot_dir = "{demo.snapshot_dir}" }}'
        )
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def published(out_dir: Path) -> dict[str, list[Path]]:
    """Published run folders by company (temporary folders of unfinished writes left out)."""
    found: dict[str, list[Path]] = {}
    for folder in sorted(out_dir.iterdir()) if out_dir.exists() else []:
        if folder.is_dir() and not folder.name.startswith("."):
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            found.setdefault(summary["company"], []).append(folder)
    return found


def findings_of(folder: Path) -> list[tuple[str, ...]]:
    """A run's findings.csv rows without the run id, sorted: what two runs of one company share."""
    with (folder / "findings.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return sorted(tuple(v for k, v in row.items() if k != "run_id") for row in rows)


def queued(company: str, demo: DemoSet, run_id: str) -> dict[str, object]:
    return QueuedRun(
        run_id=run_id, company=company, date_from=demo.date_from, date_to=demo.date_to, send_email=False
    ).to_message()


# --------------------------------------------------------------------------- redelivery, no broker needed


def test_a_redelivered_message_of_a_completed_run_does_nothing(tmp_path):
    companies = make_companies(tmp_path / "data", 1)
    out_dir = tmp_path / "out"
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path}/h.db", out_dir, "unused", companies)
    settings = load_settings(config, {})
    task = build_app(settings).tasks[TASK_NAME]
    message = queued("co00", companies["co00"], "20261101T000000000Z-co00")

    first = task.apply(kwargs=message)  # the task body as a worker runs it, without a broker
    assert first.get() == "completed"
    (folder,) = published(out_dir)["co00"]
    before = sorted(p.name for p in out_dir.iterdir())

    again = task.apply(kwargs=message)
    assert again.get() == "already done"
    assert sorted(p.name for p in out_dir.iterdir()) == before
    history = RunHistory(settings.history.url)
    try:
        (record,) = attempts_of(history, "20261101T000000000Z-co00")
        assert record.outcome == "completed"
        assert record.report_dir == str(folder)
        assert [r.run_id for r in history.recent_runs(company="co00")] == [record.run_id]
    finally:
        history.dispose()


def test_a_run_published_before_its_worker_died_is_recorded_not_run_again(tmp_path):
    companies = make_companies(tmp_path / "data", 1)
    out_dir = tmp_path / "out"
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path}/h.db", out_dir, "unused", companies)
    run_id = "20261101T000000000Z-co00"
    message = queued("co00", companies["co00"], run_id)
    # the worker's process dies the moment the folder is renamed into place: nothing recorded, nothing acked
    crash = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        import jobs.run
        from jobs.worker import TASK_NAME, build_app
        from reconcile.config import load_settings

        real = jobs.run.write_run_folder

        def publish_then_die(result, out_dir, **options):
            real(result, out_dir, **options)
            os._exit(9)

        jobs.run.write_run_folder = publish_then_die
        build_app(load_settings(Path({str(config)!r}), {{}})).tasks[TASK_NAME].apply(kwargs={message!r})
        """
    )
    died = subprocess.run([sys.executable, "-c", crash], cwd=ROOT, capture_output=True, text=True, check=False)
    assert died.returncode == 9, died.stderr
    (folder,) = published(out_dir)["co00"]
    settings = load_settings(config, {})
    history = RunHistory(settings.history.url)
    try:
        assert history.get_run(run_id).outcome == "running"

        redelivered = build_app(settings).tasks[TASK_NAME].apply(kwargs=message)
        assert redelivered.get() == "already done"

        (record,) = attempts_of(history, run_id)  # no second attempt
        assert record.outcome == "completed"
        assert record.report_dir == str(folder)
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        assert dict(record.counts) == summary["categories"]
        assert "unknown" in (record.email_status or "")
        assert list(published(out_dir)) == ["co00"] and len(published(out_dir)["co00"]) == 1
        assert queued_state(history, run_id).state == "completed"
    finally:
        history.dispose()


def test_an_attempt_whose_worker_died_before_publishing_is_run_again_as_the_next_attempt(tmp_path):
    companies = make_companies(tmp_path / "data", 1)
    out_dir = tmp_path / "out"
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path}/h.db", out_dir, "unused", companies)
    settings = load_settings(config, {})
    demo = companies["co00"]
    run_id = "20261101T000000000Z-co00"
    history = RunHistory(settings.history.url, pid=2**22 + 7)  # a process that does not exist: a dead worker
    try:
        handle = history.acquire_lock("co00", owner="dead worker")
        params = build_run_params(
            settings,
            company="co00",
            date_from=demo.date_from,
            date_to=demo.date_to,
            status=None,
            entities=None,
            now=datetime.now(UTC),
            run_id=run_id,
        )
        history.start_run(params, triggered_by="dispatch")
        assert handle.company == "co00"
        assert queued_state(history, run_id).state == "running"

        outcome = execute_run(
            settings,
            RunRequest(
                company="co00",
                date_from=demo.date_from,
                date_to=demo.date_to,
                out_dir=out_dir,
                send_email=False,
                triggered_by="dispatch",
                queued_as=run_id,
            ),
        )
        assert outcome.params.run_id == attempt_id(run_id, 2)
        first, second = attempts_of(history, run_id)
        assert is_interrupted(first) and first.outcome != "running"
        assert second.outcome == "completed"
        assert [p.name for p in published(out_dir)["co00"]] == [attempt_id(run_id, 2)]
        with pytest.raises(AlreadyReconciled):
            execute_run(
                settings,
                RunRequest(
                    company="co00",
                    date_from=demo.date_from,
                    date_to=demo.date_to,
                    out_dir=out_dir,
                    send_email=False,
                    triggered_by="dispatch",
                    queued_as=run_id,
                ),
            )
    finally:
        history.dispose()


# --------------------------------------------------------------------------- RabbitMQ + PostgreSQL


def start_worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """A ``qbo-recon worker`` in its own process group (its pool processes share the group)."""
    with log.open("wb") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "jobs.cli", "worker", "--config", str(config), "--concurrency", "1"],
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.postgres
def test_schedule_with_workers_enabled_queues_the_nightly_run_once_per_night(tmp_path, queue, postgres_schema_url):
    companies = make_companies(tmp_path / "data", 1)
    config = write_config(tmp_path / "c.toml", postgres_schema_url, tmp_path / "out", queue, companies)
    config.write_text(config.read_text(encoding="utf-8").replace("[workers]", "[workers]\nenabled = true"))
    settings = load_settings(config, {})
    assert settings.workers.enabled
    due = datetime(2026, 11, 2, 2, 30, tzinfo=UTC)  # 05:30 in Nairobi, the default cron
    assert run_nightly(settings, "co00", now=due) == "queued"
    assert run_nightly(settings, "co00", now=due + timedelta(minutes=20)) == "queued"  # a restart fires again
    with Connection(BROKER_URL, connect_timeout=5) as conn:
        messages = []
        channel = conn.channel()
        try:
            while (message := channel.basic_get(queue, no_ack=True)) is not None:
                messages.append(message)
        finally:
            channel.close()
    assert len(messages) == 2
    ids = {m.headers["id"] for m in messages}
    assert ids == {make_run_id("co00", due)}  # one queued run: the second delivery will find it done
    (body,) = {json.dumps(json.loads(m.body)[1], sort_keys=True) for m in messages}
    assert json.loads(body)["triggered_by"] == "schedule"
    assert json.loads(body)["date_to"] == "2026-11-01"
    assert not (tmp_path / "out").exists()  # queued, not run


@pytest.mark.postgres
def test_dispatch_wait_runs_out_when_no_worker_takes_the_runs(capsys, tmp_path, queue, postgres_schema_url):
    companies = make_companies(tmp_path / "data", 2)
    config = write_config(tmp_path / "c.toml", postgres_schema_url, tmp_path / "out", queue, companies)
    demo = companies["co00"]
    window = ["--from", demo.date_from.isoformat(), "--to", demo.date_to.isoformat()]
    code = main(["dispatch", *window, "--config", str(config), "--no-email", "--wait", "1"])
    out = capsys.readouterr().out.splitlines()
    assert code == 5
    assert [line.split(":")[0] for line in out] == ["co00", "co01", "co00", "co01"]
    assert all("queued as run" in line for line in out[:2])
    assert all("not finished after 1 s (queued)" in line for line in out[2:])

    code = main(["dispatch", *window, "--config", str(config), "--company", "nope"])
    assert code == 2
    assert "no company 'nope'" in capsys.readouterr().err


@pytest.mark.postgres
def test_two_workers_one_killed_every_company_published_once(tmp_path, queue, postgres_schema_url):
    companies = make_companies(tmp_path / "data", 12)
    out_dir = tmp_path / "out"
    # a final failure (not retried): its AWRA database file does not exist
    broken = f'[companies.broken]\nawra = {{ url = "sqlite:///{tmp_path}/absent.db" }}\n'
    broken += f'qbo = {{ snapshot_dir = "{companies["co00"].snapshot_dir}" }}\n'
    config = write_config(tmp_path / "c.toml", postgres_schema_url, out_dir, queue, companies, extra=broken)
    settings = load_settings(config, {})
    demo = companies["co00"]
    window = ["--from", demo.date_from.isoformat(), "--to", demo.date_to.isoformat()]

    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [start_worker(config, log) for log in logs]
    try:
        for log in logs:
            wait_until(lambda log=log: "ready" in log.read_text(errors="replace"), 60, f"{log.name} ready")
        command = ["dispatch", *window, "--config", str(config), "--no-email", "--wait", "150"]
        dispatch = subprocess.Popen(
            [sys.executable, "-m", "jobs.cli", *command],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        history = RunHistory(settings.history.url)
        try:
            victim = workers[0]

            def victim_mid_run() -> str | None:
                runs = history.recent_runs(limit=100)
                if not any(r.outcome == "completed" for r in runs):
                    return None  # in the middle: some runs done already
                for r in runs:
                    if r.outcome == "running" and r.owner_pid and _group_of(r.owner_pid) == victim.pid:
                        return r.run_id
                return None

            wait_until(lambda: victim_mid_run() is not None, 120, "worker A in the middle of a run", 0.05)
            interrupted = victim_mid_run()
            assert interrupted is not None
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)

            out, err = dispatch.communicate(timeout=170)
            assert dispatch.returncode == 3, out + err  # one company failed; the others completed
            lines = out.splitlines()
            outcomes = {line.split(":")[0]: line for line in lines if "queued as run" not in line}
            assert set(outcomes) == {*companies, "broken"}
            assert all(", run " in outcomes[key] and "completed" in outcomes[key] for key in companies)
            assert outcomes["broken"].startswith("broken: failed, run ")

            # every company: exactly one published report, whose findings equal a one-by-one run's
            by_company = published(out_dir)
            assert set(by_company) == set(companies)
            assert all(len(folders) == 1 for folders in by_company.values()), by_company

            runs = history.recent_runs(limit=200)
            assert not [r.run_id for r in runs if r.outcome == "running"]
            record = history.get_run(interrupted)
            assert record is not None and is_interrupted(record), record
            for key in companies:
                completed = [r for r in runs if r.company == key and r.outcome == "completed"]
                assert len(completed) == 1
                assert Path(completed[0].report_dir or "") == by_company[key][0]
                if key == record.company:  # delivered again to the other worker: its second attempt
                    assert completed[0].run_id == attempt_id(interrupted, 2)
        finally:
            history.dispose()
    finally:
        for worker in workers:
            stop(worker)

    single = write_config(tmp_path / "one.toml", f"sqlite:///{tmp_path}/one.db", tmp_path / "one", queue, companies)
    for key in companies:
        code = main(["run", *window, "--config", str(single), "--company", key, "--out", str(tmp_path / "one")])
        assert code == 0
    one_by_one = published(tmp_path / "one")
    for key in companies:
        assert findings_of(by_company[key][0]) == findings_of(one_by_one[key][0]), key
    for log in logs:
        text = log.read_text(errors="replace")
        assert "[co" in text  # worker lines name the company and run they belong to


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_a_passing_failure_is_tried_again_each_try_recorded_and_alerted_once(tmp_path, monkeypatch):
    companies = make_companies(tmp_path / "data", 1)
    down = '[companies.down]\nawra = { url = "postgresql+psycopg://nobody@127.0.0.1:9/awra" }\n'
    down += f'qbo = {{ snapshot_dir = "{companies["co00"].snapshot_dir}" }}\n'
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path}/h.db", tmp_path / "out", "unused", {}, down)
    settings = load_settings(config, {})
    alerts: list[tuple[str, str]] = []
    monkeypatch.setattr("jobs.worker._alert", lambda _settings, job, reason: alerts.append((job.company, reason)))
    run_id = "20261101T000000000Z-down"
    # eager: each retry runs at once, in this process (the worker waits retry_delay seconds instead)
    build_app(settings).tasks[TASK_NAME].apply(kwargs=queued("down", companies["co00"], run_id))

    history = RunHistory(settings.history.url)
    try:
        tries = attempts_of(history, run_id)
        assert [r.run_id for r in tries] == [run_id, f"{run_id}-try2", f"{run_id}-try3"]
        assert all(r.outcome == "failed" and "AWRA" in (r.reason or "") for r in tries)
        assert ["tried again in" in (r.reason or "") for r in tries] == [True, True, False]
        assert queued_state(history, run_id).state == "failed"
    finally:
        history.dispose()
    assert len(alerts) == 1 and alerts[0][0] == "down"


def test_a_failure_before_the_run_is_recorded_still_ends_the_queued_run(tmp_path):
    companies = make_companies(tmp_path / "data", 1)
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path}/h.db", tmp_path / "out", "unused", companies)
    settings = load_settings(config, {})
    message = queued("co00", companies["co00"], "20261101T000000000Z-co00")
    message["company"] = "renamed"  # the worker's config does not know the company
    assert build_app(settings).tasks[TASK_NAME].apply(kwargs=message).get() == "failed"
    history = RunHistory(settings.history.url)
    try:
        state = queued_state(history, "20261101T000000000Z-co00")
        assert state.state == "failed"
        assert state.attempt is not None and "no company 'renamed'" in (state.attempt.reason or "")
    finally:
        history.dispose()


def test_a_run_whose_worker_keeps_dying_is_not_started_again(tmp_path):
    companies = make_companies(tmp_path / "data", 1)
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path}/h.db", tmp_path / "out", "unused", companies)
    settings = load_settings(config, {})
    demo, run_id = companies["co00"], "20261101T000000000Z-co00"
    history = RunHistory(settings.history.url)
    try:
        for n in range(1, MAX_INTERRUPTED + 1):  # three deliveries, each killed its worker
            params = build_run_params(
                settings,
                company="co00",
                date_from=demo.date_from,
                date_to=demo.date_to,
                status=None,
                entities=None,
                now=datetime.now(UTC),
                run_id=attempt_id(run_id, n),
            )
            history.start_run(params, triggered_by="dispatch")
            history.finish_run(params.run_id, outcome="failed", reason="interrupted: the run's process ended")
        assert queued_state(history, run_id).state == "running"  # so far, it would be delivered again

        assert build_app(settings).tasks[TASK_NAME].apply(kwargs=queued("co00", demo, run_id)).get() == "failed"
        state = queued_state(history, run_id)
        assert state.state == "failed" and state.tries == MAX_INTERRUPTED + 1
        assert state.attempt is not None and "died 3 times" in (state.attempt.reason or "")
        assert not (tmp_path / "out").exists()
    finally:
        history.dispose()


def test_dispatch_with_the_broker_down_exits_3_with_one_line_and_no_password(capsys, tmp_path, monkeypatch):
    companies = make_companies(tmp_path / "data", 1)
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path}/h.db", tmp_path / "out", "unused", companies)
    monkeypatch.setenv("QBO_RECON_BROKER_URL", "amqp://guest:s3cret@127.0.0.1:9//")  # nothing listens on port 9
    demo = companies["co00"]
    window = ["--from", demo.date_from.isoformat(), "--to", demo.date_to.isoformat()]
    code = main(["dispatch", *window, "--config", str(config)])
    captured = capsys.readouterr()
    assert code == 3
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert "could not queue the runs" in line and "127.0.0.1:9" in line
    assert "s3cret" not in captured.err
