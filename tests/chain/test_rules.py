"""The off-chain removal rule (client.chain.rules) equals the contract's, for every mode."""

from __future__ import annotations

import pytest

from client.chain.records import ThresholdMode
from client.chain.rules import credibility_threshold, removal_quorum
from tests.chain.conftest import ConsortiumFactory


@pytest.mark.parametrize(
    ("num", "den", "mode", "t_num", "t_den"),
    [(2, 3, ThresholdMode.AUTHORS, 1, 3), (1, 2, ThresholdMode.PAPER, 2, 3),
     (3, 4, ThresholdMode.PAPER, 1, 5)],
)
def test_quorum_and_threshold_match_the_contract(
    consortium: ConsortiumFactory, num: int, den: int, mode: ThresholdMode, t_num: int,
    t_den: int,
) -> None:
    for n in (2, 3, 4, 6, 7):
        c = consortium(n, quorum_numerator=num, quorum_denominator=den, threshold_mode=mode,
                       threshold_numerator=t_num, threshold_denominator=t_den)
        ledger = c[0]
        params = ledger.parameters()
        assert removal_quorum(params, n) == ledger.removal_quorum()
        for credible in range(2, n + 1):
            on_chain = ledger.credibility_threshold(credible)
            expected = credibility_threshold(params, credible)
            assert (on_chain.numerator * expected.denominator
                    == expected.numerator * on_chain.denominator)
