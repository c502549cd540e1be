"""Named Python exceptions for the ledger's Solidity custom errors.

One class per custom error of the contract ABI, built from the ABI itself (never hand-copied):
``errors.WrongPhase``, ``errors.InsufficientPoints``... each a subclass of
:class:`ContractRevert`, itself a subclass of the root :class:`LedgerError`. Instances carry
the decoded arguments by name in ``values`` and as attributes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from client.errors import FppdlError

LEDGER_CONTRACT = "ConsortiumLedger"


class LedgerError(FppdlError, RuntimeError):
    """Root of every error raised by the chain bindings."""


class TransactionFailed(LedgerError):
    """A transaction or call failed without a decodable custom error."""


class ChainUnavailable(LedgerError, ConnectionError):
    """The JSON-RPC node could not be reached or did not answer in time."""


class NotALedger(LedgerError, ValueError):
    """The address holds no ConsortiumLedger (no code, or a contract with another interface)."""


class ContractRevert(LedgerError):
    """The contract reverted with a custom error.

    Attributes
    ----------
    error_name
        Solidity name of the error, e.g. ``"WrongPhase"``.
    values
        Decoded arguments by parameter name.
    """

    error_name: str = ""
    selector: bytes = b""
    arg_names: tuple[str, ...] = ()
    arg_types: tuple[str, ...] = ()

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.values.items())
        super().__init__(f"{self.error_name}({shown})")

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _normalize(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type == "address[]":
        return tuple(to_checksum_address(v) for v in value)
    return value


def _canonical_type(entry: Mapping[str, Any]) -> str:
    kind = str(entry["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in entry["components"])
        return f"({inner}){kind[5:]}"
    return kind


def error_classes_from_abi(abi: Sequence[Mapping[str, Any]]) -> dict[str, type[ContractRevert]]:
    """Create one :class:`ContractRevert` subclass per custom error in ``abi``.

    Parameters
    ----------
    abi
        A contract ABI (list of JSON entries).
    """
    classes: dict[str, type[ContractRevert]] = {}
    for entry in abi:
        if entry.get("type") != "error":
            continue
        name = str(entry["name"])
        types = tuple(_canonical_type(i) for i in entry["inputs"])
        names = tuple(str(i["name"]) or f"arg{k}" for k, i in enumerate(entry["inputs"]))
        selector = keccak(text=f"{name}({','.join(types)})")[:4]
        classes[name] = type(
            name,
            (ContractRevert,),
            {
                "error_name": name,
                "selector": selector,
                "arg_names": names,
                "arg_types": types,
                "__doc__": f"Solidity custom error {name}({', '.join(types)}).",
                "__module__": __name__,
            },
        )
    return classes


@cache
def _ledger_classes() -> dict[str, type[ContractRevert]]:
    from client.chain.compile import load_artifact

    return error_classes_from_abi(load_artifact(LEDGER_CONTRACT).abi)


def ledger_error_classes() -> dict[str, type[ContractRevert]]:
    """Return the exception classes of the ledger contract's custom errors, by name."""
    return dict(_ledger_classes())


def decode_revert(
    data: bytes | str | None, classes: Mapping[str, type[ContractRevert]] | None = None
) -> LedgerError:
    """Turn revert data into the matching named exception.

    Parameters
    ----------
    data
        The revert data (selector + ABI-encoded arguments), as bytes or hex.
    classes
        Error classes to match; the ledger's by default.
    """
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x"))
    if not data or len(data) < 4:
        return TransactionFailed("transaction reverted without a reason")
    pool = classes if classes is not None else _ledger_classes()
    for cls in pool.values():
        if cls.selector == data[:4]:
            decoded = abi_decode(list(cls.arg_types), data[4:])
            values = [_normalize(t, v) for t, v in zip(cls.arg_types, decoded, strict=True)]
            return cls(dict(zip(cls.arg_names, values, strict=True)))
    if data[:4] == keccak(text="Error(string)")[:4]:
        return TransactionFailed(f"reverted: {abi_decode(['string'], data[4:])[0]}")
    if data[:4] == keccak(text="Panic(uint256)")[:4]:
        return TransactionFailed(f"panic 0x{abi_decode(['uint256'], data[4:])[0]:02x}")
    return TransactionFailed(f"reverted with unknown data 0x{data.hex()}")


def __getattr__(name: str) -> type[ContractRevert]:
    classes = _ledger_classes()
    if name in classes:
        return classes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
