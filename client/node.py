"""One party's node on disk: its folder, data shard, one-time preparation and the run loop.

A party folder holds everything one institution needs and nothing of the others::

    party.json           settings (chain, ledger, store, model, rounds; no secrets)
    signing-key.json     eth-account keystore (0600)       } see client.keystore
    encryption-key.bin   encrypted encryption keys (0600)  }
    prepared.npz         standalone model, DPGAN samples (Algorithm 1 step 1; done once)
    state/               the protocol's local state (atomic file, resumable)
    run.lock             held while `fppdl party run` works on this folder

The node composes :class:`client.protocol.Party` and calls :meth:`Party.step` until the
configured rounds are over; the chain and the store are the only channels to other parties.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock, Timeout
from requests.exceptions import ConnectionError as RequestsConnectionError
from web3 import Web3

from client.access import ChainUnavailable, NodeError, open_chain, open_ledger
from client.chain.ledger import Ledger
from client.chain.records import PartyStatus, Phase
from client.protocol.config import ProtocolConfig
from client.protocol.state import PartyState
from storage import ContentStore, open_store
from trainer.config import TrainConfig
from trainer.data import Dataset, Normalisation, Pool, default_pool
from trainer.partitions import make_partition

if TYPE_CHECKING:  # torch and opacus load only when a command trains or runs the protocol
    from client.keystore import StoredKeys
    from client.protocol.learner import ModelLearner
    from client.protocol.party import Party
    from trainer.dpgan import DPGANConfig, SampleRelease

SETTINGS_FILE = "party.json"
PREPARED_FILE = "prepared.npz"
STATE_DIR = "state"
LOCK_FILE = "run.lock"


class NotRegistered(NodeError):
    """The party is not a member of the ledger and can no longer join."""


class NodeBusy(NodeError):
    """Another process runs this party folder (its lock file is held)."""


class ShardError(NodeError):
    """A data shard file is missing or malformed."""


# ---------------------------------------------------------------------- settings


@dataclass(frozen=True)
class NodeSettings:
    """What a party node needs besides its secrets (stored as ``party.json``).

    Attributes
    ----------
    name : str
        Label in logs and results.
    data : str
        Path of the party's data shard (see :func:`write_shard`).
    rpc_url, ledger, store : str
        JSON-RPC endpoint, ledger contract address, content store spec (:func:`storage.open_store`).
    model : str
        ``mlp`` or ``cnn``.
    rounds, local_epochs, pretrain_epochs, eval_samples : int
        Protocol and local-training settings (:class:`ProtocolConfig`, :class:`TrainConfig`).
    aggregation : str
        ``paper`` or ``average``.
    epsilon, delta : float
        DPGAN privacy target.
    dpgan_epochs, dpgan_width : int
        DPGAN training size.
    seed : int
        Seeds local training and the DPGAN (experiments only; never secrets).
    init_seed : int
        Seed of the public initial model w0, the same for every party of a consortium.
    poll_seconds : float
        Pause between chain polls while waiting for a deadline.
    """

    name: str
    data: str
    rpc_url: str = ""
    ledger: str = ""
    store: str = ""
    model: str = "mlp"
    rounds: int = 3
    local_epochs: int = 1
    pretrain_epochs: int = 5
    eval_samples: int = 100
    aggregation: str = "paper"
    epsilon: float = 4.0
    delta: float = 1e-5
    dpgan_epochs: int = 5
    dpgan_width: int = 16
    seed: int = 0
    init_seed: int = 0
    poll_seconds: float = 0.5

    def protocol(self) -> ProtocolConfig:
        """Return the protocol settings of this node."""
        train = TrainConfig(local_epochs=self.local_epochs, pretrain_epochs=self.pretrain_epochs,
                            threads=1)
        return ProtocolConfig(
            rounds=self.rounds, aggregation=self.aggregation, eval_samples=self.eval_samples,
            train=train, seed=self.seed,
        )

    def dpgan(self) -> DPGANConfig:
        """Return the DPGAN settings of this node."""
        from trainer.dpgan import DPGANConfig

        return DPGANConfig(epochs=self.dpgan_epochs, width=self.dpgan_width)

    def with_(self, **changes: Any) -> NodeSettings:
        """Return a copy with the non-None ``changes`` applied."""
        values = asdict(self)
        values.update({k: v for k, v in changes.items() if v is not None})
        return NodeSettings(**values)


def save_settings(directory: Path, settings: NodeSettings) -> None:
    """Write ``party.json`` atomically."""
    tmp = directory / f".{SETTINGS_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(settings), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, directory / SETTINGS_FILE)


def load_settings(directory: Path) -> NodeSettings:
    """Read ``party.json`` of a party folder."""
    path = directory / SETTINGS_FILE
    if not path.is_file():
        raise NodeError(f"{directory} is not a party folder: run `fppdl party init {directory}`")
    try:
        data = json.loads(path.read_text())
        known = {f.name for f in fields(NodeSettings)}
        return NodeSettings(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError) as exc:
        raise NodeError(f"{path} is malformed: {exc}") from None


# ---------------------------------------------------------------------- data shards


@dataclass(frozen=True, eq=False)
class Shard:
    """One party's data: its private training examples, the held-out test split, the
    normalisation they share, and the sharing level (fraction of |D| to release as samples)."""

    train: Dataset
    test: Dataset
    normalisation: Normalisation
    level: float


def write_shard(path: Path, shard: Shard) -> None:
    """Write ``shard`` as one ``.npz`` file (mode 0600: it is the party's private data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        np.savez(
            fh, x=shard.train.x, y=shard.train.y, test_x=shard.test.x, test_y=shard.test.y,
            mean=np.asarray(shard.normalisation.mean), std=np.asarray(shard.normalisation.std),
            level=np.asarray(shard.level),
        )
    os.replace(tmp, path)


