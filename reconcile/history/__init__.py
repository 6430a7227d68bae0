"""Run history and its schema migrations, kept together.

``reconcile.history.store`` is the store itself (runs, findings' fingerprints, the run lock);
everything callers use is re-exported here, so ``from reconcile.history import RunHistory``
keeps working.
"""

from reconcile.history.acks import Acknowledgement, format_acks, lapse_reason
from reconcile.history.store import (
    AGING_BUCKETS,
    DEFAULT_LEASE_SECONDS,
    FINGERPRINT_FIELDS,
    OUTCOMES,
    TREND_RUNS,
    LockHandle,
    RunHistory,
    RunRecord,
    UtcDateTime,
    acks_table,
    aging_bucket,
    findings_table,
    fingerprint_findings,
    fingerprint_of,
    format_history,
    hash_inputs,
    locks_table,
    make_engine,
    metadata,
    process_alive,
    runs_table,
)

__all__ = [
    "AGING_BUCKETS",
    "DEFAULT_LEASE_SECONDS",
    "FINGERPRINT_FIELDS",
    "OUTCOMES",
    "TREND_RUNS",
    "Acknowledgement",
    "LockHandle",
    "RunHistory",
    "RunRecord",
    "UtcDateTime",
    "acks_table",
    "aging_bucket",
    "findings_table",
    "fingerprint_findings",
    "fingerprint_of",
    "format_acks",
    "format_history",
    "hash_inputs",
    "lapse_reason",
    "locks_table",
    "make_engine",
    "metadata",
    "process_alive",
    "runs_table",
]
