"""A stage-by-stage account of a run: wall time, CPU time and the peak memory each stage added.

``Profile.stage(name)`` is a context manager the wiring puts around each stage; it records one
``StageRecord`` per stage into a list that ``format_profile`` prints as a table (``qbo-recon run
--profile``), and logs each stage at debug level as it ends. It only reads clocks and the
process's resource usage, so the stages it measures stay pure. ``NO_PROFILE`` measures nothing
and costs nothing, for callers that do not ask.

Peak memory: ``peak_added_mb`` is how far the stage raised the process's peak resident set
(``VmHWM``, else ``getrusage`` ``ru_maxrss``), so a stage that works below an earlier stage's peak shows 0; the
sum over the stages is the run's peak growth. ``rss_mb`` is the resident set when the stage
ended (what is still held), read from ``/proc`` where there is one.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# ru_maxrss is in kilobytes on Linux, in bytes on macOS
_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024
_MB = 1024 * 1024


@dataclass(frozen=True)
class StageRecord:
    """One measured stage (``depth`` 0 for a top-level stage, 1 for a stage inside it…)."""

    name: str
    wall_s: float
    cpu_s: float
    peak_added_mb: float
    rss_mb: float | None
    depth: int = 0


def peak_rss_mb() -> float:
    """The process's peak resident set so far, in MB.

    ``VmHWM`` from ``/proc`` where there is one: ``ru_maxrss`` carries over the parent's
    resident set at ``exec`` on Linux, so a job started by a large process would show the
    parent's size as its own peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / _MB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _MAXRSS_BYTES / _MB


def current_rss_mb() -> float | None:
    """The process's resident set now, in MB (``None`` where ``/proc`` cannot tell)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            resident_pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / _MB


@dataclass
class Profile:
    """The stages of one run, in the order they ended (nested stages before their parent)."""

    records: list[StageRecord] = field(default_factory=list)
    enabled: bool = True
    _depth: int = 0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Measure the enclosed block as stage ``name``."""
        if not self.enabled:
            yield
            return
        wall, cpu, peak = time.perf_counter(), time.process_time(), peak_rss_mb()
        depth = self._depth
        self._depth += 1
        try:
            yield
        finally:
            self._depth = depth
            record = StageRecord(
                name=name,
                wall_s=time.perf_counter() - wall,
                cpu_s=time.process_time() - cpu,
                peak_added_mb=max(0.0, peak_rss_mb() - peak),
                rss_mb=current_rss_mb(),
                depth=depth,
            )
            self.records.append(record)
            log.debug("stage %s: %s", name, _describe(record))

    def ordered(self) -> list[StageRecord]:
        """The records in the order the stages started (a parent before the stages inside it)."""
        out: list[StageRecord] = []
        pending: list[list[StageRecord]] = [[]]
        for record in self.records:
            # records arrive children first: collect them until their parent ends
            while len(pending) <= record.depth + 1:
                pending.append([])
            children = pending[record.depth + 1]
            pending[record.depth + 1] = []
            pending[record.depth].append(record)
            pending[record.depth].extend(children)
        out.extend(pending[0])
        for rest in pending[1:]:
            out.extend(rest)  # stages whose parent never ended (none in a completed run)
        return out


#: A profile that measures nothing (the default for callers that did not ask).
NO_PROFILE = Profile(enabled=False)


def _describe(record: StageRecord) -> str:
    rss = "" if record.rss_mb is None else f", RSS {record.rss_mb:,.0f} MB"
    return f"wall {record.wall_s:.2f} s, CPU {record.cpu_s:.2f} s, peak +{record.peak_added_mb:,.0f} MB{rss}"


def format_profile(profile: Profile) -> str:
    """The profile as a text table: one line per stage, nested stages indented under their parent."""
    records = profile.ordered()
    width = max([len("stage"), *(len(r.name) + 2 * r.depth for r in records)])
    lines = [f"{'stage':<{width}}  {'wall s':>8}  {'CPU s':>8}  {'peak +MB':>9}  {'RSS MB':>8}"]
    for r in records:
        rss = "-" if r.rss_mb is None else f"{r.rss_mb:,.0f}"
        label = "  " * r.depth + r.name
        lines.append(f"{label:<{width}}  {r.wall_s:8.2f}  {r.cpu_s:8.2f}  {r.peak_added_mb:9,.0f}  {rss:>8}")
    lines.append(f"peak resident set of the process: {peak_rss_mb():,.0f} MB")
    return "\n".join(lines) + "\n"


__all__ = ["NO_PROFILE", "Profile", "StageRecord", "current_rss_mb", "format_profile", "peak_rss_mb"]
