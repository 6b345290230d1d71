"""Build and verify RFC 6962 / RFC 9162 Merkle trees for the tamper-evident audit log.

The tree shape and hashing follow RFC 6962 section 2.1 (which RFC 9162 section 2.1
keeps unchanged) with SHA-256 as the hash function:

* the hash of the empty tree is ``SHA-256("")``;
* a leaf hash is ``SHA-256(0x00 || data)``;
* an interior node hash is ``SHA-256(0x01 || left || right)``;
* a tree of ``n > 1`` leaves is split at ``k``, the largest power of two
  strictly smaller than ``n``: the left subtree holds leaves ``[0, k)``, the
  right subtree leaves ``[k, n)``.

Every function that builds something works on *leaf hashes* (the output of
:func:`leaf_hash`), never on raw entries, so callers can store leaf hashes and
never need to re-read the entries themselves.

Proof generators (:func:`inclusion_proof`, :func:`consistency_proof`) raise
:class:`MerkleError` for impossible arguments.  Verifiers
(:func:`verify_inclusion`, :func:`verify_consistency`) never raise: anything
that is not a valid proof, including malformed input, yields ``False``.

:class:`CompactRange` keeps only the roots of the perfect subtrees covering a
prefix of the log, so a checkpoint can be extended leaf by leaf without
re-reading earlier leaves.

Only the Python standard library is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, MutableMapping, Sequence
from typing import Final

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MerkleError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

#: Length in bytes of every hash in the tree (SHA-256).
HASH_SIZE: Final = 32

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"

#: Root hash of the empty tree: SHA-256 of the empty string (RFC 6962 section 2.1).
EMPTY_ROOT: Final[bytes] = hashlib.sha256(b"").digest()

#: Optional cache of subtree roots keyed by ``(start, size)``.
#:
#: Because the log is append-only, the root of the leaves ``[start, start + size)``
#: never changes once those leaves exist, so one cache may be shared by every
#: proof generated over the same (possibly growing) list of leaf hashes.
SubtreeCache = MutableMapping[tuple[int, int], bytes]


class MerkleError(ValueError):
    """Signal invalid arguments to a proof generator or to :class:`CompactRange`."""


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split_point(n: int) -> int:
    """Return the largest power of two strictly smaller than ``n`` (``n`` must be > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _fold_frontier(frontier: Sequence[bytes]) -> bytes:
    """Combine perfect-subtree roots, ordered left to right, into a tree root.

    The roots must be those of consecutive perfect subtrees of strictly
    decreasing size, as produced by :class:`CompactRange`; folding them from the
    right reproduces the RFC 6962 split at the largest power of two.
    """
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = node_hash(left, root)
    return root


def _append_to_frontier(frontier: list[bytes], size: int, value: bytes) -> None:
    """Append one leaf hash to ``frontier``, which currently covers ``size`` leaves.

    Each trailing one bit of ``size`` marks a perfect subtree of the same size
    as the one being carried, so the two are merged before moving up.
    """
    carried = value
    while size & 1:
        carried = node_hash(frontier.pop(), carried)
        size >>= 1
    frontier.append(carried)


def _subtree_root(
    hashes: Sequence[bytes], start: int, size: int, cache: SubtreeCache | None = None
) -> bytes:
    """Return MTH of ``hashes[start:start + size]`` without recursion.

    Uses O(log size) memory and exactly ``size - 1`` node hashes.  If ``cache``
    is given, results are looked up in and stored into it.
    """
    if size == 0:
        return EMPTY_ROOT
    if size == 1:
        return hashes[start]
    key = (start, size)
    if cache is not None:
        cached = cache.get(key)
        if cached is not None:
            return cached
    frontier: list[bytes] = []
    for offset in range(size):
        _append_to_frontier(frontier, offset, hashes[start + offset])
    root = _fold_frontier(frontier)
    if cache is not None:
        cache[key] = root
    return root


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash (RFC 6962 section 2.1) of a list of leaf hashes.

    The computation is iterative, so it handles millions of leaves without
    deep recursion; the empty list yields :data:`EMPTY_ROOT`.
    """
    return _subtree_root(hashes, 0, len(hashes))


def inclusion_proof(
    hashes: Sequence[bytes], index: int, *, cache: SubtreeCache | None = None
) -> list[bytes]:
    """Return the audit path PATH(index, D[n]) of RFC 6962 section 2.1.1.

    ``hashes`` are the leaf hashes of the whole tree (``n = len(hashes)``).  The
    path lists sibling subtree roots from the leaf upwards.  Each sibling is
    computed once, so the cost is O(n) hashes; pass a shared ``cache`` to reuse
    sibling roots between calls over the same append-only list.

    Raise :class:`MerkleError` if ``index`` is not in ``[0, n)``.
    """
    size = len(hashes)
    if isinstance(index, bool) or not isinstance(index, int):
        raise MerkleError(f"leaf index must be an int, got {type(index).__name__}")
    if not 0 <= index < size:
        raise MerkleError(f"leaf index {index} out of range for tree size {size}")
    # Walk down from the root; each step records the sibling of the subtree that
    # contains the leaf.  PATH lists them bottom-up, hence the final reversal.
    siblings: list[bytes] = []
    start, n, m = 0, size, index
    while n > 1:
        k = _split_point(n)
        if m < k:
            siblings.append(_subtree_root(hashes, start + k, n - k, cache))
            n = k
        else:
            siblings.append(_subtree_root(hashes, start, k, cache))
            start, n, m = start + k, n - k, m - k
    siblings.reverse()
    return siblings


def consistency_proof(
    hashes: Sequence[bytes], old_size: int, *, cache: SubtreeCache | None = None
) -> list[bytes]:
    """Return the consistency proof PROOF(old_size, D[n]) of RFC 6962 section 2.1.2.

    ``hashes`` are the leaf hashes of the newer tree (``n = len(hashes)``).  For
    ``0 < old_size < n`` this is SUBPROOF(old_size, D[n], true).  For
    ``old_size == n`` the proof is empty (RFC 9162 section 2.1.4.1), and for
    ``old_size == 0`` it is empty too, matching :func:`verify_consistency`,
    which accepts the empty tree as a prefix of any tree only with an empty proof.
    Each subtree root in the proof is computed once (O(n) hashes); ``cache``
    works as for :func:`inclusion_proof`.

    Raise :class:`MerkleError` if ``old_size`` is negative or greater than ``n``.
    """
    size = len(hashes)
    if isinstance(old_size, bool) or not isinstance(old_size, int):
        raise MerkleError(f"old size must be an int, got {type(old_size).__name__}")
    if not 0 <= old_size <= size:
        raise MerkleError(f"old size {old_size} out of range for tree size {size}")
    if old_size in (0, size):
        return []
    # Iterative SUBPROOF: the recursive call's output comes first and the subtree
    # root chosen at this level is appended after it, so collect top-down and
    # reverse at the end.
    tail: list[bytes] = []
    start, n, m, complete = 0, size, old_size, True
    while m != n:
        k = _split_point(n)
        if m <= k:
            tail.append(_subtree_root(hashes, start + k, n - k, cache))
            n = k
        else:
            tail.append(_subtree_root(hashes, start, k, cache))
            start, n, m, complete = start + k, n - k, m - k, False
    # Base case SUBPROOF(m, D[m], b): empty if b is true (the verifier already
    # knows this subtree's root, it is the old root), else MTH(D[m]).
    proof = [] if complete else [_subtree_root(hashes, start, n, cache)]
    tail.reverse()
    proof.extend(tail)
    return proof


def _is_hash(value: object) -> bool:
    """Return whether ``value`` is a byte string of exactly :data:`HASH_SIZE` bytes."""
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_count(value: object) -> bool:
    """Return whether ``value`` is a non-negative ``int`` (``bool`` excluded)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _all_hashes(proof: object) -> bool:
    """Return whether ``proof`` is a sequence (not bytes) of well-formed hashes."""
    if isinstance(proof, (bytes, bytearray, str)) or not isinstance(proof, Sequence):
        return False
    return all(_is_hash(item) for item in proof)


def verify_inclusion(
    *, leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Return whether ``proof`` shows ``leaf_hash`` at ``index`` in the tree with ``root``.

    Implements the verification algorithm of RFC 9162 section 2.1.3.2.  Return
    ``False`` (never raise) for an index outside ``[0, tree_size)``, a proof of
    the wrong length, hashes that are not 32-byte ``bytes``, or a mismatch.
    """
    if not (_is_count(index) and _is_count(tree_size)):
        return False
    if not (_is_hash(leaf_hash) and _is_hash(root) and _all_hashes(proof)):
        return False
    # Step 1: the index must lie inside the tree.
    if index >= tree_size:
        return False
    # Steps 2-3.
    fn, sn = index, tree_size - 1
    r = leaf_hash
    # Step 4.
    for p in proof:
        if sn == 0:
            return False  # Proof longer than the path to the root.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5: sn must be 0 (proof not too short) and the root must match.
    return sn == 0 and r == root


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Return whether ``proof`` shows the tree ``old_root`` is a prefix of ``new_root``.

    Implements the verification algorithm of RFC 9162 section 2.1.4.2.  Return
    ``False`` (never raise) for ``old_size > new_size``, a proof of the wrong
    length, hashes that are not 32-byte ``bytes``, or a mismatch.
    """
    if not (_is_count(old_size) and _is_count(new_size)):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root) and _all_hashes(proof)):
        return False
    if old_size > new_size:
        return False
    # Edge cases, which the RFC 9162 algorithm (defined for 0 < old_size <
    # new_size, and failing any empty proof in step 1) leaves to the caller.
    # Choices made here:
    # * old_size == new_size: RFC 9162 section 2.1.4.1 says the proof is empty,
    #   so verify iff the proof is empty and the two roots are equal.
    # * old_size == 0: the empty tree is a prefix of every tree, so any new tree
    #   is consistent with it, but only with an empty proof.  Additionally (a
    #   stricter choice than some implementations, which ignore the roots here)
    #   old_root must be EMPTY_ROOT, the only valid root of a size-0 tree; for
    #   new_size > 0 new_root is not checked (nothing can be proven about it).
    # Everything else goes through the RFC 9162 algorithm verbatim, including
    # step 1: an empty proof for 0 < old_size < new_size fails.
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT and (new_size > 0 or new_root == EMPTY_ROOT)
    if old_size == new_size:
        return not proof and old_root == new_root
    # Step 1.
    if not proof:
        return False
    path = list(proof)
    # Step 2: if old_size is a power of two, the old root is itself a node of the
    # new tree and is not sent; start from it.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Step 3.
    fn, sn = old_size - 1, new_size - 1
    # Step 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            return False  # Proof too long.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    return fr == old_root and sr == new_root and sn == 0