def read_shard(path: Path) -> Shard:
    """Read a file written by :func:`write_shard`."""
    if not path.is_file():
        raise ShardError(f"dataset file {path} does not exist")
    try:
        with np.load(path) as data:
            norm = Normalisation(tuple(float(v) for v in data["mean"]),
                                 tuple(float(v) for v in data["std"]))
            return Shard(
                Dataset(data["x"].astype(np.float32), data["y"].astype(np.int64), "shard"),
                Dataset(data["test_x"].astype(np.float32), data["test_y"].astype(np.int64),
                        "test"),
                norm,
                float(data["level"]),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise ShardError(f"{path} is not an fppdl data shard: {exc}") from None


def make_shards(
    *,
    parties: int,
    setting: str,
    per_party: int,
    seed: int,
    test_size: int = 1000,
    mnist_dir: str | None = None,
    pool: Pool | None = None,
) -> list[Shard]:
    """Cut the MNIST pool into ``parties`` shards with the paper's partition ``setting``."""
    pool = pool or default_pool(test_size=test_size, seed=seed, mnist_dir=mnist_dir)
    partition = make_partition(setting, pool.train, parties, seed=seed, per_party=per_party)
    return [
        Shard(partition.party_data(pool.train, i), pool.test, pool.normalisation,
              float(partition.levels[i]))
        for i in range(parties)
    ]


# ---------------------------------------------------------------------- preparation


@dataclass(frozen=True, eq=False)
class Prepared:
    """Algorithm 1 step 1 of one party: standalone parameters, accuracy, released samples."""

    params: np.ndarray[Any, np.dtype[np.float32]]
    standalone_accuracy: float
    samples: SampleRelease
    dpgan_epsilon: float

    def save(self, path: Path) -> None:
        """Write atomically."""
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(
                fh, params=self.params, accuracy=np.asarray(self.standalone_accuracy),
                samples=np.frombuffer(self.samples.to_bytes(), np.uint8),
                epsilon=np.asarray(self.dpgan_epsilon),
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Prepared:
        """Read a file written by :meth:`save`."""
        from trainer.dpgan import SampleRelease

        with np.load(path) as data:
            return cls(
                data["params"].astype(np.float32), float(data["accuracy"]),
                SampleRelease.from_bytes(bytes(data["samples"])), float(data["epsilon"]),
            )


def learner_for(settings: NodeSettings, shard: Shard) -> ModelLearner:
    """Return the party's model over its shard (same seed on every restart)."""
    from client.protocol.learner import ModelLearner

    return ModelLearner(
        model_name=settings.model, data=shard.train, test=shard.test,
        train=settings.protocol().train, normalisation=shard.normalisation, seed=settings.seed,
        init_seed=settings.init_seed,
    )


def prepare(
    directory: Path, settings: NodeSettings, shard: Shard, learner: ModelLearner,
    say: Callable[[str], None],
) -> Prepared:
    """Standalone training + DPGAN + sample release, done once and cached in the folder."""
    from trainer.dpgan import release_samples, train_dpgan

    path = directory / PREPARED_FILE
    if path.is_file():
        prepared = Prepared.load(path)
        learner.set_params(prepared.params)
        return prepared
    say(f"standalone training on {len(shard.train)} examples")
    standalone = learner.pretrain()
    say(f"standalone accuracy {standalone:.4f}; training DPGAN (epsilon {settings.epsilon})")
    gan = train_dpgan(
        shard.train.x, labels=shard.train.y, epsilon=settings.epsilon, delta=settings.delta,
        seed=settings.seed, config=settings.dpgan(), normalisation=shard.normalisation,
    )
    released = max(1, round(shard.level * len(shard.train)))
    samples = release_samples(gan, released, seed=settings.seed + 500)
    prepared = Prepared(learner.params(), standalone, samples, float(gan.achieved_epsilon))
    prepared.save(path)
    say(f"released {samples.count} DPGAN samples (achieved epsilon {prepared.dpgan_epsilon:.3f})")
    return prepared


# ---------------------------------------------------------------------- the node


class PartyNode:
    """A party folder opened with its identity: registers, runs rounds, reports status."""

    def __init__(
        self,
        directory: Path,
        identity: StoredKeys,
        settings: NodeSettings,
        say: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.directory = directory
        self.identity = identity
        self.settings = settings
        self.say = say
        self._lock = FileLock(str(directory / LOCK_FILE))

    def __enter__(self) -> PartyNode:
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise NodeBusy(
                f"another fppdl process is running {self.directory} "
                f"(lock {self.directory / LOCK_FILE} is held)"
            ) from None
        return self

    def __exit__(self, *_exc: object) -> None:
        self._lock.release()

    def ledger(self) -> Ledger:
        """Return the ledger handle signing with this party's key (checks node and contract)."""
        return open_ledger(open_chain(self.settings.rpc_url), self.settings.ledger,
                           self.identity.account)

    def check_can_join(self, ledger: Ledger) -> None:
        """Fail early (before any training) if this party can never take part."""
        address = self.identity.address
        info = ledger.party_info(address)
        if info.status is not PartyStatus.NONE:
            return
        if ledger.registration_closed():
            raise NotRegistered(
                f"{address} is not registered in ledger {ledger.address} and its "
                "registration is closed"
            )
        if int(ledger.w3.eth.get_balance(Web3.to_checksum_address(address))) == 0:
            raise NodeError(
                f"account {address} has no ether for gas on chain "
                f"{int(ledger.w3.eth.chain_id)}; fund it (devnet: `fppdl chain fund "
                f"{address} --rpc-url {self.settings.rpc_url}`)"
            )

    def build(self, ledger: Ledger) -> Party:
        """Compose the protocol party (prepares on first use)."""
        from client.protocol.party import Party, PartyIdentity

        s = self.settings
        if not s.store:
            raise NodeError("no content store configured: pass --store SPEC")
        if not s.data:
            raise NodeError(f"{self.directory} has no data shard configured (party.json 'data')")
        store: ContentStore = open_store(s.store)
        shard = read_shard(Path(s.data))
        learner = learner_for(s, shard)
        prepared = prepare(self.directory, s, shard, learner, self.say)
        return Party(
            identity=PartyIdentity(self.identity.account, self.identity.keys),
            ledger=ledger, store=store, learner=learner,
            config=s.protocol(), state_dir=self.directory / STATE_DIR, samples=prepared.samples,
        )

    def register(self) -> Party:
        """Prepare if needed and send the registration transaction (idempotent)."""
        ledger = self.ledger()
        self.check_can_join(ledger)
        party = self.build(ledger)
        if ledger.party_info(party.address).status is PartyStatus.NONE:
            party.register()
            self.say(f"registered {party.address}")
        else:
            self.say(f"{party.address} is already registered")
        return party

    def run(self, *, once: bool = False, max_idle_seconds: float | None = None) -> Party:
        """Take part until the configured rounds end (``once``: until one round ends)."""
        ledger = self.ledger()
        self.check_can_join(ledger)
        party = self.build(ledger)
        try:
            return self._loop(party, once=once, max_idle_seconds=max_idle_seconds)
        except RequestsConnectionError:
            raise ChainUnavailable(
                f"the JSON-RPC node at {self.settings.rpc_url} stopped answering; "
                "local state is saved, run again to resume"
            ) from None

    def _loop(self, party: Party, *, once: bool, max_idle_seconds: float | None) -> Party:
        ledger = party.ledger
        target = max(1, ledger.current_round()) if once else None
        last: tuple[Phase, int] | None = None
        reported = len(party.state.records)
        idle_since = time.monotonic()
        while not party.finished():
            now = (ledger.phase(), ledger.current_round())
            if target is not None and ledger.registration_closed() and now[1] > target:
                break
            if now != last:
                self.say(f"epoch {now[1]}: {now[0].name.lower()}")
                last = now
            moved = party.step() or party.close_overdue_epoch()
            for record in party.state.records[reported:]:
                self.say(f"round {record.get('round')}: accuracy {record.get('accuracy'):.4f}")
            reported = len(party.state.records)
            if moved:
                idle_since = time.monotonic()
                continue
            if max_idle_seconds is not None and time.monotonic() - idle_since > max_idle_seconds:
                raise NodeError(f"nothing to do for {max_idle_seconds:.0f}s in {now[0].name}")
            time.sleep(self.settings.poll_seconds)
        return party


def status_of(directory: Path, settings: NodeSettings, address: str) -> dict[str, Any]:
    """Points, round, phase and the party's own credibility list (read-only, no secrets)."""
    w3 = open_chain(settings.rpc_url)
    ledger = open_ledger(w3, settings.ledger)
    info = ledger.party_info(address)
    points = ledger.points_of(address)
    state = PartyState.load(directory / STATE_DIR)
    return {
        "name": settings.name,
        "address": address,
        "ledger": ledger.address,
        "status": info.status.name.lower(),
        "phase": ledger.phase().name.lower(),
        "round": ledger.current_round(),
        "block": ledger.block_number(),
        "points": {"balance": points.balance, "escrowed": points.escrowed,
                   "releasable": points.releasable},
        "credibility": {k: float(v) for k, v in sorted(state.credibility.items())},
        "standalone_accuracy": state.standalone_accuracy,
        "accuracy_per_round": [r.get("accuracy") for r in state.records],
    }
