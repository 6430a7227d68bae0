"""``RunParams``: the frozen parameters of one run, built once from settings and flags.

Every stage receives a ``RunParams`` instead of reading config. The clock is injected
(``now``) so a run's output is deterministic for fixed inputs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from reconcile.config import ReconcileSettings, Settings
from reconcile.errors import UsageError
from reconcile.frames import AWRA_STATUSES, ENTITIES


@dataclass(frozen=True)
class Tolerances:
    """Per-field tolerances, symmetric: a difference counts when ``abs(diff) > tolerance``."""

    amount_cents: int = 0
    tax_cents: int = 0
    line_total_cents: int = 0
    date_days: int = 0
    #: exchange rates (home units per foreign unit) compared exactly, as decimals
    exchange_rate: Decimal = Decimal(0)


@dataclass(frozen=True)
class RunParams:
    """Everything a run's pure stages need to know, validated up front."""

    run_id: str
    company: str
    company_name: str
    date_from: date
    date_to: date
    status: str = "posted"
    entities: tuple[str, ...] = ENTITIES
    ready_statuses: tuple[str, ...] = ("approved", "posted")
    tolerances: Tolerances = field(default_factory=Tolerances)
    probable_match_days: int = 3
    retry_loop_threshold: int = 3
    pending_sla_hours: int = 24
    escalation_threshold: int = 10
    connector: str = "qbo"
    #: the QBO the company lives in (production or sandbox): where the reports' links open
    qbo_environment: str = "production"
    #: the home currency the config names (``[qbo] home_currency``): used when QBO's Preferences
    #: do not say (``currencies.home_currency_of``); ``None`` when not configured
    home_currency: str | None = None
    now: datetime = field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=UTC))

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("RunParams.now must be timezone-aware")


def parse_date(text: str, flag: str) -> date:
    """A ``YYYY-MM-DD`` date, or a ``UsageError`` naming the flag."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text or ""):
        raise UsageError(f"{flag} {text!r}: expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: not a real date") from None


def make_run_id(company: str, now: datetime) -> str:
    """A sortable, filesystem-safe run id: ``<UTC timestamp to the millisecond>-<company>``."""
    utc = now.astimezone(UTC)
    return f"{utc:%Y%m%dT%H%M%S}{utc.microsecond // 1000:03d}Z-{company}"


def build_run_params(
    settings: Settings,
    *,
    company: str | None,
    date_from: date,
    date_to: date,
    status: str | None,
    entities: Sequence[str] | None,
    now: datetime,
    run_id: str | None = None,
) -> RunParams:
    """Validate the run's inputs against the settings and freeze them."""
    if date_from > date_to:
        raise UsageError(f"--from {date_from} is after --to {date_to}")
    chosen_status = status or settings.run.status
    if chosen_status not in AWRA_STATUSES:
        raise UsageError(f"--status {chosen_status!r}: not an AWRA status (one of {', '.join(AWRA_STATUSES)})")
    chosen_entities = tuple(dict.fromkeys(entities)) if entities else settings.run.entities
    for entity in chosen_entities:
        if entity not in ENTITIES:
            raise UsageError(f"--entity {entity!r}: not an entity (one of {', '.join(ENTITIES)})")
    company_settings = settings.company(company)
    rec: ReconcileSettings = settings.reconcile
    return RunParams(
        run_id=run_id or make_run_id(company_settings.key, now),
        company=company_settings.key,
        company_name=company_settings.name,
        date_from=date_from,
        date_to=date_to,
        status=chosen_status,
        entities=tuple(e for e in ENTITIES if e in chosen_entities),
        ready_statuses=company_settings.awra.ready_statuses,
        tolerances=Tolerances(
            amount_cents=rec.amount_tolerance_cents,
            tax_cents=rec.tax_tolerance_cents,
            line_total_cents=rec.line_total_tolerance_cents,
            date_days=rec.date_tolerance_days,
            exchange_rate=rec.exchange_rate_tolerance,
        ),
        probable_match_days=rec.probable_match_days,
        retry_loop_threshold=rec.retry_loop_threshold,
        pending_sla_hours=rec.pending_sla_hours,
        escalation_threshold=rec.escalation_threshold,
        connector=company_settings.awra.connector,
        qbo_environment=company_settings.qbo.environment,
        home_currency=company_settings.qbo.home_currency or None,
        now=now,
    )
