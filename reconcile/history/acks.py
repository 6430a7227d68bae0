"""Acknowledgements of findings: what one is, when it lapses, how it reads (pure; no I/O).

Someone who is on a persisting finding says so with ``qbo-recon ack``; the finding still
appears in every report, with who, when and the note, and no longer counts as needing action.
The acknowledgement lapses by itself, and the report says why in plain words, when

* the finding changed: its amount, or its AWRA/QBO values (a digest is kept with the ack);
* it was resolved and has come back (``reopened`` against the previous completed run);
* the date it was given for (``--until``) has passed.

``RunHistory`` stores acknowledgements and applies ``lapse_reason`` in ``compare``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

#: The finding columns whose values make up its digest (what "the finding changed" means).
VALUE_FIELDS: tuple[str, ...] = ("awra_value", "qbo_value", "difference", "amount_cents")


@dataclass(frozen=True)
class Acknowledgement:
    """One acknowledgement as stored, with the finding it is about as it was then."""

    company: str
    fingerprint: str
    entity: str | None
    category: str | None
    awra_id: str | None
    awra_number: str | None
    qbo_id: str | None
    field: str | None
    party: str | None
    amount_cents: int | None
    values_digest: str | None
    run_id: str | None
    by: str
    note: str
    at: datetime
    until: date | None = None
    lapsed_at: datetime | None = None
    lapsed_reason: str | None = None

    @property
    def in_force(self) -> bool:
        """Whether it still holds (it has not lapsed)."""
        return self.lapsed_reason is None

    def record(self) -> str:
        """The record it is about, as a person names it."""
        if self.awra_number:
            return self.awra_number
        if self.awra_id:
            return self.awra_id
        return f"qbo:{self.qbo_id}" if self.qbo_id else "-"

    def what(self) -> str:
        """``entity category (field)``."""
        text = f"{self.entity or ''} {self.category or ''}".strip()
        return f"{text} ({self.field})" if self.field else text


def values_digests(findings: pd.DataFrame) -> list[str]:
    """A short digest of each finding's values (``VALUE_FIELDS``), aligned with ``findings``."""
    columns: list[list[str]] = []
    for name in VALUE_FIELDS:
        if name not in findings.columns:
            columns.append([""] * len(findings))
            continue
        series = findings[name]
        columns.append(["" if pd.isna(v) else str(v).strip() for v in series.tolist()])
    return [hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32] for parts in zip(*columns, strict=True)]


def _money(cents: int | None) -> str:
    if cents is None:
        return "none"
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{part:02d}"


def lapse_reason(
    ack: Acknowledgement,
    *,
    history_status: str,
    values_digest: str,
    amount_cents: int | None,
    today: date,
) -> str | None:
    """Why ``ack`` no longer holds for the finding as it is now, in plain words; None while it holds."""
    why: str | None = None
    if ack.values_digest is not None and values_digest != ack.values_digest:
        if amount_cents != ack.amount_cents:
            why = f"the amount changed from {_money(ack.amount_cents)} to {_money(amount_cents)}"
        else:
            why = "the finding changed: AWRA or QBO now shows other values than when it was acknowledged"
    elif history_status == "reopened":
        why = "the finding was resolved and has come back"
    elif ack.until is not None and today > ack.until:
        why = f"it was acknowledged until {ack.until.isoformat()}, and that date has passed"
    if why is None:
        return None
    return f"the acknowledgement by {ack.by} on {ack.at:%Y-%m-%d} (“{ack.note}”) lapsed: {why}"


def format_acks(acks: Sequence[Acknowledgement]) -> str:
    """A plain-text table for ``qbo-recon ack --list`` (as given)."""
    if not acks:
        return "no acknowledgements"
    headers = ("fingerprint", "company", "record", "finding", "by", "on", "until", "state", "note")
    rows = [
        (
            a.fingerprint[:12],
            a.company,
            a.record(),
            a.what(),
            a.by,
            a.at.strftime("%Y-%m-%d"),
            a.until.isoformat() if a.until else "",
            "in force" if a.in_force else f"lapsed {a.lapsed_at:%Y-%m-%d}" if a.lapsed_at else "lapsed",
            a.note if a.in_force else f"{a.note} — {(a.lapsed_reason or '').split('lapsed: ', 1)[-1]}",
        )
        for a in acks
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


__all__ = ["VALUE_FIELDS", "Acknowledgement", "format_acks", "lapse_reason", "values_digests"]
