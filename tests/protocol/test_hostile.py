"""Registrants with junk keys, missing or malformed samples, or absurd claims stop nobody.

Each attacker registers next to 3 honest parties and then stays silent (the strongest it can
do with junk: it cannot even be sealed to). Before the client validated peer input, each of
these crashed every honest party in epoch 0 (KeyFormatError, "Error computing shared key",
NotFound, MemoryError) and the attacker was never reported. Now the registration is either
refused by the ledger or the honest parties record the peer's fault, report it, remove it by
quorum at benchmarking and finish their round.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from eth_account import Account

from client.chain.devnet import fund
from client.chain.errors import ContractRevert
from client.chain.records import PartyStatus
from storage import MemoryStore
from tests.protocol.conftest import Deployer
from trainer.dpgan import SampleRelease


def _samples(count: int) -> bytes:
    rng = np.random.default_rng(count)
    return SampleRelease(rng.integers(0, 256, (count, 1, 32, 32), dtype=np.uint8), 0, 0).to_bytes()


#: Junk that the demo's adversaries (test_adversary.py) do not already play.
ATTACKS = ["one_byte_key", "short_samples"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_junk_registrant_is_removed_and_the_honest_parties_finish(
    deploy_consortium: Deployer, attack: str, dev_accounts: list[Account]
) -> None:
    store = MemoryStore()
    consortium = deploy_consortium(rounds=1, honest=3, extra_parties=1, store=store)
    ledger = consortium.ledger
    attacker = Account.create()
    fund(ledger.w3, dev_accounts[0], [attacker.address], 10**18)
    good_key = bytes(range(1, 33))
    key, size, released = good_key, 600, 60
    digest = store.put(_samples(60)).commitment
    if attack == "low_order_key":
        key = bytes(32)  # the X25519 identity point: no shared secret with anyone
    elif attack == "one_byte_key":
        key = b"\x01"
    elif attack == "missing_samples":
        digest = os.urandom(32)  # a digest of nothing stored
    elif attack == "short_samples":
        digest = store.put(_samples(5)).commitment  # 5 stored, 60 claimed
    elif attack == "huge_claim":
        size = released = 10**9
    try:
        ledger.with_account(attacker).register(key, size, released, digest)
        refused = False
    except ContractRevert:
        refused = True  # the ledger's own bounds caught it: nothing for the clients to do
    # If it was refused the registry keeps a free place: registration closes at its deadline
    # with the three honest parties (the scheduler mines to it).
    consortium.run()

    honest = [m.party.address for m in consortium.members]
    assert all(ledger.party_info(a).status is PartyStatus.CREDIBLE for a in honest)
    assert all(len(m.party.state.records) == 1 for m in consortium.members)
    if not refused:
        removals = ledger.removals(consortium.deploy_block)
        assert [r.party for r in removals] == [attacker.address]
        assert removals[0].epoch == 0 and set(removals[0].reporters) == set(honest)
        for member in consortium.members:
            faults = [e for e in member.party.state.events if e["kind"] == "peer_fault"]
            assert [e["peer"] for e in faults] == [attacker.address]
    assert consortium.results()["points_conserved"]
