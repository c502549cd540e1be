"""Issue 14's reproductions, as far as they are the chain's: each fails on the old contract.

Finding 1 (junk registration: keys, impossible claims), finding 2 (sybils: unadmitted
addresses, inflated sharing levels), finding 3 (stale votes: removed reporters, past epochs).
Finding 4 (a requester removed mid-round) needs a removal outside the assessment windows,
which only an upheld claim produces: see tests/chain/test_claims.py.
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from client.chain import errors
from client.chain.records import Admission, PartyStatus, Phase

from .conftest import HYBRID_KEY, KEY, digest

P25519 = 2**255 - 19
ORDER8 = (
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
)
# Every small-order u-coordinate, canonical and not, with and without the ignored top bit.
WEAK_U = [0, 1, P25519 - 1, *ORDER8, P25519, P25519 + 1]
WEAK_KEYS = [(u | top).to_bytes(32, "little") for u in WEAK_U for top in (0, 1 << 255)]


def _shared_secret_fails(raw: bytes) -> bool:
    try:
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:
        return True
    return False


def test_junk_keys_are_refused(fresh_ledger, dev_accounts):
    ledger = fresh_ledger().with_account(dev_accounts[1])
    with pytest.raises(errors.InvalidEncryptionKey) as short:
        ledger.register(b"\x07", 100, 10, digest(0))  # the 1-byte key of the reproduction
    assert short.value.length == 1
    assert len(WEAK_KEYS) == 14
    for raw in WEAK_KEYS:
        # The real X25519 refuses each one: this is what crashed every honest party.
        assert _shared_secret_fails(raw), raw.hex()
        with pytest.raises(errors.WeakEncryptionKey) as weak:
            ledger.register(raw, 100, 10, digest(0))
        assert weak.value.key == raw
        with pytest.raises(errors.WeakEncryptionKey):  # as the X25519 half of a hybrid key
            ledger.register(raw + HYBRID_KEY[32:], 100, 10, digest(0))
    fresh = X25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not _shared_secret_fails(fresh)
    ledger.register(fresh, 100, 10, digest(0))
    ledger.with_account(dev_accounts[2]).register(fresh + os.urandom(1184), 100, 10, digest(1))


def test_huge_and_inconsistent_claims_are_refused(fresh_ledger, dev_accounts):
    ledger = fresh_ledger(min_data_size=50, max_data_size=60_000).with_account(dev_accounts[1])
    with pytest.raises(errors.DataSizeOutOfRange) as huge:
        ledger.register(KEY, 10**9, 10**8, digest(0))  # |D| = 10^9: the 954 GiB claim
    assert (huge.value.dataSize, huge.value.minDataSize, huge.value.maxDataSize) == (
        10**9, 50, 60_000)
    with pytest.raises(errors.DataSizeOutOfRange):
        ledger.register(KEY, 49, 1, digest(0))
    ledger.register(KEY, 60_000, 6_000, digest(0))


def test_sybil_sharing_level_is_bounded(consortium, dev_accounts):
    # The reproduction: u = |D| = 1 minted ten times an honest 600-image party at level 0.1.
    c = consortium(3, close=False, max_parties=4)
    sybil = c[0].with_account(dev_accounts[30])
    with pytest.raises(errors.SharingLevelTooHigh) as info:
        sybil.register(KEY, 1, 1, digest(30))
    assert (info.value.dataSize, info.value.samplesReleased) == (1, 1)
    assert (info.value.maxNumerator, info.value.maxDenominator) == (1, 2)
    with pytest.raises(errors.SharingLevelTooHigh):
        sybil.register(KEY, 600, 301, digest(30))
    sybil.register(KEY, 600, 300, digest(30))  # exactly the largest level, 1/2
    c[0].close_registration()
    n, w = 4, c[0].parameters().model_size
    # No party can mint more than maxSharingLevel * |w| * (n - 1).
    for address in c[0].parties():
        assert c[0].points_of(address).balance <= w * (n - 1) // 2


def test_unadmitted_sybil_cannot_register(fresh_ledger, dev_accounts):
    listed = tuple(a.address for a in dev_accounts[1:4])
    base = fresh_ledger(admission=Admission.ALLOWLIST, allowlist=listed)
    for i in range(3):
        base.with_account(dev_accounts[1 + i]).register(KEY, 600, 60, digest(i))
    for k in range(10, 13):  # a sybil army of fresh addresses
        with pytest.raises(errors.NotAdmitted):
            base.with_account(dev_accounts[k]).register(KEY, 600, 60, digest(k))
    assert base.parties() == listed


def test_removed_reporters_votes_stop_counting(consortium):
    # The reproduction: with 4 parties, a party that was itself removed plus one member
    # ejected an honest party.
    c = consortium(4)
    a, b, x, s = c.addresses
    c[3].report_low_quality(0, [a])  # s (soon removed) names honest a
    for k in range(3):
        c[k].report_low_quality(0, [s])
    assert c[0].party_info(s).status is PartyStatus.REMOVED
    assert c[0].removal_quorum() == 2  # ceil(2/3 * 3)
    assert c[0].credible_report_count(0, a) == 0
    c[1].report_low_quality(0, [a])  # one credible report + s's stale one
    assert c[0].party_info(a).status is PartyStatus.CREDIBLE
    assert c[0].reporters_of(0, a) == (s, b)
    assert c[0].credible_report_count(0, a) == 1
    c[2].report_low_quality(0, [a])  # two credible reports: a quorum of the credible set
    assert c[0].party_info(a).status is PartyStatus.REMOVED
    removal = c[0].removals()[-1]
    assert removal.party == a and removal.reporters == (b, x)  # the credible ones only
    # In the deciding transaction the report is logged before the removal it caused.
    logs = [e for e in c[0].events(removal.meta.block_number)
            if e.meta.tx_hash == removal.meta.tx_hash]
    assert [e.name for e in logs] == ["LowQualityReported", "PartyRemoved"]


def test_reports_only_for_the_current_epoch_in_its_window(consortium, anvil):
    c = consortium(4, request_blocks=5, upload_blocks=5, settle_blocks=10)
    s = c.addresses[3]
    c[0].report_low_quality(0, [s])  # benchmarking: epoch 0's window
    c.start_round()
    assert c[0].phase() is Phase.REQUEST
    with pytest.raises(errors.ReportOutsideWindow) as past:  # a past epoch, reported late
        c[1].report_low_quality(0, [s])
    assert (past.value.epoch, past.value.currentRound, past.value.phase) == (0, 1, Phase.REQUEST)
    with pytest.raises(errors.ReportOutsideWindow):  # the current epoch, before its Settle
        c[1].report_low_quality(1, [s])
    for ledger in c.ledgers:
        ledger.request_downloads([], [])
    assert c[0].phase() is Phase.SETTLE
    with pytest.raises(errors.ReportOutsideWindow):
        c[1].report_low_quality(0, [s])
    with pytest.raises(errors.ReportOutsideWindow):
        c[1].report_low_quality(2, [s])
    c[1].report_low_quality(1, [s])
    c[2].report_low_quality(1, [s])
    assert c[0].party_info(s).status is PartyStatus.CREDIBLE  # epoch 0's report is not added
    c[0].report_low_quality(1, [s])
    assert c[0].party_info(s).status is PartyStatus.REMOVED
