"""Queued runs: the message, its attempts in the run history, and what makes one run at most once.

A queued run is named at dispatch by a run id (``reconcile.params.make_run_id`` of the dispatch
time, or of the nightly fire time), carried in its message. The broker delivers the message at
least once; each delivery that really runs the company is one *attempt*, recorded in the run
history under its own run id: the queued run id itself for the first, ``<run id>-try<N>`` after
that. So an attempt whose worker died stays in the history, recorded as interrupted, beside the
attempt that completed.

The report folder ``out_dir/<attempt run id>/`` appears by a rename (``reports.outputs``): that
rename is the publication point. Before starting an attempt, under the company's run lock,
``claim_attempt`` looks at every earlier attempt: one that completed, or whose folder was
published (its worker died before recording it), means the queued run is done, and a published
one is recorded as completed from its ``summary.json`` without running anything again.

``queued_state`` tells ``dispatch --wait`` where a queued run stands, from the history alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from reconcile.errors import AlreadyReconciled, QboReconError, UsageError
from reconcile.history import RunHistory, RunRecord
from reconcile.params import RunParams

#: A run whose worker died this many times is not started again (a run that kills its worker,
#: say by running out of memory, would otherwise be delivered again for ever).
MAX_INTERRUPTED = 3
#: Appended to the reason of a failed attempt that the worker will try again.
RETRY_NOTE = "; tried again in"
#: The email status of an attempt recorded from its published folder (its worker died after publishing).
UNKNOWN_EMAIL = "unknown (the worker stopped after publishing the report)"


class RunKeepsDying(QboReconError):
    """A queued run's workers died ``MAX_INTERRUPTED`` times running it; it is not started again."""

    exit_code = 3


