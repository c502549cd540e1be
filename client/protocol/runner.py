"""N parties in one process, over the real ledger and a real content store.

The runner builds the parties (data shard, standalone model, DPGAN samples, keys, a funded
account) and then only calls :meth:`Party.step` on each in turn. When no party can move, every
party is waiting for a deadline, so the runner advances the devnet's blocks to the next one. It
holds no protocol state of its own: points, phases and membership are read from the chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3

from client.chain.ledger import Ledger, connect
from client.chain.records import LedgerParams, PartyStatus, Phase
from client.crypto import PartyKeys
from client.errors import FppdlError
from client.protocol.config import ProtocolConfig
from client.protocol.learner import FreeRiderLearner, Learner, ModelLearner
from client.protocol.metrics import PhaseTimer
from client.protocol.party import Party, PartyIdentity
from storage import ContentStore
from trainer.config import TrainConfig
from trainer.data import Dataset, Normalisation, Pool, default_pool
from trainer.dpgan import DPGANConfig, SampleRelease, release_samples, train_dpgan
from trainer.fairness import pearson
from trainer.partitions import make_partition

#: Gas money each party account gets from the devnet funder (far more than a run spends).
PARTY_FUNDING_WEI = 10**20


class ConsortiumStalled(FppdlError, RuntimeError):
    """No party could move even after the chain was advanced past every deadline."""


@dataclass(frozen=True)
class ConsortiumSpec:
    """Everything that defines one in-process consortium run (an experiment is one of these).

    Attributes
    ----------
    parties : int
        Honest parties with data.
    free_riders : int
        Additional parties with no data that answer evaluations with random labels.
    setting : str
        Partition: ``same``, ``different`` (sharing levels), ``imbalanced`` or ``classes``.
    per_party : int
        Examples per party (the paper: 600).
    test_size : int
        Held-out examples every party evaluates on.
    model : str
        ``mlp`` or ``cnn``.
    epsilon, delta : float
        DPGAN privacy target of every party.
    dpgan : DPGANConfig
        DPGAN training settings.
    blocks : tuple of int
        Phase lengths in blocks: benchmarking, request, upload, settle.
    """

    parties: int = 4
    free_riders: int = 0
    setting: str = "different"
    per_party: int = 600
    test_size: int = 1000
    model: str = "mlp"
    seed: int = 0
    epsilon: float = 4.0
    delta: float = 1e-5
    dpgan: DPGANConfig = field(default_factory=lambda: DPGANConfig(epochs=5))
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    mnist_dir: str | None = None
    blocks: tuple[int, int, int, int] = (400, 200, 200, 400)


@dataclass
class Member:
    """A party of the run and what the runner knows about how it was built."""

    party: Party
    name: str
    data_size: int
    sharing_level: float
    standalone_accuracy: float
    free_rider: bool
    dpgan_epsilon: float


@dataclass(frozen=True)
class PreparedParty:
    """A party after Algorithm 1 step 1: standalone model, DPGAN samples, sharing level."""

    name: str
    learner: Learner
    initial_params: npt.NDArray[np.float32]
    samples: SampleRelease
    data_size: int
    level: float
    standalone: float
    epsilon: float
    free_rider: bool = False


def prepare_party(
    name: str,
    data: Dataset,
    *,
    test: Dataset,
    normalisation: Normalisation,
    level: float,
    model: str,
    train: TrainConfig,
    dpgan: DPGANConfig,
    epsilon: float,
    delta: float,
    seed: int,
    init_seed: int,
    say: Callable[[str], None] = lambda _msg: None,
) -> PreparedParty:
    """Algorithm 1 step 1 for one party: standalone model, DPGAN, ``level * |D|`` samples.

    ``seed`` drives this party's training order and DPGAN; ``init_seed`` is the consortium's
    public initial model w0, the same for every party.
    """
    say(f"{name}: standalone training on {len(data)} examples")
    learner = ModelLearner(
        model_name=model, data=data, test=test, train=train, normalisation=normalisation,
        seed=seed, init_seed=init_seed,
    )
    standalone = learner.pretrain()
    say(f"{name}: standalone accuracy {standalone:.4f}; DPGAN (epsilon {epsilon})")
    gan = train_dpgan(
        data.x, labels=data.y, epsilon=epsilon, delta=delta, seed=seed, config=dpgan,
        normalisation=normalisation,
    )
    released = max(1, round(level * len(data)))
    samples = release_samples(gan, released, seed=seed + 500)
    return PreparedParty(
        name, learner, learner.params(), samples, len(data), level, standalone,
        float(gan.achieved_epsilon),
    )


def ledger_parameters(
    prepared: Sequence[PreparedParty], blocks: tuple[int, int, int, int], current_block: int
) -> LedgerParams:
    """Deployment parameters for exactly these parties, phase lengths ``blocks``."""
    total = len(prepared)
    bench, request, upload, settle = blocks
    return LedgerParams(
        model_size=int(prepared[0].initial_params.shape[0]),
        min_parties=total,
        max_parties=total,
        registration_deadline=current_block + 10 * total + 100,
        benchmark_blocks=bench,
        request_blocks=request,
        upload_blocks=upload,
        settle_blocks=settle,
    )


def compose_members(
    ledger: Ledger,
    prepared: Sequence[PreparedParty],
    identities: Sequence[PartyIdentity],
    *,
    config: ProtocolConfig,
    store_for: Callable[[int], ContentStore],
    state_dir_for: Callable[[PreparedParty], Path],
) -> list[Member]:
    """One :class:`Party` per prepared party, each learner reset to its standalone params."""
    members = []
    for i, (prep, identity) in enumerate(zip(prepared, identities, strict=True)):
        prep.learner.set_params(prep.initial_params)
        party = Party(
            identity=identity,
            ledger=ledger.with_account(identity.account),
            store=store_for(i),
            learner=prep.learner,
            config=config,
            state_dir=state_dir_for(prep),
            samples=prep.samples,
            timer=PhaseTimer(),
        )
        members.append(
            Member(
                party, prep.name, prep.data_size, prep.level, prep.standalone, prep.free_rider,
                prep.epsilon,
            )
        )
    return members


def prepare_parties(
    spec: ConsortiumSpec,
    *,
    pool: Pool | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[PreparedParty]:
    """Partition the data, pre-train every standalone model and DPGAN, draw the samples."""
    say = progress or (lambda _msg: None)
    pool = pool or default_pool(test_size=spec.test_size, seed=spec.seed, mnist_dir=spec.mnist_dir)
    partition = make_partition(
        spec.setting, pool.train, spec.parties, seed=spec.seed, per_party=spec.per_party
    )
    prepared: list[PreparedParty] = []
    for i in range(spec.parties):
        prepared.append(
            prepare_party(
                f"party{i}", partition.party_data(pool.train, i), test=pool.test,
                normalisation=pool.normalisation, level=partition.levels[i], model=spec.model,
                train=spec.protocol.train, dpgan=spec.dpgan, epsilon=spec.epsilon,
                delta=spec.delta, seed=spec.seed * 1000 + i, init_seed=spec.seed, say=say,
            )
        )
    for k in range(spec.free_riders):
        claimed = spec.per_party
        rider = FreeRiderLearner(
            model_name=spec.model, test=pool.test, claimed_size=claimed, seed=9000 + k
        )
        released = max(1, round(0.1 * claimed))
        prepared.append(
            PreparedParty(
                f"free-rider{k}", rider, rider.params(), _noise_release(released, 9100 + k),
                claimed, 0.1, rider.accuracy(), 0.0, True,
            )
        )
    return prepared


def advance_chain(w3: Web3, blocks: int) -> None:
    """Mine ``blocks`` empty blocks on a devnet (Anvil or Hardhat)."""
    if blocks <= 0:
        return
    for method in ("anvil_mine", "hardhat_mine"):
        response = w3.provider.make_request(method, [hex(blocks)])  # type: ignore[arg-type]
        if "error" not in response:
            return
    for _ in range(blocks):
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def fund(w3: Web3, funder: LocalAccount, recipients: Sequence[str], wei: int) -> None:
    """Send gas money from ``funder`` to each recipient (signed locally)."""
    nonce = w3.eth.get_transaction_count(funder.address, "pending")
    hashes = []
    for offset, address in enumerate(recipients):
        tx: dict[str, Any] = {
            "to": address,
            "value": wei,
            "gas": 21_000,
            "nonce": nonce + offset,
            "chainId": int(w3.eth.chain_id),
            "maxFeePerGas": 2 * int(w3.eth.gas_price) + 1,
            "maxPriorityFeePerGas": 1,
        }
        signed = funder.sign_transaction(tx)
        hashes.append(w3.eth.send_raw_transaction(signed.raw_transaction))
    for tx_hash in hashes:
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)


def _noise_release(count: int, seed: int) -> SampleRelease:
    """Return what a free-rider with no data publishes: uniform noise images."""
    rng = np.random.default_rng(seed)
    return SampleRelease(rng.integers(0, 256, size=(count, 1, 32, 32), dtype=np.uint8), 0, 0)


class Consortium:
    """Parties built from a spec, stepped in one process until their last round."""

    def __init__(self, ledger: Ledger, members: list[Member], deploy_block: int) -> None:
        self.ledger = ledger
        self.members = members
        self.deploy_block = deploy_block
        #: Wall seconds of the run per epoch, and the part spent advancing the devnet.
        self.wall_seconds: dict[int, float] = {}
        self.wait_seconds: dict[int, float] = {}

    @classmethod
    def build(
        cls,
        spec: ConsortiumSpec,
        *,
        rpc_url: str,
        funder: LocalAccount,
        store_for: Callable[[int], ContentStore],
        workdir: Path,
        pool: Pool | None = None,
        accounts: Sequence[LocalAccount] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Consortium:
        """:func:`prepare_parties` then :meth:`deploy` (see both)."""
        prepared = prepare_parties(spec, pool=pool, progress=progress)
        return cls.deploy(
            spec, prepared, rpc_url=rpc_url, funder=funder, store_for=store_for,
            workdir=workdir, accounts=accounts, progress=progress,
        )

    @classmethod
    def deploy(
        cls,
        spec: ConsortiumSpec,
        prepared: Sequence[PreparedParty],
        *,
        rpc_url: str,
        funder: LocalAccount,
        store_for: Callable[[int], ContentStore],
        workdir: Path,
        accounts: Sequence[LocalAccount] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Consortium:
        """Deploy a fresh ledger for ``prepared`` parties and compose each :class:`Party`.

        Every learner is reset to the parameters it had right after standalone training, so
        the same prepared parties can start several consortia. ``accounts`` are the parties'
        signing accounts (fresh random ones by default, funded from ``funder``);
        ``store_for(i)`` opens party i's handle on the shared store.
        """
        say = progress or (lambda _msg: None)
        w3 = connect(rpc_url)
        if accounts is None:
            accounts = [Account.create() for _ in prepared]
            fund(w3, funder, [a.address for a in accounts], PARTY_FUNDING_WEI)
        params = ledger_parameters(prepared, spec.blocks, int(w3.eth.block_number))
        deployer, _ = Ledger.deploy(w3, funder, params)
        deploy_block = int(w3.eth.block_number)
        say(f"ledger deployed at {deployer.address}")
        identities = [PartyIdentity(a, PartyKeys.generate()) for a in accounts]
        members = compose_members(
            deployer, prepared, identities, config=spec.protocol, store_for=store_for,
            state_dir_for=lambda prep: workdir / prep.name,
        )
        return cls(deployer, members, deploy_block)

    def run(
        self,
        *,
        skip: Callable[[Member, int], bool] | None = None,
        progress: Callable[[str], None] | None = None,
        max_stalls: int = 50,
    ) -> None:
        """Step every party until all are finished; advance blocks only when all wait."""
        say = progress or (lambda _msg: None)
        w3 = self.ledger.w3
        stalls = 0
        last: tuple[Phase, int] | None = None
        rounds = max(m.party.config.rounds for m in self.members)
        while True:
            active = self._active(rounds)
            if not active:
                return
            moved = False
            pass_epoch = self.ledger.current_round()
            pass_start = time.perf_counter()
            for member in active:
                if skip is not None and skip(member, self.ledger.current_round()):
                    continue
                while member.party.step():
                    moved = True
            now = (self.ledger.phase(), self.ledger.current_round())
            self._add(self.wall_seconds, pass_epoch, time.perf_counter() - pass_start)
            if now != last:
                say(f"epoch {now[1]}: {now[0].name.lower()}")
                last = now
            if moved:
                stalls = 0
                continue
            stalls += 1
            if stalls > max_stalls:
                raise ConsortiumStalled(f"no party could act in {now[0].name} of epoch {now[1]}")
            start = time.perf_counter()
            advance_chain(w3, self._blocks_to_next_deadline())
            waited = time.perf_counter() - start
            self._add(self.wait_seconds, now[1], waited)
            self._add(self.wall_seconds, now[1], waited)
            for member in active:
                if skip is not None and skip(member, now[1]):
                    continue
                if member.party.close_overdue_epoch():
                    break

    def _active(self, rounds: int) -> list[Member]:
        """Members still taking part: one chain read per pass, not one per party."""
        if not self.ledger.registration_closed():
            return list(self.members)
        if self.ledger.current_round() > rounds:
            return []
        credible = set(self.ledger.credible_parties())
        return [m for m in self.members if m.party.address in credible]

    @staticmethod
    def _add(table: dict[int, float], epoch: int, seconds: float) -> None:
        table[epoch] = table.get(epoch, 0.0) + seconds

    def _blocks_to_next_deadline(self) -> int:
        block = self.ledger.block_number()
        if not self.ledger.registration_closed():
            return max(1, self.ledger.parameters().registration_deadline - block)
        dl = self.ledger.round_deadlines(self.ledger.current_round())
        upcoming = [
            d for d in (dl.request_deadline, dl.upload_deadline, dl.settle_deadline) if d > block
        ]
        return (min(upcoming) - block) if upcoming else 1

    # ------------------------------------------------------------------ results

    def results(self) -> dict[str, Any]:
        """Per-party table, fairness, removals and chain totals, read from the chain."""
        ledger = self.ledger
        requests = ledger.download_requests(from_block=self.deploy_block)
        uploads = ledger.uploads(from_block=self.deploy_block)
        paid: dict[tuple[int, str, str], int] = {}
        for r in requests:
            for uploader, amount in zip(r.uploaders, r.amounts, strict=True):
                paid[(r.round, r.requester, uploader)] = amount
        rows: list[dict[str, Any]] = []
        for m in self.members:
            me = m.party.address
            earned = sum(
                paid.get((u.round, req, me), 0) for u in uploads if u.uploader == me
                for req in u.requesters
            )
            spent = sum(
                paid.get((u.round, me, u.uploader), 0) for u in uploads if me in u.requesters
            )
            seen_by_others = [
                float(o.party.state.credibility[me])
                for o in self.members
                if o is not m and me in o.party.state.credibility
            ]
            info = ledger.party_info(me)
            records = m.party.state.records
            rows.append(
                {
                    "name": m.name,
                    "address": me,
                    "data_size": m.data_size,
                    "sharing_level": round(m.sharing_level, 4),
                    "samples_released": info.samples_released,
                    "dpgan_epsilon": round(m.dpgan_epsilon, 4),
                    "free_rider": m.free_rider,
                    "removed": info.status is PartyStatus.REMOVED,
                    "standalone_accuracy": m.standalone_accuracy,
                    "final_accuracy": records[-1]["accuracy"] if records else None,
                    "accuracy_per_round": [r["accuracy"] for r in records],
                    "points_balance": ledger.points_of(me).balance,
                    "points_earned": earned,
                    "points_spent": spent,
                    "uploads": sum(len(u.requesters) for u in uploads if u.uploader == me),
                    "downloads": sum(1 for u in uploads if me in u.requesters),
                    "credibility_seen_by_others": (
                        sum(seen_by_others) / len(seen_by_others) if seen_by_others else None
                    ),
                    "events": m.party.state.events,
                    "seconds": {
                        str(e): m.party.timer.of(e) for e in sorted(m.party.timer.seconds)
                    },
                }
            )
        kept = [r for r in rows if not r["removed"] and r["final_accuracy"] is not None]
        fairness: dict[str, Any] = {"contribution": "sharing_level", "pearson": None}
        if len(kept) >= 2:
            try:
                fairness["pearson"] = pearson(
                    [r["sharing_level"] for r in kept], [r["final_accuracy"] for r in kept]
                )
            except ValueError as err:
                fairness["note"] = str(err)
        txs, gas = self._chain_totals()
        return {
            "ledger": ledger.address,
            "chain_id": int(ledger.w3.eth.chain_id),
            "rounds": max((len(r["accuracy_per_round"]) for r in rows), default=0),
            "parties": rows,
            "fairness": fairness,
            "removed": [r["name"] for r in rows if r["removed"]],
            "transactions": txs,
            "gas": gas,
            "total_points": ledger.total_points(),
            "points_conserved": ledger.total_points()
            == sum(ledger.points_of(m.party.address).balance
                   + ledger.points_of(m.party.address).escrowed for m in self.members),
        }

    def _chain_totals(self) -> tuple[int, int]:
        """Transactions to the ledger and their gas (every ledger transaction emits an event)."""
        w3 = self.ledger.w3
        logs = w3.eth.get_logs(
            {"address": self.ledger.address, "fromBlock": self.deploy_block, "toBlock": "latest"}
        )
        hashes = {HexBytes(log["transactionHash"]) for log in logs}
        gas = 0
        for tx_hash in hashes:
            gas += int(w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])
        return len(hashes), gas
