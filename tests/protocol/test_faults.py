"""Free-riders, silent parties, tampered envelopes and restarts, over the real contract."""

from __future__ import annotations

from pathlib import Path

from client.chain.records import PartyStatus, Phase, RequestStatus
from client.consortium import Member
from client.protocol.party import Party
from storage import ContentId, EmbeddedStore
from tests.protocol.conftest import Deployer


def _events(member: Member, kind: str) -> list[dict[str, object]]:
    return [e for e in member.party.state.events if e["kind"] == kind]


def test_a_free_rider_is_removed_at_benchmarking_and_the_others_go_on(
    deploy_consortium: Deployer,
) -> None:
    consortium = deploy_consortium(free_rider=True, rounds=2)
    consortium.run()
    ledger = consortium.ledger
    rider = next(m for m in consortium.members if m.free_rider)
    honest = [m for m in consortium.members if not m.free_rider]

    removals = ledger.removals(consortium.deploy_block)
    assert [r.party for r in removals] == [rider.party.address]
    # At benchmarking, or a round later if an owner's samples were too weak to be sure.
    assert removals[0].epoch in (0, 1)
    # Reported by every honest party, and removed by the 2/3 quorum of the 5 (4 reports).
    assert set(removals[0].reporters) == {m.party.address for m in honest}
    assert ledger.party_info(rider.party.address).status is PartyStatus.REMOVED
    # The remaining parties collaborate without it: nobody requests from or uploads to it.
    requests = ledger.download_requests(removals[0].epoch + 1)
    assert sorted(r.requester for r in requests) == sorted(m.party.address for m in honest)
    assert all(rider.party.address not in r.uploaders for r in requests)
    assert all(m.party.state.records and not m.party.state.records[-1].get("skipped")
               for m in honest)
    assert consortium.results()["points_conserved"]


def test_a_silent_party_does_not_stall_the_others_and_rejoins(
    deploy_consortium: Deployer,
) -> None:
    consortium = deploy_consortium(rounds=3)
    silent = consortium.members[3]
    consortium.run(skip=lambda member, epoch: member is silent and epoch == 2)
    ledger = consortium.ledger
    others = consortium.members[:3]

    # Round 2: the others requested from it, it never uploaded, their requests stayed open
    # (refundable), each receiver's receipt excluded it and its neighbours revealed their
    # pair seeds with it (never its self-mask) so the receivers summed the other two.
    for member in others:
        request = ledger.download_requests(2, member.party.address)[0]
        assert silent.party.address in request.uploaders
        state = ledger.request_state(2, member.party.address, silent.party.address)
        assert state.status is RequestStatus.OPEN
        record = next(r for r in member.party.state.records if r["round"] == 2)
        assert record["dropped"] == [silent.party.address]
        assert record["senders"] == 2 and "skipped" not in record
    for member in others:
        excluded = [e for e in member.party.state.events
                    if e["kind"] == "excluded_envelope" and e["round"] == 2]
        assert [(e["sender"], e["error"]) for e in excluded] == [
            (silent.party.address, "NOT_UPLOADED")]
    # It is still credible and took part again in round 3.
    assert ledger.party_info(silent.party.address).status is PartyStatus.CREDIBLE
    assert [r["round"] for r in silent.party.state.records] == [1, 3]
    assert ledger.download_requests(3, silent.party.address)
    assert any(u.uploader == silent.party.address for u in ledger.uploads(3))
    assert consortium.results()["points_conserved"]


def test_a_tampered_envelope_is_detected_and_excluded(
    deploy_consortium: Deployer, tmp_path: Path
) -> None:
    store = EmbeddedStore(tmp_path / "store")
    consortium = deploy_consortium(rounds=1, store=store)
    victim = consortium.members[0]
    ledger = consortium.ledger
    tampered: list[ContentId] = []

    def tamper_once(member: Member, epoch: int) -> bool:
        if not tampered and epoch == 1 and ledger.phase() is Phase.SETTLE:
            upload = next(u for u in ledger.uploads(1) if victim.party.address in u.requesters)
            cid = ContentId.from_commitment(
                upload.digests[upload.requesters.index(victim.party.address)]
            )
            path = tmp_path / "store" / "objects" / cid.digest.hex()[:2] / cid.digest.hex()
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0x01
            path.write_bytes(bytes(data))
            tampered.append(cid)
        return False

    consortium.run(skip=tamper_once)
    assert tampered
    excluded = _events(victim, "excluded_envelope")
    # The store refuses bytes that do not match their digest: the envelope is "missing".
    assert len(excluded) == 1 and excluded[0]["error"] == "MISSING"
    assert excluded[0]["digest"] == tampered[0].commitment.hex()
    # The bad envelope no longer costs the victim the others: it sums the two good ones.
    record = victim.party.state.records[-1]
    assert "skipped" not in record and record["senders"] == 2
    assert record["dropped"] == [excluded[0]["sender"]]
    for member in consortium.members[1:]:
        assert not _events(member, "excluded_envelope")
        assert "skipped" not in member.party.state.records[-1]


def test_a_party_restarted_mid_round_does_not_double_spend(deploy_consortium: Deployer) -> None:
    consortium = deploy_consortium(rounds=2)
    ledger = consortium.ledger
    target = consortium.members[0]
    restarted: list[Party] = []

    def restart_once(member: Member, epoch: int) -> bool:
        # Restart after its DOWNLOAD and UPLOAD were paid but before it aggregated.
        if member is target and not restarted and epoch == 1 and ledger.phase() is Phase.SETTLE:
            old = member.party
            assert old.state.applied_round == 0
            member.party = Party(
                identity=old.identity, ledger=old.ledger, store=old.store, learner=old.learner,
                config=old.config, state_dir=old.state_dir,
            )
            restarted.append(member.party)
        return False

    consortium.run(skip=restart_once)
    assert restarted
    me = target.party.address
    assert len(ledger.download_requests(1, me)) == 1
    assert len([u for u in ledger.uploads(1) if u.uploader == me]) == 1
    assert [r["round"] for r in target.party.state.records] == [1, 2]
    assert consortium.results()["points_conserved"]


