"""Rounds: DOWNLOAD escrow, UPLOAD payment, phases, deadlines, closing and escrow release."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from client.chain import errors
from client.chain.records import Phase, RequestStatus

from .conftest import digest

UPLOAD_CHAIN = ["bytes32", "uint64", "address[]", "bytes32[]"]


def _conserved(c) -> None:
    assert c.held() == c[0].total_points()


def test_benchmarking_epoch_closes_on_unanimity(consortium):
    c = consortium(3)
    assert c[0].phase() is Phase.BENCHMARKING and c[0].current_round() == 0
    c[0].close_round()
    c[1].close_round()
    with pytest.raises(errors.AlreadyVoted) as info:
        c[1].close_round()
    assert info.value.round == 0
    assert c[0].round_progress(0).votes == 2
    c[2].close_round()
    assert c[0].current_round() == 1 and c[0].phase() is Phase.REQUEST
    (opened,) = c[0].rounds_opened()
    deadlines = c[0].round_deadlines(1)
    assert opened.request_deadline == deadlines.request_deadline
    p = c[0].parameters()
    assert deadlines.upload_deadline == deadlines.request_deadline + p.upload_blocks
    assert deadlines.settle_deadline == deadlines.upload_deadline + p.settle_blocks


def test_happy_round_moves_escrow_to_uploaders(consortium):
    c = consortium(4, start=True)
    before = [c[0].points_of(a).balance for a in c.addresses]
    for i in range(4):
        assert c[0].phase() is Phase.REQUEST
        c[i].request_downloads(c.others(i), [10 + i, 20 + i, 30 + i])
        _conserved(c)
    assert c[0].phase() is Phase.UPLOAD  # ended early: every credible party requested
    assert c[0].points_of(c.addresses[1]).escrowed == 11 + 21 + 31
    assert c[0].request_state(1, c.addresses[0], c.addresses[1]).status is RequestStatus.OPEN
    (req,) = c[0].download_requests(round_number=1, requester=c.addresses[2])
    assert req.uploaders == tuple(c.others(2)) and req.amounts == (12, 22, 32)
    for i in range(4):
        digests = [digest(10 * i + j) for j in range(3)]
        c[i].upload_ciphertexts(c.others(i), digests)
        assert c[0].upload_accumulator(c.addresses[i]) == keccak(
            encode(UPLOAD_CHAIN, [b"\x00" * 32, 1, c.others(i), digests])
        )
        _conserved(c)
    assert c[0].phase() is Phase.SETTLE
    after = [c[0].points_of(a) for a in c.addresses]
    assert all(p.escrowed == 0 for p in after)
    # Party i paid 10+i, 20+i, 30+i and earned from each other party j an amount by position.
    for i in range(4):
        paid = (10 + i) + (20 + i) + (30 + i)
        earned = 0
        for j in range(4):
            if j != i:
                pos = c.others(j).index(c.addresses[i])
                earned += (10, 20, 30)[pos] + j
        # The payment is pending until the round (its dispute window) closes.
        assert after[i].balance == before[i] - paid
        assert (after[i].pending, after[i].releasable) == (earned, 0)
    state = c[0].request_state(1, c.addresses[0], c.addresses[1])
    assert (state.amount, state.status) == (10, RequestStatus.FULFILLED)
    ups = c[0].uploads(round_number=1)
    assert [u.uploader for u in ups] == c.addresses
    assert [u.pending for u in ups] == [after[i].pending for i in range(4)]
    for ledger in c.ledgers:
        ledger.close_round()
    assert c[0].current_round() == 2 and c[0].phase() is Phase.REQUEST
    # Window closed without claims: releasable now, credited by the next DOWNLOAD itself.
    for i in range(4):
        p = c[0].points_of(c.addresses[i])
        assert p.releasable == after[i].pending and p.spendable == p.balance + p.pending
    c[1].request_downloads([c.addresses[0], c.addresses[2]], [1, 1])
    credited = [e.args for e in c[0].events() if e.name == "PaymentCredited"]
    assert credited == [{"uploader": c.addresses[1], "round": 1, "amount": after[1].pending}]
    p1 = c[0].points_of(c.addresses[1])
    assert (p1.pending, p1.balance) == (0, after[1].balance + after[1].pending - 2)
    _conserved(c)


def test_request_reverts(consortium, dev_accounts):
    c = consortium(4, max_parties=5)
    me, others = c[0], c.others(0)
    with pytest.raises(errors.WrongPhase) as info:
        me.request_downloads(others, [1, 1, 1])
    assert (info.value.expected, info.value.actual) == (Phase.REQUEST, Phase.BENCHMARKING)
    c.start_round()
    outsider = me.with_account(dev_accounts[35])
    with pytest.raises(errors.NotCredible):
        outsider.request_downloads(others, [1, 1, 1])
    with pytest.raises(errors.LengthMismatch) as lm:
        me.request_downloads(others, [1, 1])
    assert (lm.value.first, lm.value.second) == (3, 2)
    with pytest.raises(errors.TooManyEntries) as tm:
        me.request_downloads(others * 2, [1] * 6)
    assert (tm.value.count, tm.value.maxEntries) == (6, 5)
    with pytest.raises(errors.SelfReference):
        me.request_downloads([c.addresses[0]], [1])
    with pytest.raises(errors.ZeroAmount) as za:
        me.request_downloads(others, [1, 0, 1])
    assert za.value.uploader == others[1]
    with pytest.raises(errors.NotCredible) as nc:
        me.request_downloads([dev_accounts[35].address], [1])
    assert nc.value.party == dev_accounts[35].address
    with pytest.raises(errors.DuplicateEntry) as dup:
        me.request_downloads([others[0], others[1], others[0]], [1, 1, 1])
    assert dup.value.party == others[0]
    balance = me.points_of(c.addresses[0]).balance
    with pytest.raises(errors.InsufficientPoints) as ip:
        me.request_downloads(others, [balance, 1, 1])
    assert (ip.value.available, ip.value.needed) == (balance, balance + 2)
    with pytest.raises(errors.InsufficientPoints):
        me.request_downloads(others[:1], [2**63])
    me.request_downloads(others, [balance - 2, 1, 1])
    assert me.points_of(c.addresses[0]).balance == 0
    with pytest.raises(errors.AlreadyRequested) as ar:
        me.request_downloads([], [])
    assert (ar.value.party, ar.value.round) == (c.addresses[0], 1)


def test_upload_reverts(consortium, dev_accounts):
    c = consortium(4, start=True)
    a, b = c.addresses[0], c.addresses[1]
    c[0].request_downloads([b], [5])
    with pytest.raises(errors.WrongPhase):
        c[1].upload_ciphertexts([a], [digest(0)])
    c[1].request_downloads([], [])
    c[2].request_downloads([b], [7])
    c[3].request_downloads([a], [2])
    assert c[0].phase() is Phase.UPLOAD
    assert c[0].round_progress(1).uploaders_expected == 2
    with pytest.raises(errors.NothingRequested) as nr:
        c[2].upload_ciphertexts([b], [digest(0)])
    assert nr.value.uploader == c.addresses[2]
    with pytest.raises(errors.NotCredible):
        c[0].with_account(dev_accounts[35]).upload_ciphertexts([a], [digest(0)])
    with pytest.raises(errors.LengthMismatch):
        c[1].upload_ciphertexts([a], [])
    with pytest.raises(errors.TooManyEntries):
        c[1].upload_ciphertexts([a] * 5, [digest(0)] * 5)
    with pytest.raises(errors.ZeroDigest):
        c[1].upload_ciphertexts([a], [b"\x00" * 32])
    with pytest.raises(errors.RequestNotOpen) as rno:
        c[1].upload_ciphertexts([c.addresses[3]], [digest(0)])
    assert (rno.value.round, rno.value.requester, rno.value.uploader) == (1, c.addresses[3], b)
    with pytest.raises(errors.RequestNotOpen):  # the same request twice in one UPLOAD
        c[1].upload_ciphertexts([a, a], [digest(0), digest(1)])
    with pytest.raises(errors.RequestNotOpen):  # an outsider never requested anything
        c[1].upload_ciphertexts([dev_accounts[35].address], [digest(0)])
    # Serving only one of two requests: the other stays open and is refunded later.
    c[1].upload_ciphertexts([a], [digest(0)])
    with pytest.raises(errors.AlreadyUploaded):
        c[1].upload_ciphertexts([c.addresses[2]], [digest(1)])
    assert c[0].phase() is Phase.UPLOAD
    c[0].upload_ciphertexts([c.addresses[3]], [digest(2)])
    assert c[0].phase() is Phase.SETTLE
    assert c[0].points_of(c.addresses[2]).escrowed == 7
    assert c[0].request_state(1, c.addresses[2], b).status is RequestStatus.OPEN


def test_deadlines_skip_silent_parties_and_release_escrow(consortium, anvil, dev_accounts):
    c = consortium(4, start=True, request_blocks=5, upload_blocks=5, settle_blocks=5)
    a, b = c.addresses[0], c.addresses[1]
    start = c[0].points_of(a).balance
    c[0].request_downloads([b, c.addresses[2]], [5, 6])
    c[2].request_downloads([a], [3])
    assert c[0].phase() is Phase.REQUEST  # two parties are silent
    d = c[0].round_deadlines(1)
    anvil.mine(d.request_deadline - c[0].block_number())
    assert c[0].phase() is Phase.UPLOAD
    with pytest.raises(errors.WrongPhase):
        c[1].request_downloads([a], [1])
    c[2].upload_ciphertexts([a], [digest(0)])  # b stays silent
    with pytest.raises(errors.WrongPhase):
        c[0].close_round()
    anvil.mine(d.upload_deadline - c[0].block_number())
    assert c[0].phase() is Phase.SETTLE
    with pytest.raises(errors.WrongPhase):
        c[1].upload_ciphertexts([a], [digest(0)])
    c[3].close_round()  # one vote, before the deadline: the round stays open
    assert c[0].current_round() == 1
    with pytest.raises(errors.NothingToSettle):
        c[0].settle(a)  # round 1 escrow is not releasable before the round closes
    with pytest.raises(errors.NothingToSettle):
        c[0].settle(c.addresses[2])  # nor is round 1's pending payment
    anvil.mine(d.settle_deadline - c[0].block_number())
    c[3].close_round()  # a second call by the same member closes it after the deadline
    assert c[0].current_round() == 2
    assert c[0].points_of(a).releasable == 5
    with pytest.raises(errors.NotRegistered):
        c[0].settle(dev_accounts[35].address)
    c[3].with_account(dev_accounts[35]).settle(a)  # anyone may settle
    # a paid 6 for the served request; the 5 escrowed for silent b came back.
    assert c[0].points_of(a).escrowed == 0
    assert c[0].points_of(a).balance == start - 6
    # c[2]'s request to a was never served: its 3 points are releasable too, with the 6 it
    # earned from a, whose window closed with the round.
    assert c[0].points_of(c.addresses[2]).releasable == 3 + 6
    c[0].release_escrow(c.addresses[2])  # the former name still works
    assert c[0].points_of(c.addresses[2]).pending == 0
    with pytest.raises(errors.NothingToSettle):
        c[0].settle(a)
    _conserved(c)


def test_next_request_releases_escrow_lazily(consortium):
    c = consortium(3, start=True)
    a, b, x = c.addresses
    c[0].request_downloads([b], [9])
    c[1].request_downloads([], [])
    c[2].request_downloads([], [])
    c[1].upload_ciphertexts([], [])  # b declines: its turn is used, the request stays open
    assert c[0].phase() is Phase.SETTLE
    c.start_round()
    before = c[0].points_of(a)
    assert (before.escrowed, before.releasable) == (9, 9)
    c[0].request_downloads([x], [4])
    after = c[0].points_of(a)
    assert (after.balance, after.escrowed) == (before.balance + 9 - 4, 4)
    _conserved(c)


def test_empty_round_goes_straight_to_settle(consortium):
    c = consortium(2, start=True)
    c[0].request_downloads([], [])
    c[1].request_downloads([], [])
    assert c[0].phase() is Phase.SETTLE
    c.start_round()
    assert c[0].current_round() == 2


def test_close_round_during_request_is_wrong_phase(consortium):
    c = consortium(2, start=True)
    with pytest.raises(errors.WrongPhase) as info:
        c[0].close_round()
    assert (info.value.expected, info.value.actual) == (Phase.SETTLE, Phase.REQUEST)


def test_upload_accumulator_chains_across_rounds(consortium):
    c = consortium(2, start=True)
    a, b = c.addresses
    acc = b"\x00" * 32
    for round_number in (1, 2):
        c[0].request_downloads([b], [3])
        c[1].request_downloads([a], [4])
        c[1].upload_ciphertexts([a], [digest(round_number)])
        c[0].upload_ciphertexts([b], [digest(10 + round_number)])
        acc = keccak(encode(UPLOAD_CHAIN, [acc, round_number, [a], [digest(round_number)]]))
        assert c[0].upload_accumulator(b) == acc
        (event,) = c[0].uploads(round_number=round_number, uploader=b)
        assert event.digests == (digest(round_number),)
        c.start_round()
