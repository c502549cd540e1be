"""Committed digests against the store: each object fetched, verified, and envelopes' headers read.

Every digest the ledger committed (released samples at registration, envelopes at UPLOAD,
messages) names a content id. Inside its epoch's retention window (until the block
``retainedUntil(epoch)``, or while the epoch is open) the object must be retrievable and hash
to that id; past the window a missing object is ``not_retained``, which is expected. For an
envelope, the public header's fixed prefix must name this chain, this ledger, the round, the
uploader and the requester of the delivery.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from client.audit.model import AuditError, ContentCheck, Violation, ViolationKind
from client.audit.replay import Commitment, Replay
from client.crypto.constants import ADDRESS_LEN, ENVELOPE_MAGIC
from storage import ContentId, ContentStore, IntegrityError, NotFound, StorageError
from storage.errors import StoreUnavailable

#: The fixed prefix of every envelope version's public header (client/crypto/envelope.py):
#: magic, version, suite, chain id, contract, round, sender, receiver.
ENVELOPE_PREFIX = struct.Struct(f">4sBBQ{ADDRESS_LEN}sQ{ADDRESS_LEN}s{ADDRESS_LEN}s")
#: Most objects fetched by one audit (each is read whole by the store, then dropped).
MAX_OBJECTS = 100_000


def _address_bytes(address: str) -> bytes:
    return bytes.fromhex(address.removeprefix("0x"))


def header_problem(
    blob: bytes, chain_id: int, ledger: str, round_number: int, sender: str, receiver: str
) -> str:
    """Return how an envelope's public header contradicts its delivery (``""``: it does not)."""
    if len(blob) < ENVELOPE_PREFIX.size:
        return f"{len(blob)} bytes: shorter than an envelope header"
    magic, _version, _suite, chain, contract, rnd, frm, to = ENVELOPE_PREFIX.unpack_from(blob)
    if magic != ENVELOPE_MAGIC:
        return "not an fppdl envelope (wrong magic)"
    wrong = [name for name, got, want in (
        ("chain id", chain, chain_id),
        ("contract", contract, _address_bytes(ledger)),
        ("round", rnd, round_number),
        ("sender", frm, _address_bytes(sender)),
        ("receiver", to, _address_bytes(receiver)),
    ) if got != want]
    return "header names another " + ", ".join(wrong) if wrong else ""


def check_content(
    store: ContentStore | None,
    replay: Replay,
    chain_id: int,
    final_block: int,
) -> tuple[list[ContentCheck], list[Violation]]:
    """Fetch every committed digest; return each outcome and the violations among them.

    Raises
    ------
    AuditError
        When the store does not answer at all (no object can be checked).
    """
    checks: list[ContentCheck] = []
    violations: list[Violation] = []
    fetched: dict[bytes, tuple[str, bytes | None, str]] = {}
    commitments: Sequence[Commitment] = replay.commitments[:MAX_OBJECTS]
    for c in commitments:
        cid = ContentId.from_commitment(c.digest)
        until = replay.retained_until(c.epoch)
        inside = until == 0 or final_block < until
        base = dict(what=c.what, epoch=c.epoch, digest="0x" + c.digest.hex(), cid=str(cid),
                    owner=c.owner, block=c.block, tx=c.tx)
        if store is None:
            checks.append(ContentCheck(**base, status="unchecked"))  # type: ignore[arg-type]
            continue
        if c.digest not in fetched:
            fetched[c.digest] = _fetch(store, cid)
        outcome, blob, detail = fetched[c.digest]
        who = (c.owner, c.receiver) if c.receiver else (c.owner,)
        status = outcome
        if outcome == "missing":
            if not c.required:
                status, detail = "not_required", "delivery skipped (its requester was removed)"
            elif not inside:
                status, detail = "not_retained", f"past its retention window (block {until})"
            else:
                window = "its epoch is open" if until == 0 else f"retained until block {until}"
                violations.append(Violation(
                    ViolationKind.CONTENT_MISSING, f"{c.what} {cid} of epoch {c.epoch} is not in "
                    f"the store ({window})", c.block, c.tx, who))
        elif outcome == "mismatch":
            violations.append(Violation(
                ViolationKind.CONTENT_MISMATCH, f"{c.what} {cid}: {detail}", c.block, c.tx,
                who))
        elif outcome == "error" and inside and c.required:
            violations.append(Violation(
                ViolationKind.CONTENT_MISSING, f"{c.what} {cid} could not be fetched: {detail}",
                c.block, c.tx, who))
        elif outcome == "ok" and c.what == "envelope" and blob is not None:
            problem = header_problem(blob, chain_id, replay.address, c.epoch, c.owner,
                                     c.receiver)
            if problem:
                status, detail = "bad_header", problem
                violations.append(Violation(
                    ViolationKind.ENVELOPE_HEADER_MISMATCH, f"envelope {cid}: {problem}",
                    c.block, c.tx, who))
        checks.append(ContentCheck(**base, status=status, detail=detail))  # type: ignore[arg-type]
    return checks, violations


def _fetch(store: ContentStore, cid: ContentId) -> tuple[str, bytes | None, str]:
    """Return (outcome, header prefix or None, detail) for one object."""
    try:
        data = store.get(cid)
    except NotFound:
        return "missing", None, ""
    except IntegrityError as exc:
        return "mismatch", None, f"stored bytes do not hash to the digest ({str(exc)[:160]})"
    except StoreUnavailable as exc:
        raise AuditError(f"the store does not answer: {exc}") from exc
    except (StorageError, OSError, ValueError) as exc:
        return "error", None, f"{type(exc).__name__}: {str(exc)[:160]}"
    # Only the public header is read; the object itself is dropped here.
    return "ok", bytes(data[: ENVELOPE_PREFIX.size]), ""
