"""What a party knows about the others: their registration (keys, sizes) and released samples.

Everything here comes from a peer (through the chain or the store), so it is read once,
validated, and cached for the run; registrations are immutable once made.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from client.chain.ledger import Ledger
from client.crypto import PublicKeys
from storage import ContentId, ContentStore
from trainer.dpgan import SampleRelease


def address_bytes(address: str) -> bytes:
    """Return the 20 raw bytes of a hex address."""
    return bytes.fromhex(address[2:] if address.startswith("0x") else address)


@dataclass(frozen=True)
class Peer:
    """What the chain says about another party, fixed at registration."""

    address: str
    public: PublicKeys
    data_size: int
    samples_released: int
    samples_digest: bytes

    @property
    def sharing_level(self) -> Fraction:
        """Return epsilon_j = u_j / |D_j|."""
        return Fraction(self.samples_released, self.data_size)


class PeerDirectory:
    """The registered parties of one ledger, read from its registrations on first use."""

    def __init__(self, ledger: Ledger, store: ContentStore) -> None:
        self._ledger = ledger
        self._store = store
        self._peers: dict[str, Peer] = {}
        self._samples: dict[str, SampleRelease] = {}

    def get(self, address: str) -> Peer:
        """Return the registration of ``address``."""
        if address not in self._peers:
            for reg in self._ledger.registrations():
                self._peers[reg.party] = Peer(
                    reg.party, PublicKeys.from_bytes(reg.enc_pub_key), reg.data_size,
                    reg.samples_released, reg.samples_digest,
                )
        return self._peers[address]

    def public(self, address: str) -> PublicKeys:
        """Return the encryption public keys of ``address``."""
        return self.get(address).public

    def x25519_by_address(self, me: str) -> dict[bytes, bytes]:
        """Return raw address -> X25519 public key of every registered party."""
        self.get(me)
        return {address_bytes(a): p.public.x25519 for a, p in self._peers.items()}

    def samples(self, owner: str) -> SampleRelease:
        """Return the samples ``owner`` released at registration (fetched once)."""
        if owner not in self._samples:
            blob = self._store.get(ContentId.from_commitment(self.get(owner).samples_digest))
            self._samples[owner] = SampleRelease.from_bytes(blob)
        return self._samples[owner]
