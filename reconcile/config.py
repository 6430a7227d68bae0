"""Configuration: one TOML file plus the environment for secrets, validated once.

``load_settings`` reads the file, applies defaults, collects *every* problem with its key
path and raises one ``ConfigError`` listing them all; otherwise it returns frozen
``Settings`` that the rest of the job receives instead of dicts.

Shape (CONTRACTS §5): the single-company sections ``[awra]``, ``[qbo]``, ``[run]``,
``[history]``, ``[email]``, ``[schedule]``, ``[workers]`` (the Celery broker and queue), plus
our ``[reconcile]`` (tolerances, thresholds) and optionally ``[companies.<key>]`` tables for
several companies. A company table may hold ``name`` and its own ``awra``, ``qbo`` (its
``snapshot_dir`` included) and ``email`` sub-tables; each key it sets overrides the top-level
section's key, so shared settings are written once.

Secrets never live in the file: ``QBO_CLIENT_ID``, ``QBO_CLIENT_SECRET``, ``QBO_REFRESH_TOKEN``
(per company: ``QBO_REFRESH_TOKEN_<KEY>`` first), ``QBO_RECON_SMTP_USER``,
``QBO_RECON_SMTP_PASSWORD``, ``QBO_RECON_BROKER_URL`` (replaces ``[workers] broker_url``, so
a broker password need not sit in the file). They are wrapped in ``Secret`` so no repr or log shows them.
"""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from reconcile.errors import ConfigError
from reconcile.frames import AWRA_STATUSES, ENTITIES, MASTER_TYPES

#: The shipped default config (used when ``--config`` is not given).
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "qbo-recon.toml"

#: RabbitMQ on this host with its stock account (CONTRACTS §5).
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"

#: AWRA tables whose names (and columns) a deployment may rename under ``[awra.tables]`` and
#: ``[awra.columns.<table>]``.
AWRA_TABLES: tuple[str, ...] = (
    "customers",
    "vendors",
    "items",
    "tax_codes",
    "accounts",
    "payment_methods",
    "qbo_mappings",
    "invoices",
    "invoice_lines",
    "payments",
    "payment_applications",
    "bills",
    "bill_lines",
    "journals",
    "journal_lines",
    "sync_runs",
    "sync_log",
)


class Secret:
    """A secret value that never shows itself in repr, str or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        """The secret itself; call only where it is sent to its one destination."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class AwraSettings:
    """Where AWRA lives and how its tables are named."""

    url: str
    ready_statuses: tuple[str, ...] = ("approved", "posted")
    #: canonical table name -> actual table name (only renamed ones)
    tables: Mapping[str, str] = field(default_factory=dict)
    #: canonical table name -> {canonical column -> actual column} (only renamed ones)
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    connector: str = "qbo"

    def table_name(self, canonical: str) -> str:
        """The actual name of a canonical AWRA table."""
        return self.tables.get(canonical, canonical)

    def column_name(self, table: str, canonical: str) -> str:
        """The actual name of a canonical column of a canonical AWRA table."""
        return self.columns.get(table, {}).get(canonical, canonical)


@dataclass(frozen=True)
class QboSettings:
    """How to reach one QBO company (realm)."""

    realm_id: str
    environment: str = "production"
    base_url: str = ""
    token_url: str = ""
    minor_version: int = 75
    token_store: Path = Path("var/qbo-tokens.json")
    client_id: Secret = field(default_factory=lambda: Secret(""))
    client_secret: Secret = field(default_factory=lambda: Secret(""))
    refresh_token: Secret = field(default_factory=lambda: Secret(""))
    timeout_seconds: float = 60.0
    max_retries: int = 5
    max_in_flight: int = 10
    requests_per_minute: int = 500
    #: the home currency when QBO's Preferences do not say it (blank: unknown)
    home_currency: str = ""
    #: read QBO from this snapshot folder instead of the API (offline reruns, tests, the demo)
    snapshot_dir: Path | None = None


@dataclass(frozen=True)
class EmailSettings:
    """SMTP delivery of reports and alerts."""

    enabled: bool = False
    smtp_host: str = "localhost"
    smtp_port: int = 587
    security: str = "starttls"
    sender: str = "recon@example.com"
    recipients: tuple[str, ...] = ("finance@example.com",)
    alert_recipients: tuple[str, ...] = ()
    username: Secret = field(default_factory=lambda: Secret(""))
    password: Secret = field(default_factory=lambda: Secret(""))
    timeout_seconds: float = 30.0
    max_attachment_mb: float = 10.0  # a larger workbook is not attached; the email says where it is
    reports_base_url: str = ""  # optional: the reports folder over HTTP(S), for a link to a detached workbook


