"""The mechanism comparison: four mechanisms on the same tokens, each verified."""

import keras
import numpy as np
import pytest

from attention_core import (
    COMPARED_MECHANISMS,
    BahdanauAttention,
    InputError,
    SelfAttention,
    compare_mechanism,
    compare_mechanisms,
    encode_text,
    largest_change,
    trained_mask_text,
    weights_difference,
)
from attention_core.mechanisms import comparison, reference

TOKENS, X = encode_text("the cat sat on the mat", 16, seed=0)


@pytest.mark.parametrize("causal", [False, True])
def test_every_mechanism_is_verified_and_normalized(causal):
    results = compare_mechanisms(X, units=8, num_heads=2, seed=0, use_causal_mask=causal)
    assert [r.name for r in results] == list(COMPARED_MECHANISMS)
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


def test_each_seed_gives_the_layers_made_with_it_and_the_shared_layers_never_change():
    # The mechanisms run on built layers shared by every seed; a seed's maps are those of layers made with it.
    first = compare_mechanisms(X, units=8, num_heads=2, seed=3)
    shared = [comparison._shared_layer(name, 8, 2 if name == "multi-head" else 1, X.shape[1]) for name in COMPARED_MECHANISMS]
    shared.append(comparison._shared_layer("oracle", 8, 2, X.shape[1]))
    before = [keras.ops.convert_to_numpy(v).copy() for layer in shared for v in layer.weights]
    compare_mechanisms(X, units=8, num_heads=2, seed=4, use_causal_mask=True)
    again = compare_mechanisms(X, units=8, num_heads=2, seed=3)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.head_weights, b.head_weights)
    for a, b in zip(before, [keras.ops.convert_to_numpy(v) for layer in shared for v in layer.weights]):
        np.testing.assert_array_equal(a, b)
    x = X[None].astype("float32")
    for result, heads, scale in zip(first[:3], (1, 1, 2), (False, True, True)):
        _, made = SelfAttention(8, num_heads=heads, use_scale=scale, seed=3)(x, return_attention_scores=True)
        np.testing.assert_allclose(result.head_weights, keras.ops.convert_to_numpy(made)[0], atol=1e-6)
    _, made = BahdanauAttention(8, seed=3)(np.repeat(x, len(TOKENS), axis=0), x[0])
    np.testing.assert_allclose(first[3].weights, keras.ops.convert_to_numpy(made)[..., 0], atol=1e-6)


def test_the_mechanisms_really_differ():
    results = compare_mechanisms(X, units=8, num_heads=2, seed=0)
    for first in COMPARED_MECHANISMS:
        for second in COMPARED_MECHANISMS:
            difference = weights_difference(results, first, second)
            assert (np.abs(difference).max() == 0) == (first == second)


def test_the_largest_change_is_the_largest_absolute_difference():
    assert largest_change(np.array([[0.1, -0.3], [0.2, 0.0]], np.float32)) == pytest.approx(0.3)
    difference = weights_difference(compare_mechanisms(X, units=8, num_heads=2, seed=0), "dot-product", "additive")
    assert largest_change(difference) == np.abs(difference).max()


def test_scaling_flattens_the_distribution():
    dot, scaled = compare_mechanisms(X, units=8, num_heads=1, seed=3)[:2]
    assert dot.weights.max(axis=1).mean() > scaled.weights.max(axis=1).mean()
    np.testing.assert_allclose(scaled.head_scores, dot.head_scores / np.sqrt(8), atol=1e-5)  # same Q and K, one head of 8


def test_a_corrupted_result_is_not_verified():
    result = compare_mechanisms(X, units=4, num_heads=1, seed=0)[0]
    broken = type(result)(**{**result.__dict__, "oracle_max_diff": 1e-3})
    assert not broken.verified


def test_a_mask_of_padded_keys_only_is_given_to_every_mechanism():
    """A model's own padding mask may hide padded keys only, every row alike (the app's Transformer's
    PaddingMask): padded keys weigh 0 and every query, a padded one too, keeps a row summing to 1."""
    real = np.array([True, True, True, True, False, False])
    for causal in (False, True):
        allowed = real[None, :] & (reference.causal_mask(6) if causal else np.ones((6, 6), bool))
        padding_mask, use_causal_mask, masks_queries = comparison._padding_and_causal(allowed)
        assert padding_mask.tolist() == real.tolist() and use_causal_mask == causal and not masks_queries
        assert "every query keeps its row" in trained_mask_text(allowed)
        for name in COMPARED_MECHANISMS:
            result = compare_mechanism(name, X, 8, 2, 0, causal, real, masks_queries=False)
            assert result.verified, (result.name, result.layer_max_diff, result.oracle_max_diff)
            np.testing.assert_array_equal(result.weights[~allowed], 0.0)
            np.testing.assert_allclose(result.weights.sum(axis=1), 1.0, atol=1e-5)


def test_a_mask_of_another_form_is_refused_with_why():
    with pytest.raises(InputError, match="neither a padding mask nor a causal one"):
        trained_mask_text(np.eye(6, dtype=bool)[::-1])
