"""Parameter records: JSON round trip, what counts as a difference, enum mirrors."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from client.chain.records import (
    Admission,
    ClaimKind,
    ClaimResolution,
    ClaimState,
    LedgerParams,
    Points,
    ThresholdMode,
)

REPO = Path(__file__).resolve().parents[2]


def test_json_round_trip_keeps_every_field():
    params = LedgerParams(
        model_size=10, rounds=4, admission=Admission.VOTE, allowlist=("0x" + "ab" * 20,),
        settings=b"\x00\x01settings", threshold_mode=ThresholdMode.PAPER, claim_deposit=9,
    )
    back = LedgerParams.from_json(params.as_json())
    assert back == params
    assert back.admission is Admission.VOTE and back.threshold_mode is ThresholdMode.PAPER
    assert LedgerParams.from_tuple(params.as_tuple(), params.allowlist, params.settings) == params
    with pytest.raises(ValueError, match="unknown ledger parameters"):
        LedgerParams.from_json({**params.as_json(), "max_enc_key_length": 64})
    # A record written before a parameter existed gets its default.
    old = {k: v for k, v in params.as_json().items() if k != "retention_blocks"}
    assert LedgerParams.from_json(old).retention_blocks == LedgerParams(1).retention_blocks


def test_differences_are_what_a_user_chose():
    base = LedgerParams(model_size=10, registration_deadline=500, allowlist=("0x" + "ab" * 20,))
    assert base.differences(replace(base, registration_deadline=900)) == {}
    assert base.differences(replace(base, allowlist=("0x" + "AB" * 20,))) == {}
    changed = replace(base, settle_blocks=7, quorum_numerator=1, settings=b"x",
                      admission=Admission.ALLOWLIST, registration_blocks=5)
    assert set(base.differences(changed)) == {
        "settle_blocks", "quorum_numerator", "settings", "admission", "registration_blocks"}
    assert base.differences(changed)["settle_blocks"] == (1_000, 7)


def test_absolute_deadline_becomes_a_length():
    p = LedgerParams(model_size=1, registration_deadline=120)
    rel = p.relative_to(100)  # sent now, the deployment executes in block 101
    assert (rel.registration_blocks, rel.registration_deadline) == (19, 0)
    assert LedgerParams(model_size=1).relative_to(100) == LedgerParams(model_size=1)


def test_points_buckets():
    p = Points(balance=10, escrowed=3, pending=4, disputed=2, deposited=1, releasable=5)
    assert (p.total, p.spendable) == (20, 15)


def test_new_enums_mirror_solidity():
    source = (REPO / "contracts" / "IConsortiumLedger.sol").read_text()

    def members(enum: str) -> list[str]:
        body = re.search(rf"enum {enum} \{{([^}}]*)\}}", source)
        assert body is not None
        return [m.strip().upper() for m in body.group(1).split(",") if m.strip()]

    assert members("Admission") == [a.name for a in Admission]
    assert members("ClaimKind") == [k.name for k in ClaimKind]
    assert members("ClaimState") == [s.name for s in ClaimState]
    assert members("ClaimResolution") == [r.name for r in ClaimResolution]
