"""Payments after the dispute window, claims with deposits, verdicts, deadlines and fines.

Issue 15's first reproduction (uploaders paid for garbage) and issue 14's fourth (a requester
removed mid-round breaks the honest uploaders' batch) live here: both fail on the old ledger.
"""

from __future__ import annotations

import pytest
from web3.exceptions import ContractLogicError

from client.chain import errors
from client.chain.compile import load_artifact
from client.chain.records import (
    ClaimKind,
    ClaimResolution,
    ClaimState,
    PartyStatus,
    Phase,
    RequestStatus,
)

from .conftest import digest

AMOUNT = 50
DEPOSIT = 100
PHASES = {"request_blocks": 10, "upload_blocks": 30, "settle_blocks": 60,
          "response_blocks": 6, "vote_blocks": 8, "retention_blocks": 20,
          "claim_deposit": DEPOSIT}


def _round(c, amount: int = AMOUNT) -> None:
    """Every party requests `amount` from every other and serves every request; each digest
    names (uploader, requester), so a claim's recorded digest can be checked."""
    n = len(c.ledgers)
    for i, ledger in enumerate(c.ledgers):
        ledger.request_downloads(c.others(i), [amount] * (n - 1))
    for i, ledger in enumerate(c.ledgers):
        ledger.upload_ciphertexts(c.others(i), [_digest(i, j) for j in _other_ids(c, i)])
    assert c[0].phase() is Phase.SETTLE


def _digest(uploader: int, requester: int) -> bytes:
    return digest(100 * (uploader + 1) + requester)


def _other_ids(c, i: int) -> list[int]:
    return [j for j in range(len(c.ledgers)) if j != i]


def _conserved(c) -> None:
    assert c.held() == c[0].total_points()


def _mine_to(c, anvil, block: int) -> None:
    anvil.mine(max(0, block - c[0].block_number()))


@pytest.fixture
def claims(consortium):
    """A 4-party consortium in round 1's Settle phase after one full round."""

    def make(n: int = 4, **overrides):
        c = consortium(n, start=True, **{**PHASES, **overrides})
        _round(c)
        return c

    return make


def test_payment_stays_pending_until_the_window_closes(claims):
    c = claims()
    a = c.addresses[0]
    p = c[0].points_of(a)
    assert (p.pending, p.releasable, p.disputed, p.deposited) == (3 * AMOUNT, 0, 0, 0)
    with pytest.raises(errors.NothingToSettle):
        c[1].settle(a)
    c.start_round()
    p = c[0].points_of(a)
    assert (p.pending, p.releasable) == (3 * AMOUNT, 3 * AMOUNT)
    before = p.balance
    c[0].request_downloads([], [])  # the credit needs no transaction of its own
    assert c[0].points_of(a).balance == before + 3 * AMOUNT
    (credit,) = [e for e in c[0].events() if e.name == "PaymentCredited"]
    assert credit.args == {"uploader": a, "round": 1, "amount": 3 * AMOUNT}
    _conserved(c)


