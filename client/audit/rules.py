"""The ledger's rules, written again from the paper and docs/design/ledger.md for the audit.

Nothing here calls the contract or the chain bindings' rule helpers: an auditor who distrusts
the contract must not take its arithmetic on faith. Every function is pure and works on
integers only, as the contract does.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_bytes

from client.chain.records import Admission, LedgerParams, ThresholdMode

#: Largest amount one packed request entry holds (61 bits), hence any single request.
AMOUNT_LIMIT = (1 << 61) - 1
#: Accepted encryption key lengths: X25519, and X25519 || ML-KEM-768.
X25519_KEY_LENGTH = 32
HYBRID_KEY_LENGTH = 1216
#: The X25519 field prime and the two order-8 u-coordinates below it (RFC 7748; with 0, 1 and
#: p - 1 these are the small-order points libsodium refuses).
P25519 = 2**255 - 19
ORDER8_A = 0x00B8495F16056286FDB1329CEB8D09DA6AC49FF1FAE35616AEB8413B7C7AEBE0
ORDER8_B = 0x57119FD0DD4E22D8868E1C58C45C44045BEF839C55B1D0B1248C50A3BC959C5F
#: Longest consortium settings blob the ledger stores.
MAX_SETTINGS_LENGTH = 4096
#: Marks of a low-quality report: sent by the reporter, or recorded from an upheld claim.
BY_REPORT = 1
BY_CLAIM = 2


def minted_points(samples_released: int, model_size: int, parties: int, data_size: int) -> int:
    """Return p_i = floor(u_i |w| (n - 1) / |D_i|), the paper's initial points (eq. 2)."""
    if data_size <= 0 or parties < 1:
        return 0
    return samples_released * model_size * (parties - 1) // data_size


def ceil_fraction(value: int, numerator: int, denominator: int) -> int:
    """Return ceil(value * numerator / denominator) (0 for a zero denominator)."""
    if denominator <= 0:
        return 0
    return (value * numerator + denominator - 1) // denominator


def removal_quorum(params: LedgerParams, credible: int) -> int:
    """Return the credible reports that remove a party from a credible set of ``credible``."""
    return ceil_fraction(credible, params.quorum_numerator, params.quorum_denominator)


def admission_quorum(params: LedgerParams, admitted: int) -> int:
    """Return the votes that admit a candidate when ``admitted`` addresses are admitted."""
    return ceil_fraction(admitted, params.admission_quorum_numerator,
                         params.admission_quorum_denominator)


def threshold(params: LedgerParams, credible: int) -> tuple[int, int]:
    """Return c_th as (numerator, denominator) for a credible set of ``credible`` (>= 2)."""
    divisor = credible if params.threshold_mode is ThresholdMode.PAPER else credible - 1
    return params.threshold_numerator, params.threshold_denominator * divisor


def key_problem(key: bytes) -> str:
    """Return why ``key`` is not an acceptable encryption key, or ``""`` when it is.

    The length must be one of the scheme's; the first 32 bytes are an X25519 public key
    (little-endian u-coordinate, top bit ignored) that must not have small order.
    """
    if len(key) not in (X25519_KEY_LENGTH, HYBRID_KEY_LENGTH):
        return f"key of {len(key)} bytes (32 or 1216 accepted)"
    u = int.from_bytes(key[:32], "little") & ((1 << 255) - 1)
    if u >= P25519:
        u -= P25519
    if u <= 1 or u == P25519 - 1 or u in (ORDER8_A, ORDER8_B):
        return "X25519 key of small order"
    return ""


def parameter_problems(params: LedgerParams, allowlisted: int) -> list[str]:
    """Return every constructor rule the deployment parameters break (empty when valid)."""
    p = params
    problems: list[str] = []
    checks = (
        (p.model_size == 0, "modelSize is 0"),
        (p.min_parties < 2, "minParties < 2"),
        (p.max_parties < p.min_parties, "maxParties < minParties"),
        (p.rounds == 0, "rounds is 0"),
        (min(p.benchmark_blocks, p.request_blocks, p.upload_blocks, p.settle_blocks) == 0,
         "a phase length is 0"),
        (p.quorum_numerator == 0 or p.quorum_numerator > p.quorum_denominator,
         "removal quorum outside (0, 1]"),
        (int(p.threshold_mode) > 1 or p.threshold_denominator == 0, "invalid threshold"),
        (p.admission_quorum_numerator == 0
         or p.admission_quorum_numerator > p.admission_quorum_denominator,
         "admission quorum outside (0, 1]"),
        (p.min_data_size == 0 or p.max_data_size < p.min_data_size, "invalid data size bounds"),
        (p.max_sharing_numerator == 0 or p.max_sharing_numerator > p.max_sharing_denominator,
         "sharing level bound outside (0, 1]"),
        (p.min_uploaders == 0 or p.min_uploaders >= p.min_parties,
         "minUploaders outside [1, minParties)"),
        (p.claim_deposit == 0, "claimDeposit is 0"),
        (p.response_blocks == 0 or p.vote_blocks == 0, "a claim deadline length is 0"),
        (p.retention_blocks < p.response_blocks + p.vote_blocks,
         "retentionBlocks shorter than a claim's resolution"),
        (p.model_size * p.max_parties * p.max_parties > AMOUNT_LIMIT,
         "modelSize * maxParties^2 exceeds the 61-bit amounts"),
        ((p.admission is Admission.OPEN) != (allowlisted == 0),
         "allowlist inconsistent with the admission mode"),
        (allowlisted > p.max_parties, "allowlist longer than maxParties"),
        (p.admission is Admission.ALLOWLIST and allowlisted < p.min_parties,
         "allowlist shorter than minParties"),
    )
    problems.extend(text for broken, text in checks if broken)
    return problems


def upload_accumulator(
    previous: bytes, round_number: int, requesters: Sequence[str], digests: Sequence[bytes]
) -> bytes:
    """Return keccak256(abi.encode(previous, round, requesters, digests)) (one UPLOAD)."""
    encoded = abi_encode(
        ["bytes32", "uint64", "address[]", "bytes32[]"],
        [previous, round_number, [to_bytes(hexstr=a) for a in requesters], list(digests)],
    )
    return bytes(keccak(encoded))


def message_accumulator(
    previous: bytes, recipients: Sequence[str], digests: Sequence[bytes]
) -> bytes:
    """Return keccak256(abi.encode(previous, recipients, digests)) (one message batch)."""
    encoded = abi_encode(
        ["bytes32", "address[]", "bytes32[]"],
        [previous, [to_bytes(hexstr=a) for a in recipients], list(digests)],
    )
    return bytes(keccak(encoded))
