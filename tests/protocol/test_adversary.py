"""`fppdl demo --adversary KIND` at the protocol level: 3 honest parties and one attacker.

Each kind is refused by the ledger or removed by the credible set; the honest parties finish
every round, none of them is removed, and points are conserved (the results' ``adversary``
block, whose field names other tools read).
"""

from __future__ import annotations

import pytest

from client.adversary import adversary_kinds
from client.chain.records import Admission
from tests.protocol.conftest import Deployer

FIELDS = {"kind", "outcome", "epoch", "honest_finished", "honest_removed", "points_conserved"}


@pytest.mark.parametrize("kind", adversary_kinds())
def test_the_attacker_is_stopped_and_the_honest_parties_finish(
    deploy_consortium: Deployer, kind: str
) -> None:
    # A free-rider needs every honest report of a 4-party quorum; an owner whose samples
    # showed too little in benchmarking reports it a round later, so it gets a second round.
    rounds = 2 if kind == "free-rider" else 1
    consortium = deploy_consortium(rounds=rounds, honest=3, free_rider=kind == "free-rider",
                                   adversary=kind)
    consortium.run()
    block = consortium.results()["adversary"]
    why = {m.name: [(e["kind"], e.get("round"), e.get("suspects"), e.get("own_matches"))
                    for e in m.party.state.events
                    if e["kind"] in ("reported", "samples_uninformative", "bad_labels")]
           for m in consortium.members}
    assert FIELDS <= set(block)
    assert block["kind"] == kind
    # A late uploader may also end excluded: nothing of its late round was paid for or used.
    allowed = ("refused", "removed", "excluded") if kind == "late-upload" else ("refused",
                                                                             "removed")
    assert block["outcome"] in allowed, (block, why)
    if block["outcome"] == "removed":
        # Junk is caught at initial benchmarking; a free-rider needs every honest report of a
        # 4-party quorum, which the owners with the fewest samples may give a round later; a
        # garbage uploader is removed by the upheld claims of the round it uploaded in.
        assert block["epoch"] == 0 or (kind in ("free-rider", "garbage-upload")
                                       and block["epoch"] == 1)
    assert block["honest_finished"] is True
    assert block["honest_removed"] == 0
    assert block["points_conserved"] is True
    if kind == "sybil":
        # A claim within every bound, from an address the allowlist does not name.
        assert consortium.ledger.admission() is Admission.ALLOWLIST
        assert block["refused_with"] == "NotAdmitted"
        assert len(consortium.ledger.parties()) == 3
    if kind == "stale-reporter":
        # Its one valid report (every other party, in benchmarking) stopped counting when
        # it was removed, and every later report -- after the window, for a finished
        # epoch, as a removed party -- was refused by the ledger.
        assert block["removed_epoch"] == 0, (block, why)
        assert block["reported"] == 3
        assert block["stale_refused"] >= 1 and block["stale_accepted"] == 0
        assert block["stale_counted"] == 0
        assert "NotCredible" in block["stale_errors"]