def test_garbage_upload_is_refunded_and_fined(claims, dev_accounts, anvil):
    # Issue 15, finding 1: an uploader committed a digest of nothing stored and was paid.
    c = claims()
    requester, cheat = c.addresses[0], c.addresses[1]
    before_r = c[0].points_of(requester)
    before_u = c[0].points_of(cheat)
    claim_id = c[0].file_claim(1, cheat, ClaimKind.MISSING)
    assert claim_id == 1 and c[0].claim_count() == 1
    assert c[0].claim_of(1, requester, cheat) == claim_id
    info = c[0].claim(claim_id)
    assert (info.requester, info.uploader, info.round, info.kind, info.state) == (
        requester, cheat, 1, ClaimKind.MISSING, ClaimState.FILED)
    assert info.amount == AMOUNT and info.digest == _digest(1, 0)  # the committed one
    assert c[0].request_state(1, requester, cheat).status is RequestStatus.DISPUTED
    (filed,) = c[0].claims_filed()
    assert (filed.claim_id, filed.deposit, filed.response_deadline) == (
        1, DEPOSIT, info.response_deadline)
    assert info.vote_deadline == info.response_deadline + PHASES["vote_blocks"]
    r, u = c[0].points_of(requester), c[0].points_of(cheat)
    assert (r.balance, r.deposited) == (before_r.balance - DEPOSIT, DEPOSIT)
    assert (u.pending, u.disputed) == (before_u.pending - AMOUNT, AMOUNT)
    _conserved(c)
    with pytest.raises(errors.ClaimNotResolvable) as early:
        c[2].resolve_claim(claim_id)
    assert early.value.deadline == info.response_deadline
    _mine_to(c, anvil, info.response_deadline)
    outsider = c[0].with_account(dev_accounts[35])
    outsider.resolve_claim(claim_id)  # anyone may resolve a silent uploader's claim
    (verdict,) = c[0].claim_verdicts()
    assert verdict.upheld and verdict.cause is ClaimResolution.SILENCE
    assert (verdict.payment, verdict.deposit, verdict.fine) == (AMOUNT, DEPOSIT, DEPOSIT)
    assert c[0].claim(claim_id).state is ClaimState.UPHELD
    r, u = c[0].points_of(requester), c[0].points_of(cheat)
    assert r.balance == before_r.balance + AMOUNT + DEPOSIT and r.deposited == 0
    assert u.balance == before_u.balance - DEPOSIT and u.disputed == 0
    assert u.pending == before_u.pending - AMOUNT
    # The upheld claim is the requester's report of the cheat for round 1.
    (counted,) = [e for e in c[0].events() if e.name == "ClaimCountedAsReport"]
    assert counted.args == {"claimId": 1, "epoch": 1, "reporter": requester, "suspect": cheat}
    assert c[0].has_reported(1, cheat, requester)
    assert c[0].credible_report_count(1, cheat) == 1
    c[0].report_low_quality(1, [c.addresses[2], cheat])  # already counted: skipped, no revert
    assert c[0].reporters_of(1, cheat) == (requester,)
    assert c[0].has_reported(1, c.addresses[2], requester)
    with pytest.raises(errors.AlreadyReported):  # an explicit report twice still reverts
        c[0].report_low_quality(1, [c.addresses[2]])
    _conserved(c)


def test_one_bad_envelope_never_costs_the_others(claims):
    # Issue 15, finding 1: one flipped byte made the receiver throw away (and pay for) all.
    c = claims()
    requester = c.addresses[0]
    c[0].file_claim(1, c.addresses[1], ClaimKind.UNDECRYPTABLE)
    for j in (2, 3):
        assert c[0].request_state(1, requester, c.addresses[j]).status is RequestStatus.FULFILLED
    pending = {a: c[0].points_of(a).pending for a in c.addresses}
    c.start_round()
    for j in (2, 3):  # the other uploaders are paid in full when the window closes
        assert c[0].points_of(c.addresses[j]).releasable == pending[c.addresses[j]]
    u = c[0].points_of(c.addresses[1])
    assert (u.releasable, u.disputed) == (pending[c.addresses[1]], AMOUNT)
    _conserved(c)


def test_revealed_key_and_false_claim_forfeits_the_deposit(claims):
    c = claims()
    requester, uploader = c.addresses[0], c.addresses[1]
    claim_id = c[0].file_claim(1, uploader, ClaimKind.UNDECRYPTABLE)
    key = bytes(range(100, 132))
    with pytest.raises(ValueError):
        c[1].reveal_key(claim_id, key[:31])
    c[1].reveal_key(claim_id, key)
    info = c[0].claim(claim_id)
    assert info.state is ClaimState.ANSWERED and info.revealed_key == key
    (answered,) = [e for e in c[0].events() if e.name == "ClaimAnswered"]
    assert answered.args == {"claimId": claim_id, "uploader": uploader, "revealedKey": key}
    before_u = c[0].points_of(uploader)
    assert c[0].claim_tally(claim_id).eligible == 2
    c[2].vote_on_claim(claim_id, False)
    assert c[0].claim(claim_id).state is ClaimState.ANSWERED  # 1 of 2 eligible: no majority
    assert c[0].claim_vote(claim_id, c.addresses[2]) is False
    assert c[0].claim_vote(claim_id, c.addresses[3]) is None
    c[3].vote_on_claim(claim_id, False)
    (verdict,) = c[0].claim_verdicts()
    assert not verdict.upheld and verdict.cause is ClaimResolution.VOTES and verdict.fine == 0
    u = c[0].points_of(uploader)
    assert u.balance == before_u.balance + AMOUNT + DEPOSIT and u.disputed == 0
    assert c[0].points_of(requester).deposited == 0
    assert not c[0].has_reported(1, uploader, requester)  # a false claim reports nobody
    _conserved(c)


