"""Sync-log triage: a cause, an action and a retry verdict for every record that did not sync.

For every AWRA record whose latest ``sync_log`` row (by ``attempted_at``, for the run's connector)
is failed, retrying, needs_attention or skipped, ``triage``:

* classifies the row with the rules in ``config/triage-rules.toml`` (``load_rules``; first match
  wins; the file documents itself for finance admins) into a cause (``CAUSES``), an action in plain
  words and whether a retry can succeed unchanged;
* when the cause is a mapping gap and a mapping finding exists for a master record the record uses,
  points the record at it (``root_ref = "mapping_type:awra_id"``) and takes that finding's action,
  so one missing tax mapping behind 300 failed invoices is one mapping line with 300 records behind
  it;
* reports a ``retry_loop`` finding for a record retried at least ``params.retry_loop_threshold``
  times with the same error (code + message) while nothing changed since the first of those
  failures (neither the record's ``updated_at`` nor the ``updated_at`` of any mapping it uses);
* lists the records that are *safe to retry*: latest status failed or needs_attention, the cause
  fixed now (a temporary provider problem, or the record or one of its mappings changed after the
  first failure, and no missing/broken mapping left among the masters it uses; an authorization
  failure is never judged fixed from AWRA's data) and not already in QBO (no QBO transaction with
  the record's link or number; for master records, the mapped QBO record or one with its name);
* fills ``cause``, ``action``, ``retry_safe`` and ``root_ref`` on the record's transaction findings.

Everything is a pure function of frames (``load_rules`` reads one file). Inputs are never modified.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from reconcile import frames as F
from reconcile.config import ReconcileSettings
from reconcile.errors import ConfigError
from reconcile.mappings import MAPPING_CATEGORIES, describe_master, isin_fast, label_of, master_usage
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams

#: The causes a rule may give (CONTRACTS: triage vocabulary).
CAUSES: tuple[str, ...] = (
    "missing_field",
    "mapping_missing",
    "authorization",
    "duplicate",
    "provider_temporary",
    "validation",
    "not_ready",
    "unknown",
)

#: Latest sync statuses that are triaged.
TRIAGE_STATUSES: tuple[str, ...] = ("failed", "retrying", "needs_attention", "skipped")

#: Latest sync statuses a person retries by hand (the safe-to-retry list draws from these).
HAND_RETRY_STATUSES: tuple[str, ...] = ("failed", "needs_attention")

#: The shipped default rules file.
DEFAULT_RULES_PATH: Path = ReconcileSettings().triage_rules

#: The cause in words, for "stop retrying; fix <cause> first".
CAUSE_WORDS: Mapping[str, str] = {
    "missing_field": "the missing field",
    "mapping_missing": "the missing mapping",
    "authorization": "the QBO authorization",
    "duplicate": "the duplicate in QBO",
    "provider_temporary": "the QBO connection problem",
    "validation": "the invalid data QBO rejected",
    "not_ready": "the record's approval",
    "unknown": "the error in the message",
}

#: The cause as a sentence a finance person reads in the reports (the code stays in ``cause_code``).
CAUSE_SENTENCES: Mapping[str, str] = {
    "missing_field": "The sync failed because the record lacks a field QBO requires.",
    "mapping_missing": (
        "The sync failed because a customer, vendor, item, tax code, account or payment method it uses"
        " is not mapped to QBO."
    ),
    "authorization": "The sync could not sign in to QBO: the connection to QBO needs to be authorised again.",
    "duplicate": "QBO refused the record because it already holds one with the same number or name.",
    "provider_temporary": "QBO or the connection to it had a temporary problem while the record was sent.",
    "validation": "QBO rejected the record as invalid; the sync message says which value it refused.",
    "not_ready": "The record is not approved for posting yet, so the sync did not send it.",
    "unknown": "The sync failed for a reason the rules do not recognise; the sync message says what went wrong.",
}

#: Action given when no rule matches.
UNKNOWN_ACTION = (
    "Read the sync message of {record} (code {code}) and fix what it names; if it is unclear, escalate with the "
    "sync run id, record number and message."
)

_RULE_KEYS = {"name", "codes", "message", "statuses", "cause", "action", "retry_can_succeed", "mapping_types"}
_ACTION_FIELDS = {"record", "code"}
_CODE_TEXT = re.compile(r"^[A-Za-z0-9_.*-]+$")
_NUMERIC_CODE = re.compile(r"^[0-9xX]+$")
_FINDING_PRIORITY = {"mapping_missing": 0, "mapping_broken": 1, "mapping_mismatch": 2, "mapping_duplicate": 3}
#: Transaction finding categories whose cause/action the sync triage decides (others keep theirs).
_SYNC_CATEGORIES = ("missing_in_qbo", "sync_conflict", "not_ready")
_NON_TXN_CATEGORIES = (*MAPPING_CATEGORIES, "retry_loop", "data_quality")


# --------------------------------------------------------------------------- rules


def normalize_code(code: object) -> str:
    """An error code as trimmed text, numeric codes without leading zeros (``"003200"`` -> ``"3200"``).

    ``""`` when there is no code.
    """
    if code is None or code is pd.NA or (isinstance(code, float) and code != code):
        return ""
    text = str(code).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if not text.isdigit():
        return text
    stripped = text.lstrip("0")
    return stripped or "0"


def normalize_codes(codes: pd.Series) -> pd.Series:
    """Vectorized ``normalize_code`` (``""`` for none), as a string Series."""
    text = codes.astype("string").str.strip().fillna("")
    text = text.str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    return text.str.replace(r"^0+(?=\d+$)", "", regex=True)


def _code_part(code: str) -> str:
    """One rule code as a regex: numeric codes with ``x`` for any digit; text codes with ``*`` for anything."""
    if _NUMERIC_CODE.match(code):
        digits = code.lstrip("0") if code.isdigit() else code
        return re.escape(digits or "0").replace("x", r"\d").replace("X", r"\d")
    return ".*".join(re.escape(piece) for piece in code.split("*"))


def _code_regex(codes: tuple[str, ...]) -> re.Pattern[str] | None:
    if not codes:
        return None
    return re.compile("^(?:" + "|".join(_code_part(c) for c in codes) + ")$", re.IGNORECASE)


@dataclass(frozen=True)
class TriageRule:
    """One rule: what it matches (codes, message pattern, statuses: all given must match) and its verdict."""

    name: str
    cause: str
    action: str
    retry_can_succeed: bool
    codes: tuple[str, ...] = ()
    message: str | None = None
    statuses: tuple[str, ...] = ()
    mapping_types: tuple[str, ...] = ()

    @cached_property
    def code_pattern(self) -> re.Pattern[str] | None:
        """The codes as one anchored regex (``x`` = any digit)."""
        return _code_regex(self.codes)

    @cached_property
    def message_pattern(self) -> re.Pattern[str] | None:
        """The message pattern, compiled case-insensitively."""
        return re.compile(self.message, re.IGNORECASE) if self.message else None

    def matches(self, code: object, message: object, status: object) -> bool:
        """True when every criterion the rule names matches."""
        if self.code_pattern is not None and not self.code_pattern.match(normalize_code(code)):
            return False
        if self.message_pattern is not None:
            text = "" if message is None or message is pd.NA else str(message)
            if not self.message_pattern.search(text):
                return False
        return not (self.statuses and (status is None or status is pd.NA or str(status) not in self.statuses))

    def format_action(self, record: str, code: str) -> str:
        """The action with ``{record}`` and ``{code}`` filled in."""
        return self.action.format(record=record, code=code or "none")


@dataclass(frozen=True)
class TriageRules:
    """An ordered rule list; the first rule that matches decides."""

    rules: tuple[TriageRule, ...]

    def match(self, code: object, message: object, status: object) -> TriageRule | None:
        """The first matching rule, or None."""
        return next((r for r in self.rules if r.matches(code, message, status)), None)

    def classify(self, code: object, message: object, status: object) -> tuple[str, str, bool]:
        """``(cause, action, retry_can_succeed)`` for one sync-log row (``unknown`` if no rule matches).

        The action's ``{record}`` is left as "the record"; ``triage`` fills in the record's name.
        """
        rule = self.match(code, message, status)
        if rule is None:
            return "unknown", UNKNOWN_ACTION.format(record="the record", code=normalize_code(code) or "none"), False
        return rule.cause, rule.format_action("the record", normalize_code(code)), rule.retry_can_succeed

    def match_frame(self, code: pd.Series, message: pd.Series, status: pd.Series) -> pd.Series:
        """Vectorized ``match``: the index of the first matching rule per row (-1 for none)."""
        codes = normalize_codes(code).astype(object)
        messages = message.astype("string").fillna("").astype(object)
        statuses = status.astype("string").fillna("").astype(object)
        combos = pd.DataFrame({"c": codes, "m": messages, "s": statuses})
        unique = combos.drop_duplicates().reset_index(drop=True)
        chosen = pd.Series(-1, index=unique.index, dtype="int64")
        for i, rule in enumerate(self.rules):
            open_rows = chosen == -1
            if not open_rows.any():
                break
            mask = open_rows.copy()
            code_pattern, message_pattern = rule.code_pattern, rule.message_pattern
            if code_pattern is not None:
                mask &= unique["c"].map(lambda c, p=code_pattern: p.match(c) is not None).astype(bool)
            if message_pattern is not None:
                mask &= unique["m"].map(lambda m, p=message_pattern: p.search(m) is not None).astype(bool)
            if rule.statuses:
                mask &= unique["s"].isin(rule.statuses)
            chosen[mask] = i
        merged = combos.merge(unique.assign(rule=chosen), on=["c", "m", "s"], how="left")
        return pd.Series(merged["rule"].to_numpy(), index=code.index, dtype="int64")


def _parse_rule(raw: Any, path: str, problems: list[str]) -> TriageRule | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: must be a table ([[rule]])")
        return None
    before = len(problems)
    for key in raw:
        if key not in _RULE_KEYS:
            problems.append(f"{path}.{key}: unknown key (one of {', '.join(sorted(_RULE_KEYS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{path}.name: required, a non-blank text")
    cause = raw.get("cause")
    if cause not in CAUSES:
        problems.append(f"{path}.cause: {cause!r} is not one of {', '.join(CAUSES)}")
    action = raw.get("action")
    if not isinstance(action, str) or not action.strip():
        problems.append(f"{path}.action: required, a non-blank text")
    else:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(action) if f is not None}
        except ValueError as exc:
            problems.append(f"{path}.action: {exc} (write {{{{ and }}}} for literal braces)")
        else:
            unknown = fields - _ACTION_FIELDS
            if unknown:
                problems.append(f"{path}.action: unknown placeholder(s) {sorted(unknown)} (use {{record}} or {{code}})")
    retry = raw.get("retry_can_succeed")
    if not isinstance(retry, bool):
        problems.append(f"{path}.retry_can_succeed: required, true or false")
    codes_raw = raw.get("codes", [])
    codes: list[str] = []
    if not isinstance(codes_raw, list):
        problems.append(f'{path}.codes: expected a list such as ["610", "5xx"]')
    else:
        for j, c in enumerate(codes_raw):
            text = str(c).strip() if isinstance(c, str | int) and not isinstance(c, bool) else ""
            if not _CODE_TEXT.match(text):
                problems.append(
                    f"{path}.codes[{j}]: {c!r} is not a code (digits with x for any digit, or letters, digits and _ "
                    "with * for anything)"
                )
            else:
                codes.append(text)
    message = raw.get("message")
    if message is not None:
        if not isinstance(message, str) or not message.strip():
            problems.append(f"{path}.message: expected a non-blank pattern")
        else:
            try:
                re.compile(message, re.IGNORECASE)
            except re.error as exc:
                problems.append(f"{path}.message: not a valid pattern: {exc}")
    statuses = raw.get("statuses", [])
    if not isinstance(statuses, list) or not all(isinstance(s, str) for s in statuses):
        problems.append(f"{path}.statuses: expected a list of sync statuses")
        statuses = []
    for s in statuses:
        if s not in F.SYNC_STATUSES:
            problems.append(f"{path}.statuses: {s!r} is not a sync status (one of {', '.join(F.SYNC_STATUSES)})")
    mapping_types = raw.get("mapping_types", [])
    if not isinstance(mapping_types, list) or not all(isinstance(s, str) for s in mapping_types):
        problems.append(f"{path}.mapping_types: expected a list of mapping types")
        mapping_types = []
    for t in mapping_types:
        if t not in F.MASTER_TYPES:
            problems.append(f"{path}.mapping_types: {t!r} is not a mapping type (one of {', '.join(F.MASTER_TYPES)})")
    if not codes_raw and message is None and not statuses:
        problems.append(f"{path}: a rule needs at least one of codes, message or statuses")
    if len(problems) > before:
        return None
    return TriageRule(
        name=str(name).strip(),
        cause=str(cause),
        action=str(action),
        retry_can_succeed=bool(retry),
        codes=tuple(codes),
        message=message,
        statuses=tuple(statuses),
        mapping_types=tuple(mapping_types),
    )


def load_rules(path: Path) -> TriageRules:
    """Read and validate a rules file; ``ConfigError`` lists every problem with its key path."""
    try:
        with Path(path).open("rb") as handle:
            doc = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError([f"triage_rules: file not found: {path}"]) from None
    except OSError as exc:
        raise ConfigError([f"triage_rules: cannot read {path}: {exc.strerror}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"triage_rules: {path} is not valid TOML: {exc}"]) from None
    problems: list[str] = []
    for key in doc:
        if key != "rule":
            problems.append(f"{key}: unknown key (rules are [[rule]] tables)")
    raw_rules = doc.get("rule", [])
    if not isinstance(raw_rules, list):
        problems.append("rule: must be an array of tables ([[rule]])")
        raw_rules = []
    rules: list[TriageRule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        rule = _parse_rule(raw, f"rule[{i}]", problems)
        if rule is None:
            continue
        if rule.name in seen:
            problems.append(f"rule[{i}].name: {rule.name!r} already names rule[{seen[rule.name]}]")
        seen[rule.name] = i
        rules.append(rule)
    if problems:
        raise ConfigError([f"{path}: {p}" for p in problems])
    return TriageRules(tuple(rules))


# --------------------------------------------------------------------------- sync state


def _text_or_empty(series: pd.Series) -> pd.Series:
    return series.astype("string").fillna("").str.strip()


def latest_sync_state(awra: AwraData, params: RunParams) -> pd.DataFrame:
    """The latest sync_log row per record for the run's connector, with its current error run.

    Columns: the sync_log columns, ``error_code`` normalized, plus ``run_attempts`` (how many
    consecutive attempts at the end share the latest row's error code, message and a triaged
    status; 0 when the latest status is not triaged) and ``first_failed_at`` (the first of those
    attempts).
    """
    log = awra.sync_log
    keep = (log["connector"] == params.connector).fillna(False).astype(bool)
    keep &= log["record_type"].notna() & log["record_id"].notna()
    log = log.loc[keep].sort_values(
        ["record_type", "record_id", "attempted_at", "id"], kind="stable", na_position="first"
    )
    log = log.reset_index(drop=True)
    code = normalize_codes(log["error_code"])
    err = code + "\x1f" + _text_or_empty(log["message"])
    failing = log["status"].isin(TRIAGE_STATUSES).fillna(False).astype(bool)
    same_record = (log["record_type"] == log["record_type"].shift()) & (log["record_id"] == log["record_id"].shift())
    same_record = same_record.fillna(False).astype(bool)
    cont = same_record & (err == err.shift()).fillna(False).astype(bool) & failing & failing.shift(fill_value=False)
    run = (~cont).cumsum()
    grouped = log.assign(_run=run).groupby("_run")
    run_size = grouped["id"].transform("size")
    run_first = grouped["attempted_at"].transform("min")
    log = log.assign(
        error_code=code.where(code != "", pd.NA),
        run_attempts=run_size.where(failing, 0).astype("Int64"),
        first_failed_at=run_first.where(failing),
    )
    latest = log.drop_duplicates(["record_type", "record_id"], keep="last")
    return latest.reset_index(drop=True)


def record_context(awra: AwraData, records: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per AWRA record (transactions and masters): what the reports need to name it.

    Columns ``record_type, record_id, number, party, amount_cents, currency, txn_date, branch,
    warehouse, updated_at, updated_by, qbo_link, name_key`` (``name_key``: masters' name, lower-cased
    without spaces, for finding a QBO record of the same name). ``records`` (``record_type,
    record_id``) limits the answer to those records.
    """
    tx = awra.transactions
    if records is not None:
        tx = tx.loc[isin_fast(tx["id"], records["record_id"])]
    tx = tx.sort_values("in_window", ascending=False, kind="stable", na_position="last")
    tx = tx.drop_duplicates(["entity", "id"])
    txc = pd.DataFrame(
        {
            "record_type": tx["entity"],
            "record_id": tx["id"],
            "number": tx["number"],
            "party": tx["party_name"],
            "amount_cents": tx["amount_cents"],
            "currency": tx["currency"],
            "txn_date": tx["txn_date"],
            "branch": tx["branch"],
            "warehouse": tx["warehouse"],
            "updated_at": tx["updated_at"],
            "updated_by": tx["updated_by"],
            "qbo_link": tx["qbo_link"],
        }
    )
    ms = awra.masters.drop_duplicates(["master_type", "id"])
    msc = pd.DataFrame(
        {
            "record_type": ms["master_type"],
            "record_id": ms["id"],
            "number": ms["code"],
            "party": ms["name"],
            "updated_at": ms["updated_at"],
            "name_key": ms["name"].astype("string").str.lower().str.replace(r"\s+", "", regex=True),
        }
    )
    out = pd.concat([txc, msc], ignore_index=True)
    return out.astype(
        {
            "record_type": "string",
            "record_id": "string",
            "number": "string",
            "party": "string",
            "branch": "string",
            "warehouse": "string",
            "currency": "string",
            "updated_by": "string",
            "qbo_link": "string",
            "name_key": "string",
            "amount_cents": "Int64",
        }
    )


