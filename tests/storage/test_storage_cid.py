"""ContentId encoding, parsing and commitments; CIDs of known vectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import ContentId, InvalidContentId, compute_cid

# CIDs published by go-ipfs/Kubo for `ipfs add` (CIDv0 default: dag-pb, raw-leaves false).
KNOWN_V0 = {
    b"": "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
    b"hello world\n": "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
}


@pytest.mark.parametrize(("data", "v0"), sorted(KNOWN_V0.items()))
def test_single_block_objects_match_published_kubo_cids(data: bytes, v0: str) -> None:
    cid = compute_cid(data)
    assert cid == ContentId.parse(v0)
    assert cid.v0 == v0
    assert str(cid).startswith("bafybei")  # base32 CIDv1 dag-pb sha2-256


@given(st.binary(min_size=32, max_size=32))
@settings(max_examples=200, deadline=None)
def test_commitment_roundtrips_through_every_encoding(digest: bytes) -> None:
    cid = ContentId(digest)
    assert ContentId.from_commitment(cid.commitment) == cid
    assert ContentId.from_commitment("0x" + digest.hex()) == cid
    assert ContentId.parse(str(cid)) == cid
    assert ContentId.parse(str(cid).upper()) == cid
    assert ContentId.parse(cid.v0) == cid
    assert ContentId.parse("f" + cid.binary.hex()) == cid
    assert ContentId.from_bytes(cid.binary) == cid


def test_commitment_is_the_sha256_multihash_digest() -> None:
    cid = ContentId.parse("bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby")
    assert cid.commitment == cid.binary[4:]
    assert cid.binary[:4] == bytes([0x01, 0x70, 0x12, 0x20])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bafkreif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y", "codec raw"),
        ("", "not a CID"),
        ("xyz", "multibase"),
        ("b!!!", "not a valid CID"),
        ("Qm0000000000000000000000000000000000000000000O", "base58"),
        ("f0170", "varint"),
        ("f0270122000", "version"),
    ],
)
def test_malformed_or_foreign_cids_are_rejected(text: str, message: str) -> None:
    with pytest.raises(InvalidContentId, match=message):
        ContentId.parse(text)


def test_wrong_digest_lengths_are_rejected() -> None:
    with pytest.raises(InvalidContentId, match="32 bytes"):
        ContentId(b"\x00" * 31)
    with pytest.raises(InvalidContentId):
        ContentId.from_commitment("0xzz")
    with pytest.raises(ValueError):  # InvalidContentId is also a ValueError
        ContentId.from_commitment(b"\x01" * 33)
