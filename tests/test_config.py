from pathlib import Path

import pytest

from reconcile.config import DEFAULT_CONFIG_PATH, Secret, load_settings
from reconcile.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "qbo-recon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_default_config_is_valid():
    settings = load_settings(DEFAULT_CONFIG_PATH, {})
    company = settings.company(None)
    assert company.awra.url == "sqlite:///data/awra.db"
    assert company.awra.ready_statuses == ("approved", "posted")
    assert company.qbo.minor_version == 75
    assert settings.run.status == "posted"
    assert settings.schedule.timezone == "Africa/Nairobi"
    assert settings.reconcile.retry_loop_threshold == 3


def test_example_config_is_valid():
    settings = load_settings(DEFAULT_CONFIG_PATH.parent / "example.toml", {})
    assert len(settings.companies) >= 2


def test_every_problem_is_reported_at_once_with_its_key_path(tmp_path):
    path = write(
        tmp_path,
        """
[awra]
ready_statuses = ["posted", "bogus"]
[qbo]
environment = "staging"
minor_version = "75"
[run]
status = "finished"
entities = ["invoice", "receipt"]
[email]
smtp_port = 70000
security = "tls"
[schedule]
timezone = "Mars/Olympus"
cron = "every night"
[reconcile]
amount_tolerance_cents = -1
""",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    text = "\n".join(info.value.lines())
    for key in (
        "awra.ready_statuses",
        "qbo.environment",
        "qbo.minor_version",
        "run.status",
        "run.entities",
        "email.smtp_port",
        "email.security",
        "schedule.timezone",
        "schedule.cron",
        "reconcile.amount_tolerance_cents",
    ):
        assert key in text, key
    assert len(info.value.problems) == 10


def test_unknown_keys_and_bad_toml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"awra\.uri: unknown key"):
        load_settings(write(tmp_path, '[awra]\nuri = "sqlite://"\n'), {})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[awra\n"), {})
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "absent.toml", {})


def test_secrets_come_from_the_environment_and_never_show(tmp_path):
    env = {
        "QBO_CLIENT_ID": "client-id-123",
        "QBO_CLIENT_SECRET": "s3cr3t-value",
        "QBO_REFRESH_TOKEN": "refresh-abc",
        "QBO_RECON_SMTP_PASSWORD": "mail-pass",
    }
    settings = load_settings(DEFAULT_CONFIG_PATH, env)
    company = settings.company(None)
    assert company.qbo.client_secret.reveal() == "s3cr3t-value"
    assert company.email.password.reveal() == "mail-pass"
    text = repr(settings) + str(settings)
    for secret in env.values():
        assert secret not in text
    assert repr(Secret("x")) == "Secret('***')"


def test_several_companies_override_shared_sections(tmp_path):
    path = write(
        tmp_path,
        """
[awra]
ready_statuses = ["posted"]
[qbo]
minor_version = 75
[companies.acme]
name = "Acme Ltd"
awra = { url = "sqlite:///acme.db" }
qbo = { realm_id = "111" }
[companies.beta]
name = "Beta Co"
awra = { url = "sqlite:///beta.db" }
qbo = { realm_id = "222", minor_version = 80 }
""",
    )
    env = {"QBO_REFRESH_TOKEN": "shared", "QBO_REFRESH_TOKEN_BETA": "beta-only"}
    settings = load_settings(path, env)
    acme, beta = settings.company("acme"), settings.company("beta")
    assert (acme.name, acme.awra.url, acme.qbo.realm_id, acme.qbo.minor_version) == (
        "Acme Ltd",
        "sqlite:///acme.db",
        "111",
        75,
    )
    assert beta.qbo.minor_version == 80
    assert acme.awra.ready_statuses == beta.awra.ready_statuses == ("posted",)
    assert acme.qbo.refresh_token.reveal() == "shared"
    assert beta.qbo.refresh_token.reveal() == "beta-only"
    assert acme.qbo.token_store != beta.qbo.token_store
    with pytest.raises(ConfigError, match="several companies"):
        settings.company(None)
    with pytest.raises(ConfigError, match="no company 'gamma'"):
        settings.company("gamma")


def test_table_and_column_renames(tmp_path):
    path = write(
        tmp_path,
        """
[awra.tables]
invoices = "sales_invoices"
[awra.columns.invoices]
total_amount = "grand_total"
[awra.columns.nonsense]
x = "y"
""",
    )
    with pytest.raises(ConfigError, match=r"awra\.columns\.nonsense: not an AWRA table"):
        load_settings(path, {})
    path = write(tmp_path, '[awra.tables]\ninvoices = "sales_invoices"\n[awra.columns.invoices]\ntotal_amount = "t"\n')
    awra = load_settings(path, {}).company(None).awra
    assert awra.table_name("invoices") == "sales_invoices"
    assert awra.table_name("bills") == "bills"
    assert awra.column_name("invoices", "total_amount") == "t"
    assert awra.column_name("invoices", "number") == "number"


