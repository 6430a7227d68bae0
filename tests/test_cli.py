"""The command line's contract for bad input: one line, the right exit code, no report folder."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jobs.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse exits for usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def history_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[history]\nurl = "sqlite:///{tmp_path}/history.db"\n', encoding="utf-8")
    return path


def run_against(
    capsys, awra_url: str, snapshot: Path, config: Path, out_dir: Path, window=("2026-08-01", "2026-08-31")
):
    """`qbo-recon run` over a window with an AWRA URL, a QBO snapshot, a config and an out folder."""
    return run_cli(
        capsys,
        "run",
        "--from",
        window[0],
        "--to",
        window[1],
        "--config",
        str(config),
        "--awra-url",
        awra_url,
        "--qbo-snapshot",
        str(snapshot),
        "--out",
        str(out_dir),
    )


def assert_one_line_error(code: int, err: str, expected_code: int, *needles: str) -> None:
    assert code == expected_code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--from", "2026-08-31", "--to", "2026-08-01"], "after --to"),
        (["--from", "2026-8-1", "--to", "2026-08-31"], "YYYY-MM-DD"),
        (["--from", "2026-02-30", "--to", "2026-03-31"], "not a real date"),
        (["--from", "2026-08-01", "--to", "2026-08-31", "--status", "done"], "--status"),
        (["--from", "2026-08-01", "--to", "2026-08-31", "--entity", "receipt"], "--entity"),
        (["--to", "2026-08-31"], "--from"),
    ],
)
def test_bad_parameters_exit_2_with_one_line(capsys, out_dir, args, needle):
    code, _, err = run_cli(capsys, "run", *args, "--out", str(out_dir))
    assert_one_line_error(code, err, 2, needle)
    assert not out_dir.exists()


def test_missing_config_file_exits_2(capsys, tmp_path, out_dir):
    code, _, err = run_cli(
        capsys, "run", "--from", "2026-08-01", "--to", "2026-08-31", "--config", str(tmp_path / "nope.toml")
    )
    assert_one_line_error(code, err, 2, "config file not found")


def test_bad_config_lists_every_problem(capsys, tmp_path, out_dir):
    config = tmp_path / "bad.toml"
    config.write_text('[run]\nstatus = "x"\n[email]\nsmtp_port = 0\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "run", "--from", "2026-08-01", "--to", "2026-08-31", "--config", str(config))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "run.status" in err and "email.smtp_port" in err
    assert "Traceback" not in err


def test_missing_sqlite_file_exits_2_and_creates_nothing(capsys, tmp_path, out_dir, history_config):
    db = tmp_path / "absent.db"
    snapshot = tmp_path / "snap"
    snapshot.mkdir()
    code, _, err = run_against(capsys, f"sqlite:///{db}", snapshot, history_config, out_dir)
    assert_one_line_error(code, err, 2, str(db))
    assert not db.exists()
    assert not (out_dir.exists() and any(out_dir.iterdir()))


def test_database_without_awra_tables_names_them(capsys, tmp_path, out_dir, history_config):
    db = tmp_path / "empty.db"
    sqlite3.connect(db).execute("CREATE TABLE invoices (id TEXT)").connection.close()
    snapshot = tmp_path / "snap"
    snapshot.mkdir()
    code, _, err = run_against(capsys, f"sqlite:///{db}", snapshot, history_config, out_dir)
    assert_one_line_error(code, err, 2, "payments", "sync_log")
    assert not (out_dir.exists() and any(out_dir.iterdir()))


def test_unreachable_database_server_exits_3(capsys, tmp_path, out_dir, history_config):
    snapshot = tmp_path / "snap"
    snapshot.mkdir()
    code, _, err = run_against(
        capsys, "postgresql+psycopg://nobody:hunter2@127.0.0.1:1/awra", snapshot, history_config, out_dir
    )
    assert_one_line_error(code, err, 3, "AWRA")
    assert "hunter2" not in err
    assert not (out_dir.exists() and any(out_dir.iterdir()))


def test_missing_snapshot_folder_exits_2(capsys, tmp_path, out_dir):
    code, _, err = run_cli(
        capsys,
        "run",
        "--from",
        "2026-08-01",
        "--to",
        "2026-08-31",
        "--qbo-snapshot",
        str(tmp_path / "nope"),
        "--out",
        str(out_dir),
    )
    assert_one_line_error(code, err, 2, "--qbo-snapshot")


def test_a_run_while_another_holds_the_company_lock_exits_4(capsys, tmp_path, out_dir, history_config):
    from reconcile.demo import ensure_demo
    from reconcile.history import RunHistory

    demo = ensure_demo(tmp_path / "demo")
    history = RunHistory(f"sqlite:///{tmp_path}/history.db")
    with history.lock("default", owner="another run"):
        window = (demo.date_from.isoformat(), demo.date_to.isoformat())
        code, _, err = run_against(capsys, demo.awra_url, demo.snapshot_dir, history_config, out_dir, window)
    history.dispose()
    assert_one_line_error(code, err, 4, "default")
    assert not (out_dir.exists() and any(out_dir.iterdir()))


def test_a_company_reads_qbo_from_its_configured_snapshot_dir(capsys, tmp_path, out_dir):
    import json

    from reconcile.demo import build_demo

    demo = build_demo(tmp_path / "demo", seed=5, scale=0.05)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[history]\nurl = "sqlite:///{tmp_path}/history.db"\n'
        f'[companies.acme]\nawra = {{ url = "{demo.awra_url}" }}\nqbo = {{ snapshot_dir = "{demo.snapshot_dir}" }}\n'
        f'[companies.gone]\nqbo = {{ snapshot_dir = "{tmp_path / "nope"}" }}\n',
        encoding="utf-8",
    )
    window = ("--from", demo.date_from.isoformat(), "--to", demo.date_to.isoformat())
    # no --qbo-snapshot and no QBO credentials: the company's snapshot_dir is read
    code, _, err = run_cli(capsys, "run", *window, "--config", str(config), "--company", "acme", "--out", str(out_dir))
    assert code == 0, err
    (folder,) = out_dir.iterdir()
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["sources"]["qbo"] == f"snapshot {demo.snapshot_dir}"
    assert summary["entities"]["invoice"]["qbo_count"] > 0

    code, _, err = run_cli(capsys, "run", *window, "--config", str(config), "--company", "gone", "--out", str(out_dir))
    assert_one_line_error(code, err, 2, "qbo.snapshot_dir", "no such folder")
    assert len(list(out_dir.iterdir())) == 1
