"""Hypothesis: the audit's replay equals the contract's state after every random step.

The random traffic of the ledger's own stateful test (tests/chain/test_stateful.py: admission
by vote, deposits, rounds, claims with every response and verdict, reports, removals,
settling, withdrawals, mined blocks, and transactions that revert) drives a real ledger; after
every step an :class:`~client.audit.Auditor` reads the new blocks, replays their events and
compares every view of the contract with its replay at the latest block. Any violation the
replay names on this honest contract, or any view that differs, fails the test.
"""

from __future__ import annotations

from typing import Any

from chain.test_stateful import LedgerMachine, N
from hypothesis import HealthCheck, settings
from hypothesis import Phase as HypothesisPhase
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant

from client.audit import Auditor
from client.chain.ledger import Ledger, connect

EXAMPLES = 3
STEPS_PER_EXAMPLE = 30


class AuditedLedgerMachine(LedgerMachine):
    """The ledger's random traffic, audited after every step."""

    deploy_from = 0
    audited = 0
    events: dict[str, int] = {}
    successes: dict[str, int] = {}

    # Every example starts in round 1 with a round played and claims open (the ledger test
    # starts half of them in registration, which its own runs cover): the audited steps then
    # reach payments, verdicts, removals, settlements and the end of the consortium.
    @initialize(
        sizes=st.lists(st.integers(50, 5000), min_size=N, max_size=N),
        fractions=st.lists(st.integers(1, 100), min_size=N, max_size=N),
        vote_admission=st.booleans(),
        deposit=st.booleans(),
        start_round=st.just(True),
    )
    def setup(self, sizes: list[int], fractions: list[int], vote_admission: bool,
              deposit: bool, start_round: bool) -> None:
        super().setup(sizes, fractions, vote_admission, deposit, start_round)

    @invariant()
    def audit_replay_equals_contract(self) -> None:
        if not hasattr(self, "view"):
            return
        auditor = getattr(self, "_auditor", None)
        if auditor is None:
            auditor = Auditor(Ledger(self.view.w3, self.view.address), type(self).deploy_from)
            self._auditor = auditor
        block = auditor.sync()
        assert auditor.replay.violations == [], [str(v) for v in auditor.replay.violations]
        mismatches = auditor.compare(block)
        assert mismatches == [], [str(v) for v in mismatches]
        type(self).audited += 1
        for name, count in auditor.replay.event_counts.items():
            seen = self._counted.get(name, 0) if hasattr(self, "_counted") else 0
            type(self).events[name] = type(self).events.get(name, 0) + count - seen
        self._counted = dict(auditor.replay.event_counts)


def test_audit_replay_equals_contract_after_every_step(fresh_ledger, anvil,
                                                       dev_accounts) -> None:
    w3 = connect(anvil.rpc_url)

    def recording_factory(**overrides: Any) -> Ledger:
        AuditedLedgerMachine.deploy_from = int(w3.eth.block_number) + 1
        return fresh_ledger(**overrides)

    AuditedLedgerMachine.factory = staticmethod(recording_factory)
    AuditedLedgerMachine.node = anvil
    AuditedLedgerMachine.accounts = dev_accounts
    AuditedLedgerMachine.successes = {}
    AuditedLedgerMachine.audited = 0
    AuditedLedgerMachine.events = {}
    runner = AuditedLedgerMachine.TestCase
    runner.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS_PER_EXAMPLE,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[HypothesisPhase.explicit, HypothesisPhase.reuse, HypothesisPhase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    runner("runTest").runTest()
    print("audited steps:", AuditedLedgerMachine.audited, AuditedLedgerMachine.successes)
    print("events replayed:", AuditedLedgerMachine.events)
    assert AuditedLedgerMachine.audited >= EXAMPLES * STEPS_PER_EXAMPLE // 2
    # Settling and withdrawals need the Finished phase, which 30 random steps seldom reach;
    # the honest run of tests/audit/conftest.py replays them.
    for kind in ("register", "request", "upload", "close_round", "report", "claim", "respond",
                 "vote", "resolve"):
        assert AuditedLedgerMachine.successes.get(kind, 0) > 0, kind
