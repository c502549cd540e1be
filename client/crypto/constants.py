"""Protocol constants of the onion encryption, defined once and imported everywhere."""

from __future__ import annotations

from typing import Final

#: Magic prefix and format version of the envelope byte format (2: double masking).
ENVELOPE_MAGIC: Final = b"FPDL"
ENVELOPE_VERSION: Final = 2

#: Magic prefixes and versions of the receipt and unmask messages.
RECEIPT_MAGIC: Final = b"FPRC"
RECEIPT_VERSION: Final = 1
UNMASK_MAGIC: Final = b"FPUM"
UNMASK_VERSION: Final = 1
DISPUTE_MAGIC: Final = b"FPDO"
DISPUTE_VERSION: Final = 1
#: Format version of a serialised reveal guard (JSON).
GUARD_VERSION: Final = 1

#: Magic prefix and version of the password-protected private key file.
KEYFILE_MAGIC: Final = b"FPKY"
KEYFILE_VERSION: Final = 1

ADDRESS_LEN: Final = 20
X25519_KEY_LEN: Final = 32
MLKEM768_PUBLIC_LEN: Final = 1184
MLKEM768_SEED_LEN: Final = 64

#: Layer-2 AES-256-GCM parameters.
MESSAGE_KEY_LEN: Final = 32
NONCE_LEN: Final = 12
TAG_LEN: Final = 16

#: Pairwise mask seed and commitment sizes.
SEED_LEN: Final = 32
COMMIT_LEN: Final = 32
DIGEST_LEN: Final = 32

#: Self-mask seeds and their Shamir shares are elements of GF(p), p = 2^255 - 19, encoded as
#: 32 big-endian bytes.
SHAMIR_PRIME: Final = 2**255 - 19
SHARE_LEN: Final = 32
#: One sealed share in the envelope header: fresh nonce | AES-256-GCM(share) incl. tag.
SEALED_SHARE_LEN: Final = NONCE_LEN + SHARE_LEN + TAG_LEN
#: Smallest accepted set a neighbour reveals anything for (the contract's minUploaders).
DEFAULT_MIN_ACCEPTED: Final = 2
#: X25519 private key length (the HPKE ephemeral revealed in a dispute).
X25519_SECRET_LEN: Final = 32

#: Ring sizes supported by the quantizer (Z/2^k).
SUPPORTED_RING_BITS: Final = (32, 64)
DEFAULT_RING_BITS: Final = 32
#: Default fixed-point fraction bits per ring size: resolution 2^-16 (k=32) or 2^-32 (k=64).
DEFAULT_FRAC_BITS: Final = {32: 16, 64: 32}
#: Default upper bound on the number of senders whose messages are summed.
DEFAULT_MAX_SENDERS: Final = 64

#: Integer widths used in the canonical encodings.
MAX_U16: Final = 2**16 - 1
MAX_U32: Final = 2**32 - 1
MAX_U64: Final = 2**64 - 1

#: Domain-separation labels (one per derivation; never reuse a label for another purpose).
LABEL_CONTEXT: Final = b"fppdl/v2/round-context"
LABEL_GRAPH: Final = b"fppdl/v1/neighbour-graph"
LABEL_PAIR_SEED: Final = b"fppdl/v1/pair-seed"
LABEL_PAIR_COMMIT: Final = b"fppdl/v1/pair-commit"
LABEL_KEY_COMMIT: Final = b"fppdl/v1/message-key-commit"
LABEL_WRAP_INFO: Final = b"fppdl/v1/hpke-wrap"
LABEL_KEYFILE: Final = b"fppdl/v1/keyfile"
LABEL_SELF_MASK: Final = b"fppdl/v2/self-mask-key"
LABEL_SELF_COMMIT: Final = b"fppdl/v2/self-mask-commit"
LABEL_SHARE_KEY: Final = b"fppdl/v2/share-channel-key"
LABEL_SHARE_AAD: Final = b"fppdl/v2/share-channel-aad"
LABEL_SHARE_COMMIT: Final = b"fppdl/v2/share-commit"
LABEL_RECEIPT: Final = b"fppdl/v2/receipt"
