"""One party's node on disk: its folder, data shard, one-time preparation and the run loop.

A party folder holds everything one institution needs and nothing of the others::

    party.json           settings (chain, ledger, store, party settings; no secrets)
    signing-key.json     eth-account keystore (0600)       } see client.keystore
    encryption-key.bin   encrypted encryption keys (0600)  }
    prepared-*.npz       standalone model, DPGAN samples (Algorithm 1 step 1; done once, 0600)
    state/               the protocol's local state (atomic file, resumable)
    run.lock             held while `fppdl party run` works on this folder

The node assembles its :class:`client.protocol.party.Party` through :mod:`client.compose` (the
same composition the in-process consortium uses) and calls :meth:`Party.step` until the
configured rounds are over; the chain and the store are the only channels to other parties.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout
from requests.exceptions import ConnectionError as RequestsConnectionError
from web3 import Web3

from client.access import ChainUnavailable, NodeError, open_chain, open_ledger
from client.chain.ledger import Ledger
from client.chain.records import PartyStatus, Phase
from client.compose import PartySettings
from client.identity import PartyIdentity
from client.protocol.state import PartyState
from client.shards import read_shard
from storage import ContentStore, open_store

if TYPE_CHECKING:  # torch and opacus load only when a command trains or runs the protocol
    from client.protocol.party import Party

SETTINGS_FILE = "party.json"
STATE_DIR = "state"
LOCK_FILE = "run.lock"


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
    party : PartySettings
        How the party prepares and takes part (:class:`client.compose.PartySettings`).
    """

    name: str
    data: str
    rpc_url: str = ""
    ledger: str = ""
    store: str = ""
    poll_seconds: float = 0.5
    party: PartySettings = field(default_factory=PartySettings)

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
        """Compose the protocol party through :mod:`client.compose` (prepares on first use)."""
        from client.compose import compose_party, make_learner, prepare_party

        s = self.settings
        if not s.store:
            raise NodeError("no content store configured: pass --store SPEC")
        if not s.data:
            raise NodeError(f"{self.directory} has no data shard configured (party.json 'data')")
        store: ContentStore = open_store(s.store)
        shard = read_shard(Path(s.data))
        prepared = prepare_party(s.name, shard, s.party, cache_dir=self.directory, say=self.say)
        return compose_party(
            identity=self.identity, ledger=ledger, store=store,
            learner=make_learner(prepared, shard, s.party), prepared=prepared,
            settings=s.party, state_dir=self.directory / STATE_DIR,
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
                   "pending": points.pending, "disputed": points.disputed,
                   "deposited": points.deposited, "releasable": points.releasable},
        "credibility": {k: float(v) for k, v in sorted(state.credibility.items())},
        "standalone_accuracy": state.standalone_accuracy,
        "accuracy_per_round": [r.get("accuracy") for r in state.records],
    }
