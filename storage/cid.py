"""Content identifiers: CIDv1, dag-pb codec, sha2-256 multihash — the only kind fppdl commits to.

Every object fppdl stores is added with the same options (see :mod:`storage.unixfs`), so the root
is always a dag-pb node hashed with sha2-256.  The version, codec and hash function are therefore
constants and the 32-byte digest alone identifies the object: that digest is what the contract
stores as a ``bytes32`` (:attr:`ContentId.commitment`), and :meth:`ContentId.from_commitment`
rebuilds the full CID from it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from storage.errors import InvalidContentId

CID_VERSION = 1
DAG_PB_CODEC = 0x70
SHA2_256_CODE = 0x12
DIGEST_SIZE = 32
# Binary CIDv1 prefix: version 1, dag-pb, sha2-256 multihash of 32 bytes (one-byte varints).
_CIDV1_PREFIX = bytes((CID_VERSION, DAG_PB_CODEC, SHA2_256_CODE, DIGEST_SIZE))
# A CIDv0 is the bare multihash; it always means dag-pb + sha2-256.
_MULTIHASH_PREFIX = bytes((SHA2_256_CODE, DIGEST_SIZE))

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}
_CODEC_NAMES = {0x55: "raw", 0x71: "dag-cbor", 0x0129: "dag-json", 0x70: "dag-pb"}


def _b58decode(text: str) -> bytes:
    value = 0
    for char in text:
        try:
            value = value * 58 + _B58_INDEX[char]
        except KeyError:
            raise InvalidContentId(f"{char!r} is not a base58btc character") from None
    leading_zeros = len(text) - len(text.lstrip("1"))
    body = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return b"\x00" * leading_zeros + body


def _b58encode(data: bytes) -> str:
    value = int.from_bytes(data, "big")
    chars = []
    while value:
        value, rem = divmod(value, 58)
        chars.append(_B58_ALPHABET[rem])
    leading_zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading_zeros + "".join(reversed(chars))


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise InvalidContentId("truncated or oversized varint in CID")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


@dataclass(frozen=True, slots=True, order=True)
class ContentId:
    """A CIDv1 dag-pb sha2-256 content identifier, held as its 32-byte digest.

    Attributes
    ----------
    digest
        The sha2-256 digest of the root dag-pb block (exactly 32 bytes).
    """

    digest: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.digest, bytes) or len(self.digest) != DIGEST_SIZE:
            raise InvalidContentId(
                f"a content id digest is {DIGEST_SIZE} bytes, got {self.digest!r:.80}"
            )

    @property
    def commitment(self) -> bytes:
        """The 32 bytes committed on-chain (``bytes32``): the multihash digest of the root."""
        return self.digest

    @classmethod
    def from_commitment(cls, commitment: bytes | str) -> ContentId:
        """Rebuild the full content id from an on-chain ``bytes32`` commitment.

        Parameters
        ----------
        commitment
            The 32-byte digest, as stored by the contract (``bytes`` or a hex string with 0x).

        Returns
        -------
        ContentId
            The CIDv1 dag-pb sha2-256 content id of that digest.
        """
        if isinstance(commitment, str):
            text = commitment.removeprefix("0x")
            try:
                commitment = bytes.fromhex(text)
            except ValueError:
                raise InvalidContentId(f"commitment {text!r:.80} is not hex") from None
        return cls(bytes(commitment))

    @property
    def binary(self) -> bytes:
        """The binary CIDv1 (version, codec, multihash)."""
        return _CIDV1_PREFIX + self.digest

    @property
    def v0(self) -> str:
        """The same object as a base58btc CIDv0 string (``Qm...``), for older tools."""
        return _b58encode(_MULTIHASH_PREFIX + self.digest)

    def __str__(self) -> str:
        # Multibase 'b': lowercase RFC 4648 base32 without padding, the CIDv1 default.
        return "b" + base64.b32encode(self.binary).decode("ascii").lower().rstrip("=")

    def __repr__(self) -> str:
        return f"ContentId({self})"

    @classmethod
    def from_bytes(cls, data: bytes) -> ContentId:
        """Decode a binary CID (v1, or a v0 bare multihash) into a content id.

        Raises
        ------
        InvalidContentId
            If it is not dag-pb with a 32-byte sha2-256 multihash.
        """
        if len(data) == 34 and data[:2] == _MULTIHASH_PREFIX:
            return cls(bytes(data[2:]))
        version, pos = _read_varint(data, 0)
        if version != CID_VERSION:
            raise InvalidContentId(f"unsupported CID version {version}")
        codec, pos = _read_varint(data, pos)
        if codec != DAG_PB_CODEC:
            name = _CODEC_NAMES.get(codec, hex(codec))
            raise InvalidContentId(
                f"CID codec {name} is not supported: fppdl only commits to dag-pb roots"
            )
        hash_code, pos = _read_varint(data, pos)
        size, pos = _read_varint(data, pos)
        if hash_code != SHA2_256_CODE or size != DIGEST_SIZE:
            raise InvalidContentId(f"CID multihash 0x{hash_code:x}/{size} is not sha2-256/32 bytes")
        if len(data) - pos != DIGEST_SIZE:
            raise InvalidContentId("CID digest has the wrong length")
        return cls(bytes(data[pos:]))

    @classmethod
    def parse(cls, text: str) -> ContentId:
        """Decode a CID string: CIDv0 (``Qm...``) or CIDv1 in base32 / base58btc / base16.

        Raises
        ------
        InvalidContentId
            If the string is not such a CID, or is one of another codec or hash.
        """
        if not isinstance(text, str) or not text:
            raise InvalidContentId(f"{text!r:.80} is not a CID string")
        if len(text) == 46 and text.startswith("Qm"):
            return cls.from_bytes(_b58decode(text))
        prefix, body = text[0], text[1:]
        try:
            if prefix in "bB":
                padded = body.upper() + "=" * (-len(body) % 8)
                raw = base64.b32decode(padded)
            elif prefix == "z":
                raw = _b58decode(body)
            elif prefix in "fF":
                raw = bytes.fromhex(body)
            else:
                raise InvalidContentId(f"unsupported multibase prefix {prefix!r} in {text!r:.80}")
        except (ValueError, TypeError) as exc:
            raise InvalidContentId(f"{text!r:.80} is not a valid CID: {exc}") from None
        return cls.from_bytes(raw)
