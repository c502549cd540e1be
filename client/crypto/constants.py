"""Protocol constants of the onion encryption, defined once and imported everywhere."""

from __future__ import annotations

from typing import Final

#: Magic prefix and format version of the envelope byte format.
ENVELOPE_MAGIC: Final = b"FPDL"
ENVELOPE_VERSION: Final = 1

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
LABEL_CONTEXT: Final = b"fppdl/v1/round-context"
LABEL_GRAPH: Final = b"fppdl/v1/neighbour-graph"
LABEL_PAIR_SEED: Final = b"fppdl/v1/pair-seed"
LABEL_PAIR_COMMIT: Final = b"fppdl/v1/pair-commit"
LABEL_KEY_COMMIT: Final = b"fppdl/v1/message-key-commit"
LABEL_WRAP_INFO: Final = b"fppdl/v1/hpke-wrap"
LABEL_KEYFILE: Final = b"fppdl/v1/keyfile"
