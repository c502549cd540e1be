"""One party's node on disk: its folder, data shard, one-time preparation and the run loop.

A party folder holds everything one institution needs and nothing of the others::

    party.json           settings (chain, ledger, store, party settings; no secrets)
    signing-key.json     eth-account keystore (0600)       } see client.keystore
    encryption-key.bin   encrypted encryption keys (0600)  }
    prepared-*.npz       standalone model, DPGAN samples (Algorithm 1 step 1; done once, 0600)
    state/<chain>/       the protocol's local state on one chain and ledger (atomic, resumable)
    run.lock             held while `fppdl party run` works on this folder

The local state is keyed by chain id, ledger address and genesis block hash
(:func:`chain_key`): a restarted devnet reuses the chain id and, for the same deployer, even
the ledger address, and its results must never be mixed with the old chain's.

The node assembles its :class:`client.protocol.party.Party` through :mod:`client.compose` (the
same composition the in-process consortium uses) and calls :meth:`Party.step` until the
configured rounds are over; the chain and the store are the only channels to other parties.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout
from requests.exceptions import ConnectionError as RequestsConnectionError
from web3 import Web3

from client.access import ChainUnavailable, NodeError, open_chain, open_ledger
from client.chain.ledger import MAX_CONFIRMATIONS, Ledger, TxPolicy
from client.chain.records import PartyStatus, Phase
from client.compose import PartySettings
from client.identity import PartyIdentity
from client.progress import ConsortiumView, blocks_text, describe, phase_name, read_view
from client.protocol.settings import ConsortiumSettings
from client.protocol.state import STATE_FILE, PartyState
from client.shards import read_shard
from storage import ContentStore, open_store

if TYPE_CHECKING:  # torch and opacus load only when a command trains or runs the protocol
    from client.protocol.party import Party

SETTINGS_FILE = "party.json"
STATE_DIR = "state"
LOCK_FILE = "run.lock"
#: Seconds between repeated progress lines while nothing changes.
HEARTBEAT_SECONDS = 30.0
#: Blocks a node waits on silent parties before suspecting they were given fewer rounds.
SILENT_BLOCKS = 5


class NotRegistered(NodeError):
    """The party is not a member of the ledger and can no longer join."""


class NodeBusy(NodeError):
    """Another process runs this party folder (its lock file is held)."""


# ---------------------------------------------------------------------- settings


@dataclass(frozen=True)
class NodeSettings:
    """What a party node needs besides its secrets (stored as ``party.json``).

    Attributes
    ----------
    name : str
        Label in logs and results.
    data : str
        Path of the party's data shard (see :func:`client.shards.write_shard`).
    rpc_url, ledger, store : str
        JSON-RPC endpoint, ledger contract address, content store spec (:func:`storage.open_store`).
    poll_seconds : float
        Pause between chain polls while waiting for a deadline.
    confirmations : int
        Blocks on top of a transaction's block before the node treats it as final (0 on a
        devnet; a few on a public network, where the last blocks may be reorganised).
    party : PartySettings
        How the party prepares and takes part (:class:`client.compose.PartySettings`).
    """

    name: str
    data: str
    rpc_url: str = ""
    ledger: str = ""
    store: str = ""
    poll_seconds: float = 0.5
    confirmations: int = 0
    party: PartySettings = field(default_factory=PartySettings)

    def __post_init__(self) -> None:
        if isinstance(self.confirmations, bool) or not isinstance(self.confirmations, int):
            raise NodeError(f"confirmations must be an integer, got {self.confirmations!r}")
        if not 0 <= self.confirmations <= MAX_CONFIRMATIONS:
            raise NodeError(f"confirmations must be between 0 and {MAX_CONFIRMATIONS}, got "
                            f"{self.confirmations}")

    def tx_policy(self) -> TxPolicy:
        """Return how this node sends transactions (:class:`client.chain.ledger.TxPolicy`)."""
        return TxPolicy(confirmations=self.confirmations)

    def with_(self, **changes: Any) -> NodeSettings:
        """Return a copy with the non-None ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_json(self) -> dict[str, Any]:
        """Return the settings as the JSON object of ``party.json``."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "party"}
        values["party"] = self.party.as_json()
        return values


def save_settings(directory: Path, settings: NodeSettings) -> None:
    """Write ``party.json`` atomically (mode 0600: it names the party's data and endpoints)."""
    tmp = directory / f".{SETTINGS_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(settings.as_json(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, directory / SETTINGS_FILE)


def load_settings(directory: Path) -> NodeSettings:
    """Read ``party.json`` of a party folder."""
    path = directory / SETTINGS_FILE
    if not path.is_file():
        raise NodeError(f"{directory} is not a party folder: run `fppdl party init {directory}`")
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        party = PartySettings.from_json(data.pop("party", {}))
        known = {f.name for f in fields(NodeSettings)}
        return NodeSettings(**{k: v for k, v in data.items() if k in known}, party=party)
    except (ValueError, TypeError) as exc:
        raise NodeError(f"{path} is malformed: {exc}") from None


#: ``party init`` flags that set a consortium-wide setting, by PartySettings field.
SHARED_FLAGS: dict[str, str] = {
    "rounds": "--rounds", "model": "--model", "aggregation": "--aggregation",
    "eval_samples": "--eval-samples", "init_seed": "--init-seed",
}


class SettingsConflict(NodeError, ValueError):
    """A ``party init`` flag contradicts the consortium's settings on the ledger."""


def settings_from_ledger(
    party: PartySettings, ledger: Ledger, given: Collection[str] = ()
) -> PartySettings:
    """Return ``party`` with the consortium's shared settings read from ``ledger``.

    ``given`` names the :data:`SHARED_FLAGS` fields the operator set explicitly: each must
    equal the ledger's value, or :class:`SettingsConflict` names the flag, its value and
    the consortium's. A ledger deployed without settings still fixes the rounds (``rounds``
    of its parameters) and the model's parameter count; a model not given is then the one
    of that size.
    """
    stored = ledger.settings()
    if stored:
        shared = ConsortiumSettings.from_bytes(stored)
        adopted = party.adopt(shared)
        conflicts = [
            f"{SHARED_FLAGS[f]} {getattr(party, f)} (the consortium's {f} is "
            f"{getattr(adopted, f)})"
            for f in SHARED_FLAGS if f in given and getattr(party, f) != getattr(adopted, f)
        ]
        if conflicts:
            raise SettingsConflict(
                f"ledger {ledger.address} fixes the consortium's settings; drop or change "
                + "; ".join(conflicts)
            )
        left = adopted.consortium().differences(shared)
        if left:
            raise SettingsConflict(
                "this client cannot take the consortium's settings (ours != ledger's): "
                + "; ".join(left)
            )
        return adopted
    from client.compose import model_size
    from trainer.constants import MODEL_NAMES

    params = ledger.parameters()
    if "model" not in given:
        sized = [m for m in MODEL_NAMES if model_size(m) == params.model_size]
        if len(sized) == 1:
            party = party.with_(model=sized[0])
    if model_size(party.model) != params.model_size:
        raise SettingsConflict(
            f"--model {party.model} has {model_size(party.model)} parameters; ledger "
            f"{ledger.address} is deployed for models of {params.model_size}"
        )
    # The protocol runs the ledger's rounds whatever a party.json says: they are adopted.
    if "rounds" not in given:
        party = party.with_(rounds=params.rounds)
    elif party.rounds != params.rounds:
        raise SettingsConflict(f"--rounds {party.rounds}: ledger {ledger.address} runs "
                               f"{params.rounds} rounds")
    return party


def chain_key(w3: Web3, ledger_address: str) -> str:
    """Return the name of the local-state folder of a ledger on a chain.

    Chain id, ledger address and the genesis block's hash: the last tells a restarted devnet
    (same id, often the same ledger address) from the chain the state was written on.
    """
    genesis = bytes(w3.eth.get_block(0)["hash"]).hex()[:12]
    address = Web3.to_checksum_address(ledger_address)
    return f"{int(w3.eth.chain_id)}-{address}-{genesis}"


def state_dir(directory: Path, w3: Web3, ledger_address: str) -> Path:
    """Return the party folder's local-state folder for ``ledger_address`` on ``w3``'s chain."""
    return directory / STATE_DIR / chain_key(w3, ledger_address)


def latest_state_dir(directory: Path) -> Path | None:
    """Return the most recently written local-state folder of a party folder (None: none)."""
    root = directory / STATE_DIR
    candidates = [d for d in root.iterdir() if d.is_dir()] if root.is_dir() else []
    written = [d for d in candidates if (d / STATE_FILE).is_file()]
    return max(written, key=lambda d: (d / STATE_FILE).stat().st_mtime) if written else None


# ---------------------------------------------------------------------- the node


class PartyNode:
    """A party folder opened with its identity: registers, runs rounds, reports status."""

    def __init__(
        self,
        directory: Path,
        identity: PartyIdentity,
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
        ledger = open_ledger(open_chain(self.settings.rpc_url), self.settings.ledger,
                             self.identity.account)
        return ledger.with_policy(self.settings.tx_policy())

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
        if not ledger.is_admitted(address):
            raise NotRegistered(
                f"NotAdmitted: {address} is not admitted to ledger {ledger.address} (admission by "
                "allowlist or vote): ask the consortium to admit it before registering"
            )
        if int(ledger.w3.eth.get_balance(Web3.to_checksum_address(address))) == 0:
            raise NodeError(
                f"account {address} has no ether for gas on chain "
                f"{int(ledger.w3.eth.chain_id)}; fund it (devnet: `fppdl chain fund "
                f"{address} --rpc-url {self.settings.rpc_url}`)"
            )

    def build(self, ledger: Ledger) -> Party:
        """Compose the protocol party through :mod:`client.compose` (prepares on first use)."""
        from client.compose import compose_party, make_learner, prepare_party

        s = self.settings
        if not s.store:
            raise NodeError("no content store configured: pass --store SPEC")
        if not s.data:
            raise NodeError(f"{self.directory} has no data shard configured (party.json 'data')")
        store: ContentStore = open_store(s.store)
        shard = read_shard(Path(s.data))
        prefix = f"{s.name}: "

        def say(message: str) -> None:  # the node's reporter already names the party
            self.say(message.removeprefix(prefix))

        prepared = prepare_party(s.name, shard, s.party, cache_dir=self.directory, say=say)
        return compose_party(
            identity=self.identity, ledger=ledger, store=store,
            learner=make_learner(prepared, shard, s.party), prepared=prepared,
            settings=s.party,
            state_dir=state_dir(self.directory, ledger.w3, ledger.address),
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
        # The protocol runs the ledger's rounds (a party.json may predate that rule).
        rounds = ledger.parameters().rounds
        waits = WaitReporter(self.say, ledger, rounds=rounds, me=party.address)
        self.say(f"taking part in {rounds} rounds (the ledger's)")
        while not party.finished():
            now = (ledger.phase(), ledger.current_round())
            if target is not None and ledger.registration_closed() and now[1] > target:
                break
            if now != last:
                # every phase change says where the consortium stands: the count of parties
                # that acted and the phase's deadline (the same line as while waiting)
                self.say(f"epoch {now[1]}: {waits.line()}")
                last = now
            moved = party.step() or party.close_overdue_epoch()
            for record in party.state.records[reported:]:
                self.say(f"round {record.get('round')}: accuracy {record.get('accuracy'):.4f}")
            reported = len(party.state.records)
            if moved:
                idle_since = time.monotonic()
                continue
            waits.waiting()
            if max_idle_seconds is not None and time.monotonic() - idle_since > max_idle_seconds:
                raise NodeError(f"nothing to do for {max_idle_seconds:.0f}s in {now[0].name}")
            time.sleep(self.settings.poll_seconds)
        return party


class WaitReporter:
    """Says what a waiting party waits for: on every change, and every 30 s while nothing does.

    It also names the parties a round waits on when they acted in the previous round and are
    silent in this one: parties given fewer ``--rounds`` stop, and the round then runs to its
    deadline blocks (about 1,200 with the default phase lengths).
    """

    def __init__(
        self, say: Callable[[str], None], ledger: Ledger, *, rounds: int | None, me: str,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.say = say
        self.ledger = ledger
        self.rounds = rounds
        self.me = me
        self.heartbeat = heartbeat
        self._last: tuple[Any, ...] | None = None
        self._said_at = 0.0
        self._waiting_since: dict[tuple[int, int], int] = {}
        self._hinted: set[int] = set()

    def line(self) -> str:
        """Return the progress line now (and count it as said: the heartbeat restarts)."""
        view = read_view(self.ledger, names=False, block_time=False)
        self._last, self._said_at = view.key, time.monotonic()
        return describe(view.timed(self.ledger.w3), self.rounds)

    def waiting(self) -> ConsortiumView:
        """Report the current wait if it changed or the heartbeat is due; return the view."""
        view = read_view(self.ledger, names=False, block_time=False)
        key = view.key
        now = time.monotonic()
        if key != self._last or now - self._said_at >= self.heartbeat:
            self.say(describe(view.timed(self.ledger.w3), self.rounds))
            self._last, self._said_at = key, now
        self._check_silent(view)
        return view

    def _check_silent(self, view: ConsortiumView) -> None:
        if view.round <= 1 or view.round in self._hinted or view.phase not in (
            Phase.REQUEST, Phase.UPLOAD, Phase.SETTLE
        ):
            return
        since = self._waiting_since.setdefault((view.round, int(view.phase)), view.block)
        if view.block - since < SILENT_BLOCKS:
            return
        named = read_view(self.ledger, names=True)
        previous = {r.requester for r in self.ledger.download_requests(view.round - 1)}
        silent = [p for p in named.waiting_on if p != self.me and p in previous]
        if not silent:
            return
        self._hinted.add(view.round)
        assert named.epoch_deadline is not None
        left = max(0, named.epoch_deadline - named.block)
        self.say(
            f"round {view.round}: waiting on {len(silent)} "
            f"{'party' if len(silent) == 1 else 'parties'} that took part in round "
            f"{view.round - 1} and are silent now ({', '.join(silent)}). If they were given "
            f"fewer --rounds they have stopped: this round then ends only at its deadline, "
            f"block {named.epoch_deadline}, in {blocks_text(left, named.block_seconds)}. "
            "Every party must be given the same --rounds."
        )


def status_of(directory: Path, settings: NodeSettings, address: str) -> dict[str, Any]:
    """Points, round, phase and the party's own credibility list (read-only, no secrets).

    The local results are those of this chain and ledger only (see :func:`chain_key`).
    """
    w3 = open_chain(settings.rpc_url)
    ledger = open_ledger(w3, settings.ledger)
    info = ledger.party_info(address)
    points = ledger.points_of(address)
    local = state_dir(directory, w3, ledger.address)
    state = PartyState.load(local)
    return {
        "name": settings.name,
        "address": address,
        "chain_id": int(w3.eth.chain_id),
        "state": str(local),
        "ledger": ledger.address,
        "status": info.status.name.lower(),
        "phase": phase_name(ledger.phase()),
        "round": ledger.current_round(),
        "block": ledger.block_number(),
        "points": {"balance": points.balance, "escrowed": points.escrowed,
                   "pending": points.pending, "disputed": points.disputed,
                   "deposited": points.deposited, "releasable": points.releasable},
        "credibility": {k: float(v) for k, v in sorted(state.credibility.items())},
        "standalone_accuracy": state.standalone_accuracy,
        "accuracy_per_round": [r.get("accuracy") for r in state.records],
    }


# ---------------------------------------------------------------------- export


def export_model(directory: Path, settings: NodeSettings, out: Path) -> dict[str, Any]:
    """Write the party's final model for use outside the consortium; return what was written.

    ``out`` receives ``model.pt`` (the PyTorch state dict, for ``build_model(name, shape)``),
    ``params.npz`` (the flat float32 parameters) and ``model.json`` (model name, input shape,
    the round it is from, its test accuracy, the chain and ledger), all mode 0600: the model
    was trained on the party's private data. The local state of the configured chain is used
    when that chain answers; otherwise the most recently written one (a finished devnet).
    """
    import numpy as np
    import torch

    from trainer.models import build_model, num_params, set_flat

    local: Path | None = None
    source = "configured chain"
    try:
        w3 = open_chain(settings.rpc_url)
        local = state_dir(directory, w3, settings.ledger)
        if not (local / STATE_FILE).is_file():
            local = None
    except (NodeError, ValueError):  # no chain answers, or no ledger configured
        local = None
    if local is None:
        local, source = latest_state_dir(directory), "most recent local state"
    if local is None:
        raise NodeError(f"{directory} has no local state yet: run `fppdl party run {directory}`")
    params = PartyState.load_params(local)
    state = PartyState.load(local)
    if params is None:
        raise NodeError(f"{local} holds no model parameters")
    shape: tuple[int, int, int] = (1, 32, 32)
    if settings.data and Path(settings.data).is_file():
        shard = read_shard(Path(settings.data))
        shape = shard.test.input_shape
    model = build_model(settings.party.model, shape)
    if num_params(model) != params.shape[0]:
        raise NodeError(
            f"{local} holds {params.shape[0]} parameters; a {settings.party.model} on "
            f"{shape} inputs has {num_params(model)}"
        )
    set_flat(model, params)
    records = state.records
    meta = {
        "name": settings.name, "model": settings.party.model, "input_shape": list(shape),
        "parameters": int(params.shape[0]),
        "round": records[-1].get("round") if records else 0,
        "accuracy": records[-1].get("accuracy") if records else state.standalone_accuracy,
        "standalone_accuracy": state.standalone_accuracy,
        "accuracy_per_round": [r.get("accuracy") for r in records],
        "state": str(local), "source": source,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out.mkdir(parents=True, exist_ok=True)
    written = {"state_dict": out / "model.pt", "params": out / "params.npz",
               "meta": out / "model.json"}
    for path in written.values():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            if path.suffix == ".pt":
                torch.save(model.state_dict(), fh)
            elif path.suffix == ".npz":
                np.savez(fh, params=params)
            else:
                fh.write((json.dumps(meta, indent=2) + "\n").encode())
    return {**meta, "files": {k: str(v) for k, v in written.items()}}