class CompactRange:
    """Track the perfect-subtree roots ("frontier") covering the first ``size`` leaves.

    The frontier holds one root per one-bit of ``size``, ordered from the
    largest (leftmost) subtree to the smallest, so it never exceeds
    ``size.bit_length()`` hashes.  Appending a leaf costs O(1) hashes amortised
    (O(log n) worst case) and :meth:`root` costs O(log n).

    Persist a range with :meth:`to_list` plus :attr:`size` and restore it with
    :meth:`from_list`; the restored range extends exactly like the original.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self) -> None:
        """Create an empty range (size 0)."""
        self._size = 0
        self._frontier: list[bytes] = []

    @property
    def size(self) -> int:
        """Return the number of leaves covered."""
        return self._size

    def append(self, value: bytes) -> None:
        """Append one leaf hash (the output of :func:`leaf_hash`).

        Raise :class:`MerkleError` if ``value`` is not a 32-byte ``bytes``.
        """
        if not _is_hash(value):
            raise MerkleError("a leaf hash must be exactly 32 bytes")
        _append_to_frontier(self._frontier, self._size, value)
        self._size += 1

    def extend(self, values: Iterable[bytes]) -> None:
        """Append several leaf hashes in order."""
        for value in values:
            self.append(value)

    def root(self) -> bytes:
        """Return the Merkle Tree Hash of the covered leaves (same as root_from_leaf_hashes)."""
        return _fold_frontier(self._frontier)

    def to_list(self) -> list[bytes]:
        """Return a copy of the frontier hashes, largest subtree first."""
        return list(self._frontier)

    @classmethod
    def from_list(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Rebuild a range from its :attr:`size` and :meth:`to_list` output.

        Raise :class:`MerkleError` if ``size`` is negative, if the number of
        hashes differs from the number of one-bits in ``size``, or if any hash
        is not a 32-byte ``bytes``.
        """
        if not _is_count(size):
            raise MerkleError(f"size must be a non-negative int, got {size!r}")
        frontier = list(hashes)
        if len(frontier) != size.bit_count():
            raise MerkleError(
                f"a range of size {size} needs {size.bit_count()} hashes, got {len(frontier)}"
            )
        if not all(_is_hash(item) for item in frontier):
            raise MerkleError("every frontier hash must be exactly 32 bytes")
        compact = cls()
        compact._size = size
        compact._frontier = frontier
        return compact

    def copy(self) -> CompactRange:
        """Return an independent copy of this range."""
        return CompactRange.from_list(self._size, self._frontier)

    def __eq__(self, other: object) -> bool:
        """Return whether ``other`` is a range with the same size and frontier."""
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._frontier == other._frontier

    __hash__ = None  # type: ignore[assignment]  # Mutable, so unhashable.

    def __repr__(self) -> str:
        """Return a debugging representation showing size and root."""
        return f"CompactRange(size={self._size}, root={self.root().hex()})"