def test_true_claim_by_votes_fines_from_the_balance_only(claims):
    c = claims(5)
    uploader = c.addresses[1]
    claim_id = c[0].file_claim(1, uploader, ClaimKind.MALFORMED)
    c[1].reveal_key(claim_id, b"\x01" * 32)
    assert c[0].claim_tally(claim_id).eligible == 3
    c[2].vote_on_claim(claim_id, True)
    c[3].vote_on_claim(claim_id, False)
    pending = c[0].points_of(uploader).pending
    c[4].vote_on_claim(claim_id, True)  # 2 of 3: majority
    (verdict,) = c[0].claim_verdicts()
    assert verdict.upheld and verdict.cause is ClaimResolution.VOTES
    assert c[0].points_of(uploader).pending == pending  # this round's pending is never fined
    _conserved(c)


def test_vote_deadline_counts_cast_votes_of_credible_voters(claims, anvil):
    c = claims(5)
    first = c[0].file_claim(1, c.addresses[1], ClaimKind.MALFORMED)
    second = c[0].file_claim(1, c.addresses[2], ClaimKind.MISSING)
    c[1].reveal_key(first, b"\x02" * 32)
    c[2].declare_republished(second)
    assert c[0].claim(second).revealed_key == bytes(32)
    c[3].vote_on_claim(first, True)  # 1 of 3 eligible: not yet a majority
    with pytest.raises(errors.ClaimNotResolvable):
        c[0].resolve_claim(first)
    _mine_to(c, anvil, c[0].claim(first).vote_deadline)
    with pytest.raises(errors.ClaimDeadlinePassed):
        c[4].vote_on_claim(first, False)
    c[4].resolve_claim(first)
    c[4].resolve_claim(second)  # answered, nobody voted: the claim is not upheld
    upheld = {v.claim_id: (v.upheld, v.cause) for v in c[0].claim_verdicts()}
    assert upheld == {first: (True, ClaimResolution.DEADLINE),
                      second: (False, ClaimResolution.DEADLINE)}
    _conserved(c)


def test_concessions(claims):
    c = claims()
    withdrawn = c[0].file_claim(1, c.addresses[1], ClaimKind.MISSING)
    admitted = c[0].file_claim(1, c.addresses[2], ClaimKind.UNDECRYPTABLE)
    with pytest.raises(errors.NotClaimSide):
        c[3].concede_claim(withdrawn)
    c[0].concede_claim(withdrawn)  # the requester gives up: rejected, deposit forfeited
    c[2].reveal_key(admitted, b"\x03" * 32)
    c[2].concede_claim(admitted)  # the uploader admits: upheld
    verdicts = {v.claim_id: (v.upheld, v.cause) for v in c[0].claim_verdicts()}
    assert verdicts == {withdrawn: (False, ClaimResolution.CONCESSION),
                        admitted: (True, ClaimResolution.CONCESSION)}
    with pytest.raises(errors.WrongClaimState) as done:
        c[0].concede_claim(withdrawn)
    assert done.value.actual == ClaimState.REJECTED
    _conserved(c)


def test_fine_is_capped_by_what_the_uploader_holds(consortium, anvil):
    c = consortium(3, start=True, **PHASES)
    a, b, x = c.addresses
    spend = c[0].points_of(b).balance
    c[1].request_downloads([a], [spend])  # b escrows everything it has
    c[0].request_downloads([b], [AMOUNT])
    c[2].request_downloads([], [])
    c[1].upload_ciphertexts([a], [digest(1)])
    c[0].upload_ciphertexts([b], [digest(2)])
    assert c[0].points_of(b).balance == 0
    claim_id = c[0].file_claim(1, b, ClaimKind.MISSING)
    _mine_to(c, anvil, c[0].claim(claim_id).response_deadline)
    c[2].resolve_claim(claim_id)
    (verdict,) = c[0].claim_verdicts()
    assert verdict.upheld and verdict.fine == 0  # nothing to take: capped, not reverted
    _conserved(c)


