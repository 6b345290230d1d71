"""Tests for the RFC 6962 / RFC 9162 Merkle tree library used by the audit log."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicstack.core.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

VECTORS_PATH = Path(__file__).parent / "data" / "rfc6962_vectors.json"

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@cache
def _vectors() -> dict[str, Any]:
    """Load the published known-answer vectors."""
    with VECTORS_PATH.open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _h(value: str) -> bytes:
    """Decode one hex string."""
    return bytes.fromhex(value)


def _hl(values: list[str]) -> list[bytes]:
    """Decode a list of hex strings."""
    return [bytes.fromhex(value) for value in values]


def _kat_leaf_hashes() -> list[bytes]:
    """Return the leaf hashes of the eight published leaf inputs."""
    return [leaf_hash(_h(leaf)) for leaf in _vectors()["leaves"]]


def _kat_root(size: int) -> bytes:
    """Return the published root for a tree of ``size`` leaves."""
    if size == 0:
        return _h(_vectors()["empty_root"])
    return _h(_vectors()["roots"][str(size)])


# A straightforward recursive transcription of RFC 6962 section 2.1, used as an
# independent oracle for small trees.


def _ref_split(n: int) -> int:
    """Return the largest power of two smaller than ``n``."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _ref_mth(d: list[bytes]) -> bytes:
    """Return MTH(D) for a list of leaf hashes, recursively."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _ref_split(len(d))
    return hashlib.sha256(b"\x01" + _ref_mth(d[:k]) + _ref_mth(d[k:])).digest()


def _ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """Return PATH(m, D), recursively."""
    if len(d) == 1:
        return []
    k = _ref_split(len(d))
    if m < k:
        return [*_ref_path(m, d[:k]), _ref_mth(d[k:])]
    return [*_ref_path(m - k, d[k:]), _ref_mth(d[:k])]


def _ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """Return SUBPROOF(m, D, b), recursively."""
    n = len(d)
    if m == n:
        return [] if b else [_ref_mth(d)]
    k = _ref_split(n)
    if m <= k:
        return [*_ref_subproof(m, d[:k], b), _ref_mth(d[k:])]
    return [*_ref_subproof(m - k, d[k:], False), _ref_mth(d[:k])]


# Strategies.  Leaves are distinct so that any tampering really changes the tree.

_unique_leaves = st.lists(st.binary(max_size=6), min_size=1, max_size=48, unique=True).map(
    lambda items: [leaf_hash(item) for item in items]
)


def _flip_bit(value: bytes, bit: int) -> bytes:
    """Return ``value`` with one bit inverted."""
    mutated = bytearray(value)
    mutated[bit // 8] ^= 1 << (bit % 8)
    return bytes(mutated)


# --- Hashing primitives -----------------------------------------------------


def test_empty_root_is_sha256_of_nothing() -> None:
    """The empty tree's root is SHA-256 of the empty string, as published."""
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert _kat_root(0) == EMPTY_ROOT
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    """Leaf hashes prefix 0x00 and node hashes prefix 0x01 before SHA-256."""
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert leaf_hash(left + right) != node_hash(left, right)


# --- Known-answer vectors ---------------------------------------------------


def test_vector_file_names_its_source() -> None:
    """The vector file records where the published values come from."""
    assert "Certificate Transparency" in _vectors()["source"]


def test_leaf_and_subtree_hashes_match_published_node_hashes() -> None:
    """Every complete subtree of the reference tree hashes to the published value."""
    hashes = _kat_leaf_hashes()
    levels = _vectors()["node_hashes"]["levels"]
    for level, row in enumerate(levels):
        width = 1 << level
        for i, expected in enumerate(row):
            subtree = hashes[i * width : (i + 1) * width]
            assert root_from_leaf_hashes(subtree) == _h(expected), (level, i)


@pytest.mark.parametrize("size", range(9))
def test_roots_match_published_roots(size: int) -> None:
    """The root of the first ``size`` reference leaves equals the published root."""
    hashes = _kat_leaf_hashes()[:size]
    assert root_from_leaf_hashes(hashes) == _kat_root(size)
    compact = CompactRange()
    compact.extend(hashes)
    assert compact.root() == _kat_root(size)


