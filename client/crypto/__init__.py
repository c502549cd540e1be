"""Three-layer onion encryption of gradients with dealer-free zero-sum masks.

Typical round, for the request of receiver r with ordered sender set S::

    ctx = RoundContext(chain_id, contract, round, receiver=r, senders=S)
    quant = QuantParams.for_vector(L)
    sealed = seal(vec, ctx=ctx, sender=me, sender_keys=my_keys,
                  receiver_public=pub_r, peer_publics=x25519_by_address, quant=quant)
    # upload sealed.blob; the receiver then:
    shares = [open_envelope(b, ctx=ctx, sender=s, receiver_keys=r_keys) for s, b in ...]
    total = aggregate(shares, ctx=ctx, recoveries=recoveries_for_dropped_senders)

This package imports nothing from ``client.chain``: callers pass plain values.
"""

from client.crypto.context import RoundContext
from client.crypto.envelope import Envelope, EnvelopeHeader, parse_envelope
from client.crypto.errors import (
    ContextError,
    CryptoError,
    DecryptionError,
    DisclosureError,
    KeyFormatError,
    KeyImportError,
    MissingRecoveryError,
    QuantizationError,
)
from client.crypto.hpke_wrap import WrapSuite
from client.crypto.keys import PartyKeys, PublicKeys
from client.crypto.onion import (
    Disclosure,
    MaskedShare,
    Recovery,
    Sealed,
    aggregate,
    aggregate_ring,
    inconsistent_pairs,
    open_envelope,
    recovery_stream,
    reveal,
    seal,
    verify_reveal,
)
from client.crypto.quantize import QuantParams, Segment, dequantize, quantize
from client.crypto.rng import RandomSource, os_random, seeded_random

__all__ = [
    "ContextError",
    "CryptoError",
    "DecryptionError",
    "Disclosure",
    "DisclosureError",
    "Envelope",
    "EnvelopeHeader",
    "KeyFormatError",
    "KeyImportError",
    "MaskedShare",
    "MissingRecoveryError",
    "PartyKeys",
    "PublicKeys",
    "QuantParams",
    "QuantizationError",
    "RandomSource",
    "Recovery",
    "RoundContext",
    "Sealed",
    "Segment",
    "WrapSuite",
    "aggregate",
    "aggregate_ring",
    "dequantize",
    "inconsistent_pairs",
    "open_envelope",
    "os_random",
    "parse_envelope",
    "quantize",
    "recovery_stream",
    "reveal",
    "seal",
    "seeded_random",
    "verify_reveal",
]
