"""Dispute openings: let anyone check layers 2-3 of ONE envelope without unmasking layer 1.

When a receiver claims an envelope does not open or is malformed, its sender publishes a
:class:`DisputeOpening`: the envelope's fresh layer-2 key (the header commits to it, see
:func:`~client.crypto.onion.key_commitment`) and the HPKE ephemeral secret of its layer-3
wrap. :func:`verify_dispute` then checks, from public data only (the envelope committed
on-chain, the request, the receiver's registered PUBLIC key, the opening), that:

1. the bytes parse as a version-2 envelope (lengths, segment table, share section);
2. the header belongs to this request and sender (chain, contract, round, receiver,
   context digest, neighbour count, threshold) and, if given, uses the request's
   quantization parameters;
3. the opening is for this envelope and its key matches the key commitment;
4. layer 3 wraps exactly that key to the receiver (recomputed from the ephemeral secret);
5. layer 2 authenticates under that key (the AES-GCM tag covers the whole header);
6. layer 1 has the structure the header announces: ``length`` ring elements of ``bits``
   bits (every such bit string is a ring element, so this is the whole range check).

It never needs the receiver's private key and it never learns the update: the decrypted
layer 1 is still under the pair masks and the self-mask, whose shares are never revealed
for an excluded envelope. What cannot be proven: anything about the VALUES under the masks
(how many entries are meaningful, whether they respect the clip bound).

For the hybrid ML-KEM suite the ephemeral cannot be revealed (``cryptography`` keeps it), so
step 4 is skipped and the verdict says ``layer3_checked = False``.
"""

from __future__ import annotations

import enum
import hmac
import struct
from dataclasses import dataclass

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from client.crypto.constants import (
    ADDRESS_LEN,
    DIGEST_LEN,
    DISPUTE_MAGIC,
    DISPUTE_VERSION,
    MESSAGE_KEY_LEN,
    X25519_SECRET_LEN,
)
from client.crypto.context import RoundContext
from client.crypto.envelope import parse_envelope
from client.crypto.errors import DecryptionError, DisclosureError
from client.crypto.hpke_wrap import WrapSuite, check_wrap
from client.crypto.keys import PublicKeys
from client.crypto.onion import Sealed, header_matches, key_commitment, wrap_info
from client.crypto.quantize import QuantParams

_HEAD = struct.Struct(f">4sB{DIGEST_LEN}s{ADDRESS_LEN}s{MESSAGE_KEY_LEN}sB")


@dataclass(frozen=True, repr=False)
class DisputeOpening:
    """What a sender publishes to open layers 3-2 of one of its envelopes to everyone."""

    context_digest: bytes
    sender: bytes
    message_key: bytes
    wrap_secret: bytes | None

    def __repr__(self) -> str:
        return f"DisputeOpening(sender=0x{self.sender.hex()})"

    def to_bytes(self) -> bytes:
        """Encode as ``magic | version | digest | sender | key | flag u8 [| wrap_secret]``."""
        flag = 0 if self.wrap_secret is None else 1
        head = _HEAD.pack(
            DISPUTE_MAGIC,
            DISPUTE_VERSION,
            self.context_digest,
            self.sender,
            self.message_key,
            flag,
        )
        return head + (self.wrap_secret or b"")

    @classmethod
    def from_bytes(cls, data: bytes, *, sender: bytes) -> DisputeOpening:
        """Parse the opening ``sender`` published.

        Raises
        ------
        DisclosureError
            If malformed or not from ``sender`` (culprit: the sender).
        """
        data = bytes(data)
        if len(data) not in (_HEAD.size, _HEAD.size + X25519_SECRET_LEN):
            raise DisclosureError("dispute opening has a wrong length", culprit=sender)
        magic, version, digest, who, key, flag = _HEAD.unpack_from(data)
        if magic != DISPUTE_MAGIC or version != DISPUTE_VERSION or who != sender:
            raise DisclosureError("not a dispute opening of this sender", culprit=sender)
        if flag not in (0, 1) or len(data) != _HEAD.size + flag * X25519_SECRET_LEN:
            raise DisclosureError("dispute opening has a bad wrap-secret flag", culprit=sender)
        return cls(digest, who, key, data[_HEAD.size :] if flag else None)