@dataclass(frozen=True)
class RunSettings:
    """Defaults for a run."""

    status: str = "posted"
    entities: tuple[str, ...] = ENTITIES
    out_dir: Path = Path("reports/out")


@dataclass(frozen=True)
class HistorySettings:
    """The run-history database (runs, finding fingerprints, the run lock, the job store)."""

    url: str = "sqlite:///var/qbo-recon.db"
    lock_lease_seconds: int = 60


@dataclass(frozen=True)
class RetrySettings:
    """How a nightly run that failed for a passing reason (a retriable source error) is tried again.

    ``tries`` counts every try (1: never retried); ``delays_seconds[i]`` is the wait before try
    ``i + 2``, the last delay repeating when there are more tries than delays.
    """

    tries: int = 3
    delays_seconds: tuple[float, ...] = (60.0, 300.0, 900.0)


@dataclass(frozen=True)
class ScheduleSettings:
    """The nightly schedule."""

    cron: str = "30 5 * * *"
    timezone: str = "Africa/Nairobi"
    window_days: int = 7
    misfire_grace_hours: float = 6.0


@dataclass(frozen=True)
class WorkerSettings:
    """The Celery fan-out: where queued runs go and whether ``schedule`` queues instead of running."""

    broker_url: Secret = field(default_factory=lambda: Secret(DEFAULT_BROKER_URL))
    queue: str = "qbo-recon"
    enabled: bool = False


@dataclass(frozen=True)
class ReconcileSettings:
    """Tolerances and thresholds of the reconciliation stages (all exact by default)."""

    amount_tolerance_cents: int = 0
    tax_tolerance_cents: int = 0
    line_total_tolerance_cents: int = 0
    date_tolerance_days: int = 0
    exchange_rate_tolerance: Decimal = Decimal(0)
    probable_match_days: int = 3
    retry_loop_threshold: int = 3
    pending_sla_hours: int = 24
    escalation_threshold: int = 10
    triage_rules: Path = Path(__file__).resolve().parent.parent / "config" / "triage-rules.toml"


@dataclass(frozen=True)
class CompanySettings:
    """One company: an AWRA database and a QBO realm (plus its own email, if set)."""

    key: str
    name: str
    awra: AwraSettings
    qbo: QboSettings
    email: EmailSettings


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration."""

    companies: tuple[CompanySettings, ...]
    run: RunSettings
    history: HistorySettings
    schedule: ScheduleSettings
    reconcile: ReconcileSettings
    workers: WorkerSettings = field(default_factory=WorkerSettings)
    source: Path | None = None
    retry: RetrySettings = field(default_factory=RetrySettings)

    def company(self, key: str | None) -> CompanySettings:
        """The company named ``key``, or the only one when ``key`` is None."""
        if key is None:
            if len(self.companies) == 1:
                return self.companies[0]
            keys = ", ".join(c.key for c in self.companies)
            raise ConfigError([f"companies: several companies are configured ({keys}); name one"])
        for company in self.companies:
            if company.key == key:
                return company
        keys = ", ".join(c.key for c in self.companies)
        raise ConfigError([f"companies: no company {key!r} (configured: {keys})"])


# --------------------------------------------------------------------------- loading


def read_config_file(path: Path) -> dict[str, Any]:
    """The parsed TOML document, or a ``ConfigError`` naming the file and the problem."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a folder, not a config file"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None


