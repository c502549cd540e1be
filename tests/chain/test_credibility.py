"""Low-quality reports, quorum removal at the exact 2/3 boundary, and its effects."""

from __future__ import annotations

import pytest

from client.chain import errors
from client.chain.records import PartyStatus, Phase, Ratio, ThresholdMode

from .conftest import digest


@pytest.mark.parametrize(("n", "quorum"), [(3, 2), (4, 3), (6, 4), (7, 5), (9, 6)])
def test_removal_at_exactly_ceil_two_thirds(consortium, n, quorum):
    c = consortium(n)
    assert c[0].removal_quorum() == quorum == -(-2 * n // 3)
    suspect = c.addresses[n - 1]
    for k in range(quorum - 1):
        c[k].report_low_quality(0, [suspect])
    assert c[0].party_info(suspect).status is PartyStatus.CREDIBLE
    assert c[0].reporters_of(0, suspect) == tuple(c.addresses[: quorum - 1])
    c[quorum - 1].report_low_quality(0, [suspect])
    assert c[0].party_info(suspect).status is PartyStatus.REMOVED
    (removal,) = c[0].removals()
    assert removal.party == suspect and removal.epoch == 0
    assert removal.reporters == tuple(c.addresses[:quorum])
    assert c[0].credible_count() == n - 1
    assert suspect not in c[0].credible_parties()
    assert c[0].removal_quorum() == -(-2 * (n - 1) // 3)


def _to_settle(c) -> None:
    """Open the next round and pass it with empty DOWNLOADs straight to its Settle phase."""
    c.start_round()
    for ledger in c.ledgers:
        if ledger.party_info(ledger.sender).status is PartyStatus.CREDIBLE:
            ledger.request_downloads([], [])
    assert c[0].phase() is Phase.SETTLE


def test_reports_are_per_epoch(consortium):
    c = consortium(4)
    s = c.addresses[3]
    c[0].report_low_quality(0, [s])
    _to_settle(c)
    c[1].report_low_quality(1, [s])
    c[2].report_low_quality(1, [s])
    assert c[0].party_info(s).status is PartyStatus.CREDIBLE  # 1 + 2 reports, never 3 in one
    assert c[0].has_reported(0, s, c.addresses[0]) and not c[0].has_reported(1, s, c.addresses[0])
    reports = c[0].low_quality_reports(epoch=1)
    assert [r.reporter for r in reports] == c.addresses[1:3]
    c[0].report_low_quality(1, [s])
    assert c[0].party_info(s).status is PartyStatus.REMOVED


def test_report_reverts(consortium, dev_accounts):
    c = consortium(4, close=False)
    with pytest.raises(errors.ReportOutsideWindow) as early:
        c[0].report_low_quality(0, [c.addresses[1]])
    assert early.value.phase == Phase.REGISTRATION
    c[0].close_registration()
    with pytest.raises(errors.ReportOutsideWindow) as fe:
        c[0].report_low_quality(1, [c.addresses[1]])
    assert (fe.value.epoch, fe.value.currentRound, fe.value.phase) == (1, 0, Phase.BENCHMARKING)
    with pytest.raises(errors.SelfReference):
        c[0].report_low_quality(0, [c.addresses[0]])
    with pytest.raises(errors.NotRegistered):
        c[0].report_low_quality(0, [dev_accounts[35].address])
    with pytest.raises(errors.NotCredible):
        c[0].with_account(dev_accounts[35]).report_low_quality(0, [c.addresses[1]])
    with pytest.raises(errors.TooManyEntries):
        c[0].report_low_quality(0, c.addresses[1:] * 2)
    with pytest.raises(errors.AlreadyReported):
        c[0].report_low_quality(0, [c.addresses[1], c.addresses[1]])
    c[0].report_low_quality(0, [c.addresses[1]])
    with pytest.raises(errors.AlreadyReported) as ar:
        c[0].report_low_quality(0, [c.addresses[1]])
    assert (ar.value.epoch, ar.value.reporter, ar.value.suspect) == (
        0, c.addresses[0], c.addresses[1])


def test_reports_on_removed_suspects_are_skipped(consortium):
    c = consortium(7)
    s = c.addresses[6]
    for k in range(5):
        c[k].report_low_quality(0, [s])
    assert c[0].party_info(s).status is PartyStatus.REMOVED
    # A late report racing the removal does not revert, is recorded, and removes nobody twice.
    c[5].report_low_quality(0, [c.addresses[1], s])
    assert len(c[0].removals()) == 1
    assert c[0].has_reported(0, s, c.addresses[5])
    assert c[0].reporters_of(0, s) == tuple(c.addresses[:5])
    assert c[0].reporters_of(0, c.addresses[1]) == (c.addresses[5],)


def test_removed_party_is_locked_out_and_keeps_points(consortium, anvil):
    c = consortium(4, start=True, request_blocks=5, upload_blocks=5, settle_blocks=30)
    a, b, x, s = c.addresses
    c[3].request_downloads([a, b], [7, 8])  # s escrows, then gets removed in Settle
    c[0].request_downloads([s, b], [5, 6])  # a asked s for an update s will never send
    c[1].request_downloads([a], [1])
    c[2].request_downloads([], [])
    c[0].upload_ciphertexts([b], [digest(1)])
    c[1].upload_ciphertexts([a], [digest(2)])  # neither serves s
    assert c[0].phase() is Phase.UPLOAD  # s, named by a, has not uploaded
    anvil.mine(c[0].round_deadlines(1).upload_deadline - c[0].block_number())
    assert c[0].phase() is Phase.SETTLE
    c[3].close_round()  # s votes, then is removed: its vote is withdrawn
    for k in range(3):
        c[k].report_low_quality(1, [s])
    assert c[0].party_info(s).status is PartyStatus.REMOVED
    progress = c[0].round_progress(1)
    assert progress.requests == 3  # s's DOWNLOAD no longer counts
    assert progress.uploaders_expected == 2  # a and b; s (named by a) is out
    assert progress.votes == 0
    total = c[0].total_points()
    for call in [
        lambda: c[3].request_downloads([], []),
        lambda: c[3].upload_ciphertexts([a], [digest(0)]),
        lambda: c[3].report_low_quality(1, [a]),
        lambda: c[3].commit_messages(1, 1, [a], [digest(0)]),
        lambda: c[3].close_round(),
    ]:
        with pytest.raises(errors.NotCredible, match="NotCredible"):
            call()
    for k in range(3):
        c[k].close_round()
    assert c[0].current_round() == 2
    # s's escrow (7 + 8) and a's request to s (5) come back; nothing is lost. a's payment from
    # b (1) closed its dispute window with the round: it is releasable too.
    assert c[0].points_of(s).releasable == 15
    a_points = c[0].points_of(a)
    assert (a_points.escrowed, a_points.pending, a_points.releasable) == (5, 1, 6)
    c[0].settle(s)
    assert c[0].points_of(s).escrowed == 0
    assert c.held() == total


def test_vote_of_removed_party_is_withdrawn(consortium):
    c = consortium(4)
    s = c.addresses[3]
    c[3].close_round()
    assert c[0].round_progress(0).votes == 1
    for k in range(3):
        c[k].report_low_quality(0, [s])
    assert c[0].round_progress(0).votes == 0
    c[0].close_round()
    c[1].close_round()
    c[2].close_round()  # three votes now make the (smaller) credible set unanimous
    assert c[0].current_round() == 1


def test_credibility_threshold_modes(fresh_ledger):
    assert fresh_ledger().parameters().threshold_mode is ThresholdMode.AUTHORS  # the default
    paper = fresh_ledger(threshold_mode=ThresholdMode.PAPER, threshold_numerator=2,
                         threshold_denominator=3)
    assert paper.parameters().threshold_mode is ThresholdMode.PAPER
    assert paper.credibility_threshold(4) == Ratio(2, 12)  # (1/n)(2/3), n = 4
    authors = fresh_ledger(threshold_mode=ThresholdMode.AUTHORS, threshold_numerator=1,
                           threshold_denominator=3)
    assert authors.credibility_threshold(4) == Ratio(1, 9)  # (1/3) / (|C| - 1)
    with pytest.raises(errors.InvalidParameter):
        authors.credibility_threshold(1)