def dispute_opening(sealed: Sealed) -> DisputeOpening:
    """Return the opening of a sealed envelope (store its bytes, 0600, for the dispute window)."""
    return DisputeOpening(
        sealed.context_digest, sealed.sender, sealed.message_key, sealed.wrap_secret
    )


class DisputeCheck(enum.Enum):
    """The check of :func:`verify_dispute` that failed."""

    MALFORMED = "malformed"
    HEADER = "header"
    PARAMETERS = "parameters"
    OPENING = "opening"
    KEY_COMMITMENT = "key_commitment"
    LAYER3 = "layer3"
    LAYER2 = "layer2"


@dataclass(frozen=True)
class DisputeVerdict:
    """Outcome of :func:`verify_dispute`.

    ``valid`` is True when the envelope is well-formed and opens for its receiver: a claim
    that it does not open or is malformed is then false. Otherwise ``failed`` names the first
    check that failed; a failed ``OPENING`` or ``KEY_COMMITMENT`` means the sender did not
    open its envelope properly, which also upholds the claim.
    """

    valid: bool
    failed: DisputeCheck | None
    layer3_checked: bool
    detail: str


def _fail(check: DisputeCheck, detail: str, layer3: bool = False) -> DisputeVerdict:
    return DisputeVerdict(False, check, layer3, detail)


def verify_dispute(
    blob: bytes,
    opening: DisputeOpening,
    *,
    ctx: RoundContext,
    sender: bytes,
    receiver_public: PublicKeys,
    quant: QuantParams | None = None,
) -> DisputeVerdict:
    """Check one envelope's layers 2-3 and layer-1 structure from public data (pure).

    Parameters
    ----------
    blob : bytes
        The envelope, fetched by the digest its sender committed on-chain.
    opening : DisputeOpening
        What the sender published.
    ctx : RoundContext
        The receiver's request.
    sender : bytes
        The uploader under dispute.
    receiver_public : PublicKeys
        The receiver's registered public keys.
    quant : QuantParams, optional
        The request's quantization parameters, if the verifier knows them.
    """
    try:
        env = parse_envelope(blob)
    except DecryptionError:
        return _fail(DisputeCheck.MALFORMED, "the bytes are not a well-formed envelope")
    header = env.header
    if sender not in ctx.senders or not header_matches(header, ctx, sender):
        return _fail(DisputeCheck.HEADER, "the header does not belong to this request/sender")
    if quant is not None and header.quant != quant:
        return _fail(DisputeCheck.PARAMETERS, "the header's quantization differs")
    if header.self_masked != bool(ctx.neighbours_of(sender)):
        return _fail(DisputeCheck.HEADER, "the self-mask section is missing or spurious")
    if opening.context_digest != ctx.digest or opening.sender != sender:
        return _fail(DisputeCheck.OPENING, "the opening is for another envelope")
    key = opening.message_key
    if len(key) != MESSAGE_KEY_LEN or not hmac.compare_digest(
        key_commitment(key), header.key_commit
    ):
        return _fail(DisputeCheck.KEY_COMMITMENT, "the key does not match the key commitment")
    layer3 = header.suite is WrapSuite.X25519
    if layer3:
        if opening.wrap_secret is None:
            return _fail(DisputeCheck.OPENING, "no wrap secret for an X25519-suite envelope")
        if not check_wrap(
            env.wrapped_key,
            receiver_public.x25519,
            wrap_info(env.header_bytes),
            opening.wrap_secret,
            key,
        ):
            return _fail(
                DisputeCheck.LAYER3, "layer 3 does not wrap this key to the receiver", True
            )
    try:
        plain = AESGCM(key).decrypt(env.nonce, env.payload, env.header_bytes)
    except InvalidTag:
        return _fail(DisputeCheck.LAYER2, "layer 2 does not authenticate under the key", layer3)
    ring = np.frombuffer(plain, dtype=header.quant.wire_dtype)
    if ring.shape != (header.quant.length,):
        return _fail(DisputeCheck.LAYER2, "layer 1 has the wrong length", layer3)
    return DisputeVerdict(True, None, layer3, "layers 3-2 open; layer 1 is well-formed")
