"""The mechanism comparison: four mechanisms on the same tokens, each verified."""

import numpy as np
import pytest

from attention_core import MECHANISMS, compare_mechanisms, encode_text, reference, weights_difference

TOKENS, X = encode_text("the cat sat on the mat", 16, seed=0)


@pytest.mark.parametrize("causal", [False, True])
def test_every_mechanism_is_verified_and_normalized(causal):
    results = compare_mechanisms(X, units=8, num_heads=2, seed=0, use_causal_mask=causal)
    assert [r.name for r in results] == list(MECHANISMS)
    for result in results:
        assert result.weights.shape == (6, 6)
        assert result.verified, (result.name, result.layer_max_diff, result.oracle_max_diff)
        np.testing.assert_allclose(result.weights.sum(axis=1), 1.0, atol=1e-5)
        if causal:
            assert (result.weights[~reference.causal_mask(6)] == 0).all()
        # The scores kept for the hover are the ones each head's softmax read.
        allowed = reference.causal_mask(6) if causal else None
        np.testing.assert_allclose(reference.softmax(result.head_scores, mask=allowed), result.head_weights, atol=1e-6)
    assert results[2].head_weights.shape == (2, 6, 6)
    np.testing.assert_allclose(results[2].weights, results[2].head_weights.mean(axis=0))


def test_the_mechanisms_really_differ():
    results = compare_mechanisms(X, units=8, num_heads=2, seed=0)
    for first in MECHANISMS:
        for second in MECHANISMS:
            difference = weights_difference(results, first, second)
            assert (np.abs(difference).max() == 0) == (first == second)


def test_scaling_flattens_the_distribution():
    dot, scaled = compare_mechanisms(X, units=8, num_heads=1, seed=3)[:2]
    assert dot.weights.max(axis=1).mean() > scaled.weights.max(axis=1).mean()
    np.testing.assert_allclose(scaled.head_scores, dot.head_scores / np.sqrt(8), atol=1e-5)  # same Q and K, one head of 8


def test_a_corrupted_result_is_not_verified():
    result = compare_mechanisms(X, units=4, num_heads=1, seed=0)[0]
    broken = type(result)(**{**result.__dict__, "oracle_max_diff": 1e-3})
    assert not broken.verified
