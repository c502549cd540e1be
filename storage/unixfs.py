"""UnixFS v1 file DAGs in dag-pb, built exactly as ``ipfs add`` does with fppdl's fixed options.

The add options are fixed once here (the ``ADD_*`` options) and sent to every daemon, so the
embedded and in-memory stores compute the very CID a Kubo or js-ipfs daemon returns:

* CIDv1, sha2-256, ``raw-leaves=false``: every node, leaves included, is a dag-pb node carrying
  UnixFS ``File`` data, so the root codec is dag-pb for *every* size (with raw leaves a
  one-chunk object would get a ``raw`` root and the codec would depend on the size).
* fixed-size chunker of 262,144 bytes (``size-262144``, the go-unixfs / js-ipfs default);
* balanced layout, at most 174 links per node (go-unixfs ``helpers.DefaultLinksPerBlock``,
  js-ipfs ``maxChildrenPerNode``); a one-chunk object is the single leaf itself;
* no mode / mtime metadata, no directory wrapping.

Encoding details that the CID depends on (both reference implementations agree on them):
links are serialized before the Data field; each link carries ``Hash`` (binary CIDv1),
an empty ``Name`` and ``Tsize`` (encoded size of the whole child DAG); UnixFS ``blocksizes``
are written unpacked; ``filesize`` is always written, ``Data`` only when non-empty.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from storage.cid import ContentId
from storage.errors import IntegrityError

CHUNK_SIZE = 262_144
MAX_LINKS = 174
UNIXFS_FILE = 2

# The add options sent to a Kubo-RPC daemon; the builder below implements exactly these.
ADD_CID_VERSION = 1
ADD_RAW_LEAVES = False
ADD_CHUNKER = f"size-{CHUNK_SIZE}"
ADD_TRICKLE = False


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field_bytes(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _field_varint(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


@dataclass(frozen=True, slots=True)
class DagNode:
    """One encoded block of a file DAG.

    Attributes
    ----------
    cid
        Content id of ``block``.
    block
        The dag-pb encoded node.
    file_size
        Number of file bytes below this node.
    dag_size
        Encoded size of this node plus all its descendants (the ``Tsize`` of a link to it).
    """

    cid: ContentId
    block: bytes
    file_size: int
    dag_size: int


def _leaf(chunk: bytes) -> DagNode:
    unixfs = _field_varint(1, UNIXFS_FILE)
    if chunk:
        unixfs += _field_bytes(2, chunk)
    unixfs += _field_varint(3, len(chunk))
    block = _field_bytes(1, unixfs)
    cid = ContentId(hashlib.sha256(block).digest())
    return DagNode(cid, block, len(chunk), len(block))


def _parent(children: list[DagNode]) -> DagNode:
    parts = []
    for child in children:
        link = _field_bytes(1, child.cid.binary) + _field_bytes(2, b"")
        link += _field_varint(3, child.dag_size)
        parts.append(_field_bytes(2, link))
    file_size = sum(child.file_size for child in children)
    unixfs = _field_varint(1, UNIXFS_FILE) + _field_varint(3, file_size)
    unixfs += b"".join(_field_varint(4, child.file_size) for child in children)
    parts.append(_field_bytes(1, unixfs))
    block = b"".join(parts)
    cid = ContentId(hashlib.sha256(block).digest())
    return DagNode(cid, block, file_size, len(block) + sum(c.dag_size for c in children))


def _chunks(data: bytes) -> Iterator[bytes]:
    if not data:
        yield b""
        return
    view = memoryview(data)
    for start in range(0, len(data), CHUNK_SIZE):
        yield bytes(view[start : start + CHUNK_SIZE])


def build_dag(data: bytes) -> tuple[DagNode, list[DagNode]]:
    """Build the UnixFS file DAG of ``data`` with fppdl's fixed add options.

    Parameters
    ----------
    data
        The object's bytes (any length, including zero).

    Returns
    -------
    tuple[DagNode, list[DagNode]]
        The root node and every node of the DAG (leaves first, root last).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"stored content must be bytes, got {type(data).__name__}")
    level = [_leaf(chunk) for chunk in _chunks(bytes(data))]
    nodes = list(level)
    if len(level) == 1:
        return level[0], nodes
    # Balanced layout: group each level into parents of MAX_LINKS children until one root
    # remains; this is the same tree go-unixfs' depth-first balanced builder produces.
    while True:
        level = [_parent(level[i : i + MAX_LINKS]) for i in range(0, len(level), MAX_LINKS)]
        nodes.extend(level)
        if len(level) == 1:
            return level[0], nodes


def compute_cid(data: bytes) -> ContentId:
    """Return the content id ``ipfs add`` assigns to ``data`` under the ``ADD_*`` options.

    Parameters
    ----------
    data
        The object's bytes.

    Returns
    -------
    ContentId
        The CIDv1 (dag-pb, sha2-256) of the root node.
    """
    root, _ = build_dag(data)
    return root.cid


def verify(cid: ContentId, data: bytes, source: str) -> bytes:
    """Return ``data`` if it hashes to ``cid``; raise :class:`IntegrityError` otherwise.

    Parameters
    ----------
    cid
        The content id the bytes were requested under.
    data
        The bytes a backend returned.
    source
        Where the bytes came from, for the error message.
    """
    actual = compute_cid(data)
    if actual != cid:
        raise IntegrityError(
            f"{source} returned {len(data)} bytes for {cid} that hash to {actual}: "
            "content is corrupted or truncated"
        )
    return data
