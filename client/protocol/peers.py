"""What a party knows about the others: their registration (keys, sizes) and released samples.

Everything here comes from a peer (through the chain or the store), so it is validated and
bounded before use. A peer whose registration or samples are unusable is not an error of this
party: it is recorded as that peer's *fault*, the party stops buying from, selling to and
labelling for it, and reports it as low quality at its next assessment. Nothing a peer
registers can make :meth:`PeerDirectory.get` or :meth:`PeerDirectory.samples` raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from client.chain.ledger import Ledger
from client.crypto import CryptoError, PartyKeys, PublicKeys
from storage import ContentId, ContentStore, StorageError
from trainer.dpgan import SampleFormatError, SampleRelease

#: The most samples a party may release whatever the ledger accepted (the paper releases
#: 1,000; a bound keeps one peer from making everyone fetch and label gigabytes).
MAX_RELEASED_SAMPLES: Final = 100_000
#: Bytes of one released sample at most (3 channels x 32 x 32 pixels of one byte).
MAX_SAMPLE_BYTES: Final = 3 * 32 * 32
#: Shape of one sample (MNIST padded to 32 x 32, one channel) unless a party says otherwise.
DEFAULT_SAMPLE_SHAPE: Final = (1, 32, 32)
#: Room for the sample file's header and privacy metadata.
SAMPLE_HEADER_BYTES: Final = 4096


def address_bytes(address: str) -> bytes:
    """Return the 20 raw bytes of a hex address."""
    return bytes.fromhex(address[2:] if address.startswith("0x") else address)


@dataclass(frozen=True)
class Peer:
    """What the chain says about another party, fixed at registration.

    ``public`` is None when the registered key is unusable (then ``fault`` says why).
    """

    address: str
    public: PublicKeys | None
    data_size: int
    samples_released: int
    samples_digest: bytes
    fault: str = ""

    @property
    def sharing_level(self) -> Fraction:
        """Return epsilon_j = u_j / |D_j| (0 for an unusable registration)."""
        if self.data_size <= 0:
            return Fraction(0)
        return Fraction(self.samples_released, self.data_size)


class PeerDirectory:
    """The registered parties of one ledger, validated on first use.

    Parameters
    ----------
    ledger : Ledger
        Where the registrations are read.
    store : ContentStore
        Where the released samples are fetched.
    keys : PartyKeys
        This party's keys (a peer key that gives no shared secret with them is unusable).
    sample_shape : tuple of int
        ``(channels, height, width)`` of every party's samples (the model's input).
    """

    def __init__(
        self, ledger: Ledger, store: ContentStore, keys: PartyKeys,
        sample_shape: tuple[int, int, int] = DEFAULT_SAMPLE_SHAPE,
    ) -> None:
        self._ledger = ledger
        self._store = store
        self._keys = keys
        self._shape = sample_shape
        self._peers: dict[str, Peer] = {}
        self._samples: dict[str, SampleRelease] = {}
        self._faults: dict[str, str] = {}

    def _load(self) -> None:
        for reg in self._ledger.registrations():
            if reg.party in self._peers:
                continue
            public: PublicKeys | None = None
            fault = ""
            try:
                public = PublicKeys.from_bytes(reg.enc_pub_key)
                # A low-order X25519 point parses but yields no shared secret: every mask
                # with that party would fail, so the key is unusable.
                self._keys.shared_secret(public.x25519)
            except CryptoError as err:
                public, fault = None, f"unusable encryption key: {err}"
            if not fault and not 0 < reg.samples_released <= reg.data_size:
                fault = f"inconsistent claim: {reg.samples_released} samples of {reg.data_size}"
            if not fault and reg.samples_released > MAX_RELEASED_SAMPLES:
                fault = f"claims {reg.samples_released} released samples (at most " \
                        f"{MAX_RELEASED_SAMPLES} are fetched)"
            self._peers[reg.party] = Peer(reg.party, public, reg.data_size,
                                          reg.samples_released, reg.samples_digest, fault)
            if fault:
                self._faults[reg.party] = fault

    def get(self, address: str) -> Peer:
        """Return the registration of ``address`` (a registered party)."""
        if address not in self._peers:
            self._load()
        return self._peers[address]

    def usable(self, address: str) -> bool:
        """Return whether ``address`` has shown no fault so far."""
        self.get(address)
        return address not in self._faults

    def faults(self) -> dict[str, str]:
        """Return every peer fault seen so far: address -> reason."""
        return dict(self._faults)

    def public(self, address: str) -> PublicKeys:
        """Return the encryption public keys of a usable peer (check :meth:`usable` first)."""
        public = self.get(address).public
        if public is None:
            raise KeyError(f"{address} has no usable encryption key")
        return public

    def x25519_by_address(self, me: str) -> dict[bytes, bytes]:
        """Return raw address -> X25519 public key of every party with a usable key."""
        self.get(me)
        return {
            address_bytes(a): p.public.x25519 for a, p in self._peers.items()
            if p.public is not None
        }

    def samples(self, owner: str) -> SampleRelease | None:
        """Return the samples ``owner`` released (fetched once); None, and a fault, if bad."""
        if owner in self._samples:
            return self._samples[owner]
        peer = self.get(owner)
        if peer.fault:
            return None
        bound = SAMPLE_HEADER_BYTES + peer.samples_released * MAX_SAMPLE_BYTES
        try:
            blob = self._store.get(ContentId.from_commitment(peer.samples_digest),
                                   max_size=bound)
            release = SampleRelease.from_bytes(blob)
            if release.count != peer.samples_released:
                raise SampleFormatError(
                    f"{release.count} samples stored, {peer.samples_released} registered"
                )
            if release.pixels.shape[1:] != self._shape:
                raise SampleFormatError(
                    f"samples of shape {release.pixels.shape[1:]}, the models take {self._shape}"
                )
        except (StorageError, SampleFormatError) as err:
            self._faults[owner] = f"released samples unusable: {type(err).__name__}: {err}"
            return None
        self._samples[owner] = release
        return release
