"""The arithmetic written out for learners: each step agrees with the layer's number."""

import numpy as np
import pytest

from attention_core import SelfAttention, positional_encoding, trace_self_attention
from attention_core.mechanisms import reference
from attention_core.text import explain


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


def test_sum_of_products_texts_write_out_a_dense_projection_with_its_bias():
    x = np.array([[1.0, 2.0], [0.5, -1.0]])
    kernel = np.array([[3.0, 0.0], [1.0, -2.0]])
    bias = np.array([0.25, -1.0])
    result = x @ kernel + bias
    texts = explain.sum_of_products_texts(x, kernel, result, lambda t, u: f"x{t + 1} · W[:, u{u + 1}] + b[u{u + 1}]",
                                          bias=bias)
    assert texts[0, 0] == "x1 · W[:, u1] + b[u1] = 1×3 + 2×1 + 0.25 = 5.25"
    assert texts[1, 1] == "x2 · W[:, u2] + b[u2] = 0.5×0 + (-1)×(-2) + (-1) = 1"
    # The result is the one given (the layer's), never recomputed here.
    assert explain.sum_of_products_texts(x, kernel, result + 1, lambda t, u: "y")[0, 0].endswith("= 6.25")


def test_hover_texts_stop_above_the_cell_limit():
    side = int(np.sqrt(explain.HOVER_ARITHMETIC_CELLS))
    small, big = np.ones((side, side)), np.ones((side + 1, side))
    assert explain.softmax_hover_texts(small, small).shape == (side, side)
    assert explain.softmax_hover_texts(big, big) is None
    assert explain.sum_of_products_texts(big, np.ones((side, side)), big, lambda r, c: "") is None
    assert explain.tanh_of_sum_texts(big, big[:1], big) is None and explain.elementwise_texts(big, big, big, "×") is None
    assert explain.score_hover_texts(big, big, np.ones((side + 1,) * 2), 0.5, np.ones((side + 1,) * 2)) is None


def test_softmax_hover_texts_by_hand():
    scores = np.array([[0.0, np.log(3.0)], [5.0, 1.0]])
    weights = np.array([[0.25, 0.75], [0.0, 1.0]])
    texts = explain.softmax_hover_texts(scores, weights, allowed=np.array([[True, True], [False, True]]))
    # Row 1: m = ln 3 = 1.0986, exponentials 1/3 and 1, Σ = 4/3.
    assert texts[0, 0] == "weight = exp(s − max) / Σ = exp(0 − 1.099) / 1.333 = 0.3333 / 1.333 = 0.25"
    assert texts[0, 1] == "weight = exp(s − max) / Σ = exp(1.099 − 1.099) / 1.333 = 1 / 1.333 = 0.75"
    assert texts[1, 0].startswith("masked") and texts[1, 1].endswith("exp(1 − 1) / 1 = 1 / 1 = 1")


def test_softmax_hover_texts_agree_with_the_layers_weights():
    x = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    trace = trace_self_attention(SelfAttention(4, num_heads=1, seed=2), x, use_causal_mask=True)
    texts = explain.softmax_hover_texts(trace.scaled_scores[0], trace.weights[0], trace.attention_mask)
    for (i, j), text in np.ndenumerate(texts):
        if not trace.attention_mask[i, j]:
            assert text.startswith("masked")
            continue
        exponential, total, weight = (float(n) for n in text.split(" = ")[-2].split(" / ") + [text.split(" = ")[-1]])
        assert exponential / total == pytest.approx(trace.weights[0, i, j], rel=1e-3, abs=1e-4)
        assert weight == pytest.approx(trace.weights[0, i, j], rel=1e-3)


def test_tanh_elementwise_and_mean_texts_by_hand():
    first, second = np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([[0.25, 1.0]])
    texts = explain.tanh_of_sum_texts(first, second, np.tanh(first + second), names=("W1", "W2"))
    assert texts[1, 0] == f"tanh(W1 + W2) = tanh(2 + 0.25) = {explain.number(np.tanh(2.25))}"
    assert texts[0, 1] == "tanh(W1 + W2) = tanh(-1 + 1) = 0"
    assert explain.elementwise_texts(np.array([[0.5], [0.25]]), first, np.array([[0.25, -0.5], [0.5, 0]]), "×")[0, 1] \
        == "0.5 × (-1) = -0.5"
    heads = np.array([[[0.2, 0.8]], [[0.6, 0.4]]])
    assert explain.mean_texts(heads, heads.mean(axis=0))[0, 0] == "mean of 2 heads = (0.2 + 0.6) / 2 = 0.4"


def test_context_and_positional_encoding_texts_by_hand():
    weights = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.25, 0.75], [0.0, 1.0]]])  # 2 heads, 2 tokens
    value = np.array([[1.0, 2.0], [3.0, 4.0]])  # head 1: column u1, head 2: column u2
    output = np.stack([weights[0] @ value[:, 0], weights[1] @ value[:, 1]], axis=1)
    texts = explain.context_hover_texts(weights, value, output)
    assert texts[1, 0] == "head 1: Σ weight × v[u1] = 0.5×1 + 0.5×3 = 2"
    assert texts[0, 1] == "head 2: Σ weight × v[u2] = 0.25×2 + 0.75×4 = 3.5"
    encoding = positional_encoding(3, 4)
    texts = explain.positional_encoding_texts(encoding)
    assert texts[0, 1] == "cos(0 / 10000^(0/4)) = 1"
    assert texts[2, 2] == f"sin(2 / 10000^(2/4)) = {explain.number(np.sin(2 / 100))}"
    assert texts[2, 3] == f"cos(2 / 10000^(2/4)) = {explain.number(np.cos(2 / 100))}"


def test_weighted_sums_text_writes_out_every_unit_in_full():
    kernel = np.array([[0.5, -1.0], [2.0, 0.0], [1.0, 3.0], [0.25, 1.0]])
    assert explain.weighted_sums_text([1.0, 2.0, 3.0, 4.0], kernel, [0.0, -2.0]) == [
        "1×0.5 + 2×2 + 3×1 + 4×0.25 + 0", "1×(-1) + 2×0 + 3×3 + 4×1 + (-2)"]


def test_simple_rnn_texts_by_hand():
    inputs = np.array([[1.0], [2.0]])
    kernel, recurrent, bias = np.array([[0.5, -1.0]]), np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([0.0, 0.25])
    first = np.tanh(inputs[0] @ kernel + bias)
    states = np.stack([first, np.tanh(inputs[1] @ kernel + first @ recurrent + bias)])
    texts = explain.simple_rnn_texts(inputs, states, kernel, recurrent, bias)
    # h0 = 0: the first step's recurrent terms are zeros.
    assert texts[0, 1] == f"h1[u2] = tanh(x1 · W[:, u2] + h0 · R[:, u2] + b[u2]) = tanh(1×(-1) + 0×0 + 0×2 + 0.25) = {explain.number(states[0, 1])}"
    h = [explain.factor(value) for value in first]
    assert texts[1, 0] == (f"h2[u1] = tanh(x2 · W[:, u1] + h1 · R[:, u1] + b[u1]) = "
                           f"tanh(2×0.5 + {h[0]}×1 + {h[1]}×0 + 0) = {explain.number(states[1, 0])}")
