"""The receiver's sum of its accepted envelopes, from the neighbours' unmask messages.

Σ over accepted x of (q_x + selfmask_x + Σ_y ± pair_xy): the pair streams between two
accepted senders cancel; what remains is each accepted sender's self-mask (removed with the
seed rebuilt from t revealed shares) and the pair streams between an accepted sender z and
an excluded neighbour x (removed with the seed z revealed). Nothing else is ever removed,
so an excluded envelope contributes nothing and stays hidden behind its own self-mask.

Hostile input: a holder's bad share, bad seed or unexpected item is set aside as a fault that
names it, and the sum goes on if enough valid reveals remain; only a sum that cannot be
completed raises (:class:`MissingSharesError`, :class:`MissingPairSeedError`,
:class:`DealingError`), also naming who is missing or at fault.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from client.crypto.context import RoundContext
from client.crypto.envelope import EnvelopeHeader
from client.crypto.errors import (
    AggregationError,
    AttributedError,
    BadPairSeedError,
    BadShareError,
    ContextError,
    DealingError,
    MissingPairSeedError,
    MissingSharesError,
    UnexpectedRevealError,
    UnmaskFormatError,
)
from client.crypto.masking import apply_streams, keystream, pair_commitment
from client.crypto.onion import MaskedShare
from client.crypto.quantize import QuantParams, RingArray, dequantize
from client.crypto.receipt import Receipt
from client.crypto.reveal import RevealKind, UnmaskMessage
from client.crypto.selfmask import self_commitment, self_mask_key, share_commitment
from client.crypto.shamir import decode_element, reconstruct


@dataclass(frozen=True, eq=False)
class Aggregate:
    """The exact ring sum of the accepted senders' quantized vectors.

    Attributes
    ----------
    ring : numpy.ndarray
        Ring sum (uint32 or uint64).
    quant : QuantParams
        Its parameters.
    senders : tuple of bytes
        The accepted senders it sums, in the request's order.
    faults : tuple of AttributedError
        Reveals that were set aside, each naming the holder at fault (record them).
    """

    ring: RingArray
    quant: QuantParams
    senders: tuple[bytes, ...]
    faults: tuple[AttributedError, ...]

    def values(self) -> npt.NDArray[np.float64]:
        """Return the sum decoded to float64 (indicator segments as exact integer counts)."""
        return dequantize(self.ring, self.quant)


def _hex(a: bytes) -> str:
    return "0x" + a.hex()


def aggregate(
    shares: Sequence[MaskedShare],
    *,
    ctx: RoundContext,
    receipt: Receipt,
    unmasks: Iterable[UnmaskMessage],
) -> Aggregate:
    """Sum the accepted envelopes of request ``ctx`` and remove the masks that do not cancel.

    Parameters
    ----------
    shares : sequence of MaskedShare
        The opened envelopes of exactly the receipt's accepted senders.
    ctx : RoundContext
        The receiver's request.
    receipt : Receipt
        The receipt the receiver published for it.
    unmasks : iterable of UnmaskMessage
        The holders' messages (parsed with :meth:`UnmaskMessage.from_bytes`, at most one per
        holder; later ones from the same holder are faults).

    Raises
    ------
    ContextError
        Shares that are not exactly the accepted set, duplicates, or another request's.
    MissingSharesError
        An accepted sender has fewer than t valid revealed shares.
    MissingPairSeedError
        An accepted sender did not reveal a valid pair seed with an excluded neighbour.
    DealingError
        An accepted sender's valid shares do not rebuild its committed seed.
    """
    if receipt.context_digest != ctx.digest:
        raise ContextError("receipt of another request")
    accepted = tuple(receipt.accepted)
    if not accepted:
        raise AggregationError("the receipt accepts nobody: there is no sum")
    if not shares:
        raise ContextError("nothing to aggregate: no shares")
    quant = shares[0].header.quant
    present: dict[bytes, EnvelopeHeader] = {}
    acc = np.zeros(quant.length, dtype=quant.dtype)
    for share in shares:
        if share.header.context_digest != ctx.digest or share.header.quant != quant:
            raise ContextError(f"share from {_hex(share.sender)} belongs to another request")
        if share.sender in present:
            raise ContextError(f"two shares from {_hex(share.sender)}")
        present[share.sender] = share.header
        np.add(acc, share.ring, out=acc)
    if set(present) != set(accepted):
        raise ContextError("shares must be exactly the receipt's accepted senders")

    faults: list[AttributedError] = []
    got_shares: dict[bytes, dict[bytes, int]] = {x: {} for x in accepted}
    got_seeds: dict[tuple[bytes, bytes], bytes] = {}
    heard: set[bytes] = set()
    for message in unmasks:
        h = message.holder
        if message.context_digest != ctx.digest or h not in ctx.senders:
            faults.append(
                UnmaskFormatError(f"unmask message of {_hex(h)} for another request", culprit=h)
            )
            continue
        if h in heard:
            faults.append(UnmaskFormatError(f"second unmask message of {_hex(h)}", culprit=h))
            continue
        heard.add(h)
        for item in message.items:
            x = item.sender
            if item.kind is RevealKind.SHARE:
                fault = _take_share(ctx, present, got_shares, h, x, item.value)
            else:
                fault = _take_seed(ctx, present, got_seeds, h, x, item.value)
            if fault is not None:
                faults.append(fault)

    scratch = bytearray(quant.length * quant.element_bytes + 15)
    short = []
    for x in accepted:
        header = present[x]
        if not header.self_masked:
            continue
        valid = got_shares[x]
        if len(valid) < header.threshold:
            missing = [h for h in ctx.neighbours_of(x) if h not in valid]
            short.append(
                f"{_hex(x)} has {len(valid)} of {header.threshold} shares "
                f"(not from {', '.join(_hex(h) for h in missing)})"
            )
            continue
        order = ctx.neighbours_of(x)
        chosen = sorted(valid, key=order.index)[: header.threshold]
        seed = reconstruct([(order.index(h) + 1, valid[h]) for h in chosen])
        if not hmac.compare_digest(self_commitment(ctx, x, seed), header.self_commit):
            raise DealingError(
                f"shares of {_hex(x)} match their commitments but not its self-mask "
                "commitment: it dealt inconsistent shares",
                sender=x,
            )
        np.subtract(acc, keystream(self_mask_key(ctx, x, seed), quant, scratch), out=acc)
    if short:
        raise MissingSharesError(
            "missing self-mask shares: " + "; ".join(short), faults=tuple(faults)
        )

    absent = []
    for z in accepted:
        for x in ctx.neighbours_of(z):
            if x in present:
                continue
            seed_zx = got_seeds.get((z, x))
            if seed_zx is None:
                absent.append(f"{_hex(z)} for excluded {_hex(x)}")
                continue
            apply_streams(acc, z, (x,), (seed_zx,), quant, sign=-1)
    if absent:
        raise MissingPairSeedError("missing pair seeds: " + "; ".join(absent), faults=tuple(faults))
    return Aggregate(acc, quant, accepted, tuple(faults))


def _take_share(
    ctx: RoundContext,
    present: Mapping[bytes, EnvelopeHeader],
    got: dict[bytes, dict[bytes, int]],
    holder: bytes,
    sender: bytes,
    value: bytes,
) -> AttributedError | None:
    if sender not in present:
        return UnexpectedRevealError(
            f"{_hex(holder)} revealed a self-mask share of excluded {_hex(sender)}",
            culprit=holder,
            sender=sender,
        )
    header = present[sender]
    if not header.self_masked:
        return UnexpectedRevealError(
            f"{_hex(holder)} revealed a share of unmasked {_hex(sender)}",
            culprit=holder,
            sender=sender,
        )
    share = decode_element(value)
    index = ctx.neighbours_of(sender).index(holder)
    if share is None or not hmac.compare_digest(
        share_commitment(ctx, sender, holder, share), header.share_commits[index]
    ):
        return BadShareError(
            f"{_hex(holder)} revealed a self-mask share of {_hex(sender)} that does not "
            "match the sender's share commitment",
            culprit=holder,
            sender=sender,
        )
    got[sender][holder] = share
    return None


def _take_seed(
    ctx: RoundContext,
    present: Mapping[bytes, EnvelopeHeader],
    got: dict[tuple[bytes, bytes], bytes],
    holder: bytes,
    sender: bytes,
    seed: bytes,
) -> AttributedError | None:
    if sender in present or holder not in present:
        return UnexpectedRevealError(
            f"{_hex(holder)} revealed a pair seed with {_hex(sender)} that the receipt does "
            "not call for",
            culprit=holder,
            sender=sender,
        )
    index = ctx.neighbours_of(holder).index(sender)
    if not hmac.compare_digest(
        pair_commitment(ctx, holder, sender, seed), present[holder].pair_commits[index]
    ):
        return BadPairSeedError(
            f"{_hex(holder)} revealed a pair seed with {_hex(sender)} that does not match "
            "its own pair commitment",
            culprit=holder,
            sender=sender,
        )
    got[(holder, sender)] = seed
    return None


def check_dealing(
    ctx: RoundContext, header: EnvelopeHeader, sender: bytes, shares: Mapping[bytes, bytes]
) -> bool:
    """Return whether revealed shares rebuild the self-mask seed ``header`` commits to.

    Public evidence for a :class:`DealingError`: given the sender's public header and
    ``threshold`` shares (holder -> 32 bytes) that each match their commitment, anyone can
    check that they do not rebuild the committed seed, i.e. that the sender dealt badly.

    Raises
    ------
    ContextError
        If the header is not this sender's, or the shares are too few or not committed.
    """
    if header.context_digest != ctx.digest or header.sender != sender or not header.self_masked:
        raise ContextError("header is not this sender's self-masked envelope header")
    order = ctx.neighbours_of(sender)
    points = []
    for holder, value in shares.items():
        share = decode_element(value)
        if holder not in order or share is None:
            raise ContextError(f"{_hex(holder)} holds no share of {_hex(sender)}")
        index = order.index(holder)
        if share_commitment(ctx, sender, holder, share) != header.share_commits[index]:
            raise ContextError(f"share of {_hex(holder)} does not match its commitment")
        points.append((index + 1, share))
    if len(points) < header.threshold:
        raise ContextError(f"need {header.threshold} shares, got {len(points)}")
    seed = reconstruct(points[: header.threshold])
    return hmac.compare_digest(self_commitment(ctx, sender, seed), header.self_commit)