@dataclass(frozen=True)
class QueuedRun:
    """One queued run: what a worker needs to run a company, as carried in the message."""

    run_id: str
    company: str
    date_from: date
    date_to: date
    status: str | None = None
    entities: tuple[str, ...] = ()
    out_dir: str | None = None
    send_email: bool = True
    triggered_by: str = "dispatch"

    def to_message(self) -> dict[str, Any]:
        """The message body (JSON-able keyword arguments of the task)."""
        return {
            "run_id": self.run_id,
            "company": self.company,
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "status": self.status,
            "entities": list(self.entities),
            "out_dir": self.out_dir,
            "send_email": self.send_email,
            "triggered_by": self.triggered_by,
        }

    @classmethod
    def from_message(cls, body: Mapping[str, Any]) -> QueuedRun:
        """The queued run a message carries; ``UsageError`` when it is not one of ours."""
        try:
            return cls(
                run_id=str(body["run_id"]),
                company=str(body["company"]),
                date_from=date.fromisoformat(body["date_from"]),
                date_to=date.fromisoformat(body["date_to"]),
                status=body.get("status"),
                entities=tuple(body.get("entities") or ()),
                out_dir=body.get("out_dir"),
                send_email=bool(body.get("send_email", True)),
                triggered_by=str(body.get("triggered_by", "dispatch")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"not a queued run message ({type(exc).__name__}: {exc})") from None


def attempt_id(run_id: str, number: int) -> str:
    """The run id of attempt ``number`` (from 1) of queued run ``run_id``."""
    return run_id if number == 1 else f"{run_id}-try{number}"


def attempts_of(history: RunHistory, run_id: str) -> list[RunRecord]:
    """The recorded attempts of a queued run, first to last.

    Attempt ids are taken in order, each only once the one before it is recorded, so the first
    id without a record ends the list.
    """
    found: list[RunRecord] = []
    while (record := history.get_run(attempt_id(run_id, len(found) + 1))) is not None:
        found.append(record)
    return found


def published_folder(out_dir: Path, run_id: str) -> Path | None:
    """The run's report folder if it was published (renamed into place), else None."""
    folder = out_dir / run_id
    return folder if (folder / "summary.json").is_file() else None


def is_interrupted(record: RunRecord) -> bool:
    """Whether an attempt ended because its process died (it will be delivered again)."""
    return record.outcome == "interrupted" or (record.outcome == "failed" and _reason(record).startswith("interrupted"))


def will_retry(record: RunRecord) -> bool:
    """Whether a failed attempt is to be tried again by the worker (the retry policy said so)."""
    return record.outcome == "failed" and RETRY_NOTE in _reason(record)


def failed_tries(attempts: list[RunRecord]) -> int:
    """How many attempts failed for a reason of their own (interrupted ones are not tries)."""
    return sum(1 for r in attempts if r.outcome == "failed" and not is_interrupted(r))


def claim_attempt(history: RunHistory, out_dir: Path, run_id: str) -> str:
    """The run id for the next attempt of queued run ``run_id``; call it holding the company's lock.

    Raises ``AlreadyReconciled`` when an earlier attempt completed, or published its folder (then
    recorded here as completed, from the folder's ``summary.json``): the queued run is done; and
    ``RunKeepsDying`` when ``MAX_INTERRUPTED`` attempts died with their worker.
    """
    earlier = attempts_of(history, run_id)
    for record in earlier:
        if record.outcome == "completed":
            raise AlreadyReconciled(f"{record.company}: queued run {run_id} already completed as run {record.run_id}")
        folder = published_folder(out_dir, record.run_id)
        if folder is not None:
            record_published(history, record, folder)
            raise AlreadyReconciled(
                f"{record.company}: queued run {run_id} was published as {folder} before its worker stopped;"
                " recorded it as completed"
            )
    died = sum(1 for r in earlier if is_interrupted(r))
    if died >= MAX_INTERRUPTED:
        raise RunKeepsDying(f"queued run {run_id}: its worker died {died} times running it; not started again")
    return attempt_id(run_id, len(earlier) + 1)


def record_published(history: RunHistory, record: RunRecord, folder: Path) -> None:
    """Record an attempt whose folder was published as completed, with the counts it published."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    counts = summary.get("categories")
    history.finish_run(
        record.run_id,
        outcome="completed",
        counts=counts if isinstance(counts, dict) else None,
        report_dir=str(folder),
        email_status=UNKNOWN_EMAIL,
    )


def record_failed_attempt(history: RunHistory, job: QueuedRun, reason: str, *, now: datetime | None = None) -> str:
    """Record a delivery that failed before its run was recorded (bad config, a missing folder).

    So that the failure shows in the history and ``dispatch --wait`` sees the queued run end.
    Returns the attempt's run id.
    """
    run_id = attempt_id(job.run_id, len(attempts_of(history, job.run_id)) + 1)
    moment = now or datetime.now(UTC)
    params = RunParams(
        run_id=run_id,
        company=job.company,
        company_name=job.company,
        date_from=job.date_from,
        date_to=job.date_to,
        status=job.status or "posted",
        now=moment,
    )
    history.start_run(params, triggered_by=job.triggered_by)
    history.finish_run(run_id, outcome="failed", reason=reason, now=moment)
    return run_id


@dataclass(frozen=True)
class QueuedState:
    """Where a queued run stands: ``queued``, ``running``, ``retrying``, ``completed`` or ``failed``."""

    state: str
    attempt: RunRecord | None = None
    tries: int = 0

    @property
    def finished(self) -> bool:
        """Whether nothing more will happen to the queued run."""
        return self.state in ("completed", "failed")


def queued_state(history: RunHistory, run_id: str) -> QueuedState:
    """The state of queued run ``run_id``, read from the run history."""
    attempts = attempts_of(history, run_id)
    for record in attempts:
        if record.outcome == "completed":
            return QueuedState("completed", record, len(attempts))
    if not attempts:
        return QueuedState("queued")
    last = attempts[-1]
    if last.outcome == "running" or is_interrupted(last):
        # an interrupted attempt's message goes back to the queue and is delivered again
        return QueuedState("running", last, len(attempts))
    if will_retry(last):
        return QueuedState("retrying", last, len(attempts))
    return QueuedState("failed", last, len(attempts))


def _reason(record: RunRecord) -> str:
    return record.reason or ""


__all__ = [
    "MAX_INTERRUPTED",
    "RETRY_NOTE",
    "UNKNOWN_EMAIL",
    "QueuedRun",
    "QueuedState",
    "RunKeepsDying",
    "attempt_id",
    "attempts_of",
    "claim_attempt",
    "failed_tries",
    "is_interrupted",
    "published_folder",
    "queued_state",
    "record_failed_attempt",
    "record_published",
    "will_retry",
]