@pytest.mark.parametrize(
    "vector", _vectors()["inclusion_proofs"], ids=lambda v: f"{v['index']}-of-{v['tree_size']}"
)
def test_inclusion_proofs_match_published_and_verify(vector: dict[str, Any]) -> None:
    """Generated audit paths equal the published ones, and the published ones verify."""
    index, size = vector["index"], vector["tree_size"]
    hashes = _kat_leaf_hashes()
    expected = _hl(vector["proof"])
    assert inclusion_proof(hashes[:size], index) == expected
    assert verify_inclusion(
        leaf_hash=hashes[index], index=index, tree_size=size, proof=expected, root=_kat_root(size)
    )


@pytest.mark.parametrize(
    "vector",
    _vectors()["consistency_proofs"],
    ids=lambda v: f"{v['old_size']}-to-{v['new_size']}",
)
def test_consistency_proofs_match_published_and_verify(vector: dict[str, Any]) -> None:
    """Generated consistency proofs equal the published ones, and the published ones verify."""
    old, new = vector["old_size"], vector["new_size"]
    expected = _hl(vector["proof"])
    assert consistency_proof(_kat_leaf_hashes()[:new], old) == expected
    assert verify_consistency(
        old_size=old, new_size=new, old_root=_kat_root(old), new_root=_kat_root(new), proof=expected
    )


