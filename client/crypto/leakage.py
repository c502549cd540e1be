"""How much of one sender's update a receiver can reconstruct from everything it holds.

The measurement behind ``fppdl demo --adversary late-upload`` (``recovery_correlation``): the
receiver opens every envelope of the target it can find (uploaded or not) with its own key,
removes every pair mask whose seed was revealed to it and the self-mask if it holds enough
valid shares, and correlates each estimate with the target's true vector on the positions the
target sold. Under the reveal rule the result is |r| < 0.05: a neighbour never reveals both a
sender's self-mask share and its pair seed. ``tests/crypto/test_crypto_leaks.py`` checks the
same bound with a control that finds the update once the rule is broken.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from client.crypto.context import RoundContext
from client.crypto.errors import CryptoError
from client.crypto.keys import PartyKeys
from client.crypto.masking import apply_streams, keystream
from client.crypto.onion import open_envelope
from client.crypto.quantize import QuantParams, RingArray, dequantize
from client.crypto.reveal import RevealKind, UnmaskMessage
from client.crypto.selfmask import self_commitment, self_mask_key, share_commitment
from client.crypto.shamir import decode_element, reconstruct


def best_correlation(
    *,
    ctx: RoundContext,
    target: bytes,
    blobs: Iterable[bytes],
    receiver_keys: PartyKeys,
    unmasks: Iterable[UnmaskMessage],
    quant: QuantParams,
    truth: npt.NDArray[np.floating],
) -> float:
    """Return the largest |Pearson r| of any reconstruction of ``target``'s vector.

    Parameters
    ----------
    ctx : RoundContext
        The receiver's request.
    target : bytes
        The sender whose update the receiver tries to recover.
    blobs : iterable of bytes
        Every envelope of the target the receiver can find (in the store or elsewhere).
    receiver_keys : PartyKeys
        The receiver's private keys.
    unmasks : iterable of UnmaskMessage
        Every unmask message revealed to the receiver in that request.
    quant : QuantParams
        The request's quantization.
    truth : ndarray
        The target's true vector; correlations are taken on its nonzero (sold) positions.
    """
    seeds: dict[bytes, bytes] = {}
    shares: dict[bytes, int] = {}
    for message in unmasks:
        for item in message.items:
            if item.kind is RevealKind.PAIR and item.sender == target:
                seeds[message.holder] = item.value
            elif item.kind is RevealKind.PAIR and message.holder == target:
                seeds[item.sender] = item.value
            elif item.kind is RevealKind.SHARE and item.sender == target:
                value = decode_element(item.value)
                if value is not None:
                    shares[message.holder] = value
    estimates: list[RingArray] = []
    order = ctx.neighbours_of(target)
    for blob in blobs:
        try:
            opened = open_envelope(blob, ctx=ctx, sender=target, receiver_keys=receiver_keys,
                                   quant=quant)
        except CryptoError:
            continue
        estimate = opened.ring.copy()
        for peer, seed in seeds.items():
            apply_streams(estimate, target, (peer,), (seed,), quant, sign=-1)
        header = opened.header
        valid = {h: v for h, v in shares.items() if h in order
                 and share_commitment(ctx, target, h, v) == header.share_commits[order.index(h)]}
        if header.self_masked and len(valid) >= header.threshold:
            chosen = sorted(valid, key=order.index)[: header.threshold]
            secret = reconstruct([(order.index(h) + 1, valid[h]) for h in chosen])
            if self_commitment(ctx, target, secret) == header.self_commit:
                np.subtract(estimate, keystream(self_mask_key(ctx, target, secret), quant),
                            out=estimate)
        estimates.append(estimate)
    sold = np.asarray(truth) != 0
    candidates = [dequantize(e, quant) for e in estimates]
    candidates += [dequantize(a - b, quant) for a, b in itertools.permutations(estimates, 2)]
    best = 0.0
    for candidate in candidates:
        values = candidate[: sold.shape[0]][sold]
        if values.size < 2 or np.ptp(values) == 0:
            continue
        best = max(best, abs(float(np.corrcoef(values, np.asarray(truth)[sold])[0, 1])))
    return best
