"""What an audit finds: named violations, notes, and the result handed to callers.

A :class:`Violation` names one broken rule: its kind (a :class:`ViolationKind`), where it
happened (block and transaction hash, when it is tied to one) and the parties involved. The
kinds are the audit's vocabulary; docs/auditor.md lists them with the rule each one checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from client.errors import FppdlError

#: Exit code of ``fppdl audit`` when the audit ran and found violations (0: none; 1 stays
#: the CLI's code for errors such as an unreachable node, 2 for malformed arguments).
EXIT_VIOLATIONS = 3


class AuditError(FppdlError, RuntimeError):
    """The audit could not run to the end (no deployment in range, store unreachable, ...)."""


class ViolationKind(StrEnum):
    """Every kind of violation the audit names (see docs/auditor.md for the rules)."""

    # History and decoding.
    UNDECODABLE_LOG = "undecodable_log"
    HISTORY_INCOMPLETE = "history_incomplete"
    UNEXPECTED_EVENT = "unexpected_event"
    MISSING_EVENT = "missing_event"
    # Deployment, admission, registration, minting.
    DEPLOYMENT_INVALID = "deployment_invalid"
    ADMISSION_INVALID = "admission_invalid"
    REGISTRATION_INVALID = "registration_invalid"
    MINTING_MISMATCH = "minting_mismatch"
    # Rounds.
    PHASE_VIOLATION = "phase_violation"
    ROUND_SCHEDULE_MISMATCH = "round_schedule_mismatch"
    REQUEST_INVALID = "request_invalid"
    UPLOAD_INVALID = "upload_invalid"
    PAYMENT_MISMATCH = "payment_mismatch"
    REFUND_MISMATCH = "refund_mismatch"
    SETTLEMENT_MISSING = "settlement_missing"
    ACCUMULATOR_MISMATCH = "accumulator_mismatch"
    CONSERVATION = "conservation"
    # Credibility.
    REPORT_INVALID = "report_invalid"
    REMOVAL_WITHOUT_QUORUM = "removal_without_quorum"
    REMOVAL_MISSING = "removal_missing"
    # Claims.
    CLAIM_INVALID = "claim_invalid"
    CLAIM_RESPONSE_INVALID = "claim_response_invalid"
    CLAIM_VOTE_INVALID = "claim_vote_invalid"
    VERDICT_MISMATCH = "verdict_mismatch"
    # Deposits and messages.
    DEPOSIT_INVALID = "deposit_invalid"
    MESSAGE_INVALID = "message_invalid"
    # The replay against the contract's getters at the final block.
    STATE_MISMATCH = "state_mismatch"
    # Content in the store.
    CONTENT_MISSING = "content_missing"
    CONTENT_MISMATCH = "content_mismatch"
    ENVELOPE_HEADER_MISMATCH = "envelope_header_mismatch"
    # A deployments/<chainId>.json record against the chain.
    DEPLOYMENT_RECORD_MISMATCH = "deployment_record_mismatch"


@dataclass(frozen=True)
class Violation:
    """One broken rule.

    Attributes
    ----------
    kind
        Which rule.
    detail
        One line saying what was expected and what was found.
    block
        Block of the offending transaction (``None`` when not tied to one, e.g. content).
    tx
        Hash of the offending transaction, ``0x``-prefixed (``""`` when not tied to one).
    parties
        Checksummed addresses involved (the actor first).
    """

    kind: ViolationKind
    detail: str
    block: int | None = None
    tx: str = ""
    parties: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """Return the violation as a JSON object."""
        return {"kind": self.kind.value, "block": self.block, "tx": self.tx,
                "parties": list(self.parties), "detail": self.detail}

    def __str__(self) -> str:
        where = f" at block {self.block}" if self.block is not None else ""
        tx = f" tx {self.tx}" if self.tx else ""
        who = f" [{', '.join(self.parties)}]" if self.parties else ""
        return f"{self.kind.value}{where}{tx}{who}: {self.detail}"


@dataclass(frozen=True)
class ContentCheck:
    """The outcome of fetching one committed digest from the store.

    ``status`` is ``ok``, ``missing`` (inside the retention window: a violation),
    ``not_retained`` (missing past the window: expected), ``mismatch`` (bytes that do not hash
    to the digest), ``bad_header`` (an envelope whose public header contradicts the chain),
    ``error`` (the store failed for this object) or ``unchecked`` (no store given).
    """

    what: str
    epoch: int
    digest: str
    cid: str
    owner: str
    status: str
    block: int
    tx: str
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        """Return the check as a JSON object."""
        return {"what": self.what, "epoch": self.epoch, "digest": self.digest, "cid": self.cid,
                "owner": self.owner, "status": self.status, "block": self.block, "tx": self.tx,
                "detail": self.detail}


@dataclass(frozen=True)
class AuditResult:
    """What :func:`client.audit.audit` found.

    Attributes
    ----------
    violations
        Every violation, in the order found (replay, final state, content, deployment).
    report_path
        The self-contained HTML report (``None`` when no output folder was given).
    json_path
        ``audit.json`` beside it (``None`` likewise).
    summary
        Plain JSON-able figures (ledger, chain, blocks, events, parties, rounds, content).
    data
        Everything the report shows, as plain JSON-able values (also in ``audit.json``).
    """

    violations: tuple[Violation, ...]
    report_path: Path | None = None
    json_path: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """Whether the audit found no violation."""
        return not self.violations

    def exit_code(self) -> int:
        """Return the CLI's exit code: 0 when clean, :data:`EXIT_VIOLATIONS` otherwise."""
        return 0 if self.clean else EXIT_VIOLATIONS

    def as_json(self) -> dict[str, Any]:
        """Return the result as one JSON object (what ``fppdl audit --json`` prints)."""
        return {
            "verdict": "clean" if self.clean else "violations",
            "violations": [v.as_json() for v in self.violations],
            "report": str(self.report_path) if self.report_path else None,
            "summary": self.summary,
            **self.data,
        }
