"""Deployment parameters, registration, closing and minting."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from client.chain import errors
from client.chain.records import Admission, LedgerParams, PartyStatus, Phase, ThresholdMode

from .conftest import HYBRID_KEY, KEY, digest

ADDRESS_A = "0x" + "aa" * 20
ADDRESS_B = "0x" + "bb" * 20
ADDRESS_C = "0x" + "cc" * 20


def test_parameters_round_trip(fresh_ledger):
    ledger = fresh_ledger(max_parties=7, quorum_numerator=3, quorum_denominator=4,
                          threshold_mode=ThresholdMode.AUTHORS, threshold_numerator=1,
                          threshold_denominator=3, rounds=9, min_data_size=5,
                          max_data_size=777, max_sharing_numerator=3,
                          max_sharing_denominator=10, registration_deposit=12345)
    p = ledger.parameters()
    assert isinstance(p, LedgerParams)
    assert (p.max_parties, p.quorum_numerator, p.quorum_denominator) == (7, 3, 4)
    assert p.threshold_mode is ThresholdMode.AUTHORS
    assert (p.rounds, p.min_data_size, p.max_data_size) == (9, 5, 777)
    assert (p.max_sharing_numerator, p.max_sharing_denominator) == (3, 10)
    assert p.registration_deposit == 12345 and p.admission is Admission.OPEN
    assert p.registration_deadline == p.registration_blocks + ledger.block_number()
    assert ledger.phase() is Phase.REGISTRATION
    assert ledger.current_round() == 0
    assert ledger.message_kind("labels") != ledger.message_kind("recovery")


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"model_size": 0}, "modelSize"),
        ({"model_size": 2**62}, "modelSize"),
        ({"min_parties": 1}, "minParties"),
        ({"min_parties": 5, "max_parties": 4}, "maxParties"),
        ({"registration_deadline": 1}, "registrationDeadline"),
        ({"registration_blocks": 0}, "registrationDeadline"),
        ({"benchmark_blocks": 0}, "benchmarkBlocks"),
        ({"request_blocks": 0}, "requestBlocks"),
        ({"upload_blocks": 0}, "uploadBlocks"),
        ({"settle_blocks": 0}, "settleBlocks"),
        ({"quorum_numerator": 0}, "quorum"),
        ({"quorum_denominator": 0}, "quorum"),
        ({"quorum_numerator": 4, "quorum_denominator": 3}, "quorum"),
        ({"threshold_mode": 2}, "thresholdMode"),
        ({"threshold_denominator": 0}, "thresholdDenominator"),
        ({"rounds": 0}, "rounds"),
        ({"admission_quorum_numerator": 0}, "admissionQuorum"),
        ({"admission_quorum_numerator": 3, "admission_quorum_denominator": 2}, "admissionQuorum"),
        ({"min_data_size": 0}, "dataSize"),
        ({"min_data_size": 10, "max_data_size": 9}, "dataSize"),
        ({"max_sharing_numerator": 0}, "maxSharing"),
        ({"max_sharing_numerator": 3, "max_sharing_denominator": 2}, "maxSharing"),
        ({"allowlist": (ADDRESS_A,)}, "allowlist"),  # OPEN admission takes no list
        ({"admission": Admission.ALLOWLIST}, "allowlist"),
        ({"admission": Admission.VOTE}, "allowlist"),
        ({"admission": Admission.ALLOWLIST, "allowlist": (ADDRESS_A,)}, "allowlist"),  # < min
        ({"admission": Admission.VOTE, "allowlist": (ADDRESS_A, ADDRESS_A)}, "allowlist"),
        ({"admission": Admission.VOTE, "allowlist": ("0x" + "00" * 20,)}, "allowlist"),
        ({"admission": Admission.VOTE, "max_parties": 2, "min_parties": 2, "min_uploaders": 1,
          "allowlist": (ADDRESS_A, ADDRESS_B, ADDRESS_C)}, "allowlist"),
        ({"min_uploaders": 0}, "minUploaders"),
        ({"min_parties": 2}, "minUploaders"),  # the default 2 uploaders need 3 parties
        ({"min_parties": 4, "min_uploaders": 4}, "minUploaders"),
        ({"claim_deposit": 0}, "claimDeposit"),
        ({"response_blocks": 0}, "responseBlocks"),
        ({"vote_blocks": 0}, "voteBlocks"),
        ({"response_blocks": 10, "vote_blocks": 20, "retention_blocks": 29}, "retentionBlocks"),
    ],
)
def test_constructor_rejects_bad_parameters(fresh_ledger, overrides, name):
    with pytest.raises(errors.InvalidParameter) as info:
        fresh_ledger(**overrides)
    assert info.value.name == name


def test_settings_are_stored_with_their_digest(fresh_ledger):
    blob = b"fppdl-settings\x00" + bytes(range(256)) * 16
    blob = blob[:4096]
    ledger = fresh_ledger(settings=blob)
    assert ledger.settings() == blob and ledger.parameters().settings == blob
    assert ledger.settings_digest() == keccak(blob)
    (deployed,) = [e for e in ledger.events() if e.name == "LedgerDeployed"]
    assert deployed.args["settings"] == blob and deployed.args["settingsDigest"] == keccak(blob)
    assert fresh_ledger().settings_digest() == keccak(b"")
    with pytest.raises(errors.SettingsTooLong) as info:
        fresh_ledger(settings=blob + b"x")
    assert (info.value.length, info.value.maxLength) == (4097, 4096)


def test_two_party_deployment_must_allow_single_uploaders(fresh_ledger):
    with pytest.raises(errors.InvalidParameter, match="minUploaders"):
        fresh_ledger(min_parties=2, max_parties=2)
    p = fresh_ledger(min_parties=2, max_parties=2, min_uploaders=1).parameters()
    assert (p.min_parties, p.min_uploaders) == (2, 1)
    defaults = LedgerParams(model_size=1)
    assert (defaults.min_parties, defaults.min_uploaders) == (3, 2)


def test_register_records_party_and_event(fresh_ledger, dev_accounts):
    ledger = fresh_ledger().with_account(dev_accounts[3])
    receipt = ledger.register(HYBRID_KEY, 600, 60, digest(7))
    info = ledger.party_info(dev_accounts[3].address)
    assert info.status is PartyStatus.CREDIBLE
    assert (info.index, info.data_size, info.samples_released) == (0, 600, 60)
    assert info.samples_digest == digest(7) and info.enc_pub_key == HYBRID_KEY
    (event,) = ledger.registrations()
    assert event.party == dev_accounts[3].address
    assert event.meta.block_number == receipt.block_number
    assert event.enc_pub_key == info.enc_pub_key
    assert ledger.parties() == (dev_accounts[3].address,)
    assert ledger.credible_count() == 1
    assert ledger.party_info(dev_accounts[4].address).status is PartyStatus.NONE


def test_register_reverts(fresh_ledger, dev_accounts):
    base = fresh_ledger(max_parties=2, min_parties=2, min_uploaders=1, max_sharing_numerator=1,
                        max_sharing_denominator=1)
    a, b, c = (base.with_account(dev_accounts[i]) for i in (1, 2, 3))
    with pytest.raises(errors.InvalidEncryptionKey) as info:
        a.register(b"", 10, 1, digest(0))
    assert (info.value.length, info.value.x25519Length, info.value.hybridLength) == (0, 32, 1216)
    for length in (1, 31, 33, 64, 1184, 1215, 1217, 1600):
        with pytest.raises(errors.InvalidEncryptionKey):
            a.register(KEY[:1] * length, 10, 1, digest(0))
    with pytest.raises(errors.InvalidSampleCounts) as info2:
        a.register(KEY, 10, 0, digest(0))
    assert (info2.value.dataSize, info2.value.samplesReleased) == (10, 0)
    with pytest.raises(errors.InvalidSampleCounts):
        a.register(KEY, 10, 11, digest(0))
    with pytest.raises(errors.ZeroDigest):
        a.register(KEY, 10, 1, b"\x00" * 32)
    a.register(KEY, 10, 10, digest(0))
    with pytest.raises(errors.AlreadyRegistered) as info3:
        a.register(KEY, 10, 1, digest(0))
    assert info3.value.party == a.sender
    b.register(KEY, 10, 1, digest(1))
    with pytest.raises(errors.RegistryFull) as info4:
        c.register(KEY, 10, 1, digest(2))
    assert info4.value.maxParties == 2


def test_register_after_deadline(fresh_ledger, dev_accounts, anvil):
    ledger = fresh_ledger(registration_blocks=3).with_account(dev_accounts[1])
    deadline = ledger.parameters().registration_deadline
    anvil.mine(deadline - ledger.block_number())
    with pytest.raises(errors.RegistrationDeadlinePassed) as info:
        ledger.register(KEY, 10, 1, digest(0))
    assert info.value.deadline == deadline


def test_close_registration_rules(fresh_ledger, dev_accounts, anvil):
    base = fresh_ledger(registration_blocks=20, min_parties=3, max_parties=5)
    parties = [base.with_account(dev_accounts[i]) for i in (1, 2, 3)]
    parties[0].register(KEY, 100, 10, digest(0))
    parties[1].register(KEY, 100, 10, digest(1))
    with pytest.raises(errors.RegistrationStillOpen) as info:
        base.close_registration()
    assert (info.value.registered, info.value.maxParties) == (2, 5)
    anvil.mine(25)
    with pytest.raises(errors.NotEnoughParties) as info2:
        base.close_registration()
    assert (info2.value.registered, info2.value.minParties) == (2, 3)
    # Registration stays over once its deadline passed, even while it cannot close.
    with pytest.raises(errors.RegistrationDeadlinePassed):
        parties[2].register(KEY, 100, 10, digest(2))


def test_close_after_deadline_by_outsider_mints_points(consortium, dev_accounts, anvil):
    c = consortium(3, close=False, registration_blocks=12, max_parties=10)
    anvil.mine(12)
    outsider = c[0].with_account(dev_accounts[30])
    outsider.close_registration()
    assert c[0].phase() is Phase.BENCHMARKING
    with pytest.raises(errors.WrongPhase) as info:
        outsider.close_registration()
    assert (info.value.expected, info.value.actual) == (Phase.REGISTRATION, Phase.BENCHMARKING)


def test_minting_matches_paper_equation(consortium):
    sizes = [600, 1000, 3001, 7]
    released = [60, 333, 3001, 1]
    c = consortium(4, sizes=sizes, released=released, close=False, model_size=140_106,
                   max_sharing_numerator=1, max_sharing_denominator=1)
    c[2].close_registration()  # full registry: closes before the deadline
    n = 4
    expected = [u * 140_106 * (n - 1) // d for u, d in zip(released, sizes, strict=True)]
    assert expected == [42031, 139965, 420318, 60045]
    got = [c[0].points_of(a).balance for a in c.addresses]
    assert got == expected
    assert c[0].total_points() == sum(expected)
    assert c[0].credible_parties() == tuple(c.addresses)
    assert c[0].registration_closed()
    with pytest.raises(errors.WrongPhase):
        c[0].with_account(c.accounts[0]).register(KEY, 10, 1, digest(9))
