import pandas as pd
import pytest

from reconcile import frames as F


@pytest.mark.parametrize("schema", F.ALL_SCHEMAS, ids=lambda s: s.name)
def test_empty_frames_follow_their_schema(schema):
    frame = F.empty_frame(schema)
    assert list(frame.columns) == schema.names
    F.check_frame(frame, schema)


def test_conform_casts_and_adds_missing_columns():
    raw = pd.DataFrame({"id": [1, 22], "amount_cents": [1050, None], "txn_date": ["2026-08-01", None]})
    frame = F.conform(raw, F.TRANSACTIONS)
    F.check_frame(frame, F.TRANSACTIONS)
    assert frame["id"].tolist() == ["1", "22"]
    assert frame["amount_cents"].iloc[0] == 1050 and pd.isna(frame["amount_cents"].iloc[1])
    assert frame["currency"].isna().all()


def test_check_frame_names_every_problem():
    frame = F.empty_frame(F.MAPPINGS).drop(columns=["qbo_id"]).assign(awra_id=pd.Series([], dtype="float64"))
    with pytest.raises(F.SchemaError) as info:
        F.check_frame(frame, F.MAPPINGS)
    assert "missing column 'qbo_id'" in str(info.value)
    assert "column 'awra_id' is float64" in str(info.value)


def test_contract_columns_lead_the_findings_schema():
    assert tuple(F.FINDINGS.names[: len(F.CONTRACT_FINDING_COLUMNS)]) == F.CONTRACT_FINDING_COLUMNS


def test_every_status_has_a_qbo_side():
    assert set(F.QBO_SIDE_OF_STATUS) == set(F.AWRA_STATUSES)
