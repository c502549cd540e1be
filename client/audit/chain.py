"""Read the chain for the audit: logs decoded one by one, receipts, views pinned to a block.

All of it is bounded and treated as untrusted.

The node may be wrong or hostile: a log that does not decode against the ledger's ABI, a log
of another address, an oversized log or a receipt that contradicts its logs becomes a named
violation (through the ``on_bad`` callback) instead of an exception, and only a node that
does not answer at all stops the audit (:class:`client.chain.errors.ChainUnavailable`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import event_abi_to_log_topic, keccak, to_checksum_address
from hexbytes import HexBytes

from client.audit.model import AuditError
from client.audit.replay import TxInfo
from client.chain.errors import ChainUnavailable
from client.chain.ledger import LOG_CHUNK_BLOCKS, Ledger, transport
from client.chain.records import EventMeta, LedgerEvent

#: Most ledger logs one audit reads (a bound on memory; audit a later range beyond it).
MAX_EVENTS = 1_000_000
#: Largest data field of one log accepted (the largest legitimate event, an UPLOAD to
#: maxParties requesters, is far below it at any sane maxParties).
MAX_LOG_BYTES = 4 << 20
#: Calls or receipts per JSON-RPC batch.
BATCH_SIZE = 200

BadLog = Callable[[int, str, str], None]


@dataclass(frozen=True)
class Call:
    """One view call of the ledger: function name and arguments."""

    name: str
    args: tuple[Any, ...] = ()


def plain(value: Any) -> Any:
    """Turn web3's decoded values into plain Python values (dicts, tuples, bytes)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (HexBytes, bytearray)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return tuple(plain(v) for v in value)
    return value


def _topics(ledger: Ledger) -> dict[bytes, str]:
    abi: list[Any] = list(ledger.contract.abi)
    return {bytes(event_abi_to_log_topic(e)): str(e["name"]) for e in abi
            if e.get("type") == "event"}


def _hash(value: Any) -> str:
    raw = bytes(HexBytes(value))
    if len(raw) != 32:
        raise ValueError("transaction hash is not 32 bytes")
    return "0x" + raw.hex()


def iter_events(
    ledger: Ledger,
    from_block: int,
    to_block: int,
    on_bad: BadLog,
    *,
    chunk_blocks: int = LOG_CHUNK_BLOCKS,
) -> Iterator[LedgerEvent]:
    """Yield every decodable ledger event of ``[from_block, to_block]`` in order.

    Parameters
    ----------
    ledger
        The ledger (its ABI decodes the logs).
    from_block, to_block
        The inclusive block range.
    on_bad
        Called as ``on_bad(block, tx_hash, detail)`` for every log that cannot be used.
    chunk_blocks
        Blocks per ``eth_getLogs`` request.
    """
    topics = _topics(ledger)
    address = ledger.address.lower()
    count = 0
    start = max(0, from_block)
    while start <= to_block:
        end = min(to_block, start + max(1, chunk_blocks) - 1)
        with transport(ledger.w3, ledger.address):
            logs = ledger.w3.eth.get_logs(
                {"address": ledger.address, "fromBlock": start, "toBlock": end})
        decoded: list[LedgerEvent] = []
        for log in logs:
            event = _decode(ledger, topics, address, log, start, end, on_bad)
            if event is not None:
                decoded.append(event)
        decoded.sort(key=lambda e: (e.meta.block_number, e.meta.log_index))
        count += len(decoded)
        if count > MAX_EVENTS:
            raise AuditError(f"more than {MAX_EVENTS} ledger events up to block {end}: audit "
                             "a later range with --from-block")
        yield from decoded
        start = end + 1


def _decode(
    ledger: Ledger,
    topics: Mapping[bytes, str],
    address: str,
    log: Any,
    start: int,
    end: int,
    on_bad: BadLog,
) -> LedgerEvent | None:
    try:
        block = int(log["blockNumber"])
        tx = _hash(log["transactionHash"])
        index = int(log["logIndex"])
    except (KeyError, TypeError, ValueError) as exc:
        on_bad(-1, "", f"log without a usable position: {type(exc).__name__}")
        return None
    try:
        if log.get("removed"):
            return None
        if str(log["address"]).lower() != address:
            on_bad(block, tx, f"log of another address {log['address']} in the answer")
            return None
        if not start <= block <= end:
            on_bad(block, tx, f"log of block {block} outside the requested {start}-{end}")
            return None
        if len(bytes(HexBytes(log["data"]))) > MAX_LOG_BYTES:
            on_bad(block, tx, "log data above the audit's bound")
            return None
        raw_topics = list(log["topics"])
        name = topics.get(bytes(raw_topics[0])) if raw_topics else None
        if name is None:
            on_bad(block, tx, "log whose first topic is no ledger event")
            return None
        decoded = getattr(ledger.contract.events, name)().process_log(log)
        args = {k: _checksummed(v) for k, v in plain(decoded["args"]).items()}
    except Exception as exc:  # noqa: BLE001 - any decoding failure of node data is the node's
        on_bad(block, tx, f"undecodable log: {type(exc).__name__}: {str(exc)[:200]}")
        return None
    return LedgerEvent(name, args, EventMeta(block, tx, index))


