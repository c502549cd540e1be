"""A party's identity: its signing account and its encryption keys (light: no torch).

The keystore (:mod:`client.keystore`) decrypts one from disk; the in-process consortium makes
fresh ones; the protocol (:class:`client.protocol.party.Party`) takes one. There is no other
identity type.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from client.crypto.keys import PartyKeys


@dataclass(frozen=True)
class PartyIdentity:
    """A party's secrets: the signing account and the encryption keys."""

    account: LocalAccount
    keys: PartyKeys

    @property
    def address(self) -> str:
        """Checksummed Ethereum address."""
        return str(self.account.address)

    @classmethod
    def generate(cls, account: LocalAccount | None = None) -> PartyIdentity:
        """Return a fresh identity from OS randomness (or around an existing ``account``)."""
        from eth_account import Account

        return cls(account or Account.create(), PartyKeys.generate())
