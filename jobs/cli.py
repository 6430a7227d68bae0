"""The ``qbo-recon`` command line (CONTRACTS §3).

Exit codes: 0 the run completed (whatever it found); 2 bad usage, config or input, with a
one-line reason; 3 a source could not be read; 4 another run for the company is in progress.
``dispatch --wait``: 0 every queued run completed, 3 one failed, 5 the wait ran out first.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from reconcile.config import Settings, load_settings
from reconcile.errors import ConfigError, QboReconError, UsageError
from reconcile.frames import AWRA_STATUSES, ENTITIES
from reconcile.params import parse_date

if TYPE_CHECKING:
    from jobs.queued import QueuedRun, QueuedState

PROG = "qbo-recon"
DEMO_FOLDER = Path("data/demo")
#: ``dispatch --wait``: the wait ran out before every queued run finished.
EXIT_WAIT_RAN_OUT = 5


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser for every sub-command."""
    parser = _Parser(prog=PROG, description="Reconcile AWRA ERP finance records against QuickBooks Online.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and details")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="reconcile a date range")
    run.add_argument("--from", dest="date_from", required=True, metavar="YYYY-MM-DD")
    run.add_argument("--to", dest="date_to", required=True, metavar="YYYY-MM-DD")
    run.add_argument("--status", choices=AWRA_STATUSES, help="AWRA transaction status to compare (default: config)")
    run.add_argument(
        "--entity", action="append", choices=ENTITIES, dest="entities", help="repeat for several (default: all four)"
    )
    _config_flags(run)
    run.add_argument("--save-qbo-snapshot", type=Path, metavar="DIR", help="save what was pulled from QBO")
    run.add_argument("--out", type=Path, metavar="DIR", help="where run folders go (default: config run.out_dir)")
    run.add_argument("--no-email", action="store_true", help="do not email the report")
    run.add_argument("--profile", action="store_true", help="print wall time, CPU time and peak memory added per stage")

    demo = commands.add_parser("demo", help="build the embedded demo data set and reconcile it")
    demo.add_argument("--out", type=Path, metavar="DIR", help="where the run folder goes")
    demo.add_argument("--config", type=Path, metavar="FILE", help="config file (default: the shipped one)")

    schedule = commands.add_parser("schedule", help="run the nightly scheduler in the foreground")
    schedule.add_argument("--config", type=Path, metavar="FILE")

    explain = commands.add_parser("explain", help="everything about one record, customer, vendor or sync run")
    explain.add_argument(
        "ref", metavar="REF", help="record number, AWRA id, qbo:<Id>, customer/vendor code or name, or sync run id"
    )
    _config_flags(explain)
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.add_argument(
        "--demo", action="store_true", help="explain against the demo data set (as built by `qbo-recon demo`)"
    )

    ack = commands.add_parser("ack", help="acknowledge findings someone is on (or --list them)")
    ack.add_argument(
        "ref", nargs="?", metavar="REF", help="finding fingerprint, record number, AWRA id, qbo:<Id>, code"
    )
    ack.add_argument("--note", metavar="TEXT", help="why it is acknowledged (required)")
    ack.add_argument("--until", metavar="YYYY-MM-DD", help="the acknowledgement lapses after this date")
    ack.add_argument("--by", metavar="NAME", help="who acknowledges it (default: the OS user)")
    ack.add_argument("--list", action="store_true", help="list acknowledgements instead")
    ack.add_argument("--config", type=Path, metavar="FILE")
    ack.add_argument("--company", metavar="KEY", help="company key when the config holds several")

    unack = commands.add_parser("unack", help="remove the acknowledgement of findings")
    unack.add_argument("ref", metavar="REF")
    unack.add_argument("--config", type=Path, metavar="FILE")
    unack.add_argument("--company", metavar="KEY", help="company key when the config holds several")

    worker = commands.add_parser("worker", help="a Celery worker that runs queued runs")
    worker.add_argument("--config", type=Path, metavar="FILE")
    worker.add_argument("--concurrency", type=_positive_int, metavar="N", help="runs at a time (default: CPU count)")
    worker.add_argument(
        "--pool",
        choices=("prefork", "threads", "solo"),
        default="prefork",
        help="prefork: a process per run (default); threads: lighter, for runs that mostly wait on QBO",
    )

    dispatch = commands.add_parser("dispatch", help="queue one run per company for the workers")
    dispatch.add_argument("--from", dest="date_from", required=True, metavar="YYYY-MM-DD")
    dispatch.add_argument("--to", dest="date_to", required=True, metavar="YYYY-MM-DD")
    dispatch.add_argument(
        "--company", action="append", dest="companies", metavar="KEY", help="repeat for several (default: every one)"
    )
    dispatch.add_argument("--status", choices=AWRA_STATUSES, help="AWRA transaction status to compare")
    dispatch.add_argument("--entity", action="append", choices=ENTITIES, dest="entities", help="repeat for several")
    dispatch.add_argument("--config", type=Path, metavar="FILE")
    dispatch.add_argument("--out", type=Path, metavar="DIR", help="where run folders go (a folder every worker sees)")
    dispatch.add_argument("--no-email", action="store_true", help="do not email the reports")
    dispatch.add_argument(
        "--wait", type=_positive_float, metavar="SECONDS", help="wait for the runs and print each one's outcome"
    )

    history = commands.add_parser("history", help="list recent runs")
    history.add_argument("--config", type=Path, metavar="FILE")
    history.add_argument("--company", metavar="KEY")
    history.add_argument("--limit", type=int, default=20)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0")
    return value


