"""End to end through the command line on the embedded demo data set.

The demo generator plants a known set of problems and writes a manifest of them; the job must
find exactly those — no misses, no false alarms — and tie out to the cent.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import simplejson

from jobs.cli import main
from reconcile import frames as F
from reconcile.demo import ensure_demo


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> dict:
    """Build the demo set and run `qbo-recon run` over it once for the module's tests."""
    root = tmp_path_factory.mktemp("e2e")
    demo = ensure_demo(root / "demo")
    config = root / "config.toml"
    config.write_text(f'[history]\nurl = "sqlite:///{root}/history.db"\n', encoding="utf-8")
    out = root / "out"
    code = main(
        [
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
            "--out",
            str(out),
            "--no-email",
        ]
    )
    assert code == 0
    (folder,) = list(out.iterdir())
    return {"demo": demo, "folder": folder, "config": config, "root": root}


def finding_key(row: dict) -> tuple:
    """What identifies a finding for the manifest comparison (field only where it is the point)."""
    field = row.get("field") if row["category"] == "mismatch" else None
    return (row["entity"], row["category"], row.get("awra_id") or None, row.get("qbo_id") or None, field or None)


def test_run_folder_holds_the_contract_files(demo_run):
    names = {p.name for p in demo_run["folder"].iterdir()}
    assert {"reconciliation.xlsx", "report.html", "findings.csv", "summary.json"} <= names