def test_home_currency_and_exchange_rate_tolerance(tmp_path):
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from reconcile.params import build_run_params

    path = write(
        tmp_path,
        """
[qbo]
home_currency = "kes"
[reconcile]
exchange_rate_tolerance = "0.0001"
[companies.a]
name = "A"
[companies.b]
name = "B"
qbo = { home_currency = "UGX" }
""",
    )
    settings = load_settings(path, {})
    assert settings.company("a").qbo.home_currency == "KES" and settings.company("b").qbo.home_currency == "UGX"
    assert settings.reconcile.exchange_rate_tolerance == Decimal("0.0001")
    params = build_run_params(
        settings,
        company="b",
        date_from=date(2026, 3, 1),
        date_to=date(2026, 3, 31),
        status=None,
        entities=None,
        now=datetime(2026, 4, 1, tzinfo=UTC),
    )
    assert params.home_currency == "UGX" and params.tolerances.exchange_rate == Decimal("0.0001")
    # a TOML number is read through its shortest text: exactly 0.0001
    as_number = load_settings(write(tmp_path, "[reconcile]\nexchange_rate_tolerance = 0.0001\n"), {})
    assert as_number.reconcile.exchange_rate_tolerance == Decimal("0.0001")
    unset = load_settings(write(tmp_path, ""), {})
    assert unset.company(None).qbo.home_currency == "" and unset.reconcile.exchange_rate_tolerance == 0


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[qbo]\nhome_currency = "shillings"\n', "qbo.home_currency"),
        ("[reconcile]\nexchange_rate_tolerance = -1\n", "reconcile.exchange_rate_tolerance"),
        ('[reconcile]\nexchange_rate_tolerance = "a lot"\n', "reconcile.exchange_rate_tolerance"),
        ("[reconcile]\nexchange_rate_tolerance = true\n", "reconcile.exchange_rate_tolerance"),
    ],
)
def test_bad_currency_settings_are_config_errors(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(write(tmp_path, text), {})


def test_workers_default_to_the_local_broker_and_stay_off(tmp_path):
    settings = load_settings(write(tmp_path, ""), {})
    assert settings.workers.broker_url.reveal() == "amqp://guest:guest@127.0.0.1:5672//"
    assert settings.workers.queue == "qbo-recon"
    assert settings.workers.enabled is False
    assert "guest" not in repr(settings.workers)


def test_workers_keys_are_read_and_checked(tmp_path):
    good = write(
        tmp_path, '[workers]\nbroker_url = "amqp://u:p@mq.internal:5672/recon"\nqueue = "nightly"\nenabled = true\n'
    )
    settings = load_settings(good, {})
    assert (settings.workers.broker_url.reveal(), settings.workers.queue, settings.workers.enabled) == (
        "amqp://u:p@mq.internal:5672/recon",
        "nightly",
        True,
    )
    from_env = load_settings(good, {"QBO_RECON_BROKER_URL": "amqps://u:s3cret@mq.example:5671//"})
    assert from_env.workers.broker_url.reveal() == "amqps://u:s3cret@mq.example:5671//"

    bad = write(tmp_path, '[workers]\nbroker_url = "redis://u:s3cret@h/0"\nqueue = "a b"\nenabled = "yes"\nhosts = 2\n')
    with pytest.raises(ConfigError) as info:
        load_settings(bad, {})
    lines = info.value.lines()
    assert len(lines) == 4
    assert all("\n" not in line for line in lines)
    text = "\n".join(lines)
    for key in ("workers.broker_url", "workers.queue", "workers.enabled", "workers.hosts: unknown key"):
        assert key in text
    assert "s3cret" not in text  # a broker URL's password never shows in an error


def test_snapshot_dir_is_set_per_company(tmp_path):
    path = write(
        tmp_path,
        """
[qbo]
snapshot_dir = "snapshots/shared"
[companies.acme]
qbo = { snapshot_dir = "snapshots/acme" }
[companies.beta]
[companies.live]
qbo = { snapshot_dir = "" }
""",
    )
    settings = load_settings(path, {})
    assert settings.company("acme").qbo.snapshot_dir == Path("snapshots/acme")
    assert settings.company("beta").qbo.snapshot_dir == Path("snapshots/shared")
    assert settings.company("live").qbo.snapshot_dir is None
    single = load_settings(write(tmp_path, "[qbo]\nrealm_id = '1'\n"), {})
    assert single.company(None).qbo.snapshot_dir is None


def test_attachment_limit_and_reports_link_keys(tmp_path):
    email = load_settings(DEFAULT_CONFIG_PATH, {}).company(None).email
    assert email.max_attachment_mb == 10 and email.reports_base_url == ""
    path = write(
        tmp_path, '[email]\nmax_attachment_mb = 2.5\nreports_base_url = "https://recon.example.com/reports/"\n'
    )
    email = load_settings(path, {}).company(None).email
    assert email.max_attachment_mb == 2.5 and email.reports_base_url == "https://recon.example.com/reports"
    bad = write(tmp_path, '[email]\nmax_attachment_mb = -1\nreports_base_url = "reports/out"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(bad, {})
    assert "email.max_attachment_mb" in str(err.value) and "email.reports_base_url" in str(err.value)
