"""Acknowledgements (issue 15): stored in the run history, filled in by ``compare``, lapsing by themselves."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from jobs.acks import match_ref
from jobs.cli import main
from reconcile import frames as F
from reconcile.errors import UsageError
from reconcile.history import RunHistory, lapse_reason
from reconcile.history.acks import Acknowledgement
from reconcile.params import RunParams

T0 = datetime(2026, 8, 1, 5, 30, tzinfo=UTC)
ACK_COLUMNS = ("ack_by", "ack_note", "ack_at", "ack_until", "ack_lapsed")


def finding(awra_id: str, amount_cents: int = 1000, **extra: object) -> dict:
    return {
        "entity": extra.get("entity", "invoice"),
        "category": extra.get("category", "mismatch"),
        "awra_id": awra_id,
        "awra_number": f"INV-{awra_id}",
        "qbo_id": extra.get("qbo_id", f"q{awra_id}"),
        "field": extra.get("field", "amount"),
        "awra_value": extra.get("awra_value", f"{amount_cents / 100:.2f}"),
        "qbo_value": extra.get("qbo_value", "5.00"),
        "amount_cents": amount_cents,
    }


def run(history: RunHistory, n: int, rows: list[dict], company: str = "acme") -> pd.DataFrame:
    """Run ``n`` of the company (a day apart), completed, with these findings; the compared frame."""
    now = T0 + timedelta(days=n)
    params = RunParams(
        run_id=f"{company}-{n}",
        company=company,
        company_name=company,
        date_from=date(2026, 7, 1),
        date_to=date(2026, 7, 31),
        now=now,
    )
    frame = F.conform(pd.DataFrame(rows), F.FINDINGS) if rows else F.empty_frame(F.FINDINGS)
    with history.lock(company, now=now):
        history.start_run(params)
        out, _ = history.compare(params, frame)
        history.finish_run(params.run_id, outcome="completed", now=now + timedelta(minutes=1))
    return out


def row_of(out: pd.DataFrame, awra_id: str) -> pd.Series:
    return out[out["awra_id"] == awra_id].iloc[0]


def fp_of(out: pd.DataFrame, awra_id: str) -> str:
    return str(row_of(out, awra_id)["fingerprint"])


@pytest.fixture
def history(tmp_path: Path) -> Iterator[RunHistory]:
    h = RunHistory(f"sqlite:///{tmp_path / 'history.db'}")
    yield h
    h.dispose()


def ack(history: RunHistory, fp: str, *, until: date | None = None, day: int = 1) -> None:
    history.acknowledge(
        "acme", [fp], note="credit note on its way", by="alice", until=until, now=T0 + timedelta(days=day, hours=3)
    )


def test_an_acknowledged_finding_carries_who_when_and_the_note_and_others_carry_nothing(history):
    first = run(history, 1, [finding("A"), finding("B")])
    assert first[list(ACK_COLUMNS)].isna().all().all()  # nothing acknowledged: no ack anywhere
    ack(history, fp_of(first, "A"), until=date(2026, 9, 30))
    second = run(history, 2, [finding("A"), finding("B")])
    a, b = row_of(second, "A"), row_of(second, "B")
    assert (a["ack_by"], a["ack_note"]) == ("alice", "credit note on its way")
    assert a["ack_at"] == pd.Timestamp(T0 + timedelta(days=1, hours=3))
    assert a["ack_until"] == pd.Timestamp("2026-09-30")
    assert pd.isna(a["ack_lapsed"])
    assert all(pd.isna(b[c]) for c in ACK_COLUMNS)
    assert F.conform(second, F.FINDINGS)["ack_at"].dtype == "datetime64[ns, UTC]"
    third = run(history, 3, [finding("A"), finding("B")])
    assert row_of(third, "A")["ack_by"] == "alice"  # it holds run after run while nothing changes


def test_it_lapses_when_the_amount_changes_and_says_so_from_then_on(history):
    first = run(history, 1, [finding("A", 1000)])
    ack(history, fp_of(first, "A"))
    second = run(history, 2, [finding("A", 1250)])
    a = row_of(second, "A")
    assert pd.isna(a["ack_by"]) and pd.isna(a["ack_note"])
    assert "lapsed: the amount changed from 10.00 to 12.50" in a["ack_lapsed"]
    assert "alice" in a["ack_lapsed"] and "credit note on its way" in a["ack_lapsed"]
    third = run(history, 3, [finding("A", 1000)])  # back to the old amount: a lapsed ack stays lapsed
    assert "amount changed" in row_of(third, "A")["ack_lapsed"] and pd.isna(row_of(third, "A")["ack_by"])
    (stored,) = history.acknowledgements("acme")
    assert not stored.in_force and stored.lapsed_at == T0 + timedelta(days=2)


def test_it_lapses_when_other_values_change_with_the_same_amount(history):
    first = run(history, 1, [finding("A", qbo_value="5.00")])
    ack(history, fp_of(first, "A"))
    second = run(history, 2, [finding("A", qbo_value="7.00")])
    assert "AWRA or QBO now shows other values" in row_of(second, "A")["ack_lapsed"]


def test_it_lapses_when_the_finding_resolves_and_reopens(history):
    first = run(history, 1, [finding("A"), finding("B")])
    ack(history, fp_of(first, "A"))
    run(history, 2, [finding("B")])  # A resolved
    third = run(history, 3, [finding("A"), finding("B")])
    a = row_of(third, "A")
    assert a["history_status"] == "reopened"
    assert "the finding was resolved and has come back" in a["ack_lapsed"] and pd.isna(a["ack_by"])


def test_it_lapses_once_its_date_has_passed(history):
    first = run(history, 1, [finding("A")])
    ack(history, fp_of(first, "A"), until=(T0 + timedelta(days=2)).date())
    assert row_of(run(history, 2, [finding("A")]), "A")["ack_by"] == "alice"  # on the date itself it holds
    a = row_of(run(history, 3, [finding("A")]), "A")
    assert "acknowledged until 2026-08-03, and that date has passed" in a["ack_lapsed"]


def test_an_ack_on_a_finding_recorded_before_digests_adopts_the_current_one(history):
    first = run(history, 1, [finding("A")])
    with history.engine.begin() as conn:  # as recorded by code before revision 0003
        conn.exec_driver_sql("UPDATE qbo_recon_findings SET values_digest = NULL")
    ack(history, fp_of(first, "A"))
    assert row_of(run(history, 2, [finding("A")]), "A")["ack_by"] == "alice"
    assert "amount changed" in row_of(run(history, 3, [finding("A", 999)]), "A")["ack_lapsed"]


def test_lapse_reason_holds_for_an_unchanged_finding():
    a = Acknowledgement(
        company="acme",
        fingerprint="f",
        entity="invoice",
        category="mismatch",
        awra_id="A",
        awra_number="INV-A",
        qbo_id="1",
        field="amount",
        party=None,
        amount_cents=1000,
        values_digest="d",
        run_id="r",
        by="alice",
        note="n",
        at=T0,
        until=date(2026, 8, 5),
    )
    same = {"values_digest": "d", "amount_cents": 1000, "today": date(2026, 8, 5)}
    assert lapse_reason(a, history_status="persisting", **same) is None
    assert lapse_reason(a, history_status="reopened", **same) is not None


def test_acknowledge_refuses_unknown_findings_past_dates_and_companies_without_runs(history):
    with pytest.raises(UsageError, match="no completed run yet"):
        history.acknowledge("acme", ["x"], note="n", by="b", now=T0)
    first = run(history, 1, [finding("A")])
    with pytest.raises(UsageError, match="not a finding of the latest completed run"):
        history.acknowledge("acme", ["0" * 32], note="n", by="b", now=T0 + timedelta(days=2))
    with pytest.raises(UsageError, match="already passed"):
        history.acknowledge(
            "acme", [fp_of(first, "A")], note="n", by="b", until=date(2026, 8, 1), now=T0 + timedelta(days=2)
        )
    with pytest.raises(UsageError, match="--note"):
        history.acknowledge("acme", [fp_of(first, "A")], note="  ", by="b", now=T0 + timedelta(days=2))


def test_match_ref_by_fingerprint_prefix_number_id_qbo_and_kind(history):
    out = run(
        history,
        1,
        [finding("A"), finding("B"), finding("c-1", entity="customer", category="mapping_missing", qbo_id=None)],
    )
    frame = history.run_findings("acme-1")
    fa = fp_of(out, "A")
    assert match_ref(frame, fa) == [fa]
    assert match_ref(frame, fa[:12]) == [fa]
    assert match_ref(frame, "INV-A") == [fa] == match_ref(frame, "A") == match_ref(frame, "qbo:qA")
    assert match_ref(frame, "invoice:INV-A") == [fa]
    assert match_ref(frame, "customer:c-1") == [fp_of(out, "c-1")]
    assert match_ref(frame, "INV-Z") == []


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def config(tmp_path: Path, history: RunHistory) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[awra]\nurl = "sqlite:///{tmp_path / "no-awra.db"}"\n[history]\nurl = "{history.url}"\n', encoding="utf-8"
    )
    return path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ack_list_and_unack_from_the_command_line(capsys, history, config):
    out = run(history, 1, [finding("A"), finding("B")], company="default")
    code, text, _ = cli(capsys, "ack", "INV-A", "--note", "on it", "--until", "2099-01-31", "--config", str(config))
    assert code == 0 and "acknowledged" in text and "INV-A" in text and f"by {getpass.getuser()}" in text
    (stored,) = history.acknowledgements("default")
    assert (stored.fingerprint, stored.by, stored.until) == (fp_of(out, "A"), getpass.getuser(), date(2099, 1, 31))
    code, text, _ = cli(
        capsys, "ack", fp_of(out, "B")[:10], "--note", "ticket 42", "--by", "Bob", "--config", str(config)
    )
    assert code == 0 and "by Bob" in text
    code, text, _ = cli(capsys, "ack", "--list", "--config", str(config))
    assert code == 0 and "in force" in text and "ticket 42" in text and "on it" in text
    code, text, _ = cli(capsys, "unack", "INV-A", "--config", str(config))
    assert code == 0 and "no longer acknowledged" in text
    assert [a.by for a in history.acknowledgements("default")] == ["Bob"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("ack", "INV-Z", "--note", "x"), "no finding of default's latest completed run"),
        (("ack", "INV-A", "--note", "x", "--until", "2026-02-30"), "--until '2026-02-30': not a real date"),
        (("ack", "INV-A", "--note", "x", "--until", "tomorrow"), "expected a date as YYYY-MM-DD"),
        (("ack", "INV-A"), "--note TEXT is required"),
        (("ack", "--list", "INV-A"), "ack --list takes no REF"),
        (("unack", "INV-B"), "no acknowledgement of default matches it"),
    ],
)
def test_ack_errors_are_one_line_and_exit_2(capsys, history, config, args, says):
    run(history, 1, [finding("A"), finding("B")], company="default")
    code, _, err = cli(capsys, *args, "--config", str(config))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and says in err, err


# --------------------------------------------------------------------------- end to end, with explain


def test_ack_by_record_and_by_customer_name_then_explain_and_the_next_run_show_it(capsys, tmp_path: Path):
    import sqlite3

    from jobs.explain import explain, render_text
    from jobs.run import RunRequest, execute_run
    from reconcile.config import load_settings
    from reconcile.demo import build_demo

    demo = build_demo(tmp_path / "demo", scale=0.2)
    config = tmp_path / "c.toml"
    config.write_text(
        f'[awra]\nurl = "{demo.awra_url}"\n[history]\nurl = "sqlite:///{tmp_path / "h.db"}"\n'
        f'[run]\nout_dir = "{tmp_path / "out"}"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, {})
    request = RunRequest(
        company=None, date_from=demo.date_from, date_to=demo.date_to, qbo_snapshot=demo.snapshot_dir, send_email=False
    )
    execute_run(settings, request, progress=lambda _m: None)
    code, text, err = cli(capsys, "ack", "INV-000351", "--note", "QBO copy being fixed", "--config", str(config))
    assert code == 0, err
    assert "mismatch (amount)" in text
    with sqlite3.connect(demo.awra_url.removeprefix("sqlite:///")) as conn:
        (name,) = conn.execute("SELECT name FROM customers WHERE id = '1041'").fetchone()
    code, text, err = cli(capsys, "ack", name, "--note", "mapping requested", "--by", "Carol", "--config", str(config))
    assert code == 0, err
    assert "customer mapping_missing" in text and "CUS-041" in text

    company = settings.company(None)
    explained = explain(settings, company, "INV-000351", qbo_snapshot=demo.snapshot_dir)
    amount = next(f for f in explained["findings"] if f.get("field") == "amount")
    assert amount["acknowledgement"]["note"] == "QBO copy being fixed" and amount["acknowledgement"]["in_force"]
    assert "acknowledged by" in render_text(explained, colour=False)

    outcome = execute_run(settings, request, progress=lambda _m: None)  # the next night: reports carry it
    findings = pd.read_csv(outcome.report_dir / "findings.csv", dtype=str, keep_default_na=False)
    acked_rows = findings[findings["ack_by"] != ""]
    assert set(acked_rows["ack_by"]) == {getpass.getuser(), "Carol"}
    assert set(acked_rows["awra_number"]) >= {"INV-000351", "CUS-041"}
    assert (findings["ack_lapsed"] == "").all()
    history = RunHistory(settings.history.url)
    try:
        current = history.run_findings(outcome.params.run_id)
        acked = {a.fingerprint for a in history.acknowledgements(company.key) if a.in_force}
    finally:
        history.dispose()
    assert acked and acked <= set(current["fingerprint"])


@pytest.mark.postgres
def test_acknowledgements_hold_and_lapse_on_postgres(postgres_schema_url: str):
    history = RunHistory(postgres_schema_url)
    try:
        first = run(history, 1, [finding("A"), finding("B")])
        ack(history, fp_of(first, "A"), until=date(2026, 9, 30))
        ack(history, fp_of(first, "B"))
        second = run(history, 2, [finding("A"), finding("B", 2000)])
        a, b = row_of(second, "A"), row_of(second, "B")
        assert a["ack_by"] == "alice" and a["ack_until"] == pd.Timestamp("2026-09-30") and pd.isna(a["ack_lapsed"])
        assert pd.isna(b["ack_by"]) and "amount changed from 10.00 to 20.00" in b["ack_lapsed"]
        assert [x.in_force for x in sorted(history.acknowledgements("acme"), key=lambda x: x.awra_id or "")] == [
            True,
            False,
        ]
    finally:
        history.dispose()
