"""A party's local state: what the chain does not hold and a restart must not lose.

Everything is written to one file with an atomic rename, so a crash leaves either the old or
the new state, never a mix. The chain remains the source of truth for what the party *did*
(requests, uploads, reports, votes); this file holds only the model, the current round's update,
local credibility and the results log. The model parameters belong to the learner: they are
written here with every save and read back once, when a party restarts.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from client.errors import FppdlError

STATE_FILE = "party-state.npz"
#: Folder of this party's envelopes and their dispute openings (per epoch and receiver).
KEPT_DIR = "kept"


class StateFileError(FppdlError, ValueError):
    """The party's local state file is unreadable (damaged outside fppdl: writes are atomic)."""


def _unreadable(path: Path, exc: BaseException) -> StateFileError:
    return StateFileError(
        f"local state {path} is unreadable ({type(exc).__name__}); it was damaged outside "
        "fppdl: restore it from a backup, or move it away to start this party's local state "
        "afresh (its points and actions are on the chain)"
    )


@dataclass
class PartyState:
    """Mutable local state of one party (persisted with :meth:`save`)."""

    delta: npt.NDArray[np.float32] | None = None
    #: Round whose local update ``delta`` is already included in ``params`` (0: none yet).
    trained_round: int = 0
    #: Round whose received aggregate was applied to ``params`` (0: none yet).
    applied_round: int = 0
    #: Last epoch whose mutual evaluation was folded into ``credibility`` (and reported).
    assessed_epoch: int = 0
    assessed_any: bool = False
    #: Local credibility c_i^j of the other credible parties, exact.
    credibility: dict[str, Fraction] = field(default_factory=dict)
    standalone_accuracy: float | None = None
    #: What this party revealed as a mask neighbour (client.crypto.RevealGuard bytes): saved
    #: before any reveal leaves the party, so a restart can never reveal the other kind.
    guard: bytes = b""
    #: One entry per finished round (see the runner's results) and notable events.
    records: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def record(self, kind: str, **details: Any) -> None:
        """Append an event (tampered envelope, clipped aggregate, removal, ...)."""
        self.events.append({"kind": kind, **details})

    def _meta(self) -> dict[str, Any]:
        return {
            "trained_round": self.trained_round,
            "applied_round": self.applied_round,
            "assessed_epoch": self.assessed_epoch,
            "assessed_any": self.assessed_any,
            "credibility": {k: [v.numerator, v.denominator] for k, v in self.credibility.items()},
            "standalone_accuracy": self.standalone_accuracy,
            "records": self.records,
            "events": self.events,
        }

    def save(self, directory: Path, params: npt.NDArray[np.float32] | None = None) -> None:
        """Write the state and the model's ``params`` atomically to ``directory`` (mode 0600)."""
        directory.mkdir(parents=True, exist_ok=True)
        meta = np.frombuffer(json.dumps(self._meta()).encode(), np.uint8)
        arrays: dict[str, Any] = {"meta": meta}
        if params is not None:
            arrays["params"] = params
        if self.guard:
            arrays["guard"] = np.frombuffer(self.guard, np.uint8)
        if self.delta is not None:
            arrays["delta"] = self.delta
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        tmp = directory / f".{STATE_FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(buffer.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / STATE_FILE)

    @classmethod
    def load(cls, directory: Path) -> PartyState:
        """Read the state saved in ``directory`` (a fresh state if there is none)."""
        path = directory / STATE_FILE
        if not path.exists():
            return cls()
        try:
            with np.load(path) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                delta = data["delta"].astype(np.float32) if "delta" in data else None
                guard = bytes(data["guard"]) if "guard" in data else b""
            return cls(
                delta=delta,
                guard=guard,
                trained_round=int(meta["trained_round"]),
                applied_round=int(meta["applied_round"]),
                assessed_epoch=int(meta["assessed_epoch"]),
                assessed_any=bool(meta["assessed_any"]),
                credibility={k: Fraction(n, d) for k, (n, d) in meta["credibility"].items()},
                standalone_accuracy=meta["standalone_accuracy"],
                records=list(meta["records"]),
                events=list(meta["events"]),
            )
        except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise _unreadable(path, exc) from None

    @staticmethod
    def load_params(directory: Path) -> npt.NDArray[np.float32] | None:
        """Return the model parameters saved in ``directory`` (None if there are none)."""
        path = directory / STATE_FILE
        if not path.exists():
            return None
        try:
            with np.load(path) as data:
                return data["params"].astype(np.float32) if "params" in data else None
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise _unreadable(path, exc) from None

    @staticmethod
    def save_kept(directory: Path, epoch: int, requester: str, what: str, data: bytes) -> None:
        """Keep ``what`` (``envelope`` or ``opening``) of this party's delivery, mode 0600.

        A claim against a delivery is answered with the envelope itself (put again) or with
        its dispute opening, so both are kept until the claim window of their round closes.
        """
        folder = directory / KEPT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{epoch}-{requester}.{what}"
        tmp = folder / f".{path.name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @staticmethod
    def load_kept(directory: Path, epoch: int, requester: str, what: str) -> bytes | None:
        """Return what :meth:`save_kept` kept for (``epoch``, ``requester``), if anything."""
        path = directory / KEPT_DIR / f"{epoch}-{requester}.{what}"
        return path.read_bytes() if path.is_file() else None

    @staticmethod
    def prune_kept(directory: Path, before_epoch: int) -> None:
        """Delete what was kept for epochs before ``before_epoch`` (their claims are over)."""
        folder = directory / KEPT_DIR
        if not folder.is_dir():
            return
        for path in folder.iterdir():
            epoch = path.name.split("-", 1)[0]
            if epoch.isdigit() and int(epoch) < before_epoch:
                path.unlink(missing_ok=True)
