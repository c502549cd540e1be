"""Shape of the DAG the embedded builder produces (balanced, 174 links, dag-pb leaves)."""

from __future__ import annotations

import hashlib

from storage.unixfs import CHUNK_SIZE, MAX_LINKS, build_dag


def _links(block: bytes) -> int:
    # Top-level dag-pb fields: 0x12 = Links (field 2), 0x0a = Data (field 1).
    count, pos = 0, 0
    while pos < len(block):
        tag = block[pos]
        pos += 1
        length, shift = 0, 0
        while True:
            byte = block[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        count += tag == 0x12
        pos += length
    return count


def test_one_chunk_is_a_single_dagpb_leaf() -> None:
    root, nodes = build_dag(b"a" * CHUNK_SIZE)
    assert nodes == [root]
    assert root.block.startswith(b"\x0a")  # Data field, no links
    assert root.cid.digest == hashlib.sha256(root.block).digest()


def test_two_chunks_give_a_root_with_two_links_and_sizes() -> None:
    root, nodes = build_dag(b"a" * (CHUNK_SIZE + 1))
    assert len(nodes) == 3
    assert _links(root.block) == 2
    assert root.file_size == CHUNK_SIZE + 1
    assert root.dag_size == sum(len(n.block) for n in nodes)


def test_balanced_tree_splits_at_174_links() -> None:
    # A zero-filled object keeps this fast: only the tree shape matters here.
    root, nodes = build_dag(bytes(CHUNK_SIZE * (MAX_LINKS + 1)))
    leaves = MAX_LINKS + 1
    assert len(nodes) == leaves + 2 + 1
    parents = nodes[leaves:-1]
    assert [_links(p.block) for p in parents] == [MAX_LINKS, 1]
    assert _links(root.block) == 2
