"""An honest consortium driven directly with Ledger calls, for the audit suite.

``honest_run`` (once per session) deploys a ledger through the migration step (so a
deployments record exists), admits a fourth party by vote, registers four parties with a
deposit and their released samples in an embedded store, and plays epoch 0 (labels committed)
and two rounds: requests, uploads of envelope-shaped objects whose public header names the
delivery, receipts, a claim answered with a key reveal and rejected by the other two parties'
votes, and the removal of party D by the quorum of the three others' reports in round 1.
After the last round the three remaining parties withdraw their deposits and D is settled.
Every rule is followed, so the audit must find nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from client.audit.content import ENVELOPE_PREFIX
from client.chain.anvil import AnvilNode
from client.chain.deployments import Deployment, write_deployment
from client.chain.ledger import Ledger, connect
from client.chain.records import Admission, ClaimKind, LedgerParams
from client.crypto.constants import ENVELOPE_MAGIC, ENVELOPE_VERSION
from migrations import m001_deploy_ledger
from storage import ContentId, EmbeddedStore

KEY = bytes(range(1, 33))
MODEL_SIZE = 140_106
SIZES = (600, 800, 1000, 700)
RELEASED = (60, 80, 100, 70)
DEPOSIT_WEI = 10**15
AMOUNT = 500
CLAIM_DEPOSIT = 50
# Dev accounts of the session Anvil used here (past those the ledger suites use most).
FIRST_ACCOUNT = 30


@dataclass
class Run:
    """An honest consortium played to the end."""

    ledger: Ledger
    ledgers: list[Ledger]
    accounts: list[LocalAccount]
    store_dir: Path
    from_block: int
    last_block: int
    deployment: Deployment
    deployment_file: Path
    node: AnvilNode
    envelopes: dict[tuple[int, str, str], ContentId]
    samples: dict[str, ContentId]

    @property
    def addresses(self) -> list[str]:
        return [a.address for a in self.accounts]

    def store_copy(self, where: Path) -> EmbeddedStore:
        """Return an embedded store over a copy of the run's store folder."""
        shutil.copytree(self.store_dir, where)
        return EmbeddedStore(where)


def object_path(store_root: Path, cid: ContentId) -> Path:
    """Where the embedded store keeps the bytes of ``cid``."""
    name = cid.digest.hex()
    return store_root / "objects" / name[:2] / name


def envelope_blob(chain_id: int, ledger: str, round_number: int, sender: str,
                  receiver: str) -> bytes:
    """Bytes shaped as an envelope: its public header's fixed prefix, then opaque bytes."""
    header = ENVELOPE_PREFIX.pack(
        ENVELOPE_MAGIC, ENVELOPE_VERSION, 1, chain_id, bytes.fromhex(ledger[2:]), round_number,
        bytes.fromhex(sender[2:]), bytes.fromhex(receiver[2:]))
    return header + os.urandom(256)


def play_round(run_ledgers: list[Ledger], store: EmbeddedStore, round_number: int,
               members: list[int], envelopes: dict[tuple[int, str, str], ContentId]) -> None:
    """Every member requests from every other member and serves every request."""
    addresses = [lg.sender for lg in run_ledgers]
    view = run_ledgers[members[0]]
    chain_id = int(view.w3.eth.chain_id)
    for i in members:
        others = [addresses[j] for j in members if j != i]
        run_ledgers[i].request_downloads(others, [AMOUNT] * len(others))
    for i in members:
        requesters = [addresses[j] for j in members if j != i]
        digests = []
        for requester in requesters:
            cid = store.put(envelope_blob(chain_id, view.address, round_number, addresses[i],
                                          requester))
            envelopes[(round_number, requester, addresses[i])] = cid
            digests.append(cid.commitment)
        run_ledgers[i].upload_ciphertexts(requesters, digests)


def commit_notes(ledger: Ledger, store: EmbeddedStore, epoch: int, kind: int,
                 recipients: list[str]) -> None:
    """Store one opaque note per recipient and commit the batch."""
    digests = [store.put(os.urandom(96)).commitment for _ in recipients]
    ledger.commit_messages(epoch, kind, recipients, digests)