def test_claim_filed_late_resolves_while_later_rounds_run(claims, anvil):
    c = claims(response_blocks=40, vote_blocks=40, retention_blocks=80)
    uploader = c.addresses[1]
    claim_id = c[0].file_claim(1, uploader, ClaimKind.UNDECRYPTABLE)
    assert c[0].retained_until(1) == 0  # still open
    c.start_round()  # round 1 closes with the claim open
    close_block = c[0].rounds_opened()[-1].meta.block_number
    assert c[0].retained_until(1) == close_block + c[0].parameters().retention_blocks
    assert c[0].retained_until(1) >= c[0].claim(claim_id).vote_deadline
    with pytest.raises(errors.ClaimWindowClosed) as late:
        c[0].file_claim(1, c.addresses[2], ClaimKind.MISSING)
    assert (late.value.round, late.value.currentRound) == (1, 2)
    u = c[0].points_of(uploader)
    assert (u.releasable, u.disputed) == (2 * AMOUNT, AMOUNT)  # only the disputed part waits
    _round(c)  # round 2 runs; the uploader's round-1 payment was credited by its DOWNLOAD
    c[1].reveal_key(claim_id, b"\x04" * 32)
    c[2].vote_on_claim(claim_id, True)
    c[3].vote_on_claim(claim_id, True)
    assert c[0].claim(claim_id).state is ClaimState.UPHELD
    assert c[0].has_reported(1, uploader, c.addresses[0])  # counted for the claim's round
    _conserved(c)


def test_removed_requester_is_skipped_not_reverted(claims, anvil):
    # Issue 14, finding 4: a requester removed mid-round made every honest uploader's batch
    # revert with NotCredible. Here an upheld claim removes it during round 2's Upload phase.
    c = claims()
    s = c.addresses[3]
    claim_id = c[0].file_claim(1, s, ClaimKind.MISSING)  # s delivered garbage to party 0
    c[1].report_low_quality(1, [s])
    c[2].report_low_quality(1, [s])  # 2 reports; the quorum of 4 is 3
    c.start_round()
    for i, ledger in enumerate(c.ledgers):
        ledger.request_downloads(c.others(i), [AMOUNT] * 3)
    assert c[0].phase() is Phase.UPLOAD
    c[0].upload_ciphertexts(c.others(0), [digest(k) for k in range(3)])
    _mine_to(c, anvil, c[0].claim(claim_id).response_deadline)
    assert c[0].phase() is Phase.UPLOAD
    c[0].resolve_claim(claim_id)  # silence: upheld, counted as party 0's report: s removed
    assert c[0].party_info(s).status is PartyStatus.REMOVED
    removal = c[0].removals()[-1]
    assert removal.party == s and set(removal.reporters) == set(c.addresses[:3])
    escrow = c[0].points_of(s).escrowed
    receipt = c[1].upload_ciphertexts(c.others(1), [digest(k) for k in range(3)])
    assert receipt.block_number > 0  # not reverted
    (skip,) = c[0].skipped_requests()
    assert (skip.round, skip.requester, skip.uploader, skip.refunded) == (2, s, c.addresses[1],
                                                                          AMOUNT)
    assert c[0].request_state(2, s, c.addresses[1]).status is RequestStatus.SKIPPED
    assert c[0].points_of(s).escrowed == escrow - AMOUNT
    (upload,) = c[0].uploads(round_number=2, uploader=c.addresses[1])
    assert upload.pending == 2 * AMOUNT  # paid for the two credible requesters only
    _conserved(c)


def test_min_uploaders(consortium):
    c = consortium(4, start=True, min_uploaders=2, min_parties=3)
    with pytest.raises(errors.TooFewUploaders) as info:
        c[0].request_downloads([c.addresses[1]], [5])  # one sender's update in clear
    assert (info.value.count, info.value.minUploaders) == (1, 2)
    c[0].request_downloads([], [])  # buying nothing stays allowed
    c[1].request_downloads([c.addresses[0], c.addresses[2]], [5, 5])


