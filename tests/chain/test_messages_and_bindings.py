"""Message commitments, typed events, error decoding and the binding's plumbing."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import keccak

from client.chain import errors
from client.chain.compile import load_artifact
from client.chain.ledger import Ledger, ReadOnlyLedger
from client.chain.records import PartyStatus, Phase, RequestStatus, ThresholdMode

from .conftest import digest

REPO = Path(__file__).resolve().parents[2]
BATCH = ["bytes32", "address[]", "bytes32[]"]


def test_commit_messages_chains_and_events(consortium):
    c = consortium(3)
    labels = c[0].message_kind("labels")
    recovery = c[0].message_kind("recovery")
    assert {labels, recovery, c[0].message_kind("evaluation")} == {1, 2, 3}
    recipients, digests = c.others(0), [digest(1), digest(2)]
    c[0].commit_messages(0, labels, recipients, digests)
    first = keccak(encode(BATCH, [b"\x00" * 32, recipients, digests]))
    assert c[0].message_accumulator(0, labels, c.addresses[0]) == first
    c[0].commit_messages(0, labels, recipients[:1], digests[:1])
    second = keccak(encode(BATCH, [first, recipients[:1], digests[:1]]))
    assert c[0].message_accumulator(0, labels, c.addresses[0]) == second
    assert c[0].message_accumulator(0, recovery, c.addresses[0]) == b"\x00" * 32
    events = c[0].message_commitments(epoch=0, kind=labels, sender=c.addresses[0])
    assert [e.accumulator for e in events] == [first, second]
    assert events[0].recipients == tuple(recipients) and events[0].digests == tuple(digests)
    assert c[0].message_commitments(kind=recovery) == []


def test_commit_messages_reverts(consortium, dev_accounts):
    c = consortium(3, close=False)
    with pytest.raises(errors.WrongPhase):
        c[0].commit_messages(0, 1, [c.addresses[1]], [digest(0)])
    c[0].close_registration()
    with pytest.raises(errors.UnknownMessageKind) as uk:
        c[0].commit_messages(0, 0, [c.addresses[1]], [digest(0)])
    assert uk.value.kind == 0
    with pytest.raises(errors.UnknownMessageKind):
        c[0].commit_messages(0, 4, [c.addresses[1]], [digest(0)])
    with pytest.raises(errors.FutureEpoch):
        c[0].commit_messages(5, 1, [c.addresses[1]], [digest(0)])
    with pytest.raises(errors.LengthMismatch):
        c[0].commit_messages(0, 1, [c.addresses[1]], [])
    with pytest.raises(errors.TooManyEntries):
        c[0].commit_messages(0, 1, [c.addresses[1]] * 4, [digest(0)] * 4)
    with pytest.raises(errors.NotRegistered):
        c[0].commit_messages(0, 1, [dev_accounts[35].address], [digest(0)])
    with pytest.raises(errors.ZeroDigest):
        c[0].commit_messages(0, 1, [c.addresses[1]], [b"\x00" * 32])
    with pytest.raises(errors.NotCredible):
        c[0].with_account(dev_accounts[35]).commit_messages(0, 1, [c.addresses[1]], [digest(0)])


def test_every_abi_error_has_a_named_class():
    abi = load_artifact("ConsortiumLedger").abi
    names = {e["name"] for e in abi if e["type"] == "error"}
    classes = errors.ledger_error_classes()
    assert set(classes) == names and len(names) >= 25
    for name in names:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ContractRevert) and issubclass(cls, errors.LedgerError)
    with pytest.raises(AttributeError):
        errors.NoSuchError  # noqa: B018


def test_decode_revert_fallbacks():
    assert isinstance(errors.decode_revert(b""), errors.TransactionFailed)
    unknown = errors.decode_revert(b"\xde\xad\xbe\xef")
    assert isinstance(unknown, errors.TransactionFailed) and "deadbeef" in str(unknown)
    reason = keccak(text="Error(string)")[:4] + encode(["string"], ["boom"])
    assert "boom" in str(errors.decode_revert(reason))
    panic = keccak(text="Panic(uint256)")[:4] + encode(["uint256"], [0x11])
    assert "0x11" in str(errors.decode_revert(panic))


def test_python_enums_mirror_solidity():
    source = (REPO / "contracts" / "IConsortiumLedger.sol").read_text()

    def members(enum: str) -> list[str]:
        body = re.search(rf"enum {enum} \{{([^}}]*)\}}", source)
        assert body is not None
        return [m.strip() for m in body.group(1).split(",") if m.strip()]

    def snake(name: str) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()

    assert [snake(m) for m in members("Phase")] == [p.name for p in Phase]
    assert [snake(m) for m in members("Status")] == [p.name for p in PartyStatus]
    assert [snake(m) for m in members("RequestStatus")] == [p.name for p in RequestStatus]


def test_threshold_mode_constants_match_contract(fresh_ledger):
    ledger = fresh_ledger()
    assert ledger._call(ledger.contract.functions.THRESHOLD_PAPER()) == ThresholdMode.PAPER
    assert ledger._call(ledger.contract.functions.THRESHOLD_AUTHORS()) == ThresholdMode.AUTHORS


def test_read_only_ledger_refuses_to_transact(fresh_ledger):
    ledger = fresh_ledger()
    auditor = Ledger(ledger.w3, ledger.address)
    assert auditor.phase() is Phase.REGISTRATION
    with pytest.raises(ReadOnlyLedger):
        auditor.close_registration()
    with pytest.raises(ReadOnlyLedger):
        _ = auditor.sender


def test_concurrent_ledgers_of_one_account_get_distinct_nonces(consortium):
    c = consortium(3)
    handles = [c[0].with_account(c.accounts[0]) for _ in range(6)]
    failures: list[BaseException] = []

    def commit(i: int) -> None:
        try:
            handles[i].commit_messages(0, 3, [c.addresses[1]], [digest(100 + i)])
        except BaseException as exc:  # surfaced by the assert below
            failures.append(exc)

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    events = c[0].message_commitments(epoch=0, kind=3)
    assert sorted(e.digests[0] for e in events) == [digest(100 + i) for i in range(6)]


def test_party_info_of_removed_party(consortium):
    c = consortium(3)
    c[0].report_low_quality(0, [c.addresses[2]])
    c[1].report_low_quality(0, [c.addresses[2]])
    assert c[0].party_info(c.addresses[2]).status is PartyStatus.REMOVED
