"""``qbo-recon ack`` / ``ack --list`` / ``unack``: acknowledge findings someone is on (wiring only).

REF names findings of the company's latest completed run:

* a finding's fingerprint (findings.csv), or its first 8+ characters as ``ack --list`` shows them;
* ``qbo:<Id>``: every finding about that QBO record;
* ``<kind>:<AWRA id or number>`` (``invoice:a-1002``, ``customer:c-17``, ``item:i-4``);
* a record number or AWRA id (``INV-000127``), as ``explain`` takes them;
* otherwise what AWRA resolves REF to, as ``explain`` does (a customer or vendor code or name):
  the findings of that record or master record.

Storage and lapsing live in ``reconcile.history`` (``RunHistory.acknowledge`` and ``compare``).
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime

import pandas as pd

from reconcile import frames as F
from reconcile.config import CompanySettings
from reconcile.errors import SourceError, UsageError
from reconcile.history import Acknowledgement, RunHistory
from reconcile.sources.awra_refs import find_references

_HEX_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")
_KINDS = frozenset((*F.ENTITIES, *F.MASTER_TYPES))


def default_user() -> str:
    """Who is acknowledging, when ``--by`` is not given: the OS user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def match_ref(frame: pd.DataFrame, ref: str) -> list[str]:
    """The fingerprints of the rows of ``frame`` that REF names by itself (no AWRA lookup), in order."""
    if frame.empty:
        return []
    text = ref.strip()

    def col(name: str) -> pd.Series:
        return frame[name].astype("string").fillna("").str.strip()

    fps, entity, awra_id, number, qbo_id = (
        col(c) for c in ("fingerprint", "entity", "awra_id", "awra_number", "qbo_id")
    )
    lowered = text.lower()
    if _HEX_PREFIX.match(lowered):
        hit = fps == lowered if len(lowered) >= 32 else fps.str.startswith(lowered)
        if hit.any():
            return list(dict.fromkeys(fps[hit]))
    kind, sep, rest = text.partition(":")
    rest = rest.strip()
    if sep and kind.lower() == "qbo":
        hit = qbo_id == rest
    elif sep and kind.lower() in _KINDS:
        hit = (entity == kind.lower()) & ((awra_id == rest) | (number == rest))
    else:
        hit = (number == text) | (awra_id == text)
    return list(dict.fromkeys(fps[hit]))


def _by_awra(company: CompanySettings, frame: pd.DataFrame, ref: str) -> tuple[list[str], str]:
    """Fingerprints REF names once AWRA resolves it (as ``explain`` does); and a note when AWRA failed."""
    try:
        found = find_references(company.awra, ref)
    except (SourceError, UsageError) as exc:
        return [], f" (AWRA could not be read to look it up as a code or name: {exc.one_line()})"
    fps: list[str] = []
    for reference in found:
        if reference.kind == "qbo":
            fps += match_ref(frame, f"qbo:{reference.key}")
        elif reference.kind in _KINDS:
            fps += match_ref(frame, f"{reference.kind}:{reference.key}")
    return list(dict.fromkeys(fps)), ""


def resolve_findings(history: RunHistory, company: CompanySettings, ref: str) -> tuple[str, list[str]]:
    """The latest completed run's id and the fingerprints of its findings that REF names; ``UsageError`` if none."""
    run, findings = history.latest_completed_findings(company.key)
    if run is None:
        raise UsageError(f"{company.key}: no completed run yet, so no finding to acknowledge")
    fps = match_ref(findings, ref)
    note = ""
    if not fps:
        fps, note = _by_awra(company, findings, ref)
    if not fps:
        raise UsageError(
            f"{ref!r}: no finding of {company.key}'s latest completed run ({run.run_id}) matches it; give a "
            f"finding's fingerprint, a record number or AWRA id, qbo:<Id>, or a customer or vendor code{note}"
        )
    return run.run_id, fps


def acknowledge(
    history: RunHistory,
    company: CompanySettings,
    ref: str,
    *,
    note: str,
    by: str | None,
    until: date | None,
    now: datetime | None = None,
) -> list[Acknowledgement]:
    """Acknowledge every current finding REF names; the acknowledgements as stored."""
    _, fps = resolve_findings(history, company, ref)
    return history.acknowledge(
        company.key, fps, note=note, by=by or default_user(), until=until, now=now or datetime.now(UTC)
    )


def unacknowledge(history: RunHistory, company: CompanySettings, ref: str) -> list[Acknowledgement]:
    """Remove the acknowledgements REF names (by the ack's own record, else by current findings)."""
    acks = history.acknowledgements(company.key)
    frame = pd.DataFrame([asdict(a) for a in acks], columns=[*Acknowledgement.__dataclass_fields__])
    fps = match_ref(frame, ref)
    if not fps:
        try:
            _, fps = resolve_findings(history, company, ref)
        except UsageError:
            fps = []
        fps = [fp for fp in fps if any(a.fingerprint == fp for a in acks)]
    if not fps:
        raise UsageError(f"{ref!r}: no acknowledgement of {company.key} matches it (see 'qbo-recon ack --list')")
    gone = [a for a in acks if a.fingerprint in set(fps)]
    history.unacknowledge(company.key, fps)
    return gone


def describe(acks: Sequence[Acknowledgement], verb: str) -> list[str]:
    """One line per acknowledgement, for the command's output."""
    lines = []
    for a in acks:
        until = f" until {a.until.isoformat()}" if a.until else ""
        lines.append(f"{verb} {a.fingerprint[:12]}  {a.record()}  {a.what()}  by {a.by}{until}: {a.note}")
    return lines


__all__ = ["acknowledge", "default_user", "describe", "match_ref", "resolve_findings", "unacknowledge"]
