"""The Merkle tree over the audit log, as RFC 9162 (Certificate Transparency v2) §2.1 defines it.

Leaf ``i`` (0-based) is the entry with ``seq = i + 1``; its leaf input is the 32 bytes of the
entry's ``entry_hash`` (which already commits to the entry's whole content and to the chain).
Hashes are domain-separated so a leaf can never pass for a node::

    leaf_hash(d)    = SHA-256(0x00 || d)
    node_hash(l, r) = SHA-256(0x01 || l || r)
    MTH({})         = SHA-256("")
    MTH(D[n])       = node_hash(MTH(D[0:k]), MTH(D[k:n]))   k = largest power of two < n

Every subtree the RFC's recursion visits is either a *complete* subtree (2^level leaves
starting at a multiple of 2^level) or a right-edge range that splits, largest first, into
complete ones. So a proof needs only complete-subtree hashes: :func:`inclusion_plan` and
:func:`consistency_plan` say which (``level``, ``index``) pairs, at most ~2·log2(n) of them,
and :func:`assemble` turns their hashes into the proof. The log keeps every complete subtree
of level >= 1 in ``audit_tree_nodes`` (level 0 is the entry itself), so proofs cost O(log n)
reads whatever the size.

The verifiers (:func:`verify_inclusion`, :func:`verify_consistency`) are the RFC's
§2.1.3.2 and §2.1.4.2 algorithms, with no dependency on this package's storage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]
"""(level, index): the complete subtree over leaves [index·2^level, (index+1)·2^level)."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def entry_leaf(entry_hash_hex: str) -> bytes:
    """The leaf hash of an audit entry, from its hex ``entry_hash``."""
    return leaf_hash(bytes.fromhex(entry_hash_hex))


def _split(size: int) -> int:
    """The largest power of two strictly smaller than ``size`` (``size`` >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of *leaf hashes*, straight from the definition (for checks and tests)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def range_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees, left to right, that make up the RFC subtree D[start:end]."""
    parts: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):
            level -= 1
        parts.append((level, start >> level))
        start += 1 << level
    return parts


def fold(parts: Sequence[bytes]) -> bytes:
    """MTH of a range from its complete parts (left to right): the RFC nests them rightwards."""
    result = parts[-1]
    for part in reversed(parts[:-1]):
        result = node_hash(part, result)
    return result


@dataclass(frozen=True)
class Plan:
    """Which ranges a proof is made of, in proof order, and the subtrees they need."""

    ranges: tuple[tuple[int, int], ...]

    @property
    def nodes(self) -> set[Node]:
        return {node for start, end in self.ranges for node in range_nodes(start, end)}


def inclusion_plan(index: int, size: int) -> Plan:
    """The sibling ranges of PATH(index, D[size]) (RFC 9162 §2.1.3.1), deepest first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    found: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            found.append((start + k, end))
            end = start + k
        else:
            found.append((start, start + k))
            start += k
    return Plan(tuple(reversed(found)))


def consistency_plan(first: int, second: int) -> Plan:
    """The ranges of PROOF(first, D[second]) (RFC 9162 §2.1.4.1), in proof order."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    found: list[tuple[int, int]] = []
    if first == 0 or first == second:
        return Plan(())
    start, end, m, complete = 0, second, first, True
    while True:
        if m == end - start:
            if not complete:
                found.append((start, end))
            break
        k = _split(end - start)
        if m <= k:
            found.append((start + k, end))
            end = start + k
        else:
            found.append((start, start + k))
            start += k
            m -= k
            complete = False
    return Plan(tuple(reversed(found)))


def assemble(plan: Plan, hashes: Mapping[Node, bytes]) -> list[bytes]:
    """The proof's hashes from the subtree hashes the plan asked for."""
    return [fold([hashes[n] for n in range_nodes(s, e)]) for s, e in plan.ranges]


def root_nodes(size: int) -> list[Node]:
    return range_nodes(0, size)


def root_from(size: int, hashes: Mapping[Node, bytes]) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    return fold([hashes[n] for n in root_nodes(size)])


class SubtreeHashes:
    """Every complete subtree of a list of leaf hashes, built in one pass (offline proofs).

    Memory is about two hashes per leaf; fine for exports of millions of entries.
    """

    def __init__(self, leaves: Iterable[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def get(self, node: Node) -> bytes:
        level, index = node
        return self.levels[level][index]

    def lookup(self, nodes: Iterable[Node]) -> dict[Node, bytes]:
        return {node: self.get(node) for node in nodes}

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return root_from(size, self.lookup(root_nodes(size)))

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        plan = inclusion_plan(index, self.size if size is None else size)
        return assemble(plan, self.lookup(plan.nodes))

    def consistency(self, first: int, second: int | None = None) -> list[bytes]:
        plan = consistency_plan(first, self.size if second is None else second)
        return assemble(plan, self.lookup(plan.nodes))


def new_nodes(
    index: int, leaf: bytes, sibling: Callable[[Node], bytes]
) -> list[tuple[Node, bytes]]:
    """The complete subtrees that appending leaf ``index`` completes (level >= 1), bottom up.

    ``sibling(node)`` returns the hash of an earlier complete subtree (the left neighbours).
    """
    made: list[tuple[Node, bytes]] = []
    current, level, position = leaf, 0, index
    while position & 1:
        current = node_hash(sibling((level, position - 1)), current)
        level, position = level + 1, position >> 1
        made.append(((level, position), current))
    return made


def extend(peaks: list[bytes], size: int, leaves: Iterable[bytes]) -> Iterator[tuple[Node, bytes]]:
    """Append ``leaves`` to a tree of ``size`` leaves whose peaks (the complete subtrees of
    :func:`root_nodes`, left to right) are ``peaks``, which is updated in place; yields every
    complete subtree of level >= 1 this completes, in order."""
    for index, leaf in enumerate(leaves, start=size):
        current, level, position = leaf, 0, index
        while position & 1:
            current = node_hash(peaks.pop(), current)
            level, position = level + 1, position >> 1
            yield (level, position), current
        peaks.append(current)


def left_siblings(index: int) -> list[Node]:
    """The earlier complete subtrees :func:`new_nodes` reads when appending leaf ``index``."""
    needed: list[Node] = []
    level, position = 0, index
    while position & 1:
        needed.append((level, position - 1))
        level, position = level + 1, position >> 1
    return needed


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ---------------------------------------------


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``path`` proves leaf hash ``leaf`` at ``index`` in the tree of ``size`` with
    ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """Whether ``path`` proves the tree of ``first`` leaves is a prefix of the tree of
    ``second``."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path and first_root == EMPTY_ROOT
    if not path:
        return False
    proof = list(path)
    if first & (first - 1) == 0:
        proof.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
