"""Algorithm 1 and 2 end to end: 4 parties, real Anvil, real store, real onion encryption."""

from __future__ import annotations

from typing import cast

import numpy as np
import pytest

from client.chain.records import PartyStatus, RequestStatus
from client.consortium import Consortium
from client.crypto import DecryptionError, RoundContext, dequantize, open_envelope
from client.protocol.aggregation import PaperRule, make_rule
from client.protocol.peers import address_bytes
from storage import ContentId
from tests.protocol.conftest import Deployer, RecordingLearner


def _learner(consortium: Consortium, index: int) -> RecordingLearner:
    return cast(RecordingLearner, consortium.members[index].party.learner)


@pytest.mark.parametrize("aggregation", ["paper", "average"])
def test_two_rounds_are_consistent_on_chain_and_in_every_model(
    deploy_consortium: Deployer, aggregation: str
) -> None:
    consortium = deploy_consortium(rounds=2, aggregation=aggregation)
    consortium.run()
    ledger = consortium.ledger
    members = consortium.members
    addresses = [m.party.address for m in members]

    # Points: minted on-chain, conserved, and every party got some.
    assert consortium.results()["points_conserved"]
    assert all(ledger.party_info(a).status is PartyStatus.CREDIBLE for a in addresses)

    rule = make_rule(aggregation)
    for round_number in (1, 2):
        requests = ledger.download_requests(round_number)
        uploads = ledger.uploads(round_number)
        # One DOWNLOAD and one UPLOAD transaction per active party and round.
        assert sorted(r.requester for r in requests) == sorted(addresses)
        assert sorted(u.uploader for u in uploads) == sorted(addresses)
        for request in requests:
            for uploader in request.uploaders:
                state = ledger.request_state(round_number, request.requester, uploader)
                assert state.status is RequestStatus.FULFILLED

        for index, member in enumerate(members):
            me = member.party.address
            learner = _learner(consortium, index)
            before, own_delta = learner.updates[round_number]
            request = next(r for r in requests if r.requester == me)
            expected_sum = np.zeros(rule.vector_length(own_delta.size), np.float32)
            for uploader, amount in zip(request.uploaders, request.amounts, strict=True):
                sender_before, sender_delta = _learner(
                    consortium, addresses.index(uploader)
                ).updates[round_number]
                expected_sum += rule.encode(
                    delta=sender_delta, params=sender_before + sender_delta, entries=amount
                )
            # Own update plus the decrypted sum, scaled down only as the rule's bound says.
            trained = before + own_delta
            outcome = rule.apply(
                params=trained, own_delta=own_delta, received_sum=expected_sum,
                senders=len(request.uploaders),
            )
            applied = [p for r, p in learner.replaced if r == round_number][-1]
            np.testing.assert_allclose(applied, outcome.params, atol=1e-3)
            assert not np.allclose(applied, trained)


def test_a_stored_envelope_does_not_open_to_its_plaintext(deploy_consortium: Deployer) -> None:
    # The plaintext is rebuilt with the paper rule's encode below, so the run uses that rule.
    consortium = deploy_consortium(rounds=1, aggregation="paper")
    consortium.run()
    ledger = consortium.ledger
    store = consortium.members[0].party.store
    receiver = consortium.members[0]
    request = ledger.download_requests(1, receiver.party.address)[0]
    upload = next(
        u for u in ledger.uploads(1) if receiver.party.address in u.requesters
    )
    sender_index = [m.party.address for m in consortium.members].index(upload.uploader)
    digest = upload.digests[upload.requesters.index(receiver.party.address)]
    blob = store.get(ContentId.from_commitment(digest))
    ctx = RoundContext(
        int(ledger.w3.eth.chain_id), address_bytes(ledger.address), 1,
        receiver=address_bytes(request.requester),
        senders=tuple(address_bytes(u) for u in request.uploaders),
    )
    share = open_envelope(
        blob, ctx=ctx, sender=address_bytes(upload.uploader),
        receiver_keys=receiver.party.identity.keys,
    )
    masked = dequantize(share.ring, share.header.quant)
    plain = PaperRule().encode(
        delta=_learner(consortium, sender_index).updates[1][1],
        params=np.zeros(1, np.float32),
        entries=request.amounts[request.uploaders.index(upload.uploader)],
    )
    # The receiver's own keys remove layers 3 and 2 only: the layer-1 mask hides the vector.
    assert np.mean(np.isclose(masked, plain, atol=1e-3)) < 0.01
    assert abs(np.corrcoef(masked, plain)[0, 1]) < 0.05
    # Nobody else can open it at all.
    other = consortium.members[1].party.identity.keys
    with pytest.raises(DecryptionError):
        open_envelope(blob, ctx=ctx, sender=address_bytes(upload.uploader), receiver_keys=other)