def test_claim_reverts(claims, dev_accounts, anvil):
    c = claims(5)
    a, b = c.addresses[0], c.addresses[1]
    previous, requesters, digests = c[0].delivery_proof(1, b)
    assert previous == bytes(32) and requesters == tuple(c.others(1))
    outsider = c[0].with_account(dev_accounts[35])
    with pytest.raises(errors.NotCredible):
        outsider.file_claim_with_proof(1, b, 1, previous, requesters, digests)
    with pytest.raises(errors.UnknownClaimKind) as kind:
        c[0].file_claim_with_proof(1, b, 0, previous, requesters, digests)
    assert kind.value.kind == 0
    with pytest.raises(errors.ClaimWindowClosed):
        c[0].file_claim_with_proof(2, b, 1, previous, requesters, digests)
    with pytest.raises(errors.NotClaimable):  # not registered
        c[0].file_claim_with_proof(1, dev_accounts[35].address, 1, previous, requesters, digests)
    with pytest.raises(errors.InvalidDeliveryProof):
        c[0].file_claim_with_proof(1, b, 1, digest(9), requesters, digests)
    with pytest.raises(errors.InvalidDeliveryProof):
        c[0].file_claim_with_proof(1, b, 1, previous, requesters, digests[:-1] + (digest(9),))
    with pytest.raises(errors.InvalidDeliveryProof):
        c[0].file_claim_with_proof(1, b, 1, previous, requesters, digests[:-1])
    # A valid proof of b's batch that does not name the claimant (b never served itself):
    with pytest.raises(errors.NotClaimable):
        c[1].file_claim_with_proof(1, b, 1, previous, requesters, digests)
    claim_id = c[0].file_claim(1, b, ClaimKind.MISSING)
    with pytest.raises(errors.NotClaimable):  # one claim per delivery
        c[0].file_claim(1, b, ClaimKind.MALFORMED)
    for bad in (0, 999):
        with pytest.raises(errors.UnknownClaim):
            c[0].declare_republished(bad)
    with pytest.raises(errors.NotClaimSide):
        c[2].declare_republished(claim_id)
    with pytest.raises(errors.WrongClaimKind) as wrong:
        c[1].reveal_key(claim_id, b"\x05" * 32)
    assert wrong.value.kind == ClaimKind.MISSING
    with pytest.raises(errors.WrongClaimState):  # votes only once answered
        c[2].vote_on_claim(claim_id, True)
    other = c[0].file_claim(1, c.addresses[2], ClaimKind.MALFORMED)
    with pytest.raises(errors.WrongClaimKind):
        c[2].declare_republished(other)
    c[1].declare_republished(claim_id)
    with pytest.raises(errors.WrongClaimState):
        c[1].declare_republished(claim_id)
    with pytest.raises(errors.ClaimSideCannotVote):
        c[0].vote_on_claim(claim_id, True)
    with pytest.raises(errors.ClaimSideCannotVote):
        c[1].vote_on_claim(claim_id, False)
    with pytest.raises(errors.NotCredible):
        outsider.vote_on_claim(claim_id, True)
    c[3].vote_on_claim(claim_id, True)
    with pytest.raises(errors.AlreadyVotedOnClaim):
        c[3].vote_on_claim(claim_id, False)
    with pytest.raises(errors.ClaimNotResolvable):
        c[3].resolve_claim(claim_id)
    _mine_to(c, anvil, c[0].claim(other).response_deadline)
    with pytest.raises(errors.ClaimDeadlinePassed):
        c[2].reveal_key(other, b"\x06" * 32)
    # Not enough points for the deposit.
    poor = c[4]
    c.start_round()
    spend = poor.points_of(poor.sender).spendable  # what its DOWNLOAD can escrow, all of it
    poor.request_downloads(c.others(4), [spend // 4] * 3 + [spend - 3 * (spend // 4)])
    for i in range(4):
        c[i].request_downloads([], [])
    c[0].upload_ciphertexts([poor.sender], [digest(7)])
    with pytest.raises(errors.InsufficientPoints) as poorly:
        poor.file_claim(2, a, ClaimKind.MISSING)
    assert poorly.value.needed == DEPOSIT
    # The module refuses direct calls: it only runs on the ledger's storage.
    module_abi = load_artifact("ClaimsModule").abi
    module = c[0].w3.eth.contract(address=c[0].claims_module(), abi=module_abi)
    with pytest.raises(ContractLogicError) as direct:
        module.functions.resolveClaim(claim_id).call({"from": a})
    refused = errors.decode_revert(direct.value.data, errors.error_classes_from_abi(module_abi))
    assert refused.error_name == "DirectCallRefused"


def test_finished_consortium_settles_the_last_round(consortium, anvil):
    c = consortium(3, start=True, rounds=1, **PHASES)
    _round(c)
    claim_id = c[0].file_claim(1, c.addresses[1], ClaimKind.MISSING)
    c.start_round()
    assert c[0].phase() is Phase.FINISHED
    with pytest.raises(errors.ClaimWindowClosed):
        c[0].file_claim(1, c.addresses[2], ClaimKind.MISSING)
    for a in c.addresses:  # the last round's payments are released by anyone's settle
        c[0].settle(a)
        assert c[0].points_of(a).pending == 0
    _mine_to(c, anvil, c[0].claim(claim_id).response_deadline)
    c[2].resolve_claim(claim_id)  # claims still resolve once Finished
    assert c[0].claim(claim_id).state is ClaimState.UPHELD
    p = c[0].points_of(c.addresses[1])
    assert (p.disputed, p.pending, p.escrowed) == (0, 0, 0)
    _conserved(c)
