"""``fppdl audit``: the consortium replayed from its ledger's events, checked rule by rule.

:func:`audit` rebuilds every party, round, request, payment, claim and removal from the
events alone, replays the rules independently of the contract (:mod:`client.audit.rules`),
compares the result with the contract's views at the final block, fetches every committed
digest from the store, optionally checks a deployments record, and writes a self-contained
HTML report. Each broken rule is a named :class:`Violation`.
"""

from client.audit.model import (
    EXIT_VIOLATIONS,
    AuditError,
    AuditResult,
    ContentCheck,
    Violation,
    ViolationKind,
)
from client.audit.run import Auditor, audit, audit_block

__all__ = [
    "EXIT_VIOLATIONS",
    "AuditError",
    "AuditResult",
    "Auditor",
    "ContentCheck",
    "Violation",
    "ViolationKind",
    "audit",
    "audit_block",
]