def load_settings(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, merge and validate the configuration; raise ``ConfigError`` with every problem.

    ``overrides`` is a nested mapping merged over the file (used by command-line flags such as
    ``--awra-url``), so flags are validated like the file.
    """
    env = dict(env or {})
    config_path = path or DEFAULT_CONFIG_PATH
    doc = read_config_file(config_path)
    if overrides:
        doc = _deep_merge(doc, overrides)
    problems: list[str] = []
    settings = _Builder(doc, env, problems, config_path.parent).settings()
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return Settings(**{**settings.__dict__, "source": config_path})


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_COMPANY_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_KNOWN_SECTIONS = {
    "awra",
    "qbo",
    "run",
    "history",
    "email",
    "schedule",
    "reconcile",
    "retry",
    "workers",
    "companies",
    "company",
}


class _Builder:
    """Turns the raw TOML document into ``Settings``, appending problems instead of raising."""

    def __init__(self, doc: Mapping[str, Any], env: Mapping[str, str], problems: list[str], base: Path):
        self.doc = doc
        self.env = env
        self.problems = problems
        self.base = base

    # -- typed getters: each records a problem (with its key path) and returns the default

    def _section(self, table: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = table.get(key, {})
        if not isinstance(value, Mapping):
            self.problems.append(f"{path}: must be a table")
            return {}
        return value

    def _get(
        self,
        table: Mapping[str, Any],
        key: str,
        path: str,
        kind: type | tuple[type, ...],
        default: Any,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        if key not in table:
            return default
        value = table[key]
        # bool is an int subclass: refuse it where a number is expected
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float, (int, float))):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.problems.append(f"{path}.{key}: expected {expected}, got {value!r}")
            return default
        if check is not None:
            reason = check(value)
            if reason:
                self.problems.append(f"{path}.{key}: {reason}")
                return default
        return value

    def _str_list(self, table: Mapping[str, Any], key: str, path: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(table, key, path, list, None)
        if value is None:
            return default
        if not all(isinstance(v, str) for v in value):
            self.problems.append(f"{path}.{key}: expected a list of strings")
            return default
        return tuple(value)

    def _unknown_keys(self, table: Mapping[str, Any], allowed: set[str], path: str) -> None:
        for key in table:
            if key not in allowed:
                self.problems.append(f"{path}.{key}: unknown key")

    # -- sections

    def settings(self) -> Settings | None:
        self._unknown_keys(self.doc, _KNOWN_SECTIONS, "config")
        run = self._run(self._section(self.doc, "run", "run"))
        history = self._history(self._section(self.doc, "history", "history"))
        schedule = self._schedule(self._section(self.doc, "schedule", "schedule"))
        reconcile = self._reconcile(self._section(self.doc, "reconcile", "reconcile"))
        retry = self._retry(self._section(self.doc, "retry", "retry"))
        workers = self._workers(self._section(self.doc, "workers", "workers"))
        companies = self._companies()
        return Settings(
            companies=companies,
            run=run,
            history=history,
            schedule=schedule,
            reconcile=reconcile,
            workers=workers,
            retry=retry,
        )

    def _companies(self) -> tuple[CompanySettings, ...]:
        top_awra = self._section(self.doc, "awra", "awra")
        top_qbo = self._section(self.doc, "qbo", "qbo")
        top_email = self._section(self.doc, "email", "email")
        company_table = self._section(self.doc, "company", "company")
        single_name = self._get(company_table, "name", "company", str, "default")
        many = self._section(self.doc, "companies", "companies")
        if not many:
            key = self._get(company_table, "key", "company", str, "default", _company_key_check)
            return (self._company(key, single_name, top_awra, top_qbo, top_email, "", key_env=False),)
        out = []
        for key, table in many.items():
            path = f"companies.{key}"
            if not isinstance(table, Mapping):
                self.problems.append(f"{path}: must be a table")
                continue
            reason = _company_key_check(key)
            if reason:
                self.problems.append(f"{path}: {reason}")
            self._unknown_keys(table, {"name", "awra", "qbo", "email"}, path)
            name = self._get(table, "name", path, str, key)
            awra = _deep_merge(top_awra, self._section(table, "awra", f"{path}.awra"))
            qbo = _deep_merge(top_qbo, self._section(table, "qbo", f"{path}.qbo"))
            email = _deep_merge(top_email, self._section(table, "email", f"{path}.email"))
            out.append(self._company(key, name, awra, qbo, email, f"{path}.", key_env=True))
        return tuple(out)

    def _company(
        self,
        key: str,
        name: str,
        awra: Mapping[str, Any],
        qbo: Mapping[str, Any],
        email: Mapping[str, Any],
        prefix: str,
        *,
        key_env: bool,
    ) -> CompanySettings:
        return CompanySettings(
            key=key,
            name=name,
            awra=self._awra(awra, f"{prefix}awra"),
            qbo=self._qbo(qbo, f"{prefix}qbo", key if key_env else None),
            email=self._email(email, f"{prefix}email"),
        )

    def _awra(self, t: Mapping[str, Any], path: str) -> AwraSettings:
        self._unknown_keys(t, {"url", "ready_statuses", "tables", "columns", "connector"}, path)
        url = self._get(t, "url", path, str, "sqlite:///data/awra.db", _nonblank)
        ready = self._str_list(t, "ready_statuses", path, ("approved", "posted"))
        for status in ready:
            if status not in AWRA_STATUSES:
                self.problems.append(f"{path}.ready_statuses: unknown status {status!r} (one of {AWRA_STATUSES})")
        tables_raw = self._section(t, "tables", f"{path}.tables")
        tables: dict[str, str] = {}
        for canonical, actual in tables_raw.items():
            if canonical not in AWRA_TABLES:
                self.problems.append(f"{path}.tables.{canonical}: not an AWRA table (one of {', '.join(AWRA_TABLES)})")
            elif not isinstance(actual, str) or not actual.strip():
                self.problems.append(f"{path}.tables.{canonical}: expected a table name")
            else:
                tables[canonical] = actual
        columns_raw = self._section(t, "columns", f"{path}.columns")
        columns: dict[str, dict[str, str]] = {}
        for table, mapping in columns_raw.items():
            if table not in AWRA_TABLES:
                self.problems.append(f"{path}.columns.{table}: not an AWRA table")
                continue
            if not isinstance(mapping, Mapping) or not all(isinstance(v, str) and v.strip() for v in mapping.values()):
                self.problems.append(f'{path}.columns.{table}: expected canonical = "actual" column names')
                continue
            columns[table] = dict(mapping)
        connector = self._get(t, "connector", path, str, "qbo", _nonblank)
        return AwraSettings(
            url=url,
            ready_statuses=ready,
            tables=tables,
            columns=columns,
            connector=connector,
        )

    def _qbo(self, t: Mapping[str, Any], path: str, company_key: str | None) -> QboSettings:
        self._unknown_keys(
            t,
            {
                "realm_id",
                "environment",
                "base_url",
                "token_url",
                "minor_version",
                "token_store",
                "timeout_seconds",
                "max_retries",
                "max_in_flight",
                "requests_per_minute",
                "home_currency",
                "snapshot_dir",
            },
            path,
        )
        realm = self._get(t, "realm_id", path, (str, int), "", None)
        refresh_env = "QBO_REFRESH_TOKEN"
        refresh = self.env.get(refresh_env, "")
        if company_key is not None:
            per_company = f"QBO_REFRESH_TOKEN_{re.sub(r'[^A-Za-z0-9]', '_', company_key).upper()}"
            refresh = self.env.get(per_company, refresh)
        store = Path(self._get(t, "token_store", path, str, "var/qbo-tokens.json", _nonblank))
        if company_key is not None and "token_store" not in t:
            store = Path(f"var/qbo-tokens-{company_key}.json")
        return QboSettings(
            realm_id=str(realm),
            environment=self._get(t, "environment", path, str, "production", _one_of(("production", "sandbox"))),
            base_url=self._get(t, "base_url", path, str, "", _url_or_blank),
            token_url=self._get(t, "token_url", path, str, "", _url_or_blank),
            minor_version=self._get(t, "minor_version", path, int, 75, _at_least(1)),
            token_store=store,
            client_id=Secret(self.env.get("QBO_CLIENT_ID", "")),
            client_secret=Secret(self.env.get("QBO_CLIENT_SECRET", "")),
            refresh_token=Secret(refresh),
            timeout_seconds=float(self._get(t, "timeout_seconds", path, (int, float), 60.0, _positive)),
            max_retries=self._get(t, "max_retries", path, int, 5, _at_least(0)),
            max_in_flight=self._get(t, "max_in_flight", path, int, 10, _between(1, 10)),
            requests_per_minute=self._get(t, "requests_per_minute", path, int, 500, _between(1, 500)),
            home_currency=self._get(t, "home_currency", path, str, "", _currency_code).strip().upper(),
            snapshot_dir=Path(snapshot) if (snapshot := self._get(t, "snapshot_dir", path, str, "")) else None,
        )

    def _email(self, t: Mapping[str, Any], path: str) -> EmailSettings:
        self._unknown_keys(
            t,
            {
                "enabled",
                "smtp_host",
                "smtp_port",
                "security",
                "sender",
                "recipients",
                "alert_recipients",
                "timeout_seconds",
                "max_attachment_mb",
                "reports_base_url",
            },
            path,
        )
        recipients = self._str_list(t, "recipients", path, ("finance@example.com",))
        for address in recipients:
            if "@" not in address:
                self.problems.append(f"{path}.recipients: {address!r} is not an email address")
        enabled = self._get(t, "enabled", path, bool, False)
        if enabled and not recipients:
            self.problems.append(f"{path}.recipients: email is enabled but no recipient is set")
        return EmailSettings(
            enabled=enabled,
            smtp_host=self._get(t, "smtp_host", path, str, "localhost", _nonblank),
            smtp_port=self._get(t, "smtp_port", path, int, 587, _between(1, 65535)),
            security=self._get(t, "security", path, str, "starttls", _one_of(("starttls", "ssl", "none"))),
            sender=self._get(t, "sender", path, str, "recon@example.com", _email_check),
            recipients=recipients,
            alert_recipients=self._str_list(t, "alert_recipients", path, ()),
            username=Secret(self.env.get("QBO_RECON_SMTP_USER", "")),
            password=Secret(self.env.get("QBO_RECON_SMTP_PASSWORD", "")),
            timeout_seconds=float(self._get(t, "timeout_seconds", path, (int, float), 30.0, _positive)),
            max_attachment_mb=float(self._get(t, "max_attachment_mb", path, (int, float), 10.0, _not_negative)),
            reports_base_url=self._get(t, "reports_base_url", path, str, "", _url_or_blank).rstrip("/"),
        )

    def _run(self, t: Mapping[str, Any]) -> RunSettings:
        self._unknown_keys(t, {"status", "entities", "out_dir"}, "run")
        entities = self._str_list(t, "entities", "run", ENTITIES)
        for entity in entities:
            if entity not in ENTITIES:
                self.problems.append(f"run.entities: unknown entity {entity!r} (one of {', '.join(ENTITIES)})")
        if not entities:
            self.problems.append("run.entities: name at least one entity")
        return RunSettings(
            status=self._get(t, "status", "run", str, "posted", _one_of(AWRA_STATUSES)),
            entities=entities or ENTITIES,
            out_dir=Path(self._get(t, "out_dir", "run", str, "reports/out", _nonblank)),
        )

    def _history(self, t: Mapping[str, Any]) -> HistorySettings:
        self._unknown_keys(t, {"url", "lock_lease_seconds"}, "history")
        return HistorySettings(
            url=self._get(t, "url", "history", str, "sqlite:///var/qbo-recon.db", _nonblank),
            lock_lease_seconds=self._get(t, "lock_lease_seconds", "history", int, 60, _between(5, 3600)),
        )

    def _retry(self, t: Mapping[str, Any]) -> RetrySettings:
        defaults = RetrySettings()
        self._unknown_keys(t, {"tries", "delays_seconds"}, "retry")
        tries = self._get(t, "tries", "retry", int, defaults.tries, _between(1, 10))
        raw = self._get(t, "delays_seconds", "retry", list, None)
        if raw is None:
            return RetrySettings(tries=tries, delays_seconds=defaults.delays_seconds)
        delays: list[float] = []
        for value in raw:
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.problems.append(f"retry.delays_seconds: expected numbers of seconds, got {value!r}")
                return defaults
            if not 0 < value <= 3600:
                self.problems.append(f"retry.delays_seconds: {value!r} must be above 0 and at most 3600 seconds")
                return defaults
            delays.append(float(value))
        if tries > 1 and not delays:
            self.problems.append("retry.delays_seconds: give at least one delay when retry.tries is above 1")
            return defaults
        return RetrySettings(tries=tries, delays_seconds=tuple(delays))

    def _schedule(self, t: Mapping[str, Any]) -> ScheduleSettings:
        self._unknown_keys(t, {"cron", "timezone", "window_days", "misfire_grace_hours"}, "schedule")
        return ScheduleSettings(
            cron=self._get(t, "cron", "schedule", str, "30 5 * * *", _cron_check),
            timezone=self._get(t, "timezone", "schedule", str, "Africa/Nairobi", _timezone_check),
            window_days=self._get(t, "window_days", "schedule", int, 7, _between(1, 366)),
            misfire_grace_hours=float(self._get(t, "misfire_grace_hours", "schedule", (int, float), 6.0, _positive)),
        )

    def _workers(self, t: Mapping[str, Any]) -> WorkerSettings:
        self._unknown_keys(t, {"broker_url", "queue", "enabled"}, "workers")
        broker = self._get(t, "broker_url", "workers", str, DEFAULT_BROKER_URL, _broker_check)
        if self.env.get("QBO_RECON_BROKER_URL"):
            # a broker password belongs in the environment, like every other secret
            broker = self.env["QBO_RECON_BROKER_URL"]
            reason = _broker_check(broker)
            if reason:
                self.problems.append(f"QBO_RECON_BROKER_URL: {reason}")
        return WorkerSettings(
            broker_url=Secret(broker),
            queue=self._get(t, "queue", "workers", str, "qbo-recon", _queue_check),
            enabled=self._get(t, "enabled", "workers", bool, False),
        )

    def _reconcile(self, t: Mapping[str, Any]) -> ReconcileSettings:
        defaults = ReconcileSettings()
        ints = {
            "amount_tolerance_cents": 0,
            "tax_tolerance_cents": 0,
            "line_total_tolerance_cents": 0,
            "date_tolerance_days": 0,
            "probable_match_days": 0,
            "retry_loop_threshold": 1,
            "pending_sla_hours": 1,
            "escalation_threshold": 1,
        }
        self._unknown_keys(t, {*ints, "triage_rules", "exchange_rate_tolerance"}, "reconcile")
        values = {
            key: self._get(t, key, "reconcile", int, getattr(defaults, key), _at_least(low))
            for key, low in ints.items()
        }
        rules = defaults.triage_rules
        if "triage_rules" in t:
            raw = self._get(t, "triage_rules", "reconcile", str, "", _nonblank)
            if raw:
                candidate = Path(raw)
                rules = candidate if candidate.is_absolute() else (self.base / candidate)
                if not rules.is_file():
                    self.problems.append(f"reconcile.triage_rules: file not found: {rules}")
        return ReconcileSettings(**values, triage_rules=rules, exchange_rate_tolerance=self._exchange_rate_tolerance(t))

    def _exchange_rate_tolerance(self, t: Mapping[str, Any]) -> Decimal:
        """``reconcile.exchange_rate_tolerance``: a decimal ≥ 0, written as text or a number.

        A TOML float is read through its shortest text (``0.0001`` stays exactly 0.0001).
        """
        raw = t.get("exchange_rate_tolerance", 0)
        where = "reconcile.exchange_rate_tolerance"
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            self.problems.append(f'{where}: expected a decimal such as "0.0001", got {type(raw).__name__}')
            return Decimal(0)
        try:
            value = Decimal(repr(raw) if isinstance(raw, float) else str(raw).strip())
        except InvalidOperation:
            self.problems.append(f"{where}: {raw!r} is not a decimal number")
            return Decimal(0)
        if not value.is_finite() or value < 0:
            self.problems.append(f"{where}: {raw!r} must be a number of at least 0")
            return Decimal(0)
        return value


# --------------------------------------------------------------------------- value checks


def _currency_code(value: str) -> str | None:
    text = value.strip()
    return None if not text or re.fullmatch(r"[A-Za-z]{3}", text) else f"{value!r} is not a 3-letter currency code"


def _nonblank(value: str) -> str | None:
    return "must not be blank" if not value.strip() else None


def _one_of(options: tuple[str, ...]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in options else f"{value!r} is not one of {', '.join(options)}"

    return check


def _at_least(low: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if value >= low else f"must be at least {low}"

    return check


def _between(low: int, high: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be positive"


def _not_negative(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def _url_or_blank(value: str) -> str | None:
    if not value:
        return None
    return None if re.match(r"^https?://[^\s/]+", value) else f"{value!r} is not an http(s) URL"


def _broker_check(value: str) -> str | None:
    # the URL may hold a password: the problem names the scheme, never the URL itself
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme in ("amqp", "amqps", "pyamqp"):
        return None
    return "expected an AMQP broker URL (amqp://user:password@host:5672/vhost)"


def _queue_check(value: str) -> str | None:
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}", value):
        return None
    return "queue names use letters, digits, _ . : -"


def _email_check(value: str) -> str | None:
    return None if "@" in value else f"{value!r} is not an email address"


def _company_key_check(value: str) -> str | None:
    return None if _COMPANY_KEY.match(value) else "company keys use letters, digits, '-' and '_'"


def _timezone_check(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown timezone {value!r}"
    return None


def _cron_check(value: str) -> str | None:
    if len(value.split()) != 5:
        return f"{value!r} is not a 5-field cron expression (minute hour day month weekday)"
    return None


__all__ = [
    "AWRA_TABLES",
    "DEFAULT_BROKER_URL",
    "DEFAULT_CONFIG_PATH",
    "MASTER_TYPES",
    "AwraSettings",
    "CompanySettings",
    "EmailSettings",
    "HistorySettings",
    "QboSettings",
    "ReconcileSettings",
    "RetrySettings",
    "RunSettings",
    "ScheduleSettings",
    "Secret",
    "Settings",
    "WorkerSettings",
    "load_settings",
]