def _checksummed(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, tuple):
        return tuple(_checksummed(v) for v in value)
    return value


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def receipts(ledger: Ledger, tx_hashes: Sequence[str]) -> dict[str, TxInfo]:
    """Return sender, gas used and status of each transaction (missing ones left out)."""
    out: dict[str, TxInfo] = {}
    w3 = ledger.w3
    for i in range(0, len(tx_hashes), BATCH_SIZE):
        chunk = list(tx_hashes[i : i + BATCH_SIZE])
        results: list[Any]
        try:
            with transport(w3, ledger.address):
                answers = w3.provider.make_batch_request(  # type: ignore[attr-defined]
                    [("eth_getTransactionReceipt", [h]) for h in chunk])
            if not isinstance(answers, list) or len(answers) != len(chunk):
                raise ValueError("batch answer of the wrong shape")
            results = [r.get("result") for r in sorted(answers, key=lambda r: int(r["id"]))]
        except ChainUnavailable:
            raise
        except Exception:  # noqa: BLE001 - fall back to one request each, below
            results = []
            for h in chunk:
                try:
                    with transport(w3, ledger.address):
                        results.append(w3.eth.get_transaction_receipt(h))  # type: ignore[arg-type]
                except ChainUnavailable:
                    raise
                except Exception:  # noqa: BLE001 - kept as a missing receipt
                    results.append(None)
        for h, receipt in zip(chunk, results, strict=True):
            try:
                out[h] = TxInfo(to_checksum_address(receipt["from"]), _int(receipt["gasUsed"]),
                                _int(receipt["status"]))
            except (KeyError, TypeError, ValueError):
                continue
    return out


def _abi_type(entry: Mapping[str, Any]) -> str:
    kind = str(entry["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in entry["components"])
        return f"({inner}){kind[5:]}"
    return kind


def _checksum_all(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, (list, tuple)):
        return tuple(_checksum_all(v) for v in value)
    return value


class ViewCodec:
    """Encode view calls and decode their answers from the ABI, once per function.

    web3's contract functions re-validate the whole ABI on every call (thousands of
    selector hashes); the audit reads hundreds of views per block, so it encodes them itself.
    """

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._functions: dict[str, tuple[bytes, list[str], list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "function" or entry["name"] in self._functions:
                continue
            inputs = [_abi_type(i) for i in entry.get("inputs", [])]
            outputs = [_abi_type(o) for o in entry.get("outputs", [])]
            selector = bytes(keccak(text=f"{entry['name']}({','.join(inputs)})"))[:4]
            self._functions[str(entry["name"])] = (selector, inputs, outputs)

    def encode(self, call: Call) -> bytes:
        """Return the calldata of ``call``."""
        selector, inputs, _ = self._functions[call.name]
        return selector + abi_encode(inputs, list(call.args))

    def decode(self, call: Call, data: bytes) -> Any:
        """Return the plain answer (one value, or a tuple for several outputs)."""
        _, _, outputs = self._functions[call.name]
        values = _checksum_all(plain(abi_decode(outputs, data, strict=True)))
        return values[0] if len(outputs) == 1 else values


def read_views(ledger: Ledger, calls: Sequence[Call], block: int) -> list[Any]:
    """Call each view at ``block``; return its plain result or the exception it raised."""
    w3 = ledger.w3
    codec = ViewCodec(list(ledger.contract.abi))
    out: list[Any] = []

    def params(call: Call) -> list[Any]:
        return [{"to": ledger.address, "data": "0x" + codec.encode(call).hex()}, hex(block)]

    def answer(call: Call, raw: Any) -> Any:
        try:
            return codec.decode(call, bytes(HexBytes(raw)))
        except Exception as exc:  # noqa: BLE001 - an undecodable answer is a mismatch
            return exc

    for i in range(0, len(calls), BATCH_SIZE):
        chunk = calls[i : i + BATCH_SIZE]
        try:
            out.extend(_batch(ledger, [params(c) for c in chunk], chunk, answer))
            continue
        except ChainUnavailable:
            raise
        except Exception:  # noqa: BLE001 - retried one by one to find the culprit
            pass
        for call in chunk:
            try:
                with transport(w3, ledger.address):
                    raw = w3.eth.call(*params(call))
                out.append(answer(call, raw))
            except ChainUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - reported by the caller as a mismatch
                out.append(exc)
    return out


def _batch(
    ledger: Ledger, requests: list[list[Any]], chunk: Sequence[Call],
    answer: Callable[[Call, Any], Any],
) -> list[Any]:
    """Send one JSON-RPC batch of ``eth_call`` straight to the provider.

    web3's middlewares cost milliseconds per call, and the audit reads hundreds of views.
    """
    with transport(ledger.w3, ledger.address):
        answers = ledger.w3.provider.make_batch_request(  # type: ignore[attr-defined]
            [("eth_call", r) for r in requests])
    if not isinstance(answers, list) or len(answers) != len(chunk):
        raise ValueError("batch answer of the wrong shape")
    ordered = sorted(answers, key=lambda r: int(r["id"]))
    return [answer(c, r["result"]) if "result" in r else
            ValueError(f"node error {str(r.get('error'))[:160]}")
            for c, r in zip(chunk, ordered, strict=True)]