def _config_flags(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--config", type=Path, metavar="FILE", help="config file (default: the shipped one)")
    sub.add_argument("--company", metavar="KEY", help="company key when the config holds several")
    sub.add_argument("--awra-url", metavar="URL", help="SQLAlchemy URL of the AWRA database (overrides config)")
    sub.add_argument("--qbo-snapshot", type=Path, metavar="DIR", help="read QBO from a snapshot folder")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    # the scheduler and the worker run unattended: their start-up, fire and stop lines always go to the log
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command in ("schedule", "worker") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _dispatch(args)
    except ConfigError as exc:
        for line in exc.lines():
            print(f"{PROG}: {line}", file=sys.stderr)
        return exc.exit_code
    except QboReconError as exc:
        print(f"{PROG}: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "schedule":
        from jobs.scheduler import run_scheduler

        run_scheduler(_settings(args.config), config_path=args.config)
        return 0
    if args.command == "worker":
        from jobs.worker import run_worker

        run_worker(_settings(args.config), concurrency=args.concurrency, pool=args.pool)
        return 0
    if args.command == "dispatch":
        return _dispatch_runs(args)
    if args.command == "explain":
        return _explain(args)
    if args.command == "ack":
        return _ack(args)
    if args.command == "unack":
        return _unack(args)
    if args.command == "history":
        from reconcile.history import RunHistory, format_history

        settings = _settings(args.config)
        print(format_history(RunHistory(settings.history.url).recent_runs(company=args.company, limit=args.limit)))
        return 0
    raise UsageError(f"unknown command {args.command!r}")


def _settings(config: Path | None) -> Settings:
    if config is not None and not config.exists():
        raise ConfigError([f"{config}: config file not found"])
    return load_settings(config, os.environ)


def _run(args: argparse.Namespace) -> int:
    from jobs.run import RunRequest, execute_run
    from reconcile.profile import Profile, format_profile

    date_from = parse_date(args.date_from, "--from")
    date_to = parse_date(args.date_to, "--to")
    if date_from > date_to:
        raise UsageError(f"--from {date_from} is after --to {date_to}")
    if args.qbo_snapshot is not None and not args.qbo_snapshot.is_dir():
        raise UsageError(f"--qbo-snapshot {args.qbo_snapshot}: no such folder")
    settings = _settings(args.config)
    profile = Profile() if args.profile else None
    outcome = execute_run(
        settings,
        RunRequest(
            company=args.company,
            date_from=date_from,
            date_to=date_to,
            status=args.status,
            entities=tuple(args.entities or ()),
            awra_url=args.awra_url,
            qbo_snapshot=args.qbo_snapshot,
            save_qbo_snapshot=args.save_qbo_snapshot,
            out_dir=args.out,
            send_email=not args.no_email,
        ),
        profile=profile,
    )
    _print_outcome(outcome)
    if profile is not None:
        print(format_profile(profile), end="")
    return 0


def _dispatch_runs(args: argparse.Namespace) -> int:
    from jobs.queued import QueuedRun
    from jobs.worker import queue_runs
    from reconcile.params import build_run_params

    date_from = parse_date(args.date_from, "--from")
    date_to = parse_date(args.date_to, "--to")
    settings = _settings(args.config)
    keys = list(dict.fromkeys(args.companies or [c.key for c in settings.companies]))
    now = datetime.now(UTC)
    jobs = []
    for key in keys:
        # validated here, so a bad company, status or window is refused before anything is queued
        params = build_run_params(
            settings,
            company=key,
            date_from=date_from,
            date_to=date_to,
            status=args.status,
            entities=args.entities,
            now=now,
        )
        jobs.append(
            QueuedRun(
                run_id=params.run_id,
                company=params.company,
                date_from=date_from,
                date_to=date_to,
                status=args.status,
                entities=tuple(args.entities or ()),
                out_dir=str(args.out.resolve()) if args.out is not None else None,
                send_email=not args.no_email,
            )
        )
    queue_runs(settings, jobs)
    for job in jobs:
        print(f"{job.company}: queued as run {job.run_id} on {settings.workers.queue}", flush=True)
    if args.wait is None:
        return 0
    return _wait_for_runs(settings, jobs, args.wait)


def _wait_for_runs(settings: Settings, queued: Sequence[QueuedRun], seconds: float) -> int:
    from jobs.worker import wait_for

    def print_outcome(job: QueuedRun, state: QueuedState) -> None:
        attempt = state.attempt
        assert attempt is not None
        if state.state == "completed":
            found = sum(int(v) for v in attempt.counts.values())
            print(f"{job.company}: completed, run {attempt.run_id}: {found} findings, report {attempt.report_dir}")
        else:
            print(f"{job.company}: failed, run {attempt.run_id}: {attempt.reason}")
        sys.stdout.flush()

    states = wait_for(settings, queued, seconds, on_finished=print_outcome)
    unfinished = [job for job in queued if not states[job.run_id].finished]
    for job in unfinished:
        print(f"{job.company}: not finished after {seconds:g} s ({states[job.run_id].state}), run {job.run_id}")
    if any(s.state == "failed" for s in states.values()):
        return 3
    return EXIT_WAIT_RAN_OUT if unfinished else 0


def _demo(args: argparse.Namespace) -> int:
    from jobs.run import RunRequest, execute_run
    from reconcile.demo import ensure_demo

    settings = _settings(args.config)
    demo = ensure_demo(DEMO_FOLDER)
    outcome = execute_run(
        settings,
        RunRequest(
            company=None,
            date_from=demo.date_from,
            date_to=demo.date_to,
            awra_url=demo.awra_url,
            qbo_snapshot=demo.snapshot_dir,
            out_dir=args.out,
            send_email=False,
            triggered_by="demo",
        ),
        now=datetime.now(UTC),
    )
    _print_outcome(outcome)
    print("\nTry next:")
    for command in demo_hints(outcome.report_dir, demo.awra_url, demo.snapshot_dir, config=args.config):
        print(f"  {command}")
    return 0


def demo_hints(report_dir: Path, awra_url: str, snapshot_dir: Path, *, config: Path | None = None) -> list[str]:
    """The commands worth trying after ``qbo-recon demo``, with the paths they need, ready to paste.

    A record and a customer with findings are picked from the demo run's ``findings.csv``; the
    last command reruns the same window by hand, the way a run on real data is started.
    """
    with (report_dir / "findings.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    config_flag = ["--config", str(config.resolve())] if config else []
    sources = ["--awra-url", awra_url, "--qbo-snapshot", str(snapshot_dir.resolve())]
    hints: list[list[str]] = []
    for category in ("mismatch", "missing_in_qbo", "sync_conflict"):
        numbers = sorted(r["awra_number"] for r in rows if r["category"] == category and r["awra_number"])
        if numbers:
            hints.append([PROG, "explain", numbers[0], "--demo", *config_flag])
            break
    parties = sorted(r["party"] for r in rows if r["entity"] == "invoice" and r["party"])
    if parties:
        hints.append([PROG, "explain", parties[0], *sources, *config_flag])
    summary = json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))
    window = ["--from", str(summary["from"]), "--to", str(summary["to"])]
    out = ["--out", str(report_dir.parent.resolve())]
    hints.append([PROG, "run", *window, *sources, *out, "--no-email", *config_flag])
    return [shlex.join(words) for words in hints]


def _explain(args: argparse.Namespace) -> int:
    from jobs.explain import AmbiguousReference, explain, render_json, render_text
    from jobs.run import RunRequest, company_for, terminal_progress

    if args.qbo_snapshot is not None and not args.qbo_snapshot.is_dir():
        raise UsageError(f"--qbo-snapshot {args.qbo_snapshot}: no such folder")
    settings = _settings(args.config)
    today = datetime.now(UTC).date()
    awra_url, qbo_snapshot = args.awra_url, args.qbo_snapshot
    if args.demo:
        from reconcile.demo import ensure_demo

        demo = ensure_demo(DEMO_FOLDER)
        awra_url, qbo_snapshot = awra_url or demo.awra_url, qbo_snapshot or demo.snapshot_dir
    company = company_for(settings, RunRequest(company=args.company, date_from=today, date_to=today, awra_url=awra_url))
    try:
        explanation = explain(settings, company, args.ref, qbo_snapshot=qbo_snapshot, progress=terminal_progress())
    except AmbiguousReference as exc:
        print(f"{PROG}: {exc.one_line()}", file=sys.stderr)
        for candidate in exc.candidates:
            print(f"  {candidate.describe()}", file=sys.stderr)
        return exc.exit_code
    print(render_json(explanation) if args.json else render_text(explanation), end="")
    return 0


def _ack(args: argparse.Namespace) -> int:
    from jobs import acks
    from reconcile.history import RunHistory, format_acks

    if args.list:
        if args.ref or args.note or args.until or args.by:
            raise UsageError("ack --list takes no REF, --note, --until or --by")
    elif not args.ref:
        raise UsageError("ack: give the REF of the findings to acknowledge (or --list)")
    elif not (args.note or "").strip():
        raise UsageError("ack: --note TEXT is required: say why the finding is acknowledged")
    until = parse_date(args.until, "--until") if args.until is not None else None
    settings = _settings(args.config)
    history = RunHistory(settings.history.url)
    try:
        if args.list:
            key = settings.company(args.company).key if args.company else None
            print(format_acks(history.acknowledgements(key)))
            return 0
        company = settings.company(args.company)
        done = acks.acknowledge(history, company, args.ref, note=args.note, by=args.by, until=until)
    finally:
        history.dispose()
    print("\n".join(acks.describe(done, "acknowledged")))
    return 0


def _unack(args: argparse.Namespace) -> int:
    from jobs import acks
    from reconcile.history import RunHistory

    settings = _settings(args.config)
    history = RunHistory(settings.history.url)
    try:
        gone = acks.unacknowledge(history, settings.company(args.company), args.ref)
    finally:
        history.dispose()
    print("\n".join(acks.describe(gone, "no longer acknowledged:")))
    return 0


def _print_outcome(outcome: object) -> None:
    from jobs.run import RunOutcome

    assert isinstance(outcome, RunOutcome)
    summary = outcome.summary
    categories = summary["categories"]
    assert isinstance(categories, dict)
    open_count = sum(int(v) for v in categories.values())
    print(f"run {outcome.params.run_id}: {open_count} findings, unexplained {summary['unexplained']}")
    print(f"report: {outcome.report_dir / 'report.html'}")
    print(f"workbook: {outcome.report_dir / 'reconciliation.xlsx'}")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
