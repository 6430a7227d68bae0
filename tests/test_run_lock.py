"""The run entry point and its lease: a run whose lock was taken over does not publish."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from jobs.run import RunRequest, execute_run
from reconcile.config import load_settings
from reconcile.demo import build_demo
from reconcile.errors import RunLocked
from reconcile.history import RunHistory, locks_table


def test_a_run_whose_lock_is_taken_over_mid_run_publishes_nothing(tmp_path: Path):
    demo = build_demo(tmp_path / "demo", scale=0.2)
    config = tmp_path / "c.toml"
    out = tmp_path / "out"
    config.write_text(
        f'[awra]\nurl = "{demo.awra_url}"\n[history]\nurl = "sqlite:///{tmp_path / "h.db"}"\nlock_lease_seconds = 5\n'
        f'[run]\nout_dir = "{out}"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, {})
    history = RunHistory(settings.history.url)

    def progress(message: str) -> None:
        if message == "reconciling…":
            # another process took the lock over (say this one stalled past its lease)
            with history.engine.begin() as conn:
                conn.execute(locks_table.update().values(token="the-successor"))
            time.sleep(1.6)  # one heartbeat (a quarter of the 5 s lease) notices

    request = RunRequest(
        company=None, date_from=demo.date_from, date_to=demo.date_to, qbo_snapshot=demo.snapshot_dir, send_email=False
    )
    try:
        with pytest.raises(RunLocked, match="lease lapsed"):
            execute_run(settings, request, progress=progress)
        assert not out.exists() or not any(out.iterdir())
        (run,) = history.recent_runs()
        assert run.outcome == "failed" and "lease lapsed" in (run.reason or "")
        with history.engine.connect() as conn:  # the successor's lock is left alone
            assert conn.execute(sa.select(locks_table.c.token)).scalar_one() == "the-successor"
    finally:
        history.dispose()
