"""The reveal rule (pure), the guard (persistent, refuses the other kind), the receipt and
unmask formats, and aggregation that attributes every bad reveal to its holder."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from client.crypto import (
    BadPairSeedError,
    BadShareError,
    ContextError,
    DealingError,
    Exclusion,
    GuardFormatError,
    InvalidReceiptError,
    MissingPairSeedError,
    MissingSharesError,
    QuantParams,
    Receipt,
    RevealConflictError,
    RevealGuard,
    RevealKind,
    UnexpectedRevealError,
    UnmaskFormatError,
    UnmaskItem,
    UnmaskMessage,
    aggregate,
    check_dealing,
    decide_reveals,
    expected_unmaskers,
    make_receipt,
)
from client.crypto.envelope import parse_envelope
from client.crypto.receipt import ACCEPTED
from client.crypto.selfmask import self_commitment
from client.crypto.shamir import encode_element

from .conftest import CHAIN_ID, CONTRACT, Consortium, ConsortiumFactory, digest, sparse_vectors


def _uploads(c: Consortium, skip: tuple[bytes, ...] = ()) -> dict[bytes, bytes]:
    return {s: bytes([i + 1]) * 32 for i, s in enumerate(c.senders) if s not in skip}


# ----------------------------------------------------------------- the rule (pure)


def test_the_rule_reveals_shares_of_accepted_and_seeds_with_excluded(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(6, neighbours=None, seed="rule")
    ups = _uploads(c, skip=(c.senders[0],))
    bad = c.senders[1]
    receipt = make_receipt(c.ctx, uploads=ups, rejected={bad: Exclusion.UNDECRYPTABLE})
    accepted = set(receipt.accepted)
    assert accepted == set(c.senders[2:])
    for h in c.senders:
        plan = decide_reveals(c.ctx, h, uploads=ups, receipt=receipt)
        for x, kind in plan.kinds().items():
            assert kind is (RevealKind.SHARE if x in accepted else RevealKind.PAIR)
        # Never both kinds about one sender; pairs only from an accepted holder.
        assert set(plan.share_senders).isdisjoint(plan.pairs)
        assert set(plan.share_senders) == accepted - {h}
        assert set(plan.pairs) == (({c.senders[0], bad} - {h}) if h in accepted else set())
        assert dict(plan.shares) == {x: ups[x] for x in plan.share_senders}


def test_no_receipt_means_nothing_is_revealed(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(4, seed="no-receipt")
    for h in c.senders:
        assert decide_reveals(c.ctx, h, uploads=_uploads(c), receipt=None).empty


def _receipt(c: Consortium, statuses: list[int], ups: dict[bytes, bytes]) -> Receipt:
    digests = tuple(ups.get(s, bytes(32)) for s in c.senders)
    return Receipt(c.ctx.digest, c.senders, tuple(statuses), digests)


def test_receipts_that_break_the_rule_are_refused(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(5, neighbours=2, seed="bad-receipts")
    ups = _uploads(c, skip=(c.senders[4],))
    h = c.senders[0]
    x = c.senders[4]
    # Accepts a sender the chain shows no upload for (e.g. a late upload that reverted).
    forged = _receipt(c, [ACCEPTED] * 5, {**ups, x: bytes([9]) * 32})
    with pytest.raises(InvalidReceiptError, match="on-chain upload differs or is absent") as e:
        decide_reveals(c.ctx, h, uploads=ups, receipt=forged)
    assert e.value.culprit == c.ctx.receiver and e.value.sender == x
    # Accepts another digest than the one on-chain.
    swapped = dict(ups)
    swapped[c.senders[1]] = bytes([77]) * 32
    with pytest.raises(InvalidReceiptError, match="differs"):
        decide_reveals(c.ctx, h, uploads=swapped, receipt=make_receipt(c.ctx, uploads=ups))
    # A lone accepted sender: a sum of one.
    lone = _receipt(c, [ACCEPTED] + [int(Exclusion.MALFORMED)] * 4, ups)
    with pytest.raises(InvalidReceiptError, match="fewer than 2"):
        decide_reveals(c.ctx, h, uploads=ups, receipt=lone)
    # A disconnected accepted set on the 5-cycle.
    a = c.senders[0]
    far = [s for s in c.senders if s != a and s not in c.ctx.neighbours_of(a)]
    statuses = [ACCEPTED if s in (a, *far) else int(Exclusion.MALFORMED) for s in c.senders]
    ups_all = _uploads(c)
    with pytest.raises(InvalidReceiptError, match="not connected"):
        decide_reveals(c.ctx, h, uploads=ups_all, receipt=_receipt(c, statuses, ups_all))
    # A receipt of another request does not parse.
    other = make_consortium(5, neighbours=2, seed="bad-receipts", round=8)
    with pytest.raises(InvalidReceiptError, match="another request"):
        Receipt.from_bytes(make_receipt(other.ctx, uploads=_uploads(other)).to_bytes(),
                           ctx=c.ctx)


def test_receipt_wire_format_is_strict(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(4, seed="receipt-wire")
    ups = _uploads(c, skip=(c.senders[1],))
    receipt = make_receipt(c.ctx, uploads=ups, rejected={c.senders[2]: Exclusion.MISSING})
    wire = receipt.to_bytes()
    assert Receipt.from_bytes(wire, ctx=c.ctx) == receipt
    assert receipt.excluded == {c.senders[1]: Exclusion.NOT_UPLOADED,
                                c.senders[2]: Exclusion.MISSING}
    for cut in range(len(wire)):
        with pytest.raises(InvalidReceiptError):
            Receipt.from_bytes(wire[:cut], ctx=c.ctx)
    for i, value in ((4, 9), (37 + 2, 99)):  # version byte; first status byte
        tampered = bytearray(wire)
        tampered[i] = value
        with pytest.raises(InvalidReceiptError):
            Receipt.from_bytes(bytes(tampered), ctx=c.ctx)
    accepted_without_digest = bytearray(wire)
    accepted_without_digest[39 + 33] = ACCEPTED  # sender 1 never uploaded
    with pytest.raises(InvalidReceiptError, match="digest"):
        Receipt.from_bytes(bytes(accepted_without_digest), ctx=c.ctx)


# ----------------------------------------------------------------- the guard


def test_guard_refuses_the_other_kind_even_after_a_restart(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(4, seed="guard")
    quant = QuantParams.for_vector(50)
    vectors = sparse_vectors(c.senders, 50, seed=1)
    run = c.round(vectors, quant)  # everyone accepted: shares revealed
    h, x = c.senders[0], c.senders[1]
    guard = c.guard(h)  # reloaded from the persisted bytes
    assert guard.kind_revealed(c.ctx.round, c.ctx.receiver, x) is RevealKind.SHARE
    # A second, contradicting receipt (x "bad") would make h reveal its pair seed with x.
    second = make_receipt(c.ctx, uploads=run.uploads, rejected={x: Exclusion.UNDECRYPTABLE})
    plan = decide_reveals(c.ctx, h, uploads=run.uploads, receipt=second)
    assert plan.kinds()[x] is RevealKind.PAIR
    persisted: list[bytes] = []
    with pytest.raises(RevealConflictError, match="already revealed") as info:
        guard.reveal(c.ctx, uploads=run.uploads, receipt=second, holder_keys=c.keys[h],
                     peer_publics=c.x25519, envelopes=run.store_by_sender(),
                     persist=persisted.append)
    assert info.value.sender == x and info.value.culprit == c.ctx.receiver
    assert persisted == []  # nothing recorded, nothing revealed
    # The same plan again (a restart between persisting and sending) gives the same message.
    again = c.reveal(h, uploads=run.uploads, receipt=run.receipt, store=run.store)
    assert again == next(m for m in run.unmasks if m.holder == h)


def test_guard_persists_before_returning_and_survives_a_failed_write(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(3, seed="persist")
    quant = QuantParams.for_vector(20)
    sealed = c.seal_all(sparse_vectors(c.senders, 20, seed=2), quant)
    ups = {a: digest(s.blob) for a, s in sealed.items()}
    receipt = make_receipt(c.ctx, uploads=ups)
    h = c.senders[0]
    guard = RevealGuard(holder=h, chain_id=CHAIN_ID, contract=CONTRACT)
    plan = decide_reveals(c.ctx, h, uploads=ups, receipt=receipt)

    def failing(_: bytes) -> None:
        raise OSError("disk full")

    envelopes = {x: sealed[x].blob for x in plan.share_senders}
    kw = {"uploads": ups, "receipt": receipt, "holder_keys": c.keys[h],
          "peer_publics": c.x25519, "envelopes": envelopes}
    with pytest.raises(OSError, match="disk full"):
        guard.reveal(c.ctx, persist=failing, **kw)  # type: ignore[arg-type]
    assert guard.revealed == {}
    written: list[bytes] = []
    out = guard.reveal(c.ctx, persist=written.append, **kw)  # type: ignore[arg-type]
    assert len(out.message.items) == 2 and out.unreadable == ()
    assert RevealGuard.from_bytes(written[0], holder=h, chain_id=CHAIN_ID,
                                  contract=CONTRACT) == guard


def test_guard_refuses_another_sender_set_and_pruned_rounds(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(4, seed="guard-ctx")
    quant = QuantParams.for_vector(20)
    run = c.round(sparse_vectors(c.senders, 20, seed=3), quant)
    h = c.senders[0]
    guard = c.guard(h)
    shrunk = dataclasses.replace(c.ctx, senders=c.senders[:3])
    sub = Consortium(shrunk, {a: c.keys[a] for a in shrunk.senders}, c.receiver_keys)
    sub_sealed = sub.seal_all(sparse_vectors(shrunk.senders, 20, seed=4), quant)
    ups = {a: digest(s.blob) for a, s in sub_sealed.items()}
    with pytest.raises(RevealConflictError, match="another sender set"):
        guard.reveal(shrunk, uploads=ups, receipt=make_receipt(shrunk, uploads=ups),
                     holder_keys=c.keys[h], peer_publics=c.x25519,
                     envelopes={a: s.blob for a, s in sub_sealed.items()},
                     persist=lambda _: None)
    guard.prune(c.ctx.round + 1)
    assert guard.revealed == {} and guard.floor == c.ctx.round + 1
    with pytest.raises(RevealConflictError, match="pruned"):
        guard.reveal(c.ctx, uploads=run.uploads, receipt=run.receipt, holder_keys=c.keys[h],
                     peer_publics=c.x25519, envelopes={}, persist=lambda _: None)


def test_guard_bytes_are_checked(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(3, seed="guard-bytes")
    run = c.round(sparse_vectors(c.senders, 20, seed=5), QuantParams.for_vector(20))
    h = c.senders[0]
    data = c.saved[h]
    doc = json.loads(data)
    assert doc["version"] == 1 and set(doc["revealed"].values()) == {"share"}
    load = {"holder": h, "chain_id": CHAIN_ID, "contract": CONTRACT}
    assert RevealGuard.from_bytes(data, **load).to_bytes() == data  # type: ignore[arg-type]
    with pytest.raises(GuardFormatError, match="another party"):
        RevealGuard.from_bytes(data, holder=c.senders[1], chain_id=CHAIN_ID, contract=CONTRACT)
    corruptions = [
        b"not json",
        json.dumps({**doc, "version": 2}).encode(),
        json.dumps({**doc, "floor": -1}).encode(),
        json.dumps({**doc, "revealed": {k: "both" for k in doc["revealed"]}}).encode(),
        json.dumps({**doc, "revealed": {"x:y:z": "share"}}).encode(),
        json.dumps({**doc, "contexts": {}}).encode(),
    ]
    for bad in corruptions:
        with pytest.raises(GuardFormatError):
            RevealGuard.from_bytes(bad, **load)  # type: ignore[arg-type]
    assert run.receipt.accepted


# ----------------------------------------------------------------- unmask messages


def test_unmask_message_format_is_strict(make_consortium: ConsortiumFactory) -> None:
    c = make_consortium(5, neighbours=2, seed="unmask-wire")
    run = c.round(sparse_vectors(c.senders, 20, seed=6), QuantParams.for_vector(20))
    message = run.unmasks[0]
    h = message.holder
    wire = message.to_bytes()
    assert UnmaskMessage.from_bytes(wire, ctx=c.ctx, holder=h) == message
    for cut in range(len(wire)):
        with pytest.raises(UnmaskFormatError):
            UnmaskMessage.from_bytes(wire[:cut], ctx=c.ctx, holder=h)
    with pytest.raises(UnmaskFormatError, match="another request or holder"):
        UnmaskMessage.from_bytes(wire, ctx=c.ctx, holder=c.senders[1])
    stranger = next(s for s in c.senders if s != h and s not in c.ctx.neighbours_of(h))
    item = message.items[0]
    cases = {
        "not a mask neighbour": (dataclasses.replace(item, sender=stranger),),
        "two items": (item, item),
    }
    for match, items in cases.items():
        forged = dataclasses.replace(message, items=items).to_bytes()
        with pytest.raises(UnmaskFormatError, match=match):
            UnmaskMessage.from_bytes(forged, ctx=c.ctx, holder=h)
    both = (item, UnmaskItem(RevealKind.PAIR, item.sender, bytes(32)))
    with pytest.raises(RevealConflictError) as info:
        UnmaskMessage.from_bytes(
            dataclasses.replace(message, items=both).to_bytes(), ctx=c.ctx, holder=h
        )
    assert info.value.culprit == h and info.value.sender == item.sender
    bad_kind = bytearray(wire)
    bad_kind[4 + 1 + 32 + 20 + 2] = 7
    with pytest.raises(UnmaskFormatError, match="kind"):
        UnmaskMessage.from_bytes(bytes(bad_kind), ctx=c.ctx, holder=h)


# ----------------------------------------------------------------- attribution


def test_bad_reveals_are_set_aside_and_named_while_enough_remain(
    make_consortium: ConsortiumFactory,
) -> None:
    c = make_consortium(6, seed="faults")  # k = 5, t = 3
    quant = QuantParams.for_vector(300)
    vectors = sparse_vectors(c.senders, 300, seed=7)
    x = c.senders[5]
    run = c.round(vectors, quant, rejected={x: Exclusion.UNDECRYPTABLE})
    liar, meddler = c.senders[0], c.senders[1]
    target = c.senders[2]
    forged = []
    for m in run.unmasks:
        items = m.items
        if m.holder == liar:  # a wrong share of target's seed
            items = tuple(
                dataclasses.replace(i, value=encode_element(12345))
                if i.sender == target else i for i in items
            )
        if m.holder == meddler:  # an extra share about the excluded sender
            items = (*items, UnmaskItem(RevealKind.SHARE, x, encode_element(1)))
        forged.append(dataclasses.replace(m, items=items))
    forged.append(forged[0])  # a second message from the same holder
    result = aggregate(run.opened(), ctx=c.ctx, receipt=run.receipt, unmasks=forged)
    kept = {s: v for s, v in vectors.items() if s != x}
    assert np.allclose(result.values(), sum(v.astype(np.float64) for v in kept.values()),
                       atol=1e-3)
    kinds = {(type(f), f.culprit, f.sender) for f in result.faults}
    assert (BadShareError, liar, target) in kinds
    assert (UnexpectedRevealError, meddler, x) in kinds
    assert any(type(f) is UnmaskFormatError and f.culprit == liar for f in result.faults)
    assert all(f.describe()["culprit"].startswith("0x") for f in result.faults)


def test_missing_shares_and_seeds_name_who_is_missing(
    make_consortium: ConsortiumFactory,
) -> None:
    # k = 2 and t = 2 configured: a silent holder makes its neighbours unrecoverable.
    c = make_consortium(5, neighbours=2, threshold=2, seed="missing")
    quant = QuantParams.for_vector(100)
    vectors = sparse_vectors(c.senders, 100, seed=8)
    silent = c.senders[0]
    run = c.round(vectors, quant, not_uploaded={silent})
    without = [m for m in run.unmasks if m.holder != silent]
    # silent reveals shares of its two neighbours; without it each has 1 of 2 shares...
    needs = expected_unmaskers(c.ctx, run.receipt)
    assert set(needs) == set(c.senders)
    with pytest.raises(MissingSharesError, match="1 of 2 shares") as info:
        aggregate(run.opened(), ctx=c.ctx, receipt=run.receipt, unmasks=without)
    assert f"0x{silent.hex()}" in str(info.value)
    # ... whereas a neighbour of silent that stays quiet leaves its pair seed missing.
    z = c.ctx.neighbours_of(silent)[0]
    quiet = [dataclasses.replace(m, items=tuple(i for i in m.items if i.kind is RevealKind.SHARE))
             if m.holder == z else m for m in run.unmasks]
    with pytest.raises(MissingPairSeedError, match=f"0x{z.hex()} for excluded 0x{silent.hex()}"):
        aggregate(run.opened(), ctx=c.ctx, receipt=run.receipt, unmasks=quiet)
    # A wrong pair seed is named, and then missing.
    wrong = [dataclasses.replace(m, items=tuple(
        dataclasses.replace(i, value=bytes(32)) if i.kind is RevealKind.PAIR else i
        for i in m.items)) if m.holder == z else m for m in run.unmasks]
    with pytest.raises(MissingPairSeedError) as info2:
        aggregate(run.opened(), ctx=c.ctx, receipt=run.receipt, unmasks=wrong)
    assert any(isinstance(f, BadPairSeedError) and f.culprit == z for f in info2.value.faults)
    # The default threshold (t = 1 for k = 2) survives the silent holder.
    c1 = make_consortium(5, neighbours=2, seed="missing")
    run1 = c1.round(vectors, quant, not_uploaded={silent}, offline=())
    without1 = [m for m in run1.unmasks if m.holder != silent]
    kept = sum(v.astype(np.float64) for s, v in vectors.items() if s != silent)
    total = aggregate(run1.opened(), ctx=c1.ctx, receipt=run1.receipt, unmasks=without1)
    assert np.allclose(total.values(), kept, atol=1e-3)


def test_inconsistent_dealing_is_detected_and_provable(
    make_consortium: ConsortiumFactory,
) -> None:
    """A sender whose shares match their commitments but not its seed commitment is named,
    and anyone can check the evidence from its public header and the revealed shares."""
    c = make_consortium(4, seed="dealing")
    quant = QuantParams.for_vector(50)
    vectors = sparse_vectors(c.senders, 50, seed=9)
    run = c.round(vectors, quant)
    cheat = c.senders[1]
    env = parse_envelope(run.sealed[cheat].blob)
    # Re-commit to a different seed: the envelope no longer matches its shares. (A real
    # cheater would seal this header from the start; the receiver's key opens it.)
    header = dataclasses.replace(env.header, self_commit=self_commitment(c.ctx, cheat, 5))
    opened = [dataclasses.replace(s, header=header) if s.sender == cheat else s
              for s in run.opened()]
    with pytest.raises(DealingError) as info:
        aggregate(opened, ctx=c.ctx, receipt=run.receipt, unmasks=run.unmasks)
    assert info.value.sender == cheat
    revealed = {m.holder: i.value for m in run.unmasks for i in m.items if i.sender == cheat}
    assert check_dealing(c.ctx, env.header, cheat, revealed)
    assert not check_dealing(c.ctx, header, cheat, revealed)
    with pytest.raises(ContextError, match="need"):
        check_dealing(c.ctx, env.header, cheat, {})


def test_hostile_envelopes_never_crash_a_holder(make_consortium: ConsortiumFactory) -> None:
    """Whatever bytes a holder is handed for an accepted sender, it reports that sender as
    unreadable and still reveals the rest; the decision is recorded all the same."""
    c = make_consortium(5, seed="hostile")
    quant = QuantParams.for_vector(20)
    sealed = c.seal_all(sparse_vectors(c.senders, 20, seed=11), quant)
    ups = {a: digest(s.blob) for a, s in sealed.items()}
    receipt = make_receipt(c.ctx, uploads=ups)
    h, a, b, d, e = c.senders
    other = sealed[b].blob  # a valid envelope, but of another sender
    flipped = bytearray(sealed[d].blob)
    fixed = 4 + 1 + 1 + 8 + 20 + 8 + 20 + 20 + 32 + 1 + 4 + 2 + 5 + 32 + 4 + 32
    entry = fixed + 124 * c.ctx.neighbours_of(d).index(h)
    flipped[entry + 64 + 20] ^= 1  # inside the share d sealed to h
    publics = dict(c.x25519)
    publics[e] = bytes(32)  # a low-order "registered" key
    guard = RevealGuard(holder=h, chain_id=CHAIN_ID, contract=CONTRACT)
    for junk in (b"FPDL\x02garbage", other, sealed[a].blob[:100]):
        out = guard.reveal(
            c.ctx, uploads=ups, receipt=receipt, holder_keys=c.keys[h], peer_publics=publics,
            envelopes={a: junk, b: sealed[b].blob, d: bytes(flipped), e: sealed[e].blob},
            persist=lambda _: None,
        )
        assert set(out.unreadable) == {a, d, e}
        assert [i.sender for i in out.message.items] == [b]
    assert {guard.kind_revealed(c.ctx.round, c.ctx.receiver, x) for x in (a, b, d, e)} == {
        RevealKind.SHARE
    }
