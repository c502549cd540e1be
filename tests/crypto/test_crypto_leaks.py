"""Every known leak path: the adversary's BEST reconstruction of one sender's update from
everything it holds is uncorrelated with the truth on the sender's sold positions.

The adversary (the receiver, alone or with the parties named in each test) holds every
envelope of the target it can find in the store, uploaded or not, opened with its key; every
pair seed and share revealed to it under the reveal rule; and whatever the colluders know.
:func:`best_correlation` removes every mask it can from every such envelope (and from the
differences of two envelopes of the target, and from any sum it can compute) and returns the
largest |Pearson correlation| with the true update over all of them. Each test also runs a
control showing the same measurement finds the update (|r| > 0.99) once the adversary has
what the rule denies it, so none of the assertions can pass vacuously.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from client.crypto import (
    DisputeOpening,
    Exclusion,
    InvalidReceiptError,
    QuantParams,
    Receipt,
    RevealConflictError,
    RevealGuard,
    RevealKind,
    UnmaskMessage,
    decide_reveals,
    dequantize,
    dispute_opening,
    make_receipt,
    verify_dispute,
)
from client.crypto.envelope import EnvelopeHeader, parse_envelope, parse_header
from client.crypto.errors import DecryptionError
from client.crypto.masking import apply_streams, derive_pair_seeds, keystream
from client.crypto.quantize import RingArray
from client.crypto.selfmask import open_share, self_commitment, self_mask_key, share_commitment
from client.crypto.shamir import decode_element, reconstruct

from .conftest import CHAIN_ID, CONTRACT, Consortium, ConsortiumFactory, digest, sparse_vectors

LENGTH = 40_000  # ~20,000 sold positions: a chance |r| has standard deviation 0.007
BOUND = 0.05
QUANT = QuantParams.for_vector(LENGTH)


@dataclasses.dataclass
class Knowledge:
    """What the adversary holds about the target ``x``."""

    layer1: list[tuple[EnvelopeHeader, RingArray]] = dataclasses.field(default_factory=list)
    seeds: dict[bytes, bytes] = dataclasses.field(default_factory=dict)  # peer -> s_{x,peer}
    shares: dict[bytes, int] = dataclasses.field(default_factory=dict)  # holder -> share
    sums: list[npt.NDArray[np.float64]] = dataclasses.field(default_factory=list)


def receiver_knowledge(
    c: Consortium,
    x: bytes,
    *,
    blobs: Iterable[bytes],
    unmasks: Iterable[UnmaskMessage] = (),
    colluders: Iterable[bytes] = (),
) -> Knowledge:
    """Everything the receiver (plus ``colluders``) can know about sender ``x``."""
    k = Knowledge()
    for blob in blobs:
        try:
            share = c.open_one(x, blob)
        except DecryptionError:
            continue
        k.layer1.append((share.header, share.ring))
    for m in unmasks:
        for item in m.items:
            if item.kind is RevealKind.PAIR and item.sender == x:
                k.seeds[m.holder] = item.value  # a neighbour's seed with x
            elif item.kind is RevealKind.PAIR and m.holder == x:
                k.seeds[item.sender] = item.value  # x's own seed with an excluded peer
            elif item.kind is RevealKind.SHARE and item.sender == x:
                value = decode_element(item.value)
                assert value is not None
                k.shares[m.holder] = value
    for y in colluders:
        if y in c.ctx.neighbours_of(x):
            k.seeds[y] = derive_pair_seeds(c.ctx, y, c.keys[y], c.x25519, only=(x,)).seeds[0]
            k.shares.update(_held_shares(c, x, y, blobs))
    return k


def _held_shares(c: Consortium, x: bytes, y: bytes, blobs: Iterable[bytes]) -> dict[bytes, int]:
    """The share of x's seed a colluding holder y reads from each envelope of x."""
    out = {}
    for blob in blobs:
        header, _ = parse_header(blob)
        if header.sender != x or not header.self_masked:
            continue
        i = c.ctx.neighbours_of(x).index(y)
        share = open_share(c.ctx, sender=x, sender_x25519=c.x25519[x], holder=y,
                           holder_keys=c.keys[y], sealed=header.sealed_shares[i],
                           self_commit=header.self_commit)
        if share is not None:
            out[y] = share
    return out


