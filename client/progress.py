"""What a consortium is waiting for, read from the chain: one line for logs, a view for status.

Every wait of a party (registration, a phase deadline, the others' actions) is explained in
the same words by the node (``fppdl party run``), the in-process scheduler (``fppdl demo``)
and ``fppdl consortium status``::

    registered 2/4; closes at block 1005 (about 12 min at 1 s/block) or when full
    round 2/5: upload phase, 3/4 uploaded, deadline in 40 blocks (about 40 s)

Only standard JSON-RPC reads (``eth_call``, ``eth_getLogs``, ``eth_getBlockByNumber``) are
used: this runs against any node, never through a devnet-only method.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from web3 import Web3

from client.chain.ledger import Ledger
from client.chain.records import Phase

#: Blocks looked back to estimate the block time.
BLOCK_TIME_WINDOW = 10

#: What acting means in each phase, for the progress line ("3/4 uploaded").
_VERB = {
    Phase.BENCHMARKING: "voted",
    Phase.REQUEST: "requested",
    Phase.UPLOAD: "uploaded",
    Phase.SETTLE: "voted",
}


def phase_name(phase: Phase | int) -> str:
    """Return the lower-case name of a phase (an unknown value is shown as a number)."""
    try:
        return Phase(phase).name.lower()
    except ValueError:
        return f"phase {int(phase)}"


def seconds_per_block(w3: Web3, window: int = BLOCK_TIME_WINDOW) -> float | None:
    """Return the median block interval over the last ``window`` blocks (None if unknown).

    The median, not the mean: a resumed devnet has one long gap (the time it was stopped).
    """
    latest = int(w3.eth.block_number)
    span = min(window, latest)
    if span <= 0:
        return None
    stamps = [int(w3.eth.get_block(n)["timestamp"]) for n in range(latest - span, latest + 1)]
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    median = gaps[len(gaps) // 2]
    return float(median) if median > 0 else None


def duration_text(seconds: float) -> str:
    """Return ``seconds`` rounded for a human (``40 s``, ``12 min``, ``3.5 h``)."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def blocks_text(blocks: int, block_seconds: float | None) -> str:
    """Return ``N blocks`` with the wall time it means at the measured block time."""
    unit = "block" if blocks == 1 else "blocks"
    if block_seconds is None or blocks <= 0:
        return f"{blocks} {unit}"
    return f"{blocks} {unit} (about {duration_text(blocks * block_seconds)})"


@dataclass(frozen=True)
class ConsortiumView:
    """The consortium's position as the chain tells it, and who it is waiting for.

    Attributes
    ----------
    block : int
        Latest block.
    phase : Phase
        Current phase.
    round : int
        Current epoch (0: registration and benchmarking).
    registered : tuple of str
        Every registered address.
    credible : tuple of str
        The credible set.
    min_parties, max_parties, registration_deadline : int
        Registration settings of the deployment.
    deadline : int or None
        Absolute block at which the current phase ends at the latest.
    epoch_deadline : int or None
        Absolute block at which the current epoch can be closed by anyone.
    expected : tuple of str
        Who must act in this phase for it to end early.
    acted : tuple of str
        Who of them has acted.
    block_seconds : float or None
        Measured seconds per block (None: unknown, e.g. blocks mined only on transactions).
    """

    block: int
    phase: Phase
    round: int
    registered: tuple[str, ...]
    credible: tuple[str, ...]
    min_parties: int
    max_parties: int
    registration_deadline: int
    deadline: int | None
    epoch_deadline: int | None
    expected: tuple[str, ...]
    acted: tuple[str, ...]
    block_seconds: float | None

    def timed(self, w3: Web3) -> ConsortiumView:
        """Return this view with the block time measured on ``w3``'s chain."""
        return replace(self, block_seconds=seconds_per_block(w3))

    @property
    def key(self) -> tuple[int, ...]:
        """Return what changes when the consortium moves (not the block countdown)."""
        return (int(self.phase), self.round, len(self.registered), len(self.acted),
                len(self.expected))

    @property
    def waiting_on(self) -> tuple[str, ...]:
        """Return who is expected to act in this phase and has not yet."""
        done = set(self.acted)
        return tuple(a for a in self.expected if a not in done)

    def as_json(self) -> dict[str, Any]:
        """Return the view as plain JSON values."""
        return {
            "block": self.block, "phase": phase_name(self.phase), "round": self.round,
            "registered": list(self.registered), "credible": list(self.credible),
            "min_parties": self.min_parties, "max_parties": self.max_parties,
            "registration_deadline": self.registration_deadline,
            "deadline": self.deadline, "epoch_deadline": self.epoch_deadline,
            "expected": list(self.expected), "acted": list(self.acted),
            "waiting_on": list(self.waiting_on), "seconds_per_block": self.block_seconds,
        }