def test_published_inclusion_proofs_reject_trillian_style_corruptions() -> None:
    """Wrong index, size, leaf, root, or a padded, truncated or altered proof does not verify."""
    hashes = _kat_leaf_hashes()
    for vector in _vectors()["inclusion_proofs"]:
        index, size = vector["index"], vector["tree_size"]
        proof, root, leaf = _hl(vector["proof"]), _kat_root(size), hashes[index]

        def ok(
            i: int = index, n: int = size, p: list[bytes] = proof, r: bytes = root, lh: bytes = leaf
        ) -> bool:
            return verify_inclusion(leaf_hash=lh, index=i, tree_size=n, proof=p, root=r)

        assert ok()
        assert not ok(i=index - 1)
        assert not ok(i=index + 1)
        assert not ok(i=index ^ 2)
        assert not ok(n=size * 2)
        assert not ok(n=size // 2)
        assert not ok(lh=leaf_hash(b"WrongLeaf"))
        assert not ok(r=EMPTY_ROOT)
        assert not ok(p=[*proof, b""])
        assert not ok(p=[*proof, root])
        assert not ok(p=[b"", *proof])
        assert not ok(p=[root, *proof])
        if proof:
            assert not ok(p=proof[:-1])
        for k in range(len(proof)):
            assert not ok(p=[*proof[:k], _flip_bit(proof[k], 3), *proof[k + 1 :]])


def test_published_consistency_proofs_reject_trillian_style_corruptions() -> None:
    """Wrong sizes, swapped or wrong roots, or a padded, truncated or altered proof fails."""
    for vector in _vectors()["consistency_proofs"]:
        old, new = vector["old_size"], vector["new_size"]
        proof = _hl(vector["proof"])
        if not proof:
            continue
        r1, r2 = _kat_root(old), _kat_root(new)

        def ok(
            m: int = old, n: int = new, a: bytes = r1, b: bytes = r2, p: list[bytes] = proof
        ) -> bool:
            return verify_consistency(old_size=m, new_size=n, old_root=a, new_root=b, proof=p)

        assert ok()
        assert not ok(m=old - 1)
        assert not ok(m=old + 1)
        assert not ok(m=old ^ 2)
        assert not ok(n=new * 2)
        assert not ok(n=new // 2)
        assert not ok(a=EMPTY_ROOT)
        assert not ok(b=EMPTY_ROOT)
        assert not ok(a=r2, b=r1)
        assert not ok(p=[])
        assert not ok(p=[*proof, b""])
        assert not ok(p=[*proof, r1])
        assert not ok(p=proof[:-1])
        assert not ok(p=[b"", *proof])
        assert not ok(p=[proof[0], *proof])
        for k in range(len(proof)):
            assert not ok(p=[*proof[:k], _flip_bit(proof[k], 3), *proof[k + 1 :]])


# --- Exhaustive agreement with the recursive RFC 6962 definitions -----------


def test_all_proofs_for_small_trees_match_the_recursive_definitions() -> None:
    """For every tree up to 33 leaves, every proof equals RFC 6962's recursive one and verifies."""
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(33)]
    for n in range(1, len(leaves) + 1):
        tree = leaves[:n]
        root = root_from_leaf_hashes(tree)
        assert root == _ref_mth(tree)
        for i in range(n):
            proof = inclusion_proof(tree, i)
            assert proof == _ref_path(i, tree)
            assert verify_inclusion(leaf_hash=tree[i], index=i, tree_size=n, proof=proof, root=root)
        for m in range(1, n + 1):
            proof = consistency_proof(tree, m)
            assert proof == _ref_subproof(m, tree, True)
            assert verify_consistency(
                old_size=m, new_size=n, old_root=_ref_mth(tree[:m]), new_root=root, proof=proof
            )


# --- Property tests: valid proofs verify ------------------------------------


@PROPERTY_SETTINGS
@given(tree=_unique_leaves, data=st.data())
def test_every_inclusion_proof_verifies(tree: list[bytes], data: st.DataObject) -> None:
    """An inclusion proof for any leaf of any tree verifies against that tree's root."""
    index = data.draw(st.integers(0, len(tree) - 1), label="index")
    root = root_from_leaf_hashes(tree)
    proof = inclusion_proof(tree, index)
    assert verify_inclusion(
        leaf_hash=tree[index], index=index, tree_size=len(tree), proof=proof, root=root
    )


@PROPERTY_SETTINGS
@given(tree=_unique_leaves, data=st.data())
def test_every_consistency_proof_verifies(tree: list[bytes], data: st.DataObject) -> None:
    """A consistency proof between any prefix and the whole tree verifies."""
    old = data.draw(st.integers(0, len(tree)), label="old_size")
    proof = consistency_proof(tree, old)
    assert verify_consistency(
        old_size=old,
        new_size=len(tree),
        old_root=root_from_leaf_hashes(tree[:old]),
        new_root=root_from_leaf_hashes(tree),
        proof=proof,
    )


# --- Property tests: tampering is detected ----------------------------------


@PROPERTY_SETTINGS
@given(tree=_unique_leaves, data=st.data())
def test_flipping_any_bit_of_an_inclusion_proof_fails(
    tree: list[bytes], data: st.DataObject
) -> None:
    """An inclusion proof with any single bit flipped does not verify."""
    index = data.draw(st.integers(0, len(tree) - 1), label="index")
    proof = inclusion_proof(tree, index)
    if not proof:
        return
    k = data.draw(st.integers(0, len(proof) - 1), label="element")
    bit = data.draw(st.integers(0, 255), label="bit")
    proof[k] = _flip_bit(proof[k], bit)
    assert not verify_inclusion(
        leaf_hash=tree[index],
        index=index,
        tree_size=len(tree),
        proof=proof,
        root=root_from_leaf_hashes(tree),
    )


@PROPERTY_SETTINGS
@given(tree=_unique_leaves, data=st.data())
def test_flipping_any_bit_of_a_consistency_proof_fails(
    tree: list[bytes], data: st.DataObject
) -> None:
    """A consistency proof with any single bit flipped does not verify."""
    old = data.draw(st.integers(1, len(tree)), label="old_size")
    proof = consistency_proof(tree, old)
    if not proof:
        return
    k = data.draw(st.integers(0, len(proof) - 1), label="element")
    bit = data.draw(st.integers(0, 255), label="bit")
    proof[k] = _flip_bit(proof[k], bit)
    assert not verify_consistency(
        old_size=old,
        new_size=len(tree),
        old_root=root_from_leaf_hashes(tree[:old]),
        new_root=root_from_leaf_hashes(tree),
        proof=proof,
    )


@PROPERTY_SETTINGS
@given(tree=_unique_leaves, data=st.data())
def test_a_proof_for_the_wrong_index_does_not_verify(
    tree: list[bytes], data: st.DataObject
) -> None:
    """An inclusion proof presented for a different index does not verify."""
    index = data.draw(st.integers(0, len(tree) - 1), label="index")
    other = data.draw(st.integers(-2, len(tree) + 2).filter(lambda i: i != index), label="other")
    proof = inclusion_proof(tree, index)
    root = root_from_leaf_hashes(tree)
    assert not verify_inclusion(
        leaf_hash=tree[index], index=other, tree_size=len(tree), proof=proof, root=root
    )
    if 0 <= other < len(tree):
        # Nor does the leaf at the other index verify with this leaf's proof.
        assert not verify_inclusion(
            leaf_hash=tree[other], index=other, tree_size=len(tree), proof=proof, root=root
        )


@PROPERTY_SETTINGS
@given(tree=_unique_leaves, data=st.data())
def test_an_inclusion_proof_for_the_wrong_size_does_not_verify(
    tree: list[bytes], data: st.DataObject
) -> None:
    """A proof from one tree size does not prove inclusion in a tree of another size.

    RFC 6962 roots do not commit to the tree size, so a proof may still
    reproduce the *original* root under a nearby size with the same path shape;
    what must fail is verification against the root of the other-sized tree,
    and (as in the Trillian test suite) any claim with double or half the size.
    """
    n = data.draw(st.integers(1, len(tree)), label="tree_size")
    index = data.draw(st.integers(0, n - 1), label="index")
    other = data.draw(st.integers(1, len(tree)).filter(lambda s: s != n), label="other")
    proof = inclusion_proof(tree[:n], index)
    assert not verify_inclusion(
        leaf_hash=tree[index],
        index=index,
        tree_size=other,
        proof=proof,
        root=root_from_leaf_hashes(tree[:other]),
    )
    root = root_from_leaf_hashes(tree[:n])
    for wrong in (n * 2, n // 2):
        assert not verify_inclusion(
            leaf_hash=tree[index], index=index, tree_size=wrong, proof=proof, root=root
        )


@PROPERTY_SETTINGS
@given(tree=_unique_leaves, data=st.data())
def test_a_consistency_proof_for_the_wrong_sizes_does_not_verify(
    tree: list[bytes], data: st.DataObject
) -> None:
    """A consistency proof presented with a different old or new size does not verify."""
    new = data.draw(st.integers(2, max(2, len(tree))), label="new_size")
    if new > len(tree):
        return
    old = data.draw(st.integers(1, new - 1), label="old_size")
    proof = consistency_proof(tree[:new], old)
    other_old = data.draw(st.integers(1, new).filter(lambda s: s != old), label="other_old")
    assert not verify_consistency(
        old_size=other_old,
        new_size=new,
        old_root=root_from_leaf_hashes(tree[:other_old]),
        new_root=root_from_leaf_hashes(tree[:new]),
        proof=proof,
    )
    other_new = data.draw(st.integers(old, len(tree)).filter(lambda s: s != new), label="other_new")
    assert not verify_consistency(
        old_size=old,
        new_size=other_new,
        old_root=root_from_leaf_hashes(tree[:old]),
        new_root=root_from_leaf_hashes(tree[:other_new]),
        proof=proof,
    )


def _check_rewrite_detected(original: list[bytes], tampered: list[bytes], first: int) -> None:
    """Assert that proofs cannot bridge ``original`` and ``tampered`` (differing at ``first``).

    * Every old checkpoint of ``original`` covering index ``first`` is
      inconsistent with the tampered tree, whatever proof the tampered log
      generates honestly.
    * The original leaf at ``first`` cannot be proven in the tampered tree with
      the tampered log's proof, nor with the original proof.
    """
    new_size = len(tampered)
    new_root = root_from_leaf_hashes(tampered)
    if len(original) > new_size:
        # A checkpoint of the whole original log cannot be followed by a smaller tree.
        assert not verify_consistency(
            old_size=len(original),
            new_size=new_size,
            old_root=root_from_leaf_hashes(original),
            new_root=new_root,
            proof=consistency_proof(original, new_size),
        )
    for old in range(first + 1, min(len(original), new_size) + 1):
        old_root = root_from_leaf_hashes(original[:old])
        forged = consistency_proof(tampered, old)
        assert not verify_consistency(
            old_size=old, new_size=new_size, old_root=old_root, new_root=new_root, proof=forged
        )
    if first < new_size:
        for proof in (inclusion_proof(tampered, first), inclusion_proof(original, first)):
            assert not verify_inclusion(
                leaf_hash=original[first],
                index=first,
                tree_size=new_size,
                proof=proof,
                root=new_root,
            )


@PROPERTY_SETTINGS
@given(tree=_unique_leaves.filter(lambda t: len(t) >= 2), data=st.data())
def test_swapping_two_leaves_is_detected(tree: list[bytes], data: st.DataObject) -> None:
    """After swapping two leaves, no proof links the old checkpoints to the new tree."""
    i = data.draw(st.integers(0, len(tree) - 2), label="i")
    j = data.draw(st.integers(i + 1, len(tree) - 1), label="j")
    tampered = list(tree)
    tampered[i], tampered[j] = tampered[j], tampered[i]
    _check_rewrite_detected(tree, tampered, i)


@PROPERTY_SETTINGS
@given(tree=_unique_leaves.filter(lambda t: len(t) >= 2), data=st.data())
def test_deleting_a_leaf_is_detected(tree: list[bytes], data: st.DataObject) -> None:
    """After deleting a leaf, no proof links the old checkpoints to the new tree."""
    i = data.draw(st.integers(0, len(tree) - 1), label="deleted")
    tampered = tree[:i] + tree[i + 1 :]
    _check_rewrite_detected(tree, tampered, i)


@PROPERTY_SETTINGS
@given(tree=_unique_leaves, data=st.data())
def test_inserting_a_leaf_is_detected(tree: list[bytes], data: st.DataObject) -> None:
    """After inserting a leaf mid-history, no proof links the old checkpoints to the new tree."""
    i = data.draw(st.integers(0, len(tree) - 1), label="position")
    intruder = leaf_hash(b"intruder-" + bytes(8))
    tampered = [*tree[:i], intruder, *tree[i:]]
    _check_rewrite_detected(tree, tampered, i)


@PROPERTY_SETTINGS
@given(tree=_unique_leaves.filter(lambda t: len(t) >= 2), data=st.data())
def test_reordering_leaves_is_detected(tree: list[bytes], data: st.DataObject) -> None:
    """After any reordering of the leaves, no proof links the old checkpoints to the new tree."""
    tampered = data.draw(st.permutations(tree).filter(lambda p: p != tree), label="reordered")
    first = next(k for k, (a, b) in enumerate(zip(tree, tampered, strict=True)) if a != b)
    _check_rewrite_detected(tree, tampered, first)


@PROPERTY_SETTINGS
@given(tree=_unique_leaves, data=st.data())
def test_a_proof_against_a_tampered_root_fails(tree: list[bytes], data: st.DataObject) -> None:
    """Honest proofs do not verify against a root with any bit flipped."""
    index = data.draw(st.integers(0, len(tree) - 1), label="index")
    old = data.draw(st.integers(1, len(tree)), label="old_size")
    bit = data.draw(st.integers(0, 255), label="bit")
    root = root_from_leaf_hashes(tree)
    old_root = root_from_leaf_hashes(tree[:old])
    assert not verify_inclusion(
        leaf_hash=tree[index],
        index=index,
        tree_size=len(tree),
        proof=inclusion_proof(tree, index),
        root=_flip_bit(root, bit),
    )
    c_proof = consistency_proof(tree, old)
    assert not verify_consistency(
        old_size=old,
        new_size=len(tree),
        old_root=old_root,
        new_root=_flip_bit(root, bit),
        proof=c_proof,
    )
    assert not verify_consistency(
        old_size=old,
        new_size=len(tree),
        old_root=_flip_bit(old_root, bit),
        new_root=root,
        proof=c_proof,
    )


# --- Verifiers never raise --------------------------------------------------

_junk_hash = st.one_of(
    st.binary(min_size=0, max_size=40), st.just(EMPTY_ROOT), st.none(), st.integers()
)
_junk_int = st.one_of(
    st.integers(-(2**70), 2**70), st.booleans(), st.none(), st.floats(allow_nan=True)
)


@PROPERTY_SETTINGS
@given(
    leaf=_junk_hash,
    root=_junk_hash,
    index=_junk_int,
    size=_junk_int,
    proof=st.one_of(st.lists(_junk_hash, max_size=5), st.binary(), st.none()),
)
def test_verify_inclusion_returns_false_rather_than_raising(
    leaf: Any, root: Any, index: Any, size: Any, proof: Any
) -> None:
    """Malformed inclusion-proof input yields a plain bool, never an exception."""
    result = verify_inclusion(leaf_hash=leaf, index=index, tree_size=size, proof=proof, root=root)
    assert isinstance(result, bool)


@PROPERTY_SETTINGS
@given(
    old_root=_junk_hash,
    new_root=_junk_hash,
    old=_junk_int,
    new=_junk_int,
    proof=st.one_of(st.lists(_junk_hash, max_size=5), st.binary(), st.none()),
)
def test_verify_consistency_returns_false_rather_than_raising(
    old_root: Any, new_root: Any, old: Any, new: Any, proof: Any
) -> None:
    """Malformed consistency-proof input yields a plain bool, never an exception."""
    result = verify_consistency(
        old_size=old, new_size=new, old_root=old_root, new_root=new_root, proof=proof
    )
    assert isinstance(result, bool)


# --- Edge cases -------------------------------------------------------------


def test_inclusion_verification_rejects_out_of_range_and_malformed_input() -> None:
    """Empty trees, indices outside the tree, and wrongly sized hashes do not verify."""
    leaf = leaf_hash(b"data")
    assert verify_inclusion(leaf_hash=leaf, index=0, tree_size=1, proof=[], root=leaf)
    for index, size in ((0, 0), (1, 0), (1, 1), (2, 1), (-1, 1)):
        assert not verify_inclusion(
            leaf_hash=leaf, index=index, tree_size=size, proof=[], root=leaf
        )
    assert not verify_inclusion(leaf_hash=b"", index=0, tree_size=1, proof=[], root=leaf)
    assert not verify_inclusion(leaf_hash=leaf, index=0, tree_size=1, proof=[], root=b"")
    assert not verify_inclusion(leaf_hash=leaf[:31], index=0, tree_size=1, proof=[], root=leaf[:31])
    assert not verify_inclusion(leaf_hash=leaf, index=True, tree_size=2, proof=[leaf], root=leaf)


def test_consistency_of_equal_sizes_needs_an_empty_proof_and_equal_roots() -> None:
    """Equal sizes verify iff the proof is empty and the two roots are equal."""
    root = _kat_root(3)
    assert verify_consistency(old_size=3, new_size=3, old_root=root, new_root=root, proof=[])
    assert not verify_consistency(
        old_size=3, new_size=3, old_root=root, new_root=_kat_root(4), proof=[]
    )
    assert not verify_consistency(
        old_size=3, new_size=3, old_root=root, new_root=root, proof=[root]
    )


def test_the_empty_tree_is_consistent_with_any_tree_only_with_an_empty_proof() -> None:
    """Size 0 is consistent with every tree given an empty proof and the empty root."""
    for new in range(9):
        assert verify_consistency(
            old_size=0, new_size=new, old_root=EMPTY_ROOT, new_root=_kat_root(new), proof=[]
        )
        assert not verify_consistency(
            old_size=0,
            new_size=new,
            old_root=EMPTY_ROOT,
            new_root=_kat_root(new),
            proof=[EMPTY_ROOT],
        )
    # Choice documented in merkle.verify_consistency: a size-0 tree's root must be EMPTY_ROOT.
    assert not verify_consistency(
        old_size=0, new_size=0, old_root=_kat_root(1), new_root=_kat_root(1), proof=[]
    )
    assert not verify_consistency(
        old_size=0, new_size=4, old_root=_kat_root(1), new_root=_kat_root(4), proof=[]
    )


def test_consistency_rejects_time_travel_and_empty_proofs() -> None:
    """A shrinking tree, or growth with an empty proof, does not verify."""
    assert not verify_consistency(
        old_size=2, new_size=1, old_root=_kat_root(2), new_root=_kat_root(1), proof=[]
    )
    assert not verify_consistency(
        old_size=1, new_size=2, old_root=_kat_root(1), new_root=_kat_root(2), proof=[]
    )
    assert not verify_consistency(
        old_size=-1, new_size=2, old_root=_kat_root(1), new_root=_kat_root(2), proof=[]
    )


def test_generators_reject_impossible_arguments() -> None:
    """Proof generators raise MerkleError (a ValueError) for out-of-range arguments."""
    hashes = _kat_leaf_hashes()
    for index in (-1, 8, 100):
        with pytest.raises(MerkleError):
            inclusion_proof(hashes, index)
    with pytest.raises(MerkleError):
        inclusion_proof([], 0)
    for old in (-1, 9):
        with pytest.raises(MerkleError):
            consistency_proof(hashes, old)
    with pytest.raises(ValueError, match="old size"):
        consistency_proof(hashes, 9)
    assert consistency_proof(hashes, 0) == []
    assert consistency_proof(hashes, 8) == []
    assert consistency_proof([], 0) == []


def test_shared_cache_gives_identical_proofs_across_a_growing_log() -> None:
    """A subtree cache shared across calls over a growing log changes no proof."""
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(40)]
    shared: dict[tuple[int, int], bytes] = {}
    for n in range(1, len(leaves) + 1):
        tree = leaves[:n]
        for i in range(n):
            assert inclusion_proof(tree, i, cache=shared) == inclusion_proof(tree, i)
        for m in range(n + 1):
            assert consistency_proof(tree, m, cache=shared) == consistency_proof(tree, m)


def test_a_million_leaves_need_no_deep_recursion() -> None:
    """The root of 1,000,000 leaves is computed iteratively and matches a closed form."""
    size = 1_000_000
    leaf = leaf_hash(b"x")
    # Root of 2**k identical leaves, then fold the perfect subtrees of ``size``.
    towers = [leaf]
    for _ in range(size.bit_length()):
        towers.append(node_hash(towers[-1], towers[-1]))
    parts = [towers[k] for k in reversed(range(size.bit_length())) if size >> k & 1]
    expected = parts[-1]
    for part in reversed(parts[:-1]):
        expected = node_hash(part, expected)
    assert root_from_leaf_hashes([leaf] * size) == expected
    assert CompactRange.from_list(size, parts).root() == expected


# --- CompactRange -----------------------------------------------------------


@PROPERTY_SETTINGS
@given(size=st.integers(0, 300), seed=st.binary(max_size=4))
def test_compact_range_root_equals_full_root(size: int, seed: bytes) -> None:
    """Appending leaves one by one gives the same root as hashing the whole list."""
    hashes = [leaf_hash(seed + i.to_bytes(2, "big")) for i in range(size)]
    compact = CompactRange()
    for count, value in enumerate(hashes, start=1):
        compact.append(value)
        assert compact.size == count
    assert compact.root() == root_from_leaf_hashes(hashes)
    assert len(compact.to_list()) == size.bit_count()


@PROPERTY_SETTINGS
@given(total=st.integers(0, 200), data=st.data())
def test_compact_range_survives_persistence(total: int, data: st.DataObject) -> None:
    """A range saved with to_list and restored with from_list extends identically."""
    split = data.draw(st.integers(0, total), label="checkpoint")
    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(total)]
    original = CompactRange()
    original.extend(hashes[:split])
    saved_size, saved = original.size, [value.hex() for value in original.to_list()]

    restored = CompactRange.from_list(saved_size, [bytes.fromhex(value) for value in saved])
    assert restored == original
    assert restored.root() == root_from_leaf_hashes(hashes[:split])
    restored.extend(hashes[split:])
    original.extend(hashes[split:])
    assert restored == original
    assert restored.root() == root_from_leaf_hashes(hashes)


def test_compact_range_rejects_invalid_state() -> None:
    """Wrong hash counts, negative sizes and malformed hashes raise MerkleError."""
    good = leaf_hash(b"")
    with pytest.raises(MerkleError):
        CompactRange.from_list(3, [good])
    with pytest.raises(MerkleError):
        CompactRange.from_list(0, [good])
    with pytest.raises(MerkleError):
        CompactRange.from_list(-1, [])
    with pytest.raises(MerkleError):
        CompactRange.from_list(1, [b"short"])
    with pytest.raises(MerkleError):
        CompactRange().append(b"short")


def test_compact_range_copies_are_independent() -> None:
    """Changing a copy, or the list from to_list, does not change the original range."""
    compact = CompactRange()
    compact.extend(_kat_leaf_hashes()[:5])
    clone = compact.copy()
    clone.append(leaf_hash(b"more"))
    compact.to_list().clear()
    assert compact.size == 5
    assert compact.root() == _kat_root(5)
    assert clone.size == 6
    assert compact != clone