def _strip(c: Consortium, x: bytes, k: Knowledge, header: EnvelopeHeader,
           ring: RingArray) -> RingArray:
    est = ring.copy()
    for peer, seed in k.seeds.items():
        apply_streams(est, x, (peer,), (seed,), QUANT, sign=-1)
    order = c.ctx.neighbours_of(x)
    valid = {
        h: v for h, v in k.shares.items()
        if h in order and share_commitment(c.ctx, x, h, v) == header.share_commits[order.index(h)]
    }
    if header.self_masked and len(valid) >= header.threshold:
        chosen = sorted(valid, key=order.index)[: header.threshold]
        seed = reconstruct([(order.index(h) + 1, valid[h]) for h in chosen])
        if self_commitment(c.ctx, x, seed) == header.self_commit:
            np.subtract(est, keystream(self_mask_key(c.ctx, x, seed), QUANT), out=est)
    return est


def best_correlation(c: Consortium, x: bytes, k: Knowledge, truth: np.ndarray) -> float:
    """Largest |r| between any reconstruction of x's update and the truth (sold positions)."""
    sold = truth != 0
    assert sold.sum() > 15_000
    estimates = [_strip(c, x, k, h, r) for h, r in k.layer1]
    candidates = [dequantize(e, QUANT) for e in estimates]
    candidates += [dequantize(a - b, QUANT) for a, b in itertools.permutations(estimates, 2)]
    candidates += k.sums
    best = 0.0
    for cand in candidates:
        values = cand[sold]
        if np.ptp(values) == 0:
            continue
        best = max(best, abs(float(np.corrcoef(values, truth[sold])[0, 1])))
    return best


def _vectors(c: Consortium, seed: int) -> dict[bytes, npt.NDArray[np.float32]]:
    return sparse_vectors(c.senders, LENGTH, seed=seed, density=0.5)


def _all_shares(c: Consortium, x: bytes, blob: bytes) -> dict[bytes, int]:
    """Every holder's share of x's seed in ``blob``: what a guard-less world would reveal."""
    out: dict[bytes, int] = {}
    for y in c.ctx.neighbours_of(x):
        out.update(_held_shares(c, x, y, [blob]))
    return out


def _control(c: Consortium, x: bytes, k: Knowledge, blob: bytes, truth: np.ndarray) -> None:
    """Give the adversary the shares the rule withheld: the update is then recovered."""
    full = dataclasses.replace(k, shares={**k.shares, **_all_shares(c, x, blob)})
    for peer in c.ctx.neighbours_of(x):
        full.seeds.setdefault(
            peer, derive_pair_seeds(c.ctx, x, c.keys[x], c.x25519, only=(peer,)).seeds[0]
        )
    assert best_correlation(c, x, full, truth) > 0.99


GRAPHS = [(5, None), (5, 2), (8, 4)]


# ----------------------------------------------------------------- failed uploads


@pytest.mark.parametrize(("n", "k_n"), GRAPHS)
def test_upload_reverted_after_the_store_write(
    make_consortium: ConsortiumFactory, n: int, k_n: int | None
) -> None:
    """The issue's reproduction: the envelope is in the store, the UPLOAD transaction
    reverted, every neighbour discloses its pair seed with the sender."""
    c = make_consortium(n, neighbours=k_n, seed=f"reverted/{n}/{k_n}")
    vectors = _vectors(c, 1)
    x = c.senders[0]
    run = c.round(vectors, QUANT, not_uploaded={x})
    assert run.receipt.excluded[x] is Exclusion.NOT_UPLOADED
    k = receiver_knowledge(c, x, blobs=run.store.values(), unmasks=run.unmasks)
    assert set(k.seeds) == set(c.ctx.neighbours_of(x)) and not k.shares  # all pair seeds
    assert best_correlation(c, x, k, vectors[x]) < BOUND
    _control(c, x, k, run.sealed[x].blob, vectors[x])