def _voters(ledger: Ledger, epoch: int, from_block: int) -> tuple[str, ...]:
    logs = ledger.contract.events.RoundCloseVoted.get_logs(
        argument_filters={"round": epoch}, from_block=from_block, to_block="latest"
    )
    ordered = sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))
    return tuple(dict.fromkeys(Web3.to_checksum_address(e["args"]["party"]) for e in ordered))


def read_view(ledger: Ledger, *, names: bool = True, block_time: bool = True) -> ConsortiumView:
    """Read the consortium's position from the chain.

    With ``names`` false only the counters are read (one call per phase instead of event
    queries): ``expected``/``acted`` then hold placeholders of the right lengths. With
    ``block_time`` false the block time is not measured (see :meth:`ConsortiumView.timed`).
    """
    params = ledger.parameters()
    phase = ledger.phase()
    epoch = ledger.current_round()
    block = ledger.block_number()
    registered = ledger.parties()
    credible = ledger.credible_parties() if phase is not Phase.REGISTRATION else registered
    deadline = epoch_deadline = None
    expected: tuple[str, ...] = ()
    acted: tuple[str, ...] = ()
    if phase is Phase.REGISTRATION:
        deadline = params.registration_deadline
        expected, acted = registered, registered
    elif phase in _VERB:
        dl = ledger.round_deadlines(epoch)
        epoch_deadline = dl.settle_deadline
        deadline = {Phase.REQUEST: dl.request_deadline,
                    Phase.UPLOAD: dl.upload_deadline}.get(phase, dl.settle_deadline)
        if names:
            expected, acted = _who(ledger, phase, epoch, dl.start, credible)
        else:
            progress = ledger.round_progress(epoch)
            total, done = {
                Phase.REQUEST: (len(credible), progress.requests),
                Phase.UPLOAD: (progress.uploaders_expected, progress.uploads),
            }.get(phase, (len(credible), progress.votes))
            expected = tuple(f"#{i}" for i in range(total))
            acted = expected[:done]
    return ConsortiumView(
        block=block, phase=phase, round=epoch, registered=registered, credible=credible,
        min_parties=params.min_parties, max_parties=params.max_parties,
        registration_deadline=params.registration_deadline, deadline=deadline,
        epoch_deadline=epoch_deadline, expected=expected, acted=acted,
        block_seconds=seconds_per_block(ledger.w3) if block_time else None,
    )


def _who(
    ledger: Ledger, phase: Phase, epoch: int, start: int, credible: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return (expected, acted) addresses of the current phase, from the events since ``start``."""
    if phase is Phase.REQUEST:
        requesters = {r.requester for r in ledger.download_requests(epoch, from_block=start)}
        return credible, tuple(p for p in credible if p in requesters)
    if phase is Phase.UPLOAD:
        named = {u for r in ledger.download_requests(epoch, from_block=start) for u in r.uploaders}
        uploaded = {u.uploader for u in ledger.uploads(epoch, from_block=start)}
        expected = tuple(p for p in credible if p in named)
        return expected, tuple(p for p in expected if p in uploaded)
    voted = set(_voters(ledger, epoch, start))
    return credible, tuple(p for p in credible if p in voted)


def describe(view: ConsortiumView, rounds: int | None = None) -> str:
    """Return the one-line progress of ``view`` (``rounds``: the reader's rounds)."""
    bs = view.block_seconds
    if view.phase is Phase.REGISTRATION:
        closes = f"closes at block {view.registration_deadline}"
        left = view.registration_deadline - view.block
        if left > 0 and bs is not None:
            closes += f" (about {duration_text(left * bs)} at {bs:.3g} s/block)"
        elif left <= 0:
            closes += (f" (passed: any registrant closes it once {view.min_parties} "
                       "have registered)")
        return (f"registered {len(view.registered)}/{view.max_parties}; {closes} or when full")
    if view.phase not in _VERB:
        return f"round {view.round}: {phase_name(view.phase)}"
    if view.phase is Phase.BENCHMARKING:
        head = "benchmarking"
    else:
        head = f"round {view.round}" + (f"/{rounds}" if rounds else "")
        head += f": {phase_name(view.phase)} phase"
    count = f"{len(view.acted)}/{len(view.expected)} {_VERB[view.phase]}"
    assert view.deadline is not None
    left = view.deadline - view.block
    if left > 0:
        when = f"deadline in {blocks_text(left, bs)}"
    else:
        when = f"deadline passed {-left} blocks ago (any party may close the epoch)"
    return f"{head}, {count}, {when}"
