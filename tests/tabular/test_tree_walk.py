"""The cascade's tree walk (``_Tree.apply``) finds the same leaves as a plain node-by-node walk."""

from __future__ import annotations

import numpy as np
import pytest

from synthera.tabular.cascade import _Tree


def _reference_apply(tree: _Tree, columns: np.ndarray) -> np.ndarray:
    """The straightforward walk: every row still at an inner node takes one step per round."""
    width, n = columns.shape
    node = np.zeros(n, dtype=np.int64)
    active = np.arange(n)
    while active.size:
        current = node[active]
        feat = tree.feature[current]
        inner = feat >= 0
        active, current, feat = active[inner], current[inner], feat[inner]
        values = columns[feat, active]
        node[active] = np.where(values <= tree.threshold[current], tree.left[current], tree.right[current])
    return node


def _random_tree(rng: np.random.Generator, n_nodes: int, width: int, n_codes: int) -> _Tree:
    """A random binary tree whose children come after their parents, with integer-and-a-half thresholds."""
    left, right, feature, threshold = [-1], [-1], [-1], [-2.0]
    open_leaves = [0]
    while len(left) + 2 <= n_nodes and open_leaves:
        parent = open_leaves.pop(int(rng.integers(len(open_leaves))))
        feature[parent] = int(rng.integers(width))
        threshold[parent] = float(rng.integers(n_codes)) + 0.5
        for side in (left, right):
            side[parent] = len(left)
            left.append(-1)
            right.append(-1)
            feature.append(-1)
            threshold.append(-2.0)
            open_leaves.append(len(left) - 1)
    probs = rng.dirichlet(np.ones(n_codes), size=len(left))
    return _Tree(left, right, feature, threshold, probs)


@pytest.mark.parametrize("seed", range(12))
def test_apply_matches_the_plain_walk_on_random_trees(seed):
    rng = np.random.default_rng(seed)
    width, n_codes = int(rng.integers(1, 6)), int(rng.integers(2, 9))
    tree = _random_tree(rng, int(rng.choice([1, 3, 15, 101, 801])), width, n_codes)
    for n in (0, 1, 7, 1000):
        columns = rng.integers(0, n_codes, size=(width, n)).astype(np.float32)
        got = tree.apply(columns)
        assert got.shape == (n,)
        np.testing.assert_array_equal(got, _reference_apply(tree, columns))
        assert np.all(tree.feature[got] < 0)  # every row ends at a leaf


def test_apply_matches_on_a_lopsided_deep_tree():
    # a chain: most rows stop near the root, a few walk 200 levels (the compacted part of the walk)
    n_nodes = 401
    left = [-1] * n_nodes
    right = [-1] * n_nodes
    feature = [-1] * n_nodes
    threshold = [-2.0] * n_nodes
    for depth, i in enumerate(range(0, n_nodes - 1, 2)):
        left[i], right[i], feature[i], threshold[i] = i + 1, i + 2, 0, float(depth) + 0.5
    tree = _Tree(left, right, feature, threshold, np.full((n_nodes, 2), 0.5))
    columns = np.random.default_rng(0).integers(0, 220, size=(1, 5000)).astype(np.float32)
    np.testing.assert_array_equal(tree.apply(columns), _reference_apply(tree, columns))


def test_apply_sends_nan_right_like_the_plain_walk():
    tree = _Tree([1, -1, -1], [2, -1, -1], [0, -1, -1], [0.5, -2.0, -2.0], np.full((3, 2), 0.5))
    columns = np.array([[0.0, 1.0, np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(tree.apply(columns), [1, 2, 2])
    np.testing.assert_array_equal(tree.apply(columns), _reference_apply(tree, columns))


def test_apply_matches_on_the_trees_of_a_fitted_cascade():
    import pandas as pd

    from synthera.tabular.cascade import CascadeSynthesizer, tree_members

    rng = np.random.default_rng(1)
    n = 400
    a = rng.integers(0, 4, n)
    frame = pd.DataFrame({"a": a.astype(str), "b": rng.normal(size=n) + a, "c": rng.integers(0, 3, n).astype(str)})
    model = CascadeSynthesizer(min_samples_leaf=10).fit(frame)
    columns = np.stack([rng.integers(0, int(k), 3000) for k in model.n_codes_]).astype(np.float32)
    for tree in (member for column in model.trees_ for member in tree_members(column)):
        np.testing.assert_array_equal(tree.apply(columns), _reference_apply(tree, columns))
