"""The arithmetic written out for learners: each step agrees with the layer's number."""

import numpy as np
import pytest

from attention_core import SelfAttention, explain, reference, trace_self_attention


def test_products_text_writes_the_seeds_example_and_cuts_long_sums():
    assert explain.products_text([1, 2, 3], [4, 5, 6]) == "1×4 + 2×5 + 3×6"
    assert explain.products_text([1, -2, 3, 4], [0.5, 5, 6, 7], limit=2) == "1×0.5 + (-2)×5 + … (+2 more)"
    assert explain.weighted_sum_text([1, 2], [0.25, -1], -0.5) == "1×0.25 + 2×(-1) + (-0.5)"


def test_plural():
    assert [explain.plural(n, "token") for n in (0, 1, 2)] == ["0 tokens", "1 token", "2 tokens"]
    assert explain.plural(2, "matrix", "matrices") == "2 matrices"


def test_softmax_steps_by_hand():
    steps = explain.softmax_steps([1.0, 2.0, 3.0])
    assert steps.peak == 3.0
    np.testing.assert_allclose(steps.shifted, [-2, -1, 0])
    np.testing.assert_allclose(steps.exponentials, np.exp([-2, -1, 0]))
    assert steps.total == pytest.approx(np.exp(-2) + np.exp(-1) + 1)
    np.testing.assert_allclose(steps.weights, np.exp([-2, -1, 0]) / steps.total)


def test_softmax_steps_with_a_mask_give_masked_keys_zero():
    steps = explain.softmax_steps([5.0, 1.0, 2.0], allowed=[False, True, True])
    assert steps.peak == 2.0  # the masked 5 is never the maximum
    assert steps.exponentials[0] == 0 and steps.weights[0] == 0 and np.isnan(steps.shifted[0])
    np.testing.assert_allclose(steps.weights[1:].sum(), 1.0)
    assert not explain.softmax_steps([1.0, 2.0], allowed=[False, False]).weights.any()


@pytest.mark.parametrize("causal", [False, True])
def test_softmax_steps_agree_with_the_layers_weights(causal):
    x = np.random.default_rng(0).standard_normal((6, 4)).astype("float32")
    trace = trace_self_attention(SelfAttention(8, num_heads=2, seed=3), x, use_causal_mask=causal)
    for head in range(2):
        for token in range(6):
            steps = explain.softmax_steps(trace.scaled_scores[head, token], trace.attention_mask[token])
            np.testing.assert_allclose(steps.weights, trace.weights[head, token], atol=1e-6)
            np.testing.assert_allclose(
                steps.weights, reference.softmax(trace.scaled_scores[head, token], mask=trace.attention_mask[token]), atol=1e-12
            )


def test_score_hover_texts_write_out_each_cell():
    query = np.array([[1.0, 2.0], [0.5, -1.0]])
    key = np.array([[3.0, 4.0], [-2.0, 0.25]])
    raw = query @ key.T
    texts = explain.score_hover_texts(query, key, raw, 0.5, raw * 0.5)
    assert texts.shape == (2, 2)
    assert texts[0, 0] == "q1 · k1 = 1×3 + 2×4 = 11 × 0.5 = 5.5"
    assert texts[1, 0] == "q2 · k1 = 0.5×3 + (-1)×4 = -2.5 × 0.5 = -1.25"
    assert explain.score_hover_texts(query, key, raw, 1.0, raw)[0, 1] == "q1 · k2 = 1×(-2) + 2×0.25 = -1.5"
    long = explain.score_hover_texts(np.ones((1, 8)), np.ones((1, 8)), np.full((1, 1), 8.0), 1.0, np.full((1, 1), 8.0))
    assert long[0, 0] == "q1 · k1 = 1×1 + 1×1 + 1×1 + … (+5 more) = 8"