def test_upload_landed_late_after_the_neighbours_disclosed(
    make_consortium: ConsortiumFactory,
) -> None:
    """The upload lands after the deadline (a contract that wrongly accepts it): the
    neighbours already disclosed their pair seeds, and a second receipt that now accepts the
    sender gets nothing from them."""
    c = make_consortium(5, seed="late")
    vectors = _vectors(c, 2)
    x = c.senders[0]
    run = c.round(vectors, QUANT, not_uploaded={x})
    late_uploads = {**run.uploads, x: digest(run.sealed[x].blob)}
    second = make_receipt(c.ctx, uploads=late_uploads)
    assert x in second.accepted
    refused = []
    for h in c.senders:
        try:
            c.reveal(h, uploads=late_uploads, receipt=second, store=run.store)
        except RevealConflictError as err:
            refused.append((h, err.sender))
    # Every neighbour of x refused (x's share after its pair seed), and x refused too
    # (the second receipt differs from the one it followed).
    assert {h for h, _ in refused} == set(c.senders)
    k = receiver_knowledge(c, x, blobs=run.store.values(), unmasks=run.unmasks)
    assert best_correlation(c, x, k, vectors[x]) < BOUND
    _control(c, x, k, run.sealed[x].blob, vectors[x])


@pytest.mark.parametrize("reseal", [False, True])
def test_crash_between_store_write_and_upload(
    make_consortium: ConsortiumFactory, reseal: bool
) -> None:
    """Store first, crash before the transaction. Restarted, the sender either never
    uploads (like a revert) or seals again (a fresh self-mask) and uploads the new one: the
    receiver then holds two envelopes of one vector, one accepted and unmasked."""
    c = make_consortium(5, neighbours=2, seed=f"crash-store/{reseal}")
    vectors = _vectors(c, 3)
    x = c.senders[0]
    first = c.seal_one(x, vectors[x], QUANT)  # written to the store, then the crash
    if reseal:
        run = c.round(vectors, QUANT)  # restarted: seals again and uploads
        assert x in run.receipt.accepted
        blobs = [*run.store.values(), first.blob]
    else:
        run = c.round(vectors, QUANT, not_uploaded={x})
        blobs = [*run.store.values(), first.blob]
    k = receiver_knowledge(c, x, blobs=blobs, unmasks=run.unmasks)
    if reseal:
        # The second envelope's self-mask is known (x is accepted; the sum is legit), the
        # first one's is not, and their difference stays behind the first self-mask.
        assert len(k.shares) >= c.ctx.share_threshold
        assert len(k.layer1) == 2
    assert best_correlation(c, x, k, vectors[x]) < BOUND
    _control(c, x, k, first.blob, vectors[x])


def test_crash_between_upload_and_store_write(make_consortium: ConsortiumFactory) -> None:
    """Transaction first, crash before the store write: the receiver finds the content
    missing and excludes it; the restarted sender then publishes the committed bytes."""
    c = make_consortium(5, seed="crash-chain")
    vectors = _vectors(c, 4)
    x = c.senders[0]
    run = c.round(vectors, QUANT, rejected={x: Exclusion.MISSING})
    assert x in run.uploads and run.receipt.excluded[x] is Exclusion.MISSING
    # The late store write: the receiver fetches the blob matching the on-chain digest.
    late = run.store[run.uploads[x]]
    k = receiver_knowledge(c, x, blobs=[late], unmasks=run.unmasks)
    assert set(k.seeds) == set(c.ctx.neighbours_of(x))
    assert best_correlation(c, x, k, vectors[x]) < BOUND
    _control(c, x, k, late, vectors[x])


# ----------------------------------------------------------------- removals, restarts


