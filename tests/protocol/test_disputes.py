"""Paid only for what is delivered, and no update exposed when an upload fails (issue 15).

Reproductions, over the real contract, crypto and store:

* a member whose UPLOAD commits digests of nothing stored used to be paid (about 140,100
  points in a 4-party run); now every receiver excludes the envelope, files a claim with a
  deposit, the uploader cannot answer it, the claim is upheld at its deadline: the payment is
  refunded, the uploader fined and reported, and nobody's round is lost;
* a member whose envelope reached the store but whose UPLOAD landed after the deadline used
  to have its update recovered by the receiver from the neighbours' pair seeds; now the
  receiver's best reconstruction is uncorrelated with it.
"""

from __future__ import annotations

from web3 import Web3

from tests.protocol.conftest import Deployer


def _block(consortium):  # type: ignore[no-untyped-def]
    results = consortium.results()
    return results, results["adversary"]


def test_an_uploader_of_garbage_is_refunded_fined_and_reported(
    deploy_consortium: Deployer,
) -> None:
    consortium = deploy_consortium(rounds=1, honest=3, adversary="garbage-upload")
    consortium.run()
    results, block = _block(consortium)
    assert block["claim"] == "missing" and block["verdict"] == "upheld", block
    assert block["refunded_points"] > 0 and block["fined_points"] > 0
    assert block["honest_finished"] and block["honest_removed"] == 0
    assert block["points_conserved"] and results["points_conserved"]
    attacker = next(m for m in consortium.members if m.adversary)
    ledger = consortium.ledger
    # It earned nothing for the garbage: every payment came back, and it paid fines.
    minted = {Web3.to_checksum_address(e.args["party"]): e.args["amount"]
              for e in ledger.events(consortium.deploy_block)
              if e.name == "PointsMinted"}
    assert ledger.points_of(attacker.party.address).total < minted[attacker.party.address]
    honest = [m for m in consortium.members if not m.adversary]
    for member in honest:
        record = member.party.state.records[-1]
        # Its two good envelopes were summed: the bad one did not cost the round.
        assert "skipped" not in record and record["senders"] == 2, record
        assert any(e["kind"] == "claim_filed" for e in member.party.state.events)
    # The upheld claims count as reports: the credible set removed it.
    assert block["outcome"] == "removed"


def test_a_late_upload_exposes_nothing_of_the_senders_update(
    deploy_consortium: Deployer,
) -> None:
    consortium = deploy_consortium(rounds=1, honest=3, adversary="late-upload")
    consortium.run()
    results, block = _block(consortium)
    attacker = next(m for m in consortium.members if m.adversary)
    assert any(e["kind"] == "late_upload_refused" for e in attacker.party.state.events)
    assert block["recovery_correlation"] is not None
    assert block["recovery_correlation"] < 0.05, block
    assert block["honest_finished"] and block["honest_removed"] == 0
    assert results["points_conserved"]
    for member in consortium.members:
        if member is not attacker:
            record = member.party.state.records[-1]
            assert "skipped" not in record and record["dropped"] == [attacker.party.address]
