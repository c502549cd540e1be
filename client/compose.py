"""The composition root: settings + a data shard + keys -> a running :class:`Party`.

Every entry point assembles a party here and nowhere else (the way Flower runs one app under
simulation and deployment): the in-process scheduler (:mod:`client.consortium`, behind
``fppdl demo`` and the experiments), the per-process node (:mod:`client.node`, behind
``fppdl party run`` and ``fppdl consortium up``), the benchmarks and the tests.

* :class:`PartySettings` -- how a party prepares and takes part (no secrets, no addresses);
* :func:`prepare_party` -- Algorithm 1 step 1 (standalone model, DPGAN, sample release),
  cached on disk by what determines it, giving a :class:`PreparedParty`;
* :func:`deployment_parameters` and :func:`deploy_ledger` -- the ledger, always through the
  migrations;
* :func:`make_learner` and :func:`compose_party` -- the learner and the party itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from client.chain.ledger import Ledger
from client.chain.records import LedgerParams
from client.errors import FppdlError
from client.identity import PartyIdentity
from client.protocol.aggregation import DEFAULT_RULE
from client.protocol.config import ProtocolConfig
from client.protocol.market import DEFAULT_BUDGET_POLICY
from client.protocol.settings import ConsortiumSettings, SettingsError
from client.shards import Shard
from client.timing import PhaseTimer, timed
from storage import ContentStore
from trainer.config import TrainConfig
from trainer.constants import (
    DEFAULT_DELTA,
    DEFAULT_DPGAN_EPOCHS,
    DEFAULT_DPGAN_WIDTH,
    DEFAULT_EPSILON,
    DEFAULT_MODEL,
)

if TYPE_CHECKING:  # torch loads only when a party is prepared or composed
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from client.protocol.learner import Learner
    from client.protocol.party import Party
    from trainer.dpgan import DPGANConfig, SampleRelease

FloatVec = npt.NDArray[np.float32]
Say = Callable[[str], None]

#: Sharing level a free-rider claims (the paper's default level).
FREE_RIDER_LEVEL = 0.1
#: The data size a free-rider claims unless told otherwise (the paper's 600 per party).
FREE_RIDER_CLAIM = 600
#: Bumped whenever preparation changes what it computes, so stale caches are not reused.
PREPARATION_VERSION = 2


class PreparationError(FppdlError, ValueError):
    """A cached preparation file is unreadable or belongs to other settings."""


def _say_nothing(_message: str) -> None:
    """Discard a progress message."""


def _fraction_text(value: float) -> str:
    frac = Fraction(value).limit_denominator(10**6)
    return f"{frac.numerator}/{frac.denominator}"


@dataclass(frozen=True)
class PartySettings:
    """How a party prepares and takes part in the rounds (no secrets, no addresses).

    Attributes
    ----------
    model : str
        ``mlp`` or ``cnn`` (:data:`trainer.constants.MODEL_NAMES`).
    rounds : int
        Collaborative rounds.
    local_epochs, pretrain_epochs : int
        Local epochs per round, and standalone epochs before the rounds.
    lr, batch_size : float, int
        Local SGD settings (the authors': 0.15 and 10).
    eval_samples : int
        Released samples each party labels per owner and epoch.
    aggregation, rule_options : str, Mapping
        The aggregation rule by registered name and its options.
    budget_policy, budget_fraction : str, float
        How many points a party offers each round.
    epsilon, delta : float
        DPGAN privacy target of the released samples.
    dpgan_epochs, dpgan_width : int
        DPGAN training size.
    seed : int
        This party's training and DPGAN seed (experiments; never secrets).
    init_seed : int
        Seed of the public initial model w0, the same for every party of a consortium.
    threads : int or None
        Torch threads (one per party when several run on a machine).
    """

    model: str = DEFAULT_MODEL
    rounds: int = 3
    local_epochs: int = 5
    pretrain_epochs: int = 10
    lr: float = 0.15
    batch_size: int = 10
    eval_samples: int = 100
    aggregation: str = DEFAULT_RULE
    rule_options: Mapping[str, Any] = field(default_factory=dict)
    budget_policy: str = DEFAULT_BUDGET_POLICY
    budget_fraction: float = 1.0
    epsilon: float = DEFAULT_EPSILON
    delta: float = DEFAULT_DELTA
    dpgan_epochs: int = DEFAULT_DPGAN_EPOCHS
    dpgan_width: int = DEFAULT_DPGAN_WIDTH
    seed: int = 0
    init_seed: int = 0
    threads: int | None = 1

    def train(self) -> TrainConfig:
        """Return the local-training settings."""
        return TrainConfig(lr=self.lr, batch_size=self.batch_size,
                           local_epochs=self.local_epochs, pretrain_epochs=self.pretrain_epochs,
                           threads=self.threads)

    def protocol(self) -> ProtocolConfig:
        """Return the protocol settings (validated)."""
        return ProtocolConfig(
            rounds=self.rounds, aggregation=self.aggregation,
            rule_options=dict(self.rule_options), budget_policy=self.budget_policy,
            budget_fraction=self.budget_fraction, eval_samples=self.eval_samples,
            train=self.train(), seed=self.seed,
        )

    def dpgan(self) -> DPGANConfig:
        """Return the DPGAN settings."""
        from trainer.dpgan import DPGANConfig

        return DPGANConfig(epochs=self.dpgan_epochs, width=self.dpgan_width)

    def with_(self, **changes: Any) -> PartySettings:
        """Return a copy with the non-None ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def consortium(self) -> ConsortiumSettings:
        """Return the part every party of the consortium must share (stored by the ledger)."""
        protocol = self.protocol()
        return ConsortiumSettings(
            rounds=self.rounds, model=self.model, init_seed=self.init_seed,
            aggregation=self.aggregation, rule_options=dict(self.rule_options),
            budget_policy=self.budget_policy,
            budget_fraction=_fraction_text(self.budget_fraction),
            eval_samples=self.eval_samples, ring_bits=protocol.ring_bits,
            neighbours=protocol.neighbours,
        )

    def adopt(self, shared: ConsortiumSettings) -> PartySettings:
        """Return these settings with the consortium's shared values (``party init``)."""
        return replace(
            self, rounds=shared.rounds, model=shared.model, init_seed=shared.init_seed,
            aggregation=shared.aggregation, rule_options=shared.rule_option_values(),
            budget_policy=shared.budget_policy,
            budget_fraction=float(shared.budget_fraction_value()),
            eval_samples=shared.eval_samples,
        )

    def as_json(self) -> dict[str, Any]:
        """Return the settings as a JSON object."""
        values = asdict(self)
        values["rule_options"] = dict(self.rule_options)
        return values

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PartySettings:
        """Build from :meth:`as_json` output (unknown keys are an error)."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PreparationError(f"unknown party settings {', '.join(unknown)}")
        return cls(**dict(data))


# ---------------------------------------------------------------------- preparation


@dataclass(frozen=True, eq=False)
class PreparedParty:
    """A party after Algorithm 1 step 1: standalone model and accuracy, released samples.

    Attributes
    ----------
    name : str
        Label in logs and results.
    params : ndarray of float32
        Flat parameters right after standalone training (the start of the rounds).
    standalone_accuracy : float
        Test accuracy of those parameters.
    samples : SampleRelease
        The DPGAN samples the party registers (``round(level * |D|)`` of them).
    data_size : int
        |D| as registered (a free-rider's is only claimed).
    level : float
        Sharing level.
    dpgan_epsilon : float
        Privacy spent by the DPGAN (0 for a free-rider's noise).
    free_rider : bool
        Whether this party has no data and answers evaluations at random.
    sample_classes : ndarray of int64
        The class each released sample was drawn for: private to the party (it is how the
        party tells labelling from guessing when others label its samples).
    """

    name: str
    params: FloatVec
    standalone_accuracy: float
    samples: SampleRelease
    data_size: int
    level: float
    dpgan_epsilon: float
    free_rider: bool = False
    sample_classes: npt.NDArray[np.int64] | None = None

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600 (it holds a model trained on private data)."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        meta = {"name": self.name, "standalone_accuracy": self.standalone_accuracy,
                "data_size": self.data_size, "level": self.level,
                "dpgan_epsilon": self.dpgan_epsilon, "free_rider": self.free_rider}
        with os.fdopen(fd, "wb") as fh:
            arrays: dict[str, Any] = {
                "params": self.params,
                "samples": np.frombuffer(self.samples.to_bytes(), np.uint8),
                "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
            }
            if self.sample_classes is not None:
                arrays["classes"] = self.sample_classes
            np.savez(fh, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> PreparedParty:
        """Read a file written by :meth:`save`."""
        from trainer.dpgan import SampleRelease

        try:
            with np.load(path) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                classes = data["classes"].astype(np.int64) if "classes" in data else None
                return cls(
                    str(meta["name"]), data["params"].astype(np.float32),
                    float(meta["standalone_accuracy"]),
                    SampleRelease.from_bytes(bytes(data["samples"])), int(meta["data_size"]),
                    float(meta["level"]), float(meta["dpgan_epsilon"]), bool(meta["free_rider"]),
                    classes,
                )
        except (OSError, KeyError, ValueError, EOFError) as exc:
            raise PreparationError(
                f"{path} is not a usable preparation ({type(exc).__name__}); delete it to redo it"
            ) from None


def preparation_key(shard: Shard, settings: PartySettings) -> str:
    """Return a digest of everything that determines a preparation (never the rule).

    The shard's examples and level, the model, the standalone training, the DPGAN settings,
    the privacy target and the seeds: two runs that agree on these reuse the same file.
    """
    h = hashlib.sha256()
    for array in (shard.train.x, shard.train.y):
        h.update(np.ascontiguousarray(array).tobytes())
    keyed = {
        "version": PREPARATION_VERSION, "level": shard.level, "test": len(shard.test),
        "model": settings.model, "pretrain_epochs": settings.pretrain_epochs,
        "lr": settings.lr, "batch_size": settings.batch_size, "epsilon": settings.epsilon,
        "delta": settings.delta, "dpgan_epochs": settings.dpgan_epochs,
        "dpgan_width": settings.dpgan_width, "seed": settings.seed,
        "init_seed": settings.init_seed,
    }
    h.update(json.dumps(keyed, sort_keys=True).encode())
    return h.hexdigest()[:24]


def make_learner(prepared: PreparedParty, shard: Shard, settings: PartySettings) -> Learner:
    """Return the party's learner over ``shard``, set to its standalone parameters."""
    from client.learner import FreeRiderLearner, ModelLearner

    learner: Learner
    if prepared.free_rider:
        learner = FreeRiderLearner(model_name=settings.model, test=shard.test,
                                   claimed_size=prepared.data_size, seed=settings.seed)
    else:
        learner = ModelLearner(
            model_name=settings.model, data=shard.train, test=shard.test,
            train=settings.train(), normalisation=shard.normalisation, seed=settings.seed,
            init_seed=settings.init_seed,
        )
    learner.set_params(prepared.params)
    return learner


def prepare_party(
    name: str,
    shard: Shard,
    settings: PartySettings,
    *,
    cache_dir: Path | None = None,
    free_rider: bool = False,
    claimed_size: int = 0,
    say: Say = _say_nothing,
) -> PreparedParty:
    """Algorithm 1 step 1 for one party: standalone model, DPGAN, ``level * |D|`` samples.

    Parameters
    ----------
    name : str
        Label in logs and results.
    shard : Shard
        The party's data (a free-rider's has no training examples).
    settings : PartySettings
        Model, training, DPGAN and seeds (``seed`` drives this party's training order and
        DPGAN; ``init_seed`` is the consortium's public initial model).
    cache_dir : Path, optional
        Folder of cached preparations; the file is named by :func:`preparation_key`, so a
        node restart or another framework of the same experiment reuses it.
    free_rider : bool
        Prepare a party with no data that claims ``claimed_size`` examples (default
        :data:`FREE_RIDER_CLAIM`) and releases noise.
    claimed_size : int
        A free-rider's claimed |D|.
    say : callable
        Progress messages.
    """
    from client.learner import FreeRiderLearner, ModelLearner, noise_release
    from trainer.dpgan import release_labelled_samples, train_dpgan
    from trainer.training import set_torch_threads

    path = None
    if cache_dir is not None:
        path = cache_dir / f"prepared-{'rider-' if free_rider else ''}"
        path = path.with_name(path.name + preparation_key(shard, settings) + ".npz")
        if path.is_file():
            cached = PreparedParty.load(path)
            return replace(cached, name=name)
    set_torch_threads(settings.threads)
    if free_rider:
        claimed = claimed_size or FREE_RIDER_CLAIM
        rider = FreeRiderLearner(model_name=settings.model, test=shard.test,
                                 claimed_size=claimed, seed=settings.seed)
        count = max(1, round(shard.level * claimed))
        prepared = PreparedParty(name, rider.params(), rider.accuracy(),
                                 noise_release(count, settings.seed), claimed, shard.level,
                                 0.0, True)
    else:
        say(f"{name}: standalone training on {len(shard.train)} examples")
        learner = ModelLearner(
            model_name=settings.model, data=shard.train, test=shard.test,
            train=settings.train(), normalisation=shard.normalisation, seed=settings.seed,
            init_seed=settings.init_seed,
        )
        standalone = learner.pretrain()
        say(f"{name}: standalone accuracy {standalone:.4f}; DPGAN (epsilon {settings.epsilon})")
        gan = train_dpgan(
            shard.train.x, labels=shard.train.y, epsilon=settings.epsilon, delta=settings.delta,
            seed=settings.seed, config=settings.dpgan(), normalisation=shard.normalisation,
        )
        released = max(1, round(shard.level * len(shard.train)))
        # The class order of the release is what a free-rider would need to label it without
        # a model, so its seed comes from OS randomness, never from the (public) run seed.
        samples, classes = release_labelled_samples(gan, released, seed=secrets.randbits(63))
        prepared = PreparedParty(name, learner.params(), standalone, samples, len(shard.train),
                                 shard.level, float(gan.achieved_epsilon), False, classes)
        say(f"{name}: released {samples.count} DPGAN samples "
            f"(achieved epsilon {prepared.dpgan_epsilon:.3f})")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        prepared.save(path)
    return prepared


# ---------------------------------------------------------------------- deployment


class DeploymentError(FppdlError, ValueError):
    """Deployment parameters that would make a consortium unsafe or unable to run."""


def deployment_parameters(
    *,
    model_size: int,
    parties: int,
    blocks: tuple[int, int, int, int],
    settings: ConsortiumSettings,
    registration_blocks: int | None = None,
    max_parties: int | None = None,
    min_uploaders: int | None = None,
    **overrides: Any,
) -> LedgerParams:
    """Return the ledger's parameters for a consortium of ``parties`` parties.

    Parameters
    ----------
    model_size : int
        |w| of the model every party trains.
    parties : int
        Parties expected (registration closes as soon as ``max_parties`` have registered).
    blocks : tuple of int
        Phase lengths in blocks: benchmarking, request, upload, settle.
    settings : ConsortiumSettings
        What every party must share; stored by the ledger (and its ``rounds``).
    registration_blocks : int, optional
        Length of registration; by default long enough for ``parties`` registrations.
    max_parties : int, optional
        Registry size (default ``parties``).
    min_uploaders : int, optional
        Fewest uploaders a DOWNLOAD may name (default 2, so no received sum is one party's
        update). A two-party consortium must pass 1 explicitly: its sums hide nothing.
    **overrides
        Any other :class:`LedgerParams` field.
    """
    if min_uploaders is None:
        if parties < 3:
            raise DeploymentError(
                f"a consortium of {parties} parties needs min_uploaders=1, and then every "
                "received sum is one party's update: its sums hide nothing"
            )
        min_uploaders = 2
    bench, request, upload, settle = blocks
    length = registration_blocks if registration_blocks is not None else 10 * parties + 100
    size = max_parties or parties
    return LedgerParams(
        model_size=model_size,
        min_parties=min(parties, size),
        max_parties=size,
        rounds=settings.rounds,
        registration_blocks=length,
        benchmark_blocks=bench,
        request_blocks=request,
        upload_blocks=upload,
        settle_blocks=settle,
        min_uploaders=min_uploaders,
        settings=settings.to_bytes(),
        **overrides,
    )


def deploy_ledger(
    w3: Web3,
    deployer: LocalAccount,
    params: LedgerParams,
    *,
    directory: Path,
    force: bool = True,
) -> tuple[Ledger, int]:
    """Deploy (or find) the ledger through the migrations; return it and its block.

    ``directory`` receives ``deployments/<chainId>.json``.
    """
    from migrations.runner import run_migrations

    outcomes = run_migrations(w3, deployer, params, directory=directory, force=force)
    deployment = outcomes[-1].deployment
    return Ledger(w3, deployment.address), int(deployment.block_number)


def model_size(name: str) -> int:
    """Return |w| of a paper model on 1 x 32 x 32 inputs (what the ledger is deployed for)."""
    from trainer.models import build_model, num_params

    return num_params(build_model(name, (1, 32, 32)))


# ---------------------------------------------------------------------- the party


def compose_party(
    *,
    identity: PartyIdentity,
    ledger: Ledger,
    store: ContentStore,
    learner: Learner,
    prepared: PreparedParty,
    settings: PartySettings,
    state_dir: Path,
    timer: PhaseTimer | None = None,
    party_type: type[Party] | None = None,
) -> Party:
    """Return the protocol :class:`Party` of ``identity``, its I/O timed by ``timer``.

    ``ledger`` may be any handle on the ledger (it is re-opened with the party's account);
    ``learner`` starts from the prepared parameters unless the party's saved state holds newer
    ones (a restart). A party whose shared settings differ from those the ledger was deployed
    with is refused (:func:`check_settings`). ``party_type`` composes a subclass instead (the
    demo's attackers, :mod:`client.adversary`).
    """
    from client.protocol.party import Party

    check_settings(ledger, settings.consortium())
    clock = timer or PhaseTimer()
    own = ledger.with_account(identity.account)
    return (party_type or Party)(
        identity=identity,
        ledger=timed(own, clock, "chain"),
        store=timed(store, clock, "storage"),
        learner=timed(learner, clock, methods=_LEARNER_TIMING),
        config=settings.protocol(),
        state_dir=state_dir,
        samples=prepared.samples,
        sample_classes=prepared.sample_classes,
        timer=clock,
    )


def check_settings(ledger: Ledger, mine: ConsortiumSettings) -> None:
    """Refuse to take part when the ledger's shared settings differ from this party's.

    Raises
    ------
    SettingsError
        Naming every setting that differs (a party with other settings would break the sums).
    """
    stored = ledger.settings()
    if not stored:
        return
    theirs = ConsortiumSettings.from_bytes(stored)
    differences = mine.differences(theirs)
    if differences:
        raise SettingsError(
            "this party's settings differ from the consortium's (ours != ledger's): "
            + "; ".join(differences)
        )


_LEARNER_TIMING = {"local_update": "training", "label": "evaluation", "accuracy": "evaluation"}
