"""Small private messages between two parties (mutual-evaluation labels, recovery seeds).

A note is one HPKE (RFC 9180) single-shot encryption to the recipient's registered key. Its
``info`` binds chain id, contract, epoch, message kind, sender and recipient, so a note cannot
be replayed into another consortium, epoch, kind or conversation. Opening fails with the same
opaque :class:`DecryptionError` as envelopes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hpke

from client.crypto.context import check_address
from client.crypto.errors import DecryptionError
from client.crypto.keys import PartyKeys, PublicKeys

_NOTE_DOMAIN = b"fppdl/note/v1"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


@dataclass(frozen=True)
class NoteContext:
    """Who sends what kind of note to whom, in which consortium and epoch."""

    chain_id: int
    contract: bytes
    epoch: int
    kind: int
    sender: bytes
    recipient: bytes

    def __post_init__(self) -> None:
        check_address(self.contract, "contract")
        check_address(self.sender, "sender")
        check_address(self.recipient, "recipient")
        if not (0 <= self.chain_id < 2**64 and 0 <= self.epoch < 2**64 and 0 <= self.kind < 256):
            raise ValueError("chain id, epoch or kind out of range")

    def info(self) -> bytes:
        """Canonical HPKE ``info`` bytes of this context."""
        return b"".join(
            (
                _NOTE_DOMAIN,
                struct.pack(">QQB", self.chain_id, self.epoch, self.kind),
                self.contract,
                self.sender,
                self.recipient,
            )
        )


def seal_note(data: bytes, *, ctx: NoteContext, recipient: PublicKeys) -> bytes:
    """Encrypt ``data`` to ``recipient`` under ``ctx`` (fresh ephemeral key each call)."""
    return _SUITE.encrypt(bytes(data), recipient.x25519_key(), info=ctx.info())


def open_note(blob: bytes, *, ctx: NoteContext, keys: PartyKeys) -> bytes:
    """Decrypt a note addressed to the holder of ``keys``; every failure is opaque."""
    try:
        return _SUITE.decrypt(bytes(blob), keys.x25519_key(), info=ctx.info())
    except Exception:  # noqa: BLE001 - one opaque failure for every cause
        raise DecryptionError() from None
