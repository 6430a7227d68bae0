"""The whole pure reconciliation: transactions, mappings and triage composed into a ``RunResult``.

This is the one place the stages meet; it does no I/O. Order matters: the transaction core
produces the findings that carry money (and the tie-out bridge, per currency); mapping checks
add the master-data findings (no money effect), counting as blocked only the transactions the
core's pairing and the sync log show are not in QBO or failing; triage then reads the sync log
over all of them to give each failed record a cause and an action, add retry loops and build
escalation packets; last, the account impact attributes each account's difference to those
findings.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from reconcile import frames as F
from reconcile.accounts import account_impact
from reconcile.currencies import home_currency_of
from reconcile.escalation import build_escalations
from reconcile.mappings import blocked_transactions, check_mappings
from reconcile.model import AwraData, QboData, RunResult
from reconcile.params import RunParams
from reconcile.profile import NO_PROFILE, Profile
from reconcile.tieout import RunArrays, entity_totals
from reconcile.transactions import reconcile_transactions
from reconcile.triage import TriageRules, triage


def reconcile(
    awra: AwraData,
    qbo: QboData,
    params: RunParams,
    rules: TriageRules,
    *,
    sources: Mapping[str, str] | None = None,
    profile: Profile = NO_PROFILE,
) -> RunResult:
    """Reconcile AWRA against QBO for one run and return everything the writers need.

    ``profile`` measures each stage when the run asks for a stage-by-stage account.
    """
    core = reconcile_transactions(awra, qbo, params, profile=profile)
    with profile.stage("mapping checks"):
        # a mapping gap blocks only what the sync has not brought to QBO: the core's pairing says which
        mapping_findings = check_mappings(awra, qbo, params, blocked=blocked_transactions(core.matches, awra))
        combined = F.concat_frames([core.findings, mapping_findings], F.FINDINGS)
    with profile.stage("triage"):
        triaged = triage(awra, qbo, combined, params, rules)
        findings = sort_findings(triaged.findings)
    with profile.stage("totals and tie-out"):
        # counted again over every finding: triage adds retry loops (with no money effect)
        totals = entity_totals(findings, awra, qbo, params, core.tolerance_cents, core.arrays)
    with profile.stage("account impact"):
        # the account impact reads every finding: mapping findings explain postings moved between accounts
        run = core.arrays or RunArrays(core.matches, awra, qbo, params)
        accounts = F.check_frame(account_impact(awra, qbo, params, findings, run), F.ACCOUNTS)
    with profile.stage("escalations"):
        escalations = build_escalations(awra, triaged, params)
    return RunResult(
        params=params,
        findings=F.check_frame(findings, F.FINDINGS),
        totals=totals,
        triage=triaged.triage,
        safe_to_retry=triaged.safe_to_retry,
        escalations=escalations,
        sources=dict(sources or {}),
        home_currency=home_currency_of(qbo, params),
        accounts=accounts,
    )


def sort_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings in a stable order: category (report order), entity, number, ids, field."""
    category_rank = {c: i for i, c in enumerate(F.CATEGORIES)}
    entity_rank = {e: i for i, e in enumerate((*F.ENTITIES, *F.MASTER_TYPES))}
    keys = pd.DataFrame(
        {
            "c": findings["category"].map(category_rank).fillna(len(category_rank)),
            "e": findings["entity"].map(entity_rank).fillna(len(entity_rank)),
            "n": findings["awra_number"].fillna(""),
            "a": findings["awra_id"].fillna(""),
            "q": findings["qbo_id"].fillna(""),
            "f": findings["field"].fillna(""),
        },
        index=findings.index,
    )
    order = keys.sort_values(["c", "e", "n", "a", "q", "f"], kind="stable").index
    return findings.loc[order].reset_index(drop=True)
