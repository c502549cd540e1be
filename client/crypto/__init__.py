"""Three-layer onion encryption of gradients with SecAgg-style double masking.

One round, for the request of receiver r with ordered sender set S (every call below is
made by the party named on its left; ``uploads`` is sender -> on-chain digest)::

    ctx = RoundContext(chain_id, contract, round, receiver=r, senders=S, neighbours=k_n)

    # UPLOAD phase, each sender:
    sealed = seal(vec, ctx=ctx, sender=me, sender_keys=my_keys, receiver_public=pub_r,
                  peer_publics=x25519_by_address, quant=quant)
    keep(dispute_opening(sealed).to_bytes())          # 0600, until the dispute window ends
    put(sealed.blob); upload(digest)

    # after the deadline, the receiver:
    opened = {s: open_envelope(blob, ctx=ctx, sender=s, receiver_keys=r_keys) ...}
    receipt = make_receipt(ctx, uploads=uploads, rejected={bad: Exclusion.UNDECRYPTABLE},
                           min_accepted=min_uploaders)
    publish(receipt.to_bytes())                        # kind "receipt", public

    # each sender, as a neighbour (guard loaded from its state):
    plan = decide_reveals(ctx, me, uploads=uploads, receipt=receipt, min_accepted=m)
    out = guard.reveal(ctx, uploads=uploads, receipt=receipt, min_accepted=m,
                       holder_keys=my_keys, peer_publics=x25519_by_address,
                       envelopes={x: get(d) for x, d in plan.shares}, persist=save_guard)
    send_note(out.message.to_bytes())                  # kind "unmask", to the receiver

    # the receiver:
    unmasks = [UnmaskMessage.from_bytes(note, ctx=ctx, holder=h) ...]
    total = aggregate([opened[s] for s in receipt.accepted], ctx=ctx, receipt=receipt,
                      unmasks=unmasks).values()

This package imports nothing from ``client.chain``: callers pass plain values.
"""

from client.crypto.aggregate import Aggregate, aggregate, check_dealing
from client.crypto.context import RoundContext, default_threshold
from client.crypto.dispute import (
    DisputeCheck,
    DisputeOpening,
    DisputeVerdict,
    dispute_opening,
    verify_dispute,
)
from client.crypto.envelope import Envelope, EnvelopeHeader, parse_envelope, parse_header
from client.crypto.errors import (
    AggregationError,
    AttributedError,
    BadPairSeedError,
    BadShareError,
    ContextError,
    CryptoError,
    DealingError,
    DecryptionError,
    DisclosureError,
    GuardFormatError,
    InvalidReceiptError,
    KeyFormatError,
    KeyImportError,
    MissingPairSeedError,
    MissingSharesError,
    QuantizationError,
    RevealConflictError,
    UnexpectedRevealError,
    UnmaskFormatError,
)
from client.crypto.hpke_wrap import WrapSuite
from client.crypto.keys import PartyKeys, PublicKeys
from client.crypto.onion import (
    MaskedShare,
    Sealed,
    inconsistent_pairs,
    key_commitment,
    open_envelope,
    seal,
)
from client.crypto.quantize import QuantParams, Segment, dequantize, quantize
from client.crypto.receipt import Exclusion, Receipt, check_receipt, make_receipt
from client.crypto.reveal import (
    RevealGuard,
    RevealKind,
    RevealOutcome,
    RevealPlan,
    UnmaskItem,
    UnmaskMessage,
    decide_reveals,
    expected_unmaskers,
)
from client.crypto.rng import RandomSource, os_random, seeded_random

__all__ = [
    "Aggregate",
    "AggregationError",
    "AttributedError",
    "BadPairSeedError",
    "BadShareError",
    "ContextError",
    "CryptoError",
    "DealingError",
    "DecryptionError",
    "DisclosureError",
    "DisputeCheck",
    "DisputeOpening",
    "DisputeVerdict",
    "Envelope",
    "EnvelopeHeader",
    "Exclusion",
    "GuardFormatError",
    "InvalidReceiptError",
    "KeyFormatError",
    "KeyImportError",
    "MaskedShare",
    "MissingPairSeedError",
    "MissingSharesError",
    "PartyKeys",
    "PublicKeys",
    "QuantParams",
    "QuantizationError",
    "RandomSource",
    "Receipt",
    "RevealConflictError",
    "RevealGuard",
    "RevealKind",
    "RevealOutcome",
    "RevealPlan",
    "RoundContext",
    "Sealed",
    "Segment",
    "UnexpectedRevealError",
    "UnmaskFormatError",
    "UnmaskItem",
    "UnmaskMessage",
    "WrapSuite",
    "aggregate",
    "check_dealing",
    "check_receipt",
    "decide_reveals",
    "default_threshold",
    "dequantize",
    "dispute_opening",
    "expected_unmaskers",
    "inconsistent_pairs",
    "key_commitment",
    "make_receipt",
    "open_envelope",
    "os_random",
    "parse_envelope",
    "parse_header",
    "quantize",
    "seal",
    "seeded_random",
    "verify_dispute",
]
