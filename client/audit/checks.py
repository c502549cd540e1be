"""The replay against the contract: every view the ledger offers, read at the final block.

:func:`compare_state` lists the calls whose answers the replay predicts (parties, points in
every bucket, rounds and their counters, requests, claims and tallies, reports, hash chains,
admissions, parameters, the contract's ether) and names each difference as a
``state_mismatch``. Calls are batched (about 200 per JSON-RPC request) and bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from client.audit import rules
from client.audit.chain import Call, read_views
from client.audit.model import Violation, ViolationKind
from client.audit.replay import Replay
from client.chain.errors import ChainUnavailable
from client.chain.ledger import Ledger, transport
from client.chain.records import PartyStatus

#: Most request entries compared one by one (the most recent ones); the rest are covered by
#: the points buckets, which every request moves.
MAX_REQUEST_CHECKS = 20_000


@dataclass(frozen=True)
class Expectation:
    """One view call and the answer the replay predicts for it."""

    call: Call
    expected: Any
    parties: tuple[str, ...] = ()


def _exp(name: str, args: tuple[Any, ...], expected: Any, *parties: str) -> Expectation:
    return Expectation(Call(name, args), expected, tuple(parties))


def expectations(replay: Replay, block: int) -> list[Expectation]:
    """Return every view call whose answer at ``block`` the replay predicts."""
    if replay.params is None:
        return []
    p = replay.params
    closed = replay.registration_closed
    credible = replay.credible_parties() if closed else list(replay.order)
    out = [
        _exp("parameters", (), tuple(p.as_tuple())),
        _exp("settings", (), bytes(p.settings)),
        _exp("settingsDigest", (), replay.settings_digest),
        _exp("parties", (), tuple(replay.order)),
        _exp("credibleParties", (), tuple(credible)),
        _exp("credibleCount", (), replay.credible_count if closed else len(replay.order)),
        _exp("totalPoints", (), replay.total_points),
        _exp("registrationClosed", (), closed),
        _exp("registrationFailed", (), replay.registration_failed_at(block)),
        _exp("currentRound", (), replay.current_round),
        _exp("phase", (), int(replay.phase_at(block))),
        _exp("removalQuorum", (), replay.removal_quorum()),
        _exp("admitted", (), tuple(replay.admitted)),
        _exp("allowlist", (), tuple(replay.admitted[: replay.allowlisted])),
        _exp("admissionQuorum", (), rules.admission_quorum(p, len(replay.admitted))),
        _exp("claimCount", (), len(replay.claims)),
    ]
    if closed and replay.credible_count >= 2:
        out.append(_exp("credibilityThreshold", (replay.credible_count,),
                        rules.threshold(p, replay.credible_count)))
    for address in replay.order:
        s = replay.parties[address]
        out += [
            _exp("pointsOf", (address,), (s.balance, s.escrowed, s.pending, s.disputed,
                                          s.deposited, s.releasable(replay.current_round)),
                 address),
            _exp("partyInfo", (address,), (int(s.status), s.index, s.data_size,
                                           s.samples_released, s.samples_digest,
                                           s.enc_pub_key), address),
            _exp("depositHeld", (address,), s.deposit_held, address),
            _exp("uploadAccumulator", (address,), replay.upload_acc.get(address, bytes(32)),
                 address),
        ]
    for candidate, votes in sorted(replay.admission_votes.items()):
        out.append(_exp("admissionVotes", (candidate,), votes, candidate))
    for candidate, voter in sorted(replay.voted_to_admit):
        out.append(_exp("hasVotedToAdmit", (candidate, voter), True, voter, candidate))
    for r in sorted(replay.rounds):
        state = replay.rounds[r]
        out += [
            _exp("roundDeadlines", (r,), replay.deadlines(r)),
            _exp("roundProgress", (r,), (state.request_count, state.uploaders_expected,
                                         state.upload_count, state.vote_count)),
            _exp("retainedUntil", (r,), replay.retained_until(r)),
        ]
    requests = sorted(replay.requests.items(), key=lambda kv: (kv[1].block, kv[0]))
    for (r, requester, uploader), record in requests[-MAX_REQUEST_CHECKS:]:
        out.append(_exp("requestOf", (r, requester, uploader),
                        (record.amount, int(record.status)), requester, uploader))
    for claim_id, c in sorted(replay.claims.items()):
        out += [
            _exp("claim", (claim_id,), (c.requester, c.round, int(c.kind), int(c.state),
                                        c.uploader, c.amount, c.response_deadline,
                                        c.vote_deadline, c.digest, c.revealed_key),
                 c.requester, c.uploader),
            _exp("claimTally", (claim_id,), replay.tally(c), c.requester, c.uploader),
            _exp("claimOf", (c.round, c.requester, c.uploader), claim_id, c.requester,
                 c.uploader),
        ]
        for voter, upheld in sorted(c.votes.items()):
            out.append(_exp("claimVote", (claim_id, voter), 1 if upheld else 2, voter))
    for (epoch, suspect), reporters in sorted(replay.reporters.items()):
        counted = sum(1 for r in reporters if replay.status(r) is PartyStatus.CREDIBLE)
        out += [
            _exp("reportersOf", (epoch, suspect), tuple(reporters), suspect),
            _exp("credibleReportCount", (epoch, suspect), counted, suspect),
        ]
    for epoch, suspect, reporter in sorted(replay.reported):
        out.append(_exp("hasReported", (epoch, suspect, reporter), True, reporter, suspect))
    for (epoch, kind, sender), acc in sorted(replay.message_acc.items()):
        out.append(_exp("messageAccumulator", (epoch, kind, sender), acc, sender))
    return out


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, tuple):
        return (isinstance(actual, (tuple, list)) and len(actual) == len(expected)
                and all(_same(a, e) for a, e in zip(actual, expected, strict=True)))
    if isinstance(expected, bool):
        return isinstance(actual, bool) and actual == expected
    if isinstance(expected, bytes):
        return isinstance(actual, bytes) and actual == expected
    if isinstance(expected, str):
        return isinstance(actual, str) and actual.lower() == expected.lower()
    if isinstance(expected, int):
        return isinstance(actual, int) and not isinstance(actual, bool) and actual == expected
    return bool(actual == expected)


def _show(value: Any) -> str:
    if isinstance(value, BaseException):
        return f"an error ({type(value).__name__}: {str(value)[:120]})"
    if isinstance(value, bytes):
        text = "0x" + value.hex()
        return text if len(text) <= 70 else text[:66] + f"...({len(value)} bytes)"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return str(value)[:200]


def compare_state(ledger: Ledger, replay: Replay, block: int) -> list[Violation]:
    """Return a ``state_mismatch`` for every view whose answer at ``block`` differs."""
    wanted = expectations(replay, block)
    answers = read_views(ledger, [w.call for w in wanted], block)
    out: list[Violation] = []
    for want, actual in zip(wanted, answers, strict=True):
        if not _same(actual, want.expected):
            args = ", ".join(_show(a) for a in want.call.args)
            out.append(Violation(
                ViolationKind.STATE_MISMATCH,
                f"{want.call.name}({args}) is {_show(actual)} on chain, the replay gives "
                f"{_show(want.expected)}", block, "", want.parties))
    out += _check_ether(ledger, replay, block)
    return out


def _check_ether(ledger: Ledger, replay: Replay, block: int) -> Sequence[Violation]:
    held = replay.deposits_paid - replay.deposits_withdrawn
    try:
        with transport(ledger.w3, ledger.address):
            balance = int(ledger.w3.eth.get_balance(ledger.address, block))
    except ChainUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - a node that cannot say is a mismatch
        return [Violation(ViolationKind.STATE_MISMATCH, f"the ledger's ether balance could not "
                          f"be read: {type(exc).__name__}", block)]
    # Anyone can force ether into a contract (a block reward, a self-destruct), never out.
    if balance < held:
        return [Violation(ViolationKind.DEPOSIT_INVALID, f"the ledger holds {balance} wei, the "
                          f"deposits not withdrawn sum to {held}", block)]
    return []


def deposits_json(replay: Replay) -> dict[str, int]:
    """Return the registration deposits paid, withdrawn and still held (wei)."""
    return {"paid": replay.deposits_paid, "withdrawn": replay.deposits_withdrawn,
            "held": replay.deposits_paid - replay.deposits_withdrawn}
