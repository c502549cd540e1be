"""Admission (allowlist, vote), registration deposits, the fixed number of rounds, Finished."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractLogicError

from client.chain import errors
from client.chain.records import Admission, PartyStatus, Phase

from .conftest import KEY, digest, send

DEPOSIT = 10**15  # wei


def _founders(dev_accounts, k: int, first: int = 1) -> tuple[str, ...]:
    return tuple(a.address for a in dev_accounts[first : first + k])


def test_allowlist_admits_only_listed_addresses(fresh_ledger, dev_accounts):
    listed = _founders(dev_accounts, 3)
    base = fresh_ledger(admission=Admission.ALLOWLIST, allowlist=listed, max_parties=4)
    p = base.parameters()
    assert p.admission is Admission.ALLOWLIST and p.allowlist == listed
    assert base.admitted() == listed
    assert all(base.is_admitted(a) for a in listed)
    assert not base.is_admitted(dev_accounts[4].address)
    outsider = base.with_account(dev_accounts[4])
    with pytest.raises(errors.NotAdmitted) as info:
        outsider.register(KEY, 100, 10, digest(0))
    assert info.value.party == dev_accounts[4].address
    with pytest.raises(errors.AdmissionByVoteDisabled) as off:
        base.with_account(dev_accounts[1]).vote_to_admit(dev_accounts[4].address)
    assert off.value.mode == Admission.ALLOWLIST
    for i in range(3):
        base.with_account(dev_accounts[1 + i]).register(KEY, 100, 10, digest(i))
    assert base.parties() == listed
    admitted = [e for e in base.events() if e.name == "PartyAdmitted"]
    assert [(e.args["party"], e.args["byVote"]) for e in admitted] == [(a, False) for a in listed]
    (deployed,) = [e for e in base.events() if e.name == "LedgerDeployed"]
    assert deployed.args["allowlisted"] == 3
    assert deployed.args["params"]["admission"] == Admission.ALLOWLIST


def test_open_admission_admits_anyone(fresh_ledger, dev_accounts):
    base = fresh_ledger()
    assert base.admission() is Admission.OPEN and base.is_admitted(dev_accounts[9].address)
    assert base.admitted() == () and base.parameters().allowlist == ()
    base.with_account(dev_accounts[9]).register(KEY, 100, 10, digest(0))


def test_vote_admission(fresh_ledger, dev_accounts, anvil):
    founders = _founders(dev_accounts, 3)
    base = fresh_ledger(admission=Admission.VOTE, allowlist=founders, max_parties=5,
                        admission_quorum_numerator=1, admission_quorum_denominator=2,
                        registration_blocks=40)
    f1, f2, f3 = (base.with_account(dev_accounts[i]) for i in (1, 2, 3))
    candidate, other = dev_accounts[4], dev_accounts[5]
    joiner = base.with_account(candidate)
    assert base.admission_quorum() == 2  # ceil(3 / 2)
    with pytest.raises(errors.NotAdmitted):
        joiner.register(KEY, 100, 10, digest(4))
    with pytest.raises(errors.NotAdmitted):  # only admitted members vote
        base.with_account(other).vote_to_admit(candidate.address)
    with pytest.raises(errors.SelfReference):
        f1.vote_to_admit(f1.sender)
    with pytest.raises(errors.AlreadyAdmitted):
        f1.vote_to_admit(f2.sender)
    f1.vote_to_admit(candidate.address)
    assert base.admission_votes(candidate.address) == 1
    assert base.has_voted_to_admit(candidate.address, f1.sender)
    assert not base.is_admitted(candidate.address)
    with pytest.raises(errors.AlreadyVotedToAdmit) as twice:
        f1.vote_to_admit(candidate.address)
    assert (twice.value.voter, twice.value.candidate) == (f1.sender, candidate.address)
    f2.vote_to_admit(candidate.address)
    assert base.is_admitted(candidate.address)
    assert base.admitted() == (*founders, candidate.address)
    assert base.parameters().allowlist == founders  # the allowlist itself is unchanged
    assert base.admission_quorum() == 2  # ceil(4 / 2)
    joiner.register(KEY, 100, 10, digest(4))
    # The newly admitted member votes too.
    joiner.vote_to_admit(other.address)
    f3.vote_to_admit(other.address)
    assert base.is_admitted(other.address)
    votes = base.admission_votes_cast()
    assert [(v.candidate, v.voter, v.votes, v.quorum) for v in votes] == [
        (candidate.address, f1.sender, 1, 2), (candidate.address, f2.sender, 2, 2),
        (other.address, candidate.address, 1, 2), (other.address, f3.sender, 2, 2),
    ]
    byvote = [e.args["party"] for e in base.events()
              if e.name == "PartyAdmitted" and e.args["byVote"]]
    assert byvote == [candidate.address, other.address]
    # Admission is full at maxParties admitted addresses.
    sixth = dev_accounts[6].address
    with pytest.raises(errors.AdmissionFull) as full:
        f1.vote_to_admit(sixth)
    assert (full.value.admitted, full.value.maxParties) == (5, 5)
    anvil.mine(base.parameters().registration_deadline - base.block_number())
    with pytest.raises(errors.RegistrationDeadlinePassed):
        f3.vote_to_admit(sixth)


def _finish(c, anvil) -> None:
    """Play every remaining round of a consortium with empty DOWNLOADs until Finished."""
    while c[0].phase() is not Phase.FINISHED:
        phase = c[0].phase()
        credible = [x for x in c.ledgers if x.party_info(x.sender).status is PartyStatus.CREDIBLE]
        if phase is Phase.REQUEST:
            for ledger in credible:
                ledger.request_downloads([], [])
        else:
            for ledger in credible:
                if c[0].phase() in (Phase.BENCHMARKING, Phase.SETTLE):
                    try:
                        ledger.close_round()
                    except errors.AlreadyVoted:
                        pass


def test_deposits_fixed_rounds_and_finished(consortium, dev_accounts, anvil):
    c = consortium(4, close=False, registration_deposit=DEPOSIT, rounds=2, max_parties=5)
    w3 = c[0].w3
    assert w3.eth.get_balance(c[0].address) == 4 * DEPOSIT
    assert all(c[0].deposit_held(a) for a in c.addresses)
    assert [r.deposit for r in c[0].registrations()] == [DEPOSIT] * 4
    late = c[0].with_account(dev_accounts[30])
    with pytest.raises(errors.WrongDeposit) as wrong:
        late.register(KEY, 100, 10, digest(30), deposit=DEPOSIT - 1)
    assert (wrong.value.sent, wrong.value.required) == (DEPOSIT - 1, DEPOSIT)
    with pytest.raises(errors.WrongDeposit):
        late.register(KEY, 100, 10, digest(30), deposit=0)
    with pytest.raises(errors.DepositLocked) as locked:
        c[0].withdraw_deposit()
    assert locked.value.phase == Phase.REGISTRATION
    anvil.mine(c[0].parameters().registration_deadline - c[0].block_number())
    c[0].close_registration()
    s = c.addresses[3]
    for k in range(3):
        c[k].report_low_quality(0, [s])
    (removal,) = c[0].removals()
    assert removal.party == s and removal.forfeited == DEPOSIT
    with pytest.raises(errors.DepositLocked):
        c[1].withdraw_deposit()
    _finish(c, anvil)
    assert c[0].phase() is Phase.FINISHED and c[0].current_round() == 3
    closes = [e for e in c[0].events() if e.name in ("RoundClosed", "ConsortiumFinished")]
    assert [e.name for e in closes] == ["RoundClosed"] * 3 + ["ConsortiumFinished"]
    assert closes[-1].args == {"lastRound": 2, "credibleCount": 3}
    assert [r.round for r in c[0].rounds_opened()] == [1, 2]  # no round 3 ever opens
    with pytest.raises(errors.WrongPhase):
        c[0].request_downloads([], [])
    with pytest.raises(errors.WrongPhase):
        c[0].close_round()
    with pytest.raises(errors.ReportOutsideWindow):
        c[0].report_low_quality(3, [c.addresses[1]])
    before = w3.eth.get_balance(c.addresses[1])
    receipt = c[1].withdraw_deposit()
    gas_cost = receipt.gas_used * w3.eth.get_transaction(receipt.tx_hash)["gasPrice"]
    assert w3.eth.get_balance(c.addresses[1]) == before + DEPOSIT - gas_cost
    assert not c[0].deposit_held(c.addresses[1])
    with pytest.raises(errors.NothingToWithdraw):
        c[1].withdraw_deposit()
    with pytest.raises(errors.DepositForfeit) as forfeit:
        c[3].withdraw_deposit()
    assert forfeit.value.party == s
    with pytest.raises(errors.NothingToWithdraw):  # never registered
        c[0].with_account(dev_accounts[30]).withdraw_deposit()
    withdrawn = [e.args for e in c[0].events() if e.name == "DepositWithdrawn"]
    assert withdrawn == [{"party": c.addresses[1], "amount": DEPOSIT}]
    assert w3.eth.get_balance(c[0].address) == 3 * DEPOSIT  # s's deposit stays locked


def test_failed_registration_releases_deposits(fresh_ledger, dev_accounts, anvil):
    base = fresh_ledger(registration_deposit=DEPOSIT, min_parties=3, registration_blocks=10)
    a = base.with_account(dev_accounts[1])
    a.register(KEY, 100, 10, digest(0))
    assert not base.registration_failed()
    with pytest.raises(errors.DepositLocked):
        a.withdraw_deposit()
    anvil.mine(base.parameters().registration_deadline - base.block_number())
    assert base.registration_failed() and base.phase() is Phase.REGISTRATION
    a.withdraw_deposit()
    assert base.w3.eth.get_balance(base.address) == 0


def test_refusing_receiver_and_reentrant_receiver(fresh_ledger, helper_contracts, dev_accounts,
                                                  anvil):
    # Registration fails (min 3, two contract parties): deposits become withdrawable.
    base = fresh_ledger(registration_deposit=DEPOSIT, min_parties=3, registration_blocks=20)
    w3, owner = base.w3, dev_accounts[21]
    refuser = helper_contracts.deploy(w3, owner, "ContractParty", 0)
    reenterer = helper_contracts.deploy(w3, owner, "ContractParty", 1)
    for party in (refuser, reenterer):
        send(w3, owner, party.functions.join(base.address, KEY, 100, 10), value=DEPOSIT)
    anvil.mine(base.parameters().registration_deadline - base.block_number())
    assert base.registration_failed()
    with pytest.raises(ContractLogicError) as refused:
        refuser.functions.leave(base.address).call({"from": owner.address})
    failure = errors.decode_revert(refused.value.data)
    assert isinstance(failure, errors.DepositTransferFailed)
    assert (failure.party, failure.amount) == (refuser.address, DEPOSIT)
    # A receiver that re-enters withdrawDeposit gets its deposit exactly once.
    receipt = send(w3, owner, reenterer.functions.leave(base.address))
    assert receipt["status"] == 1
    assert reenterer.functions.reentryFailures().call() == 1
    assert w3.eth.get_balance(reenterer.address) == DEPOSIT
    assert w3.eth.get_balance(base.address) == DEPOSIT  # the refuser's stays
    assert base.deposit_held(refuser.address) and not base.deposit_held(reenterer.address)
