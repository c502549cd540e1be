"""The replay's rule checks: the honest run's real events, each altered as a lying node would.

The contract never emits an event that breaks its rules, so every check of the replay is
exercised here by replaying the honest run's events with one event changed, dropped or
repeated, and asserting the violation named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from client.audit.chain import iter_events, receipts
from client.audit.checks import compare_state
from client.audit.model import ViolationKind as K
from client.audit.replay import Replay, TxInfo
from client.chain.records import LedgerEvent

from .conftest import Run

Events = list[LedgerEvent]


@pytest.fixture(scope="module")
def honest_events(honest_run: Run) -> tuple[Events, dict[str, TxInfo], list[int]]:
    def bad(block: int, tx: str, detail: str) -> None:
        raise AssertionError(f"honest log refused: {detail}")

    ledger = honest_run.ledger
    events = list(iter_events(ledger, honest_run.from_block, honest_run.last_block, bad))
    infos = receipts(ledger, list(dict.fromkeys(e.meta.tx_hash for e in events)))
    return events, infos, list(ledger.message_kinds().values())


def run(honest_run: Run, events: Events, infos: dict[str, TxInfo], kinds: list[int]) -> Replay:
    replay = Replay(honest_run.ledger.address, kinds)
    for event in events:
        replay.apply(event, infos.get(event.meta.tx_hash))
    replay.end_transaction()
    return replay


def nth(events: Events, name: str, k: int = 0) -> int:
    return [i for i, e in enumerate(events) if e.name == name][k]


def change(name: str, k: int, fn: Callable[[dict[str, Any]], None]) -> Callable[[Events], Events]:
    def mutate(events: Events) -> Events:
        i = nth(events, name, k)
        args = dict(events[i].args)
        fn(args)
        return [*events[:i], replace(events[i], args=args), *events[i + 1 :]]
    return mutate


def drop(name: str, k: int = 0) -> Callable[[Events], Events]:
    def mutate(events: Events) -> Events:
        i = nth(events, name, k)
        return events[:i] + events[i + 1 :]
    return mutate


def repeat(name: str, k: int = 0) -> Callable[[Events], Events]:
    def mutate(events: Events) -> Events:
        i = nth(events, name, k)
        copy = replace(events[i], meta=replace(events[i].meta,
                                               log_index=events[i].meta.log_index + 1000))
        return [*events[: i + 1], copy, *events[i + 1 :]]
    return mutate


def _add(key: str, delta: int) -> Callable[[dict[str, Any]], None]:
    def fn(args: dict[str, Any]) -> None:
        args[key] = args[key] + delta
    return fn


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def fn(args: dict[str, Any]) -> None:
        args[key] = value
    return fn


def _first_amount_up(args: dict[str, Any]) -> None:
    args["amounts"] = (args["amounts"][0] + 1, *args["amounts"][1:])


def _first_digest(args: dict[str, Any]) -> None:
    args["digests"] = (b"\x42" * 32, *args["digests"][1:])


def _fewer_reporters(args: dict[str, Any]) -> None:
    args["reporters"] = args["reporters"][:-1]


def _flip(key: str) -> Callable[[dict[str, Any]], None]:
    def fn(args: dict[str, Any]) -> None:
        args[key] = not args[key]
    return fn


MUTATIONS: list[tuple[str, Callable[[Events], Events], set[K]]] = [
    ("minted one point more", change("PointsMinted", 1, _add("amount", 1)),
     {K.MINTING_MISMATCH, K.CONSERVATION}),
    ("total points announced wrong", change("RegistrationClosed", 0, _add("totalPoints", 7)),
     {K.MINTING_MISMATCH, K.CONSERVATION}),
    ("a request escrows more than it says", change("DownloadRequested", 0, _first_amount_up),
     {K.PAYMENT_MISMATCH}),
    ("an upload pays itself more", change("CiphertextsUploaded", 2, _add("pending", 5)),
     {K.PAYMENT_MISMATCH, K.CONSERVATION}),
    ("a digest differs from the hash chain", change("CiphertextsUploaded", 0, _first_digest),
     {K.ACCUMULATOR_MISMATCH}),
    ("the same UPLOAD twice", repeat("CiphertextsUploaded", 3), {K.UPLOAD_INVALID}),
    ("a credit larger than the pending payment", change("PaymentCredited", 0,
                                                        _add("amount", 3)),
     {K.PAYMENT_MISMATCH, K.CONSERVATION}),
    ("a removal that did not happen", drop("PartyRemoved"), {K.REMOVAL_MISSING}),
    ("a removal without its third report", drop("LowQualityReported", 2),
     {K.REMOVAL_WITHOUT_QUORUM}),
    ("a removal naming fewer reporters", change("PartyRemoved", 0, _fewer_reporters),
     {K.REMOVAL_MISSING}),
    ("a report for another epoch", change("LowQualityReported", 0, _add("epoch", 1)),
     {K.REPORT_INVALID}),
    ("a rejected claim that fines", change("ClaimResolved", 0, _set("fine", 1)),
     {K.VERDICT_MISMATCH}),
    ("a verdict against the majority", change("ClaimResolved", 0, _flip("upheld")),
     {K.VERDICT_MISMATCH}),
    ("a claim on another digest", change("ClaimFiled", 0, _set("digest", b"\x01" * 32)),
     {K.CLAIM_INVALID}),
    ("a round opened with other deadlines", change("RoundOpened", 1,
                                                   _add("uploadDeadline", 1)),
     {K.ROUND_SCHEDULE_MISMATCH}),
    ("an epoch close that never came", drop("RoundClosed", 0), {K.ROUND_SCHEDULE_MISMATCH}),
    ("a registration with the wrong deposit", change("PartyRegistered", 0, _add("deposit", 1)),
     {K.REGISTRATION_INVALID}),
    ("a deposit withdrawn twice", repeat("DepositWithdrawn", 0), {K.DEPOSIT_INVALID}),
    ("an admission vote with another quorum", change("AdmissionVoted", 0, _add("quorum", 1)),
     {K.ADMISSION_INVALID}),
    ("a message batch off its hash chain", change("MessagesCommitted", 0,
                                                  _set("accumulator", b"\x09" * 32)),
     {K.ACCUMULATOR_MISMATCH}),
    ("settings that do not match their digest", change("LedgerDeployed", 0,
                                                       _set("settings", b"other")),
     {K.DEPLOYMENT_INVALID}),
]


def test_honest_events_replay_clean(honest_run: Run, honest_events) -> None:
    replay = run(honest_run, *honest_events)
    assert replay.violations == []
    assert compare_state(honest_run.ledger, replay, honest_run.last_block) == []


@pytest.mark.parametrize("label, mutate, kinds", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_altered_event_is_named(honest_run: Run, honest_events, label: str,
                                     mutate: Callable[[Events], Events], kinds: set[K]) -> None:
    events, infos, message_kinds = honest_events
    replay = run(honest_run, mutate(events), infos, message_kinds)
    found = {v.kind for v in replay.violations}
    assert kinds <= found, (label, [str(v) for v in replay.violations])
    assert all(v.tx and v.block is not None for v in replay.violations)


def test_a_lying_node_shows_in_the_contract_comparison(honest_run: Run, honest_events) -> None:
    events, infos, kinds = honest_events
    replay = run(honest_run, change("PaymentCredited", 0, _add("amount", 3))(events), infos,
                 kinds)
    mismatches = compare_state(honest_run.ledger, replay, honest_run.last_block)
    assert mismatches and {v.kind for v in mismatches} == {K.STATE_MISMATCH}
    assert any(v.detail.startswith("pointsOf(") for v in mismatches)


def test_events_before_the_deployment_are_history_incomplete(honest_run: Run,
                                                             honest_events) -> None:
    events, infos, kinds = honest_events
    replay = run(honest_run, events[1:], infos, kinds)
    assert replay.params is None
    assert {v.kind for v in replay.violations} == {K.HISTORY_INCOMPLETE}


def test_undecodable_logs_are_named_not_raised(honest_run: Run) -> None:
    ledger = honest_run.ledger
    bad: list[str] = []
    real = ledger.w3.eth.get_logs({"address": ledger.address,
                                   "fromBlock": honest_run.from_block,
                                   "toBlock": honest_run.from_block})
    assert real, "the deployment block has the ledger's first logs"
    forged = [dict(real[0], data=b"\x00"), dict(real[0], topics=[b"\x01" * 32]),
              dict(real[0], address="0x" + "11" * 20), dict(real[0], blockNumber=None)]

    class FakeEth:
        def get_logs(self, _query: Any) -> list[Any]:
            return forged

    class FakeW3:
        eth = FakeEth()
        provider = ledger.w3.provider

    class FakeLedger:
        address = ledger.address
        contract = ledger.contract
        w3 = FakeW3()

    block = int(real[0]["blockNumber"])
    events = list(iter_events(FakeLedger(), block, block,  # type: ignore[arg-type]
                              lambda b, t, d: bad.append(d)))
    assert events == [] and len(bad) == 4
    assert any("undecodable" in d for d in bad) and any("another address" in d for d in bad), bad
