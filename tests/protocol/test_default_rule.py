"""The default rule through the real protocol: Anvil, the onion, the store and the ledger.

The receiver only ever decrypts a sum; these tests check that what a party applied is the
rule's ``apply`` on the clear sum of its senders' ``encode`` outputs, each with the context the
protocol builds (round, receiver, consortium domain, registrations, the sender's noise seed),
and that a node whose rule differs from the consortium's settings on-chain refuses to run.
"""

from __future__ import annotations

import hashlib
from typing import cast

import numpy as np
import pytest

from client.compose import PartySettings, check_settings
from client.consortium import Consortium
from client.protocol.aggregation import (
    DEFAULT_RULE,
    MarketRule,
    Registration,
    RuleContext,
    make_rule,
)
from client.protocol.encoding import BoundRule
from client.protocol.market import DEFAULT_BUDGET_POLICY
from client.protocol.peers import address_bytes
from client.protocol.settings import ConsortiumSettings, SettingsError
from tests.protocol.conftest import Deployer, RecordingLearner


def _learner(consortium: Consortium, index: int) -> RecordingLearner:
    return cast(RecordingLearner, consortium.members[index].party.learner)


def _seed(sender: str, epoch: int, receiver: str) -> bytes:
    return hashlib.sha256(f"{sender}/{epoch}/{receiver}".encode()).digest()


def test_the_default_rule_applies_to_the_decrypted_sum_what_it_gives_on_the_clear_sum(
    deploy_consortium: Deployer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The noise seed is secret OS randomness in a real party; here it is a function of the
    # pair and round so the test can recompute every sender's vector in clear.
    monkeypatch.setattr(BoundRule, "noise_seed",
                        lambda self, epoch, receiver: _seed(self.me, epoch, receiver))
    consortium = deploy_consortium(rounds=2)
    consortium.run()
    ledger = consortium.ledger
    members = consortium.members
    addresses = [m.party.address for m in members]
    assert members[0].party.config.aggregation == DEFAULT_RULE
    assert members[0].party.config.budget_policy == DEFAULT_BUDGET_POLICY
    assert consortium.results()["points_conserved"]

    rule = make_rule(DEFAULT_RULE)
    assert isinstance(rule, MarketRule)
    domain = int(ledger.w3.eth.chain_id).to_bytes(32, "big") + address_bytes(ledger.address)
    peers = members[0].party.peers
    regs = {a: Registration(peers.get(a).data_size, peers.get(a).samples_released)
            for a in addresses}
    noisy = 0
    for round_number in (1, 2):
        requests = ledger.download_requests(round_number)
        for index, member in enumerate(members):
            me = member.party.address
            learner = _learner(consortium, index)
            before, own_delta = learner.updates[round_number]
            request = next(r for r in requests if r.requester == me)
            expected = np.zeros(rule.vector_length(own_delta.size), np.float32)
            for uploader, amount in zip(request.uploaders, request.amounts, strict=True):
                sender_before, sender_delta = _learner(
                    consortium, addresses.index(uploader)).updates[round_number]
                cap = regs[uploader].upload_cap(own_delta.size)
                entries = min(amount, cap)
                noisy += rule.noise_scale(entries, cap) > 0
                context = RuleContext(round_number, address_bytes(me), domain,
                                      receiver_info=regs[me], sender_info=regs[uploader],
                                      noise_seed=_seed(uploader, round_number, me))
                expected += rule.encode(delta=sender_delta, params=sender_before + sender_delta,
                                        entries=entries, context=context)
            trained = before + own_delta
            outcome = rule.apply(
                params=trained, own_delta=own_delta, received_sum=expected,
                senders=len(request.uploaders),
                context=RuleContext(round_number, address_bytes(me), domain,
                                    receiver_info=regs[me],
                                    senders_info=tuple(regs[u] for u in request.uploaders)),
            )
            assert not outcome.rejected, outcome.note
            applied = [p for r, p in learner.replaced if r == round_number][-1]
            np.testing.assert_allclose(applied, outcome.params, atol=1e-3)
            assert not np.allclose(applied, trained)
    # The parties share at different levels: some bought below the cap, i.e. noisy copies.
    assert noisy > 0

    # A node configured with another rule (or the same rule with other options) is refused,
    # and the refusal names the setting.
    stored = ledger.settings()
    assert stored
    deployed = ConsortiumSettings.from_bytes(stored)
    assert (deployed.aggregation, deployed.budget_policy) == (DEFAULT_RULE,
                                                              DEFAULT_BUDGET_POLICY)
    mine = PartySettings(seed=3).adopt(deployed)  # what `party init` saves
    check_settings(ledger, mine.consortium())  # the deployed settings: accepted
    for other, named in ((mine.with_(aggregation="paper"), "aggregation"),
                         (mine.with_(rule_options={"noise": 1.0}), "rule_options"),
                         (mine.with_(budget_policy="even"), "budget_policy")):
        with pytest.raises(SettingsError, match=named):
            check_settings(ledger, other.consortium())
