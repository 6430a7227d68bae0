"""The stage-by-stage account of a run: ``reconcile.profile`` and ``qbo-recon run --profile``."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from jobs.cli import main
from reconcile.demo import ensure_demo
from reconcile.profile import NO_PROFILE, Profile, format_profile

#: Every stage a run from a snapshot goes through, as ``--profile`` names them.
RUN_STAGES = (
    "QBO source opened (a snapshot is read and parsed here)",
    "AWRA read",
    "QBO read (window)",
    "lookups beyond the window",
    "inputs hash",
    "pairing",
    "header comparison",
    "line comparison",
    "record findings (missing, not ready, sync, data quality)",
    "findings assembly and tie-out",
    "mapping checks",
    "triage",
    "totals and tie-out",
    "account impact",
    "escalations",
    "history (compared with the last run)",
    "write findings.csv",
    "write summary.json, escalations.json",
    "write workbook",
    "write html",
    "flush to disk",
    "email",
    "history (run recorded)",
)

_NUMBER = r"-?[\d,]+(?:\.\d+)?"


def test_nested_stages_are_listed_under_their_parent_in_start_order():
    profile = Profile()
    with profile.stage("outer"):
        with profile.stage("first"):
            pass
        with profile.stage("second"), profile.stage("deep"):
            pass
    with profile.stage("after"):
        pass
    assert [(r.name, r.depth) for r in profile.ordered()] == [
        ("outer", 0),
        ("first", 1),
        ("second", 1),
        ("deep", 2),
        ("after", 0),
    ]
    table = format_profile(profile)
    assert "\n  first " in table and "\n    deep " in table


def test_a_stage_records_its_cpu_time_and_the_memory_it_added():
    profile = Profile()
    with profile.stage("allocate"):
        block = bytearray(64 * 1024 * 1024)
        for i in range(0, len(block), 4096):  # touch every page, so it is resident
            block[i] = 1
        sum(range(2_000_000))
    (record,) = profile.records
    assert record.cpu_s > 0 and record.wall_s >= record.cpu_s * 0.5
    # the peak can only show growth past the process's earlier peak, which other tests may have set
    assert record.peak_added_mb >= 0
    assert record.rss_mb is None or record.rss_mb >= 64
    del block


def test_a_stage_that_raises_is_still_recorded():
    profile = Profile()
    with pytest.raises(ValueError), profile.stage("fails"):
        raise ValueError("boom")
    assert [r.name for r in profile.records] == ["fails"]


def test_the_disabled_profile_records_nothing():
    with NO_PROFILE.stage("anything"):
        pass
    assert NO_PROFILE.records == []


@pytest.fixture(scope="module")
def demo_args(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("profile")
    demo = ensure_demo(root / "demo")
    config = root / "config.toml"
    config.write_text(f'[history]\nurl = "sqlite:///{root}/history.db"\n', encoding="utf-8")
    return [
        "run",
        "--from",
        demo.date_from.isoformat(),
        "--to",
        demo.date_to.isoformat(),
        "--config",
        str(config),
        "--awra-url",
        demo.awra_url,
        "--qbo-snapshot",
        str(demo.snapshot_dir),
        "--no-email",
    ]


def test_run_profile_prints_every_stage_once_with_numbers(demo_args, tmp_path: Path, capsys):
    assert main([*demo_args, "--out", str(tmp_path / "out"), "--profile"]) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        match = re.fullmatch(rf"\s*(.+?)\s+({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s+({_NUMBER}|-)", line)
        if match:
            name = match.group(1)
            assert name not in rows, f"stage {name!r} printed twice"
            rows[name] = [float(v.replace(",", "")) for v in match.groups()[1:4]]
    assert set(rows) == set(RUN_STAGES), out
    for name, (wall, cpu, peak) in rows.items():
        assert wall >= 0 and cpu >= 0 and peak >= 0, name
    assert sum(wall for wall, _, _ in rows.values()) > 0
    assert "peak resident set of the process" in out


def test_run_without_the_flag_prints_no_profile_but_logs_the_stages_at_debug(demo_args, tmp_path: Path, capsys, caplog):
    with caplog.at_level(logging.DEBUG, logger="reconcile.profile"):
        assert main([*demo_args, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "peak resident set" not in out
    assert not any(stage in out for stage in RUN_STAGES)
    logged = [r.getMessage() for r in caplog.records if r.name == "reconcile.profile"]
    for stage in RUN_STAGES:
        assert sum(m.startswith(f"stage {stage}: wall ") for m in logged) == 1, stage
