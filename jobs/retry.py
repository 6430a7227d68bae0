"""The retry policy for nightly runs, shared by the embedded scheduler and the Celery task.

A run that fails with a *retriable* source error (``SourceError.retriable``: AWRA locked or
unreachable, QBO unavailable once its client spent its own retries) is tried again after a
delay from ``[retry]``; any other failure, and the last try, is final and alerted. Each try
is its own run in the history (``RunRequest.attempt`` numbers them).

* ``is_retriable(exc)``: whether trying again later may help.
* ``next_delay(settings, attempt)``: seconds to wait after try ``attempt`` (1-based) failed,
  or None when that was the last try.
* ``run_with_retries(call, settings, ...)``: the loop the scheduler uses (a Celery task
  schedules its retry with ``countdown=next_delay(...)`` instead of sleeping).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from reconcile.config import RetrySettings, Settings
from reconcile.errors import QboReconError, SourceError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: ``sleep(seconds) -> bool``: wait; False when the wait was cut short (the process is stopping).
SleepFn = Callable[[float], bool]


def is_retriable(exc: BaseException) -> bool:
    """Whether a failed run may succeed if tried again later (a retriable source error)."""
    return isinstance(exc, SourceError) and exc.retriable


def next_delay(settings: Settings | RetrySettings, attempt: int) -> float | None:
    """Seconds to wait before the try after ``attempt`` (1-based); None when ``attempt`` was the last."""
    policy = settings.retry if isinstance(settings, Settings) else settings
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if attempt >= policy.tries or not policy.delays_seconds:
        return None
    return policy.delays_seconds[min(attempt, len(policy.delays_seconds)) - 1]


def describe_try(settings: Settings | RetrySettings, attempt: int) -> str:
    """``try 2 of 3``, for logs and reasons."""
    policy = settings.retry if isinstance(settings, Settings) else settings
    return f"try {attempt} of {policy.tries}"


def run_with_retries(
    call: Callable[[int], T],
    settings: Settings | RetrySettings,
    *,
    sleep: SleepFn,
    label: str = "",
) -> T:
    """``call(attempt)`` until it succeeds, fails for good, or the tries are spent; re-raise the last error.

    ``sleep`` waits between tries; when it returns False (the process is stopping) the last
    error is raised at once.
    """
    attempt = 1
    while True:
        try:
            return call(attempt)
        except QboReconError as exc:
            delay = next_delay(settings, attempt) if is_retriable(exc) else None
            if delay is None:
                raise
            log.warning(
                "%s%s failed for a passing reason (%s): %s; trying again in %.0f s",
                f"{label}: " if label else "",
                describe_try(settings, attempt),
                type(exc).__name__,
                exc.one_line(),
                delay,
            )
            if not sleep(delay):
                log.warning("%sstopping: no further try", f"{label}: " if label else "")
                raise
            attempt += 1


__all__ = ["SleepFn", "describe_try", "is_retriable", "next_delay", "run_with_retries"]
