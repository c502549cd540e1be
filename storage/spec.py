"""``open_store``: one string chooses the backend (for configs and the CLI)."""

from __future__ import annotations

from urllib.parse import urlsplit

import multiaddr
import multiaddr.exceptions

from storage.base import ContentStore
from storage.embedded import EmbeddedStore
from storage.errors import InvalidStoreSpec
from storage.ipfs import IpfsStore
from storage.memory import MemoryStore

SPEC_FORMS = (
    "'memory', 'memory:<max_bytes>', 'embedded:<folder>', "
    "an IPFS RPC multiaddr such as '/ip4/127.0.0.1/tcp/5001', or 'http://<host>:<port>'"
)


def _api_multiaddr(spec: str) -> str:
    try:
        addr = multiaddr.Multiaddr(spec)
    except (multiaddr.exceptions.Error, ValueError, TypeError) as exc:
        raise InvalidStoreSpec(f"{spec!r} is not a valid multiaddr: {exc}") from None
    names = [proto.name for proto in addr.protocols()]
    if not names or names[0] not in {"ip4", "ip6", "dns", "dns4", "dns6"} or "tcp" not in names:
        raise InvalidStoreSpec(
            f"{spec!r} does not name an IPFS RPC API: expected /ip4|ip6|dns/<host>/tcp/<port>"
        )
    return spec


def _http_multiaddr(spec: str) -> str:
    url = urlsplit(spec)
    try:
        port = url.port
    except ValueError as exc:
        raise InvalidStoreSpec(f"{spec!r} has an invalid port: {exc}") from None
    if url.scheme != "http" or not url.hostname or port is None:
        raise InvalidStoreSpec(f"{spec!r} is not http://<host>:<port>")
    host = url.hostname
    kind = "ip6" if ":" in host else ("ip4" if host.replace(".", "").isdigit() else "dns")
    return _api_multiaddr(f"/{kind}/{host}/tcp/{port}/http")


def open_store(spec: str) -> ContentStore:
    """Open the store a specification string names.

    Parameters
    ----------
    spec
        ``"memory"`` or ``"memory:<max_bytes>"`` (in-memory, optionally bounded);
        ``"embedded:<folder>"`` (on-disk, shareable by processes);
        ``"/ip4/<host>/tcp/<port>"`` or ``"http://<host>:<port>"`` (a Kubo / js-ipfs RPC API).

    Returns
    -------
    ContentStore
        The opened store; call ``close()`` when done.

    Raises
    ------
    InvalidStoreSpec
        If ``spec`` matches none of the forms above.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidStoreSpec(f"empty store spec; use {SPEC_FORMS}")
    spec = spec.strip()
    if spec == "memory":
        return MemoryStore()
    if spec.startswith("memory:"):
        text = spec.removeprefix("memory:").replace("_", "")
        if not text.isdigit():
            raise InvalidStoreSpec(f"{spec!r}: the memory bound must be a byte count")
        return MemoryStore(max_bytes=int(text))
    if spec.startswith("embedded:"):
        folder = spec.removeprefix("embedded:")
        if not folder:
            raise InvalidStoreSpec(f"{spec!r}: name the folder, e.g. 'embedded:./store'")
        return EmbeddedStore(folder)
    if spec.startswith("/"):
        return IpfsStore(_api_multiaddr(spec))
    if spec.startswith("http://"):
        return IpfsStore(_http_multiaddr(spec))
    raise InvalidStoreSpec(f"unknown store spec {spec!r}; use {SPEC_FORMS}")