def test_requester_removed_mid_round_publishes_no_receipt(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(4, seed="requester-removed")
    vectors = _vectors(c, 5)
    sealed = c.seal_all(vectors, QUANT)
    uploads = {a: digest(s.blob) for a, s in sealed.items()}
    unmasks = [c.reveal(h, uploads=uploads, receipt=None, store={}) for h in c.senders]
    assert all(not m.items for m in unmasks)
    for x in c.senders:
        k = receiver_knowledge(c, x, blobs=[s.blob for s in sealed.values()], unmasks=unmasks)
        assert best_correlation(c, x, k, vectors[x]) < BOUND


def test_sender_removed_mid_round(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(5, neighbours=2, seed="sender-removed")
    vectors = _vectors(c, 6)
    x = c.senders[0]
    run = c.round(vectors, QUANT, rejected={x: Exclusion.REMOVED})
    k = receiver_knowledge(c, x, blobs=run.store.values(), unmasks=run.unmasks)
    assert best_correlation(c, x, k, vectors[x]) < BOUND
    kept = sum(v.astype(np.float64) for s, v in vectors.items() if s != x)
    assert np.allclose(run.aggregate().values(), kept, atol=1e-3)
    _control(c, x, k, run.sealed[x].blob, vectors[x])


def test_restarted_neighbours_keep_refusing(make_consortium: ConsortiumFactory) -> None:
    """X is accepted and its self-mask shares are out. Every neighbour restarts (its guard
    reloaded from the persisted bytes); a second receipt calling x bad gets no pair seed."""
    c = make_consortium(5, seed="restart")
    vectors = _vectors(c, 7)
    x = c.senders[0]
    run = c.round(vectors, QUANT)
    second = make_receipt(c.ctx, uploads=run.uploads, rejected={x: Exclusion.UNDECRYPTABLE})
    for h in c.ctx.neighbours_of(x):
        restarted = RevealGuard.from_bytes(c.saved[h], holder=h, chain_id=CHAIN_ID,
                                           contract=CONTRACT)
        with pytest.raises(RevealConflictError):
            restarted.reveal(c.ctx, uploads=run.uploads, receipt=second,
                             holder_keys=c.keys[h], peer_publics=c.x25519,
                             envelopes=run.store_by_sender(), persist=lambda _: None)
    k = receiver_knowledge(c, x, blobs=run.store.values(), unmasks=run.unmasks)
    assert len(k.shares) == len(c.ctx.neighbours_of(x))  # the self-mask is known ...
    total = run.aggregate().values()
    others = sum(vectors[s].astype(np.float64) for s in c.senders if s != x)
    assert np.allclose(total - others, vectors[x], atol=1e-3)  # (the legit sum)
    assert best_correlation(c, x, k, vectors[x]) < BOUND  # ... but x's envelope stays masked
    # Control: guards lost on restart, the neighbours would follow the second receipt.
    c.saved.clear()
    c.guards.clear()
    leaked = [c.reveal(h, uploads=run.uploads, receipt=second, store=run.store)
              for h in c.senders]
    both = receiver_knowledge(c, x, blobs=run.store.values(), unmasks=[*run.unmasks, *leaked])
    assert best_correlation(c, x, both, vectors[x]) > 0.99


# ----------------------------------------------------------------- false claims, disputes


@pytest.mark.parametrize(("n", "k_n"), GRAPHS)
def test_receiver_falsely_claims_an_envelope_is_bad(
    make_consortium: ConsortiumFactory, n: int, k_n: int | None
) -> None:
    c = make_consortium(n, neighbours=k_n, seed=f"false-claim/{n}/{k_n}")
    vectors = _vectors(c, 8)
    x = c.senders[0]
    run = c.round(vectors, QUANT, rejected={x: Exclusion.UNDECRYPTABLE})
    k = receiver_knowledge(c, x, blobs=run.store.values(), unmasks=run.unmasks)
    k.sums.append(run.aggregate().values())
    assert best_correlation(c, x, k, vectors[x]) < BOUND
    # The dispute proves the claim false ...
    opening = DisputeOpening.from_bytes(dispute_opening(run.sealed[x]).to_bytes(), sender=x)
    verdict = verify_dispute(run.sealed[x].blob, opening, ctx=c.ctx, sender=x,
                             receiver_public=c.receiver_keys.public(), quant=QUANT)
    assert verdict.valid and verdict.layer3_checked
    # ... and the receiver, with the opening too, still has nothing.
    assert best_correlation(c, x, k, vectors[x]) < BOUND
    _control(c, x, k, run.sealed[x].blob, vectors[x])


def _layer1_from_opening(blob: bytes, opening: DisputeOpening) -> tuple[EnvelopeHeader, RingArray]:
    env = parse_envelope(blob)
    plain = AESGCM(opening.message_key).decrypt(env.nonce, env.payload, env.header_bytes)
    return env.header, np.frombuffer(plain, dtype=QUANT.wire_dtype).astype(QUANT.dtype)


@pytest.mark.parametrize("excluded", [True, False])
def test_dispute_reveal_of_layers_2_and_3(
    make_consortium: ConsortiumFactory, excluded: bool
) -> None:
    """Third parties check the opening from public data; what they decrypt is layer 1, still
    masked, even pooled with everything the receiver got (excluded: every pair seed;
    accepted: the self-mask)."""
    c = make_consortium(5, neighbours=2, seed=f"dispute/{excluded}")
    vectors = _vectors(c, 9)
    x = c.senders[0]
    rejected = {x: Exclusion.MALFORMED} if excluded else None
    run = c.round(vectors, QUANT, rejected=rejected)
    opening = dispute_opening(run.sealed[x])
    public = Knowledge(layer1=[_layer1_from_opening(run.sealed[x].blob, opening)])
    assert best_correlation(c, x, public, vectors[x]) < BOUND
    pooled = receiver_knowledge(c, x, blobs=run.store.values(), unmasks=run.unmasks)
    pooled.layer1 += public.layer1
    assert best_correlation(c, x, pooled, vectors[x]) < BOUND
    _control(c, x, pooled, run.sealed[x].blob, vectors[x])


# ----------------------------------------------------------------- two senders


def test_two_sender_request(make_consortium: ConsortiumFactory) -> None:
    """One co-sender (t = 1): it holds x's whole self-mask seed and their pair seed, yet
    cannot open x's envelope; and the receiver never gets a sum of one."""
    c = make_consortium(2, seed="two")
    assert c.ctx.share_threshold == 1
    vectors = _vectors(c, 10)
    x, y = c.senders
    run = c.round(vectors, QUANT)
    # Both accepted: the sum is exact (and it is all the receiver learns).
    plain = sum(v.astype(np.float64) for v in vectors.values())
    assert np.allclose(run.aggregate().values(), plain, atol=1e-3)

    # (a) The co-sender alone, with the public envelope, its share and their pair seed.
    env = parse_envelope(run.sealed[x].blob)
    cipher = np.frombuffer(bytes(env.payload)[:-16], dtype=QUANT.wire_dtype).astype(QUANT.dtype)
    alone = receiver_knowledge(c, x, blobs=(), colluders=())
    alone.layer1 = [(env.header, cipher)]
    alone.seeds[y] = derive_pair_seeds(c.ctx, y, c.keys[y], c.x25519).seeds[0]
    alone.shares.update(_held_shares(c, x, y, [run.sealed[x].blob]))
    assert alone.shares  # t = 1: the share is the seed itself
    assert best_correlation(c, x, alone, vectors[x]) < BOUND

    # (b) y's upload fails: nobody is accepted, nothing is revealed.
    failed = c.round(vectors, QUANT, not_uploaded={y})
    assert failed.receipt.accepted == {}
    assert failed.receipt.excluded[x] is Exclusion.BELOW_MINIMUM
    k = receiver_knowledge(c, x, blobs=failed.store.values(), unmasks=failed.unmasks)
    assert not k.seeds and not k.shares
    assert best_correlation(c, x, k, vectors[x]) < BOUND

    # (c) A receipt that accepts x alone (falsely calling y bad) is refused by y.
    lone = Receipt(c.ctx.digest, c.senders, (0, int(Exclusion.UNDECRYPTABLE)),
                   (failed.uploads[x], bytes(32)))
    with pytest.raises(InvalidReceiptError, match="fewer than 2"):
        decide_reveals(c.ctx, y, uploads=failed.uploads, receipt=lone)
    _control(c, x, k, failed.sealed[x].blob, vectors[x])