def build_run(anvil: AnvilNode, dev_accounts: list[LocalAccount], folder: Path) -> Run:
    """Play the honest consortium described in the module docstring."""
    w3 = connect(anvil.rpc_url)
    accounts = dev_accounts[FIRST_ACCOUNT : FIRST_ACCOUNT + 4]
    addresses = [a.address for a in accounts]
    from_block = int(w3.eth.block_number) + 1
    params = LedgerParams(
        model_size=MODEL_SIZE, min_parties=3, max_parties=4, rounds=2, registration_blocks=60,
        benchmark_blocks=40, request_blocks=30, upload_blocks=30, settle_blocks=60,
        admission=Admission.VOTE, allowlist=tuple(addresses[:3]),
        registration_deposit=DEPOSIT_WEI, min_uploaders=2, claim_deposit=CLAIM_DEPOSIT,
        response_blocks=10, vote_blocks=20, retention_blocks=400,
        settings=b"audit-suite settings",
    )
    deployment = m001_deploy_ledger.apply(w3, accounts[0], params)
    deployments_dir = folder / "deployments"
    deployment_file = write_deployment(int(w3.eth.chain_id), deployment, deployments_dir)
    base = Ledger(w3, deployment.address)
    ledgers = [base.with_account(a) for a in accounts]
    store = EmbeddedStore(folder / "store")
    labels, receipt = ledgers[0].message_kind("labels"), ledgers[0].message_kind("receipt")

    ledgers[0].vote_to_admit(addresses[3])
    ledgers[1].vote_to_admit(addresses[3])
    samples: dict[str, ContentId] = {}
    for i, ledger in enumerate(ledgers):
        cid = store.put(os.urandom(512))
        samples[addresses[i]] = cid
        ledger.register(KEY, SIZES[i], RELEASED[i], cid.commitment)
    ledgers[2].close_registration()

    for i, ledger in enumerate(ledgers):  # epoch 0: labels to every other party
        commit_notes(ledger, store, 0, labels, [a for a in addresses if a != addresses[i]])
    for ledger in ledgers:
        ledger.close_round()

    envelopes: dict[tuple[int, str, str], ContentId] = {}
    play_round(ledgers, store, 1, [0, 1, 2, 3], envelopes)
    # A claims that B's envelope is malformed; B reveals its key; C and D find it well formed.
    claim_id = ledgers[0].file_claim(1, addresses[1], ClaimKind.MALFORMED)
    ledgers[1].reveal_key(claim_id, b"\x07" * 32)
    ledgers[2].vote_on_claim(claim_id, False)
    ledgers[3].vote_on_claim(claim_id, False)
    for i in (0, 1, 2, 3):
        commit_notes(ledgers[i], store, 1, receipt, [addresses[i]])
    for i in (0, 1, 2):  # D is reported by the three others: ceil(2/3 * 4) = 3
        ledgers[i].report_low_quality(1, [addresses[3]])
    for i in (0, 1, 2):
        ledgers[i].close_round()

    play_round(ledgers, store, 2, [0, 1, 2], envelopes)
    for i in (0, 1, 2):
        ledgers[i].close_round()
    for i in (0, 1, 2):
        ledgers[i].withdraw_deposit()
    ledgers[0].settle(addresses[3])
    return Run(base, ledgers, list(accounts), folder / "store", from_block,
               int(w3.eth.block_number), deployment, deployment_file, anvil, envelopes, samples)


@pytest.fixture(scope="session")
def honest_run(anvil: AnvilNode, dev_accounts: list[LocalAccount],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The honest consortium of this suite, played once per session.

    Tests never send it a transaction and tamper only with copies of its store; one test
    mines blocks past its retention window, so the others audit up to ``last_block``.
    """
    yield build_run(anvil, dev_accounts, tmp_path_factory.mktemp("honest"))