def record_usage(awra: AwraData, params: RunParams, records: pd.DataFrame) -> pd.DataFrame:
    """Masters used by the given records (``record_type, record_id``).

    Columns ``record_type, record_id, master_type, master_id``; a master record uses itself.
    """
    is_txn = records["record_type"].isin(F.ENTITIES)
    txns = records.loc[is_txn].rename(columns={"record_type": "entity", "record_id": "id"})[["entity", "id"]]
    usage = master_usage(awra, params, records=txns).rename(columns={"entity": "record_type", "txn_id": "record_id"})
    own = records.loc[~is_txn & records["record_type"].isin(F.MASTER_TYPES), ["record_type", "record_id"]]
    own = own.assign(master_type=own["record_type"], master_id=own["record_id"])
    out = pd.concat([usage, own], ignore_index=True)
    return out.astype("string").drop_duplicates().reset_index(drop=True)


def changes_since(
    awra: AwraData,
    params: RunParams,
    records: pd.DataFrame,
    usage: pd.DataFrame | None = None,
    context: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Record and mapping changes after each record's ``since`` time.

    ``records`` has ``record_type, record_id, since`` (tz-aware). The answer has one row per change:
    ``record_type, record_id, kind`` (record | mapping), ``what`` (in words), ``updated_at``,
    ``updated_by`` (``<NA>`` when AWRA did not record it).
    """
    columns = ["record_type", "record_id", "kind", "what", "updated_at", "updated_by"]
    base = records.loc[records["since"].notna(), ["record_type", "record_id", "since"]]
    if base.empty:
        return _typed_changes(pd.DataFrame(columns=columns))
    ctx = record_context(awra, base) if context is None else context
    own = base.merge(ctx[["record_type", "record_id", "number", "updated_at", "updated_by"]], how="inner")
    own = own.loc[(own["updated_at"] > own["since"]).fillna(False).astype(bool)]
    own = own.assign(
        kind="record",
        what=_record_words(own["record_type"], own["number"], own["record_id"]),
    )
    if usage is None:
        usage = record_usage(awra, params, base)
    maps = awra.mappings.drop_duplicates(["mapping_type", "awra_id"])
    used = usage.merge(base, on=["record_type", "record_id"]).merge(
        maps[["mapping_type", "awra_id", "qbo_id", "updated_at", "updated_by"]],
        left_on=["master_type", "master_id"],
        right_on=["mapping_type", "awra_id"],
    )
    used = used.loc[(used["updated_at"] > used["since"]).fillna(False).astype(bool)]
    masters = awra.masters.drop_duplicates(["master_type", "id"])[["master_type", "id", "code", "name"]]
    used = used.merge(masters, left_on=["master_type", "master_id"], right_on=["master_type", "id"], how="left")
    what = [
        f"{describe_master(t, c, n, i)} mapping (now QBO {q if isinstance(q, str) else 'none'})"
        for t, c, n, i, q in zip(
            used["master_type"], used["code"], used["name"], used["master_id"], used["qbo_id"], strict=True
        )
    ]
    used = used.assign(kind="mapping", what=pd.Series(what, index=used.index, dtype="string"))
    out = pd.concat([own[columns], used[columns]], ignore_index=True)
    return _typed_changes(out.sort_values(["record_type", "record_id", "updated_at"], kind="stable"))


def _typed_changes(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.astype(
        {"record_type": "string", "record_id": "string", "kind": "string", "what": "string", "updated_by": "string"}
    )
    out["updated_at"] = pd.to_datetime(out["updated_at"], utc=True)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- triage

#: Columns of ``TriageResult.triage`` (one row per triaged record).
TRIAGE_COLUMNS: Mapping[str, F.Kind] = {
    "record_type": F.Kind.STRING,
    "record_id": F.Kind.STRING,
    "record_number": F.Kind.STRING,
    "status": F.Kind.STRING,
    "error_code": F.Kind.STRING,
    "message": F.Kind.STRING,
    "retry_count": F.Kind.INT,
    "attempts": F.Kind.INT,
    "sync_run_id": F.Kind.STRING,
    "triggered_by": F.Kind.STRING,
    "attempted_at": F.Kind.TIMESTAMP,
    "first_failed_at": F.Kind.TIMESTAMP,
    "cause": F.Kind.STRING,
    "action": F.Kind.STRING,
    "rule": F.Kind.STRING,
    "retry_can_succeed": F.Kind.BOOL,
    "retry_safe": F.Kind.BOOL,
    "retry_loop": F.Kind.BOOL,
    "root_ref": F.Kind.STRING,
    "open_mapping_gap": F.Kind.BOOL,
    "changed_since_failure": F.Kind.BOOL,
    "in_qbo": F.Kind.BOOL,
    "qbo_match_id": F.Kind.STRING,
    "party": F.Kind.STRING,
    "amount_cents": F.Kind.CENTS,
    "currency": F.Kind.STRING,
    "txn_date": F.Kind.DATE,
    "branch": F.Kind.STRING,
    "warehouse": F.Kind.STRING,
    "updated_at": F.Kind.TIMESTAMP,
    "updated_by": F.Kind.STRING,
}
TRIAGE = F.Schema("triage", TRIAGE_COLUMNS)

#: Columns of ``TriageResult.safe_to_retry``.
SAFE_TO_RETRY = F.Schema(
    "safe_to_retry",
    {
        "record_type": F.Kind.STRING,
        "record_id": F.Kind.STRING,
        "record_number": F.Kind.STRING,
        "status": F.Kind.STRING,
        "cause": F.Kind.STRING,
        "error_code": F.Kind.STRING,
        "message": F.Kind.STRING,
        "first_failed_at": F.Kind.TIMESTAMP,
        "attempted_at": F.Kind.TIMESTAMP,
        "party": F.Kind.STRING,
        "amount_cents": F.Kind.CENTS,
        "reason": F.Kind.STRING,
    },
)

_CHANGES_EMPTY = pd.DataFrame(
    {
        "record_type": pd.Series([], dtype="string"),
        "record_id": pd.Series([], dtype="string"),
        "kind": pd.Series([], dtype="string"),
        "what": pd.Series([], dtype="string"),
        "updated_at": pd.Series([], dtype="datetime64[ns, UTC]"),
        "updated_by": pd.Series([], dtype="string"),
    }
)


@dataclass(frozen=True)
class TriageResult:
    """What triage produced.

    * ``findings``: the input findings with cause/action/retry_safe/root_ref filled on the triaged
      records' transaction findings, plus the ``retry_loop`` findings (``frames.FINDINGS``).
    * ``triage``: one row per triaged record (``TRIAGE``).
    * ``safe_to_retry``: the records a person may retry now (``SAFE_TO_RETRY``).
    * ``changes``: record and mapping changes after each triaged record's first failure (who and
      when), for escalation packets.
    """

    findings: pd.DataFrame
    triage: pd.DataFrame
    safe_to_retry: pd.DataFrame
    changes: pd.DataFrame = field(default_factory=_CHANGES_EMPTY.copy)


def _record_words(record_type: pd.Series, number: pd.Series, record_id: pd.Series) -> pd.Series:
    """``invoice INV-1003`` per row (the id when the number is missing)."""
    words = [
        f"{label_of(t)} {n if isinstance(n, str) and n.strip() else i}"
        for t, n, i in zip(record_type, number, record_id, strict=True)
    ]
    return pd.Series(words, index=record_type.index, dtype="string")


def _in_qbo(records: pd.DataFrame, qbo: QboData) -> pd.DataFrame:
    """``record_type, record_id, qbo_match_id`` for records already in QBO."""
    q = qbo.transactions[["entity", "id", "number"]].rename(columns={"entity": "record_type", "id": "qbo_match_id"})
    hits: list[pd.DataFrame] = []
    for link_col in ("qbo_link", "sync_qbo_id"):
        by_link = records.loc[records[link_col].notna(), ["record_type", "record_id", link_col]]
        by_link = by_link.merge(q, left_on=["record_type", link_col], right_on=["record_type", "qbo_match_id"])
        hits.append(by_link[["record_type", "record_id", "qbo_match_id"]])
    by_number = records.loc[records["record_number"].notna(), ["record_type", "record_id", "record_number"]]
    by_number = by_number.merge(q, left_on=["record_type", "record_number"], right_on=["record_type", "number"])
    hits.append(by_number[["record_type", "record_id", "qbo_match_id"]])
    # master records: the mapped QBO record exists, or QBO has a record of that type with the same name
    refs = qbo.references[["ref_type", "id", "name"]].rename(columns={"ref_type": "record_type"})
    refs = refs.assign(name_key=refs["name"].astype("string").str.lower().str.replace(r"\s+", "", regex=True))
    by_map = records.loc[records["map_qbo_id"].notna(), ["record_type", "record_id", "map_qbo_id"]]
    by_map = by_map.merge(refs, left_on=["record_type", "map_qbo_id"], right_on=["record_type", "id"])
    hits.append(by_map.rename(columns={"id": "qbo_match_id"})[["record_type", "record_id", "qbo_match_id"]])
    by_name = records.loc[records["name_key"].notna(), ["record_type", "record_id", "name_key"]]
    by_name = by_name.merge(refs, on=["record_type", "name_key"])
    hits.append(by_name.rename(columns={"id": "qbo_match_id"})[["record_type", "record_id", "qbo_match_id"]])
    found = pd.concat(hits, ignore_index=True).astype("string")
    return found.drop_duplicates(["record_type", "record_id"])


def triage(awra: AwraData, qbo: QboData, findings: pd.DataFrame, params: RunParams, rules: TriageRules) -> TriageResult:
    """Triage every record whose latest sync is failed, retrying, needs_attention or skipped."""
    latest = latest_sync_state(awra, params)
    rec = latest.loc[latest["status"].isin(TRIAGE_STATUSES).fillna(False).astype(bool)].reset_index(drop=True)
    if rec.empty:
        return TriageResult(
            findings=_with_schema(findings),
            triage=F.empty_frame(TRIAGE),
            safe_to_retry=F.empty_frame(SAFE_TO_RETRY),
        )
    # --- context: the record itself, its sync run, its mapping row (masters)
    ctx = record_context(awra, rec[["record_type", "record_id"]])
    rec = rec.rename(columns={"qbo_id": "sync_qbo_id", "id": "sync_log_id"}).merge(
        ctx, on=["record_type", "record_id"], how="left"
    )
    rec["record_number"] = rec["record_number"].fillna(rec["number"])
    runs = awra.sync_runs.drop_duplicates("id")[["id", "triggered_by"]].rename(columns={"id": "sync_run_id"})
    rec = rec.merge(runs, on="sync_run_id", how="left")
    maps = awra.mappings.drop_duplicates(["mapping_type", "awra_id"])[["mapping_type", "awra_id", "qbo_id"]]
    maps = maps.rename(columns={"mapping_type": "record_type", "awra_id": "record_id", "qbo_id": "map_qbo_id"})
    rec = rec.merge(maps, on=["record_type", "record_id"], how="left")

    # --- classification
    chosen = rules.match_frame(rec["error_code"], rec["message"], rec["status"]).to_numpy()
    rule_of = [rules.rules[i] if i >= 0 else None for i in chosen]
    rec["rule"] = pd.array([r.name if r else None for r in rule_of], dtype="string")
    rec["cause"] = pd.array([r.cause if r else "unknown" for r in rule_of], dtype="string")
    rec["retry_can_succeed"] = pd.array([r.retry_can_succeed if r else False for r in rule_of], dtype="boolean")
    words = _record_words(rec["record_type"], rec["record_number"], rec["record_id"])
    codes = rec["error_code"].fillna("")
    rec["action"] = pd.array(
        [
            r.format_action(w, c) if r else UNKNOWN_ACTION.format(record=w, code=c or "none")
            for r, w, c in zip(rule_of, words, codes, strict=True)
        ],
        dtype="string",
    )

    # --- the masters each record uses, and the mapping findings behind them
    keys = rec[["record_type", "record_id"]]
    usage = record_usage(awra, params, keys)
    mf = findings.loc[findings["category"].isin(MAPPING_CATEGORIES) & findings["awra_id"].notna()]
    mf = mf.drop_duplicates(["entity", "awra_id", "category"])[["entity", "awra_id", "category", "action"]]
    mf = mf.assign(priority=mf["category"].map(_FINDING_PRIORITY).astype("int64"))
    linked = usage.merge(mf, left_on=["master_type", "master_id"], right_on=["entity", "awra_id"])
    gaps = linked.loc[linked["category"].isin(("mapping_missing", "mapping_broken"))]
    gap_keys = gaps[["record_type", "record_id"]].drop_duplicates().assign(open_mapping_gap=True)
    rec = rec.merge(gap_keys, on=["record_type", "record_id"], how="left")
    rec["open_mapping_gap"] = rec["open_mapping_gap"].astype("boolean").fillna(False)

    allowed_rows = []
    for i, rule in enumerate(rule_of):
        if rule is not None and rule.cause == "mapping_missing":
            for order, t in enumerate(rule.mapping_types or F.MASTER_TYPES):
                allowed_rows.append((rec.at[i, "record_type"], rec.at[i, "record_id"], t, order))
    allowed = pd.DataFrame(allowed_rows, columns=["record_type", "record_id", "master_type", "type_order"])
    allowed = allowed.astype({"record_type": "string", "record_id": "string", "master_type": "string"})
    roots = linked.merge(allowed, on=["record_type", "record_id", "master_type"])
    roots = roots.sort_values(["priority", "type_order", "master_type", "master_id"], kind="stable")
    roots = roots.drop_duplicates(["record_type", "record_id"])
    root_ref = [f"{t}:{i}" for t, i in zip(roots["master_type"], roots["master_id"], strict=True)]
    roots = roots.assign(root_ref=pd.Series(root_ref, index=roots.index, dtype="string"), root_action=roots["action"])
    rec = rec.merge(
        roots[["record_type", "record_id", "root_ref", "root_action"]], on=["record_type", "record_id"], how="left"
    )
    has_root = rec["root_ref"].notna()
    rec.loc[has_root, "action"] = rec.loc[has_root, "root_action"] + ", then retry."

    # --- what changed since the first failure
    since = rec[["record_type", "record_id"]].assign(since=rec["first_failed_at"])
    changes = changes_since(awra, params, since, usage=usage, context=ctx)
    changed = changes[["record_type", "record_id"]].drop_duplicates().assign(changed_since_failure=True)
    rec = rec.merge(changed, on=["record_type", "record_id"], how="left")
    rec["changed_since_failure"] = rec["changed_since_failure"].astype("boolean").fillna(False)

    # --- already in QBO?
    in_qbo = _in_qbo(rec, qbo)
    rec = rec.merge(in_qbo, on=["record_type", "record_id"], how="left")
    rec["in_qbo"] = rec["qbo_match_id"].notna()

    # --- retry loop and retry verdict
    retry_count = rec["retry_count"].astype("Int64").fillna(0)
    attempts = pd.concat([retry_count, rec["run_attempts"].astype("Int64").fillna(0)], axis=1).max(axis=1)
    rec["attempts"] = attempts.astype("Int64")
    rec["retry_loop"] = (
        (rec["status"] != "skipped")
        & (rec["attempts"] >= params.retry_loop_threshold)
        & ~rec["changed_since_failure"]
        & rec["first_failed_at"].notna()
    ).astype("boolean")
    rec["retry_safe"] = (
        ~rec["in_qbo"]
        & ~rec["retry_loop"]
        & ~rec["open_mapping_gap"]
        & (rec["cause"] != "authorization")
        & (rec["retry_can_succeed"] | rec["changed_since_failure"])
    ).astype("boolean")
    already = rec["in_qbo"] & rec["status"].isin((*HAND_RETRY_STATUSES, "retrying"))
    rec.loc[already, "action"] = (
        "Do not retry: QBO already holds "
        + words[already]
        + " (QBO Id "
        + rec.loc[already, "qbo_match_id"]
        + "); record that QBO Id on the AWRA record instead of syncing it again."
    )
    reasons = _retry_reasons(rec, changes)
    fixed = (rec["retry_safe"] & rec["changed_since_failure"]).fillna(False).astype(bool)
    rec.loc[fixed, "action"] = "Retry now: " + reasons[fixed] + "."
    tri = F.conform(rec, TRIAGE)

    safe = _safe_to_retry(tri, reasons)
    out_findings = _update_findings(findings, tri, params)
    return TriageResult(findings=out_findings, triage=tri, safe_to_retry=safe, changes=changes)


def _retry_reasons(rec: pd.DataFrame, changes: pd.DataFrame) -> pd.Series:
    """Why a retry may work now, per record.

    The latest change after the failure (a mapping change preferred over an edit of the record),
    else "a retry can succeed without changes".
    """
    ranked = changes.assign(is_mapping=(changes["kind"] == "mapping").astype(bool))
    ranked = ranked.sort_values(["is_mapping", "updated_at"], kind="stable")
    last = ranked.drop_duplicates(["record_type", "record_id"], keep="last")
    joined = rec[["record_type", "record_id", "cause"]].merge(
        last[["record_type", "record_id", "what", "updated_at", "updated_by"]],
        how="left",
        on=["record_type", "record_id"],
    )
    reasons = []
    for r in joined.itertuples(index=False):
        if isinstance(r.what, str):
            who = f" by {r.updated_by}" if isinstance(r.updated_by, str) else ""
            reasons.append(f"{r.what} was updated{who} at {_iso(r.updated_at)}, after the failure")
        else:
            reasons.append(f"a retry can succeed without changes ({r.cause})")
    return pd.Series(reasons, index=rec.index, dtype="string")


def _safe_to_retry(tri: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    keep = (tri["retry_safe"].fillna(False).astype(bool) & tri["status"].isin(HAND_RETRY_STATUSES)).to_numpy()
    safe = tri.loc[keep].assign(reason=reasons.to_numpy()[keep])
    return F.conform(safe, SAFE_TO_RETRY)


def _iso(value: object) -> str:
    if isinstance(value, pd.Timestamp) and not pd.isna(value):
        return value.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    return "not recorded"


def _update_findings(findings: pd.DataFrame, tri: pd.DataFrame, params: RunParams) -> pd.DataFrame:
    base = _with_schema(findings)
    cols = ["record_type", "record_id", "cause", "action", "retry_safe", "root_ref", "status", "attempts", "message"]
    t = tri[cols].rename(
        columns={
            "record_type": "entity",
            "record_id": "awra_id",
            "cause": "t_cause",
            "action": "t_action",
            "retry_safe": "t_retry_safe",
            "root_ref": "t_root_ref",
            "status": "t_status",
            "attempts": "t_attempts",
            "message": "t_message",
        }
    )
    merged = base.merge(t, on=["entity", "awra_id"], how="left")
    hit = merged["t_cause"].notna() & ~merged["category"].isin(_NON_TXN_CATEGORIES)
    hit = hit.fillna(False).astype(bool)
    decide = hit & (merged["category"].isin(_SYNC_CATEGORIES) | merged["cause"].isna())
    out = base.copy()
    out.loc[decide, "cause_code"] = merged.loc[decide, "t_cause"]
    out.loc[decide, "cause"] = cause_sentences(merged.loc[decide, "t_cause"])
    out.loc[decide, "action"] = merged.loc[decide, "t_action"]
    out.loc[hit, "retry_safe"] = merged.loc[hit, "t_retry_safe"]
    with_root = hit & merged["t_root_ref"].notna()
    out.loc[with_root, "root_ref"] = merged.loc[with_root, "t_root_ref"]
    for col, src in (("sync_status", "t_status"), ("retry_count", "t_attempts"), ("message", "t_message")):
        fill = hit & out[col].isna()
        out.loc[fill, col] = merged.loc[fill, src]
    loops = _retry_loop_findings(tri, params)
    if loops.empty:
        return out
    return pd.concat([out, loops], ignore_index=True)


def cause_sentences(codes: pd.Series) -> pd.Series:
    """Each cause code as its sentence (``CAUSE_SENTENCES``; an unknown code keeps its text)."""
    codes = codes.astype("string")
    return codes.map(CAUSE_SENTENCES).fillna(codes).astype("string")


def _with_schema(findings: pd.DataFrame) -> pd.DataFrame:
    """A copy of the findings with every ``FINDINGS`` column (cast), keeping any extra columns."""
    base = findings.reset_index(drop=True)
    schema_part = F.conform(base, F.FINDINGS)
    extra = [c for c in base.columns if c not in schema_part.columns]
    return pd.concat([schema_part, base[extra]], axis=1) if extra else schema_part


def _retry_loop_findings(tri: pd.DataFrame, params: RunParams) -> pd.DataFrame:
    loops = tri.loc[tri["retry_loop"].fillna(False).astype(bool)]
    if loops.empty:
        return F.empty_frame(F.FINDINGS)
    actions = []
    for r in loops.itertuples(index=False):
        what = CAUSE_WORDS.get(str(r.cause), "the error")
        if isinstance(r.root_ref, str):
            mtype, _, mid = r.root_ref.partition(":")
            what = f"the {label_of(mtype)} mapping of {mid}"
        actions.append(f"Stop retrying; fix {what} first: {r.action}")
    n = len(loops)
    out = pd.DataFrame(
        {
            "run_id": [params.run_id] * n,
            "entity": loops["record_type"].to_numpy(),
            "category": ["retry_loop"] * n,
            "awra_id": loops["record_id"].to_numpy(),
            "awra_number": loops["record_number"].to_numpy(),
            "qbo_id": loops["qbo_match_id"].to_numpy(),
            "party": loops["party"].to_numpy(),
            "field": ["attempts"] * n,
            "awra_value": loops["attempts"].astype("string").to_numpy(),
            "cause": cause_sentences(loops["cause"]).to_numpy(),
            "cause_code": loops["cause"].to_numpy(),
            "action": actions,
            "sync_status": loops["status"].to_numpy(),
            "retry_count": loops["attempts"].to_numpy(),
            "message": loops["message"].to_numpy(),
            "txn_date": loops["txn_date"].to_numpy(),
            "amount_cents": loops["amount_cents"].to_numpy(),
            "currency": loops["currency"].to_numpy(),
            "effect_cents": [0] * n,
            "root_ref": loops["root_ref"].to_numpy(),
            "retry_safe": [False] * n,
        }
    )
    return F.conform(
        out.astype({"qbo_id": "string", "party": "string", "root_ref": "string", "currency": "string"}), F.FINDINGS
    )


__all__ = [
    "CAUSES",
    "CAUSE_SENTENCES",
    "DEFAULT_RULES_PATH",
    "HAND_RETRY_STATUSES",
    "SAFE_TO_RETRY",
    "TRIAGE",
    "TRIAGE_STATUSES",
    "TriageResult",
    "TriageRule",
    "TriageRules",
    "cause_sentences",
    "changes_since",
    "latest_sync_state",
    "load_rules",
    "normalize_code",
    "record_context",
    "record_usage",
    "triage",
]
