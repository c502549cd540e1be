"""The consortium's aggregation rule bound to one party: contexts, noise seeds, ring bounds.

A rule (:mod:`client.protocol.aggregation`) may use public facts of a (round, receiver) vector
(:class:`~client.protocol.aggregation.RuleContext`): the round, the receiver, the consortium,
the registrations of the sender or of the summed senders. :class:`BoundRule` builds them the
same way for every party, draws the secret noise seed of every sealed vector, and clips what
it encodes to the range the masking ring carries.
"""

from __future__ import annotations

import secrets

import numpy as np
import numpy.typing as npt

from client.crypto import QuantParams
from client.protocol.aggregation import (
    AggregationOutcome,
    AggregationRule,
    Registration,
    RuleContext,
    UnknownRule,
)
from client.protocol.peers import PeerDirectory, address_bytes
from client.protocol.state import PartyState

FloatVec = npt.NDArray[np.float32]


class BoundRule:
    """One party's view of the consortium's rule.

    Parameters
    ----------
    rule : AggregationRule
        The consortium's rule.
    me : str
        This party's address.
    peers : PeerDirectory
        The registrations the contexts are built from.
    state : PartyState
        Where clipping is recorded.
    quant : QuantParams
        The masking ring's quantization (its first segment bounds what is encoded).
    domain : bytes
        The consortium's identity: the 32-byte big-endian chain id and the ledger address.
    """

    def __init__(
        self, *, rule: AggregationRule, me: str, peers: PeerDirectory, state: PartyState,
        quant: QuantParams, domain: bytes,
    ) -> None:
        self.rule = rule
        self.me = me
        self.peers = peers
        self.state = state
        self.quant = quant
        self.domain = domain

    def registration(self, address: str) -> Registration | None:
        """Return what the rule may know of ``address``'s registration (None if inconsistent)."""
        peer = self.peers.get(address)
        try:
            return Registration(peer.data_size, peer.samples_released)
        except UnknownRule:
            return None  # an inconsistent claim: the peer directory marks it unusable

    def context(
        self, epoch: int, receiver: str, *, sender: str | None = None,
        senders: tuple[str, ...] = (), noise_seed: bytes | None = None,
    ) -> RuleContext:
        """Return the public facts of one (round, receiver) vector, as every party sees them."""
        infos = tuple(r for r in (self.registration(s) for s in senders) if r is not None)
        return RuleContext(
            epoch, address_bytes(receiver), self.domain,
            receiver_info=self.registration(receiver),
            sender_info=None if sender is None else self.registration(sender),
            senders_info=infos, noise_seed=noise_seed,
        )

    def noise_seed(self, epoch: int, receiver: str) -> bytes:
        """Return the secret seed of the noise of one sealed vector (fresh OS randomness).

        Only the sender ever holds it, so the receiver cannot subtract the noise of what it
        bought below the cap (that noise is the rule's price of precision).
        """
        return secrets.token_bytes(32)

    def encode(
        self, epoch: int, receiver: str, entries: int, *, delta: FloatVec, params: FloatVec,
    ) -> FloatVec:
        """Return the vector for ``receiver``, who paid ``entries`` points, within the ring."""
        context = self.context(epoch, receiver, sender=self.me,
                               noise_seed=self.noise_seed(epoch, receiver))
        vector = self.rule.encode(delta=delta, params=params, entries=entries, context=context)
        bound = self.quant.clip_bound(0)
        size = self.quant.segments[0].length
        if np.abs(vector[:size]).max(initial=0.0) > bound:
            self.state.record("clipped_for_ring", round=epoch, bound=bound)
            vector = vector.copy()
            np.clip(vector[:size], -bound, bound, out=vector[:size])
        return vector

    def apply(
        self, epoch: int, *, params: FloatVec, own_delta: FloatVec, total: FloatVec,
        senders: tuple[str, ...],
    ) -> AggregationOutcome:
        """Return the rule's outcome of applying the received sum of ``senders``."""
        return self.rule.apply(
            params=params, own_delta=own_delta, received_sum=total, senders=len(senders),
            context=self.context(epoch, self.me, senders=senders),
        )