def test_findings_match_the_manifest_exactly(demo_run):
    manifest = json.loads(demo_run["demo"].manifest_path.read_text(encoding="utf-8"))
    expected = {finding_key(e) for e in manifest["expected_findings"]}
    for e in manifest["expected_findings"]:
        for also in e.get("also", []):
            category, _, field = also.partition(":")  # "mismatch:amount" names the field too
            expected.add(finding_key({**e, "category": category, "field": field or None}))
    with (demo_run["folder"] / "findings.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys())[: len(F.CONTRACT_FINDING_COLUMNS)] == F.CONTRACT_FINDING_COLUMNS
    found = {finding_key(r) for r in rows}
    assert sorted(expected - found, key=str) == [], "planted problems the job missed"
    assert sorted(found - expected, key=str) == [], "findings the manifest does not explain (false alarms)"


def test_every_entity_ties_out_to_the_cent(demo_run):
    summary = json.loads((demo_run["folder"] / "summary.json").read_text(encoding="utf-8"))
    assert summary["unexplained"] == "0.00"
    assert set(summary["entities"]) == set(F.ENTITIES)
    with (demo_run["folder"] / "findings.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for entity, block in summary["entities"].items():
        assert block["awra_count"] > 0 and block["qbo_count"] > 0
        # every finding of the entity is counted, retry loops added by triage included
        mine = [r for r in rows if r["entity"] == entity]
        assert sum(block["categories"].values()) == len(mine), entity
        assert block["categories"]["retry_loop"] == sum(r["category"] == "retry_loop" for r in mine)
        # money ties out in each currency, never across currencies
        assert sum(c["awra_count"] for c in block["currencies"].values()) == block["awra_count"], entity
        for code, money in block["currencies"].items():
            assert money["unexplained"] == "0.00", (entity, code)
            bridged = sum(int(v.replace(".", "")) for v in money["bridge"].values())
            difference = int(money["awra_total"].replace(".", "")) - int(money["qbo_total"].replace(".", ""))
            assert bridged == difference == int(money["difference"].replace(".", "")), (entity, code)
            effects = sum(
                int(r["effect"].replace(".", "")) for r in mine if r["currency"] == code and r["effect"]
            ) + sum(int(r["other_effect"].replace(".", "")) for r in mine if r["other_currency"] == code)
            assert effects == bridged - int(money["bridge"].get("within_tolerance", "0").replace(".", "")), (
                entity,
                code,
            )
        if len(block["currencies"]) == 1:
            assert block["unexplained"] == "0.00", entity
        else:
            assert "awra_total" not in block and "unexplained" not in block, entity
    assert all(a["unexplained"] == "0.00" for a in summary["accounts"]), "every account difference is explained"


def test_every_finding_has_a_cause_and_an_action(demo_run):
    with (demo_run["folder"] / "findings.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for row in rows:
        assert row["cause"].strip(), row
        assert row["action"].strip(), row
        assert row["run_id"] == demo_run["folder"].name


def test_a_second_run_compares_with_the_first(demo_run):
    demo = demo_run["demo"]
    out = demo_run["root"] / "out2"
    args = ["run", "--from", demo.date_from.isoformat(), "--to", demo.date_to.isoformat()]
    args += ["--config", str(demo_run["config"]), "--awra-url", demo.awra_url]
    args += ["--qbo-snapshot", str(demo.snapshot_dir), "--out", str(out), "--no-email"]
    assert main(args) == 0
    (folder,) = list(out.iterdir())
    history = json.loads((folder / "summary.json").read_text(encoding="utf-8"))["history"]
    first = json.loads((demo_run["folder"] / "summary.json").read_text(encoding="utf-8"))
    assert history["new"] == 0 and history["resolved"] == 0
    assert history["persisting"] == first["findings"]


def test_saved_snapshot_reproduces_the_run(demo_run, tmp_path):
    demo = demo_run["demo"]
    saved = tmp_path / "snap"
    base = ["--config", str(demo_run["config"]), "--awra-url", demo.awra_url, "--no-email"]
    window = ["--from", demo.date_from.isoformat(), "--to", demo.date_to.isoformat()]
    assert (
        main(
            [
                "run",
                *window,
                *base,
                "--qbo-snapshot",
                str(demo.snapshot_dir),
                "--save-qbo-snapshot",
                str(saved),
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    assert (saved / "Invoice.json").is_file()
    assert main(["run", *window, *base, "--qbo-snapshot", str(saved), "--out", str(tmp_path / "b")]) == 0
    (a,) = list((tmp_path / "a").iterdir())
    (b,) = list((tmp_path / "b").iterdir())
    rows_a = sorted(map(finding_key, csv.DictReader((a / "findings.csv").open(encoding="utf-8"))), key=str)
    rows_b = sorted(map(finding_key, csv.DictReader((b / "findings.csv").open(encoding="utf-8"))), key=str)
    assert rows_a == rows_b


def test_demo_command_writes_a_report_and_the_commands_it_suggests_work_as_printed(tmp_path, monkeypatch, capsys):
    import shlex

    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "report.html" in printed
    (folder,) = list((tmp_path / "out").iterdir())
    assert (folder / "reconciliation.xlsx").stat().st_size > 0
    assert Path("data/demo/awra.db").exists()

    hints = [line.strip() for line in printed.split("Try next:", 1)[1].splitlines() if line.strip()]
    assert len(hints) == 3 and all(h.startswith("qbo-recon ") for h in hints)
    assert "--demo" in hints[0] and str(tmp_path / "data" / "demo" / "qbo") in hints[1]
    for hint in hints:
        assert main(shlex.split(hint)[1:]) == 0, hint
        out = capsys.readouterr().out
        assert out.strip(), hint
    assert len(list((tmp_path / "out").iterdir())) == 2  # the suggested run made its own folder
    # without --demo nor sources, explain reads the default config, as before
    assert main(["explain", shlex.split(hints[0])[2]]) != 0


def test_a_live_run_against_the_emulator_matches_the_snapshot_run(demo_run, tmp_path, monkeypatch):
    from qbo_emulator import Emulator

    demo = demo_run["demo"]
    with Emulator(demo.snapshot_dir, realm_id="4620816365", client_secret="app-secret-9") as emu:
        config = tmp_path / "live.toml"
        config.write_text(
            f'[history]\nurl = "sqlite:///{tmp_path}/h.db"\n'
            f'[qbo]\nrealm_id = "4620816365"\nbase_url = "{emu.base_url}"\ntoken_url = "{emu.token_url}"\n'
            f'token_store = "{tmp_path}/tokens.json"\n',
            encoding="utf-8",
        )
        monkeypatch.setenv("QBO_CLIENT_ID", "app")
        monkeypatch.setenv("QBO_CLIENT_SECRET", "app-secret-9")
        monkeypatch.setenv("QBO_REFRESH_TOKEN", emu.refresh_token)
        window = ["--from", demo.date_from.isoformat(), "--to", demo.date_to.isoformat()]
        args = ["run", *window, "--config", str(config), "--awra-url", demo.awra_url, "--no-email"]
        assert main([*args, "--out", str(tmp_path / "live")]) == 0
        kinds = {r.kind for r in emu.requests}
        assert kinds <= {"query", "read", "token"} and not emu.writes
    (live,) = list((tmp_path / "live").iterdir())
    key_rows = lambda folder: sorted(  # noqa: E731
        map(finding_key, csv.DictReader((folder / "findings.csv").open(encoding="utf-8"))), key=str
    )
    assert key_rows(live) == key_rows(demo_run["folder"])
    assert (tmp_path / "tokens.json").stat().st_mode & 0o777 == 0o600
    text = (live / "summary.json").read_text(encoding="utf-8") + (live / "report.html").read_text(encoding="utf-8")
    assert "app-secret-9" not in text and emu.refresh_token not in text


def test_a_run_whose_workbook_passes_the_attachment_limit_mails_a_link_to_it(demo_run, tmp_path):
    import email as email_lib
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    from reconcile.history import RunHistory

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(email_lib.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "config.toml"
    config.write_text(
        f'[history]\nurl = "sqlite:///{tmp_path}/history.db"\n'
        f'[email]\nenabled = true\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsecurity = "none"\n'
        'max_attachment_mb = 0.001\nreports_base_url = "https://recon.example.com/reports"\n',
        encoding="utf-8",
    )
    demo = demo_run["demo"]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        window = ["--from", demo.date_from.isoformat(), "--to", demo.date_to.isoformat()]
        sources = ["--awra-url", demo.awra_url, "--qbo-snapshot", str(demo.snapshot_dir)]
        code = main(["run", *window, "--config", str(config), *sources, "--out", str(tmp_path / "out")])
    finally:
        controller.stop()
    assert code == 0
    (folder,) = list((tmp_path / "out").iterdir())
    (msg,) = received
    assert list(msg.iter_attachments()) == []
    link = f"https://recon.example.com/reports/{folder.name}/reconciliation.xlsx"
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert f'href="{link}"' in html and 'id="workbook-notice"' in html
    cids = {p["Content-ID"] for p in msg.walk() if p.get_content_type() == "image/png"}
    assert "<findings-chart>" in cids and all(f'src="cid:{c[1:-1]}"' in html for c in cids)
    history = RunHistory(f"sqlite:///{tmp_path}/history.db")
    try:
        (run,) = history.recent_runs()
    finally:
        history.dispose()
    assert run.email_status is not None
    assert run.email_status.startswith("sent without the workbook (") and run.email_status.endswith(
        f"workbook at {link}"
    )


def _repeated_id_findings(folder: Path) -> list[dict]:
    with (folder / "findings.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r for r in rows if r["category"] == "data_quality" and "never repeats an Id" in r["cause"]]


def _open_tie_out(folder: Path) -> list[str]:
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    open_ = [
        f"{entity} {currency}"
        for entity, entry in summary["entities"].items()
        for currency, figures in entry["currencies"].items()
        if figures["unexplained"] != "0.00"
    ]
    open_ += [f"account {a['account']}" for a in summary["accounts"] if a["unexplained"] != "0.00"]
    return open_


def test_a_clean_snapshot_has_no_repeated_id_finding(demo_run):
    assert _repeated_id_findings(demo_run["folder"]) == []


def test_a_snapshot_repeating_qbo_ids_reports_them_and_still_ties_out(demo_run, tmp_path):
    """A hand-merged snapshot: one invoice copied as is, one copied with other amounts (twice)."""
    demo = demo_run["demo"]
    snapshot = tmp_path / "snapshot"
    shutil.copytree(demo.snapshot_dir, snapshot)
    invoices = json.loads((snapshot / "Invoice.json").read_text(encoding="utf-8"), parse_float=Decimal)
    in_window = [p for p in invoices if demo.date_from.isoformat() <= p["TxnDate"] <= demo.date_to.isoformat()]
    same, changed = in_window[3], in_window[7]
    altered = copy.deepcopy(changed)
    altered["TotalAmt"] = Decimal(str(altered["TotalAmt"])) + 100
    altered["Line"][0]["Amount"] = Decimal(str(altered["Line"][0]["Amount"])) + 100
    invoices += [copy.deepcopy(same), altered, copy.deepcopy(altered)]
    (snapshot / "Invoice.json").write_text(simplejson.dumps(invoices, use_decimal=True), encoding="utf-8")

    out = tmp_path / "out"
    args = ["run", "--from", demo.date_from.isoformat(), "--to", demo.date_to.isoformat()]
    args += ["--config", str(demo_run["config"]), "--awra-url", demo.awra_url, "--qbo-snapshot", str(snapshot)]
    assert main([*args, "--out", str(out), "--no-email"]) == 0
    (folder,) = list(out.iterdir())

    found = _repeated_id_findings(folder)
    assert sorted((r["entity"], r["qbo_id"]) for r in found) == sorted(
        [("invoice", same["Id"]), ("invoice", changed["Id"]), ("invoice", changed["Id"])]
    )
    by_id = {r["qbo_id"]: r["cause"] for r in found}
    assert "appears 2 times" in by_id[same["Id"]] and by_id[same["Id"]].endswith("it is identical")
    assert "appears 3 times" in by_id[changed["Id"]] and "differs in amount" in by_id[changed["Id"]]
    assert _open_tie_out(folder) == []
    # the first copies are compared as before: every other finding is the clean run's
    others = [r for r in csv.DictReader((folder / "findings.csv").open(encoding="utf-8")) if r not in found]
    clean = list(csv.DictReader((demo_run["folder"] / "findings.csv").open(encoding="utf-8")))
    assert sorted(map(finding_key, others), key=str) == sorted(map(finding_key, clean), key=str)


def _open_files_under(folder: Path) -> list[str]:
    fds = Path("/proc/self/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(str(fd.readlink()))
        except OSError:
            continue
    return [t for t in targets if t.startswith(str(folder.resolve()))]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
def test_a_failed_run_leaves_no_snapshot_file_open(demo_run, tmp_path):
    """The scheduler and the workers run company after company in one process, and keep a failed
    run's error (its traceback holds the run's frames) to retry or report it."""
    import sqlite3

    from jobs.run import RunRequest, execute_run
    from reconcile.config import load_settings
    from reconcile.errors import QboReconError

    demo = demo_run["demo"]
    snapshot = tmp_path / "snap"
    shutil.copytree(demo.snapshot_dir, snapshot)
    sqlite3.connect(tmp_path / "empty-awra.db").close()  # a database without AWRA's tables
    request = RunRequest(
        company=None,
        date_from=demo.date_from,
        date_to=demo.date_to,
        awra_url=f"sqlite:///{tmp_path}/empty-awra.db",
        qbo_snapshot=snapshot,
        out_dir=tmp_path / "out",
        send_email=False,
    )
    with pytest.raises(QboReconError) as failed:
        execute_run(load_settings(demo_run["config"], {}), request)
    assert failed.value.__traceback__ is not None  # kept, as a retrying caller keeps it
    assert _open_files_under(snapshot) == []
