"""Message commitments, typed events, error decoding and the binding's plumbing."""

from __future__ import annotations

import re
import socket
import threading
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import keccak
from web3 import HTTPProvider, Web3

from client.chain import errors
from client.chain.compile import load_artifact
from client.chain.ledger import Ledger, ReadOnlyLedger, connect
from client.chain.records import PartyStatus, Phase, RequestStatus, ThresholdMode

from .conftest import digest

REPO = Path(__file__).resolve().parents[2]
BATCH = ["bytes32", "address[]", "bytes32[]"]


def test_commit_messages_chains_and_events(consortium):
    c = consortium(3)
    labels = c[0].message_kind("labels")
    recovery = c[0].message_kind("recovery")
    assert {labels, recovery, c[0].message_kind("evaluation")} == {1, 2, 3}
    # The double-masking flow's kinds: a receiver's receipt and a neighbour's unmask share.
    kinds = c[0].message_kinds()
    assert kinds == {"labels": 1, "recovery": 2, "evaluation": 3, "receipt": 4, "unmask": 5}
    for kind in (kinds["receipt"], kinds["unmask"]):
        c[1].commit_messages(0, kind, [c.addresses[0]], [digest(kind)])
        assert c[0].message_commitments(kind=kind)[0].sender == c.addresses[1]
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
        c[0].commit_messages(0, 6, [c.addresses[1]], [digest(0)])
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


def test_unreachable_node_is_chain_unavailable(fresh_ledger):
    with pytest.raises(errors.ChainUnavailable) as info:
        Ledger(connect("http://127.0.0.1:9"), "0x" + "11" * 20)
    assert isinstance(info.value, ConnectionError) and isinstance(info.value, errors.LedgerError)
    assert "127.0.0.1:9" in str(info.value) and "\n" not in str(info.value)
    # A node that accepts the connection but never answers: a timeout, same error.
    ledger = fresh_ledger()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        stuck = Ledger.__new__(Ledger)
        stuck.__dict__.update(ledger.__dict__)
        # No retries with backoff (web3's default), so the test takes a second, not ten.
        stuck.w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 0.5},
                                     exception_retry_configuration=None))
        stuck.contract = stuck.w3.eth.contract(address=ledger.address, abi=ledger.contract.abi)
        with pytest.raises(errors.ChainUnavailable, match="ReadTimeout"):
            stuck.phase()
        with pytest.raises(errors.ChainUnavailable):
            stuck.block_number()
        with pytest.raises(errors.ChainUnavailable):
            list(stuck.events())


def test_address_that_is_not_a_ledger(fresh_ledger, dev_accounts, helper_contracts):
    ledger = fresh_ledger()
    eoa = Ledger(ledger.w3, dev_accounts[7].address)
    with pytest.raises(errors.NotALedger, match="no contract code"):
        eoa.check()
    with pytest.raises(errors.NotALedger) as info:
        eoa.phase()  # empty return data: web3's BadFunctionCallOutput
    assert isinstance(info.value, ValueError)
    assert str(info.value) == f"{dev_accounts[7].address} is not a ConsortiumLedger on this chain"
    silent = helper_contracts.deploy(ledger.w3, dev_accounts[7], "Silent")
    other = Ledger(ledger.w3, silent.address)
    with pytest.raises(errors.NotALedger):
        other.check()
    with pytest.raises(errors.NotALedger):
        other.total_points()
    assert ledger.check() == ledger.parameters()


def test_event_iterator_replays_everything_in_order(consortium, dev_accounts):
    c = consortium(3, start=True, first_account=10)
    c.full_round(amount=5)
    events = list(c[0].events())
    names = [e.name for e in events]
    assert set(names) <= set(c[0].event_names())
    assert names[0] == "LedgerDeployed"
    assert names.count("PartyRegistered") == 3 and names.count("PointsMinted") == 3
    assert names.count("DownloadRequested") == 3 and names.count("CiphertextsUploaded") == 3
    positions = [(e.meta.block_number, e.meta.log_index) for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    (deployed,) = [e for e in events if e.name == "LedgerDeployed"]
    assert deployed.args["params"]["modelSize"] == c[0].parameters().model_size
    upload = next(e for e in events if e.name == "CiphertextsUploaded")
    assert isinstance(upload.args["digests"], tuple)
    assert isinstance(upload.args["digests"][0], bytes)
    assert upload.args["pending"] == 10
    minted = sum(e.args["amount"] for e in events if e.name == "PointsMinted")
    assert minted == c[0].total_points()
    # Small log windows give the same stream; a window past the head gives nothing.
    start = events[0].meta.block_number
    assert [e.meta for e in c[0].events(start, chunk_blocks=1)] == [e.meta for e in events]
    assert list(c[0].events(c[0].block_number() + 1)) == []
    with pytest.raises(ValueError):
        list(c[0].events(chunk_blocks=0))
