"""Traces: every field is what the layer computed, with the documented unbatched shapes."""

import dataclasses

import keras
import numpy as np
import pytest

from attention_core import (
    BahdanauAttention,
    RNNWithAttention,
    SelfAttention,
    dense_network,
    trace_bahdanau,
    trace_dense_network,
    trace_dot_product,
    trace_rnn_with_attention,
    trace_self_attention,
)
from attention_core.mechanisms import reference
from attention_core.mechanisms.export import trace_tensors
from attention_core.mechanisms.layers import seeded

ATOL = 1e-5


def rng_array(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def as_numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_trace_fields_are_the_layer_outputs(causal):
    layer = SelfAttention(6, num_heads=2, seed=0)
    x = rng_array(0, 5, 4)
    trace = trace_self_attention(layer, x, use_causal_mask=causal)
    output, weights = layer(x[None], use_causal_mask=causal, return_attention_scores=True)
    np.testing.assert_array_equal(trace.output, as_numpy(output)[0])
    np.testing.assert_array_equal(trace.weights, as_numpy(weights)[0])
    np.testing.assert_array_equal(trace.query, as_numpy(layer.query_dense(x[None]))[0])
    np.testing.assert_array_equal(trace.inputs, x)
    shapes = {name: np.shape(value) for name, value in trace_tensors(trace).items() if name != "scale"}
    assert shapes == {
        "inputs": (5, 4),
        "query": (5, 6),
        "key": (5, 6),
        "value": (5, 6),
        "raw_scores": (2, 5, 5),
        "scaled_scores": (2, 5, 5),
        "attention_mask": (5, 5),
        "weights": (2, 5, 5),
        "context": (2, 5, 3),
        "output": (5, 6),
        **{f"{p}_dense.kernel": (4, 6) for p in ("query", "key", "value")},
        **{f"{p}_dense.bias": (6,) for p in ("query", "key", "value")},
    }
    assert (trace.num_heads, trace.head_size) == (2, 3)
    np.testing.assert_array_equal(trace.attention_mask, reference.causal_mask(5) if causal else True)


@pytest.mark.parametrize("causal", [False, True])
def test_a_traces_query_head_width_and_whether_it_masks(causal):
    trace = trace_self_attention(SelfAttention(6, num_heads=2, seed=0), rng_array(0, 5, 4), use_causal_mask=causal)
    assert trace.query_head_size == trace.head_columns(trace.query, 0).shape[1] == 3
    assert trace.is_masked == bool(np.any(~trace.attention_mask)) == causal


def test_self_attention_trace_steps_chain_together():
    layer = SelfAttention(4, num_heads=2, use_scale=True, seed=1)
    trace = trace_self_attention(layer, rng_array(1, 3, 2))
    assert trace.scale == pytest.approx(1 / np.sqrt(2))
    for head in range(2):
        q, k, v = (trace.head_columns(t, head) for t in (trace.query, trace.key, trace.value))
        np.testing.assert_allclose(trace.raw_scores[head], q @ k.T, atol=ATOL)
        np.testing.assert_allclose(trace.scaled_scores[head], trace.raw_scores[head] * trace.scale, atol=ATOL)
        np.testing.assert_allclose(trace.weights[head], reference.softmax(trace.scaled_scores[head]), atol=ATOL)
        np.testing.assert_allclose(trace.context[head], trace.weights[head] @ v, atol=ATOL)
        np.testing.assert_allclose(trace.head_columns(trace.output, head), trace.context[head], atol=ATOL)


def test_self_attention_trace_holds_the_weights_it_computed_with():
    x = rng_array(2, 4, 3)
    built = SelfAttention(6, num_heads=3)
    built.build((1, None, 3))
    with seeded(built, 7):
        trace = trace_self_attention(built, x)
    made = SelfAttention(6, num_heads=3, seed=7)
    expected = trace_self_attention(made, x)
    for name in ("query_dense", "key_dense", "value_dense"):
        ours, theirs = getattr(trace, name), getattr(made, name)
        np.testing.assert_array_equal(ours.kernel, as_numpy(theirs.kernel))
        np.testing.assert_array_equal(ours.bias, as_numpy(theirs.bias))
    # The seed's weights, not the built layer's own: its variables were left as they were.
    assert not np.array_equal(trace.query_dense.kernel, as_numpy(built.query_dense.kernel))
    for name, weights in (("query", trace.query_dense), ("key", trace.key_dense), ("value", trace.value_dense)):
        np.testing.assert_allclose(getattr(trace, name), x @ weights.kernel + weights.bias, atol=ATOL)
        np.testing.assert_array_equal(getattr(trace, name), getattr(expected, name))


def test_self_attention_trace_with_padding_mask():
    trace = trace_self_attention(SelfAttention(4, seed=0), rng_array(0, 4, 3), mask=[True, True, True, False])
    assert not trace.attention_mask[3].any() and not trace.attention_mask[:, 3].any()
    assert (trace.weights[0, :, 3] == 0).all()


def test_traces_are_frozen_and_read_only():
    trace = trace_self_attention(SelfAttention(4, seed=0), rng_array(0, 3, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        trace.weights = None
    with pytest.raises(ValueError, match="read-only"):
        trace.weights[0, 0, 0] = 1.0


def test_trace_builds_an_unbuilt_layer():
    layer = BahdanauAttention(3, seed=0)
    assert not layer.built
    trace = trace_bahdanau(layer, rng_array(0, 4, 2), rng_array(1, 5))
    assert layer.built and trace.weights.shape == (4, 1)


def test_bahdanau_trace_fields_are_the_layer_outputs():
    layer = BahdanauAttention(3, seed=2)
    features, hidden, mask = rng_array(0, 4, 2), rng_array(1, 5), [True, False, True, True]
    trace = trace_bahdanau(layer, features, hidden, mask=mask)
    context, weights = layer(features[None], hidden[None], mask=np.array([mask]))
    np.testing.assert_array_equal(trace.context, as_numpy(context)[0])
    np.testing.assert_array_equal(trace.weights, as_numpy(weights)[0])
    assert trace.weights[1, 0] == 0.0
    assert trace.hidden_with_time_axis.shape == (1, 5)
    assert trace.hidden_projection.shape == (1, 3)
    np.testing.assert_allclose(trace.score, np.tanh(trace.features_projection + trace.hidden_projection), atol=ATOL)
    np.testing.assert_allclose(trace.weighted_features, trace.weights * trace.features, atol=ATOL)
    np.testing.assert_allclose(trace.context, trace.weighted_features.sum(axis=0), atol=ATOL)
    W1, b1, W2, b2, V, bv = (as_numpy(w) for w in layer.weights)
    for ours, theirs in ((trace.W1, (W1, b1)), (trace.W2, (W2, b2)), (trace.V, (V, bv))):
        np.testing.assert_array_equal(ours.kernel, theirs[0])
        np.testing.assert_array_equal(ours.bias, theirs[1])


def test_rnn_trace_matches_the_model_and_numpy():
    model = RNNWithAttention(6, seed=3)
    inputs = rng_array(0, 7, 4)
    trace = trace_rnn_with_attention(model, inputs)
    context, weights = model(inputs[None])
    np.testing.assert_array_equal(trace.attention.context, as_numpy(context)[0])
    np.testing.assert_array_equal(trace.attention.weights, as_numpy(weights)[0])
    kernel, recurrent_kernel, bias = (as_numpy(w).astype(np.float64) for w in model.rnn.weights)
    states = reference.simple_rnn(inputs.astype(np.float64), kernel, recurrent_kernel, bias)
    np.testing.assert_allclose(trace.rnn_output, states, atol=ATOL)
    np.testing.assert_array_equal(trace.hidden_state, trace.rnn_output[-1])
    np.testing.assert_array_equal(trace.attention.features, trace.rnn_output)
    for ours, theirs in zip((trace.rnn.kernel, trace.rnn.recurrent_kernel, trace.rnn.bias), model.rnn.weights):
        np.testing.assert_array_equal(ours, as_numpy(theirs))
    np.testing.assert_array_equal(trace.attention.W1.kernel, as_numpy(model.attention.W1.kernel))


def test_dense_trace_matches_the_model():
    model = dense_network(4, [3, 2], activation="relu", seed=0)
    x = np.array([1.0, -2.0, 0.5, 3.0])
    trace = trace_dense_network(model, x)
    assert [layer.kernel.shape for layer in trace.layers] == [(4, 3), (3, 2)]
    assert trace.param_count == 23 == model.count_params()
    assert [layer.activation for layer in trace.layers] == ["relu", "relu"]
    np.testing.assert_allclose(trace.layers[-1].output, as_numpy(model(x[None].astype("float32")))[0], atol=ATOL)
    previous = x
    for layer in trace.layers:
        np.testing.assert_allclose(layer.pre_activation, previous @ layer.kernel + layer.bias, atol=ATOL)
        np.testing.assert_allclose(layer.output, np.maximum(layer.pre_activation, 0), atol=ATOL)
        previous = layer.output


def test_dot_product_trace_is_the_seeds_example():
    trace = trace_dot_product([1, 2, 3], [4, 5, 6])
    np.testing.assert_array_equal(trace.products, [4, 10, 18])
    assert trace.total == 32


def test_dot_product_of_unequal_vectors_is_refused():
    with pytest.raises(ValueError, match="equal length"):
        trace_dot_product([1, 2, 3], [4, 5])


@pytest.mark.parametrize(
    "call",
    [
        lambda: trace_self_attention(SelfAttention(4), rng_array(0, 1, 3, 2)),
        lambda: trace_bahdanau(BahdanauAttention(4), rng_array(0, 3, 2), rng_array(1, 1, 5)),
        lambda: trace_rnn_with_attention(RNNWithAttention(4), rng_array(0, 3)),
    ],
)
def test_traces_take_one_unbatched_sequence(call):
    with pytest.raises(ValueError, match="Expected `.*` with . axes"):
        call()


@pytest.mark.parametrize("add_positions", [True, False])
def test_text_trace_holds_the_parts_of_what_encode_text_gives_the_layer(add_positions):
    from attention_core import embed_tokens, encode_text, positional_encoding
    from attention_core.mechanisms.traces import trace_text

    text = trace_text("the cat saw the cat", 6, seed=3, add_positions=add_positions)
    tokens, x = encode_text("the cat saw the cat", 6, seed=3, add_positions=add_positions)
    assert text.tokens == tuple(tokens) == ("the", "cat", "saw", "the", "cat")
    np.testing.assert_array_equal(text.token_vectors, embed_tokens(tokens, 6, 3))
    np.testing.assert_array_equal(text.positional_encoding, positional_encoding(5, 6))  # kept even when off
    np.testing.assert_array_equal(text.inputs, x)
    assert text.inputs.dtype == np.float32 and not text.token_vectors.flags.writeable


def test_a_layer_trace_has_no_second_sequence_nor_output_projection():
    """The fields a model's MultiHeadAttention fills (model_attention.trace_attention_call) stay
    None for SelfAttention, which reads one sequence and has no output projection."""
    trace = trace_self_attention(SelfAttention(4, num_heads=2, seed=0), rng_array(3, 3, 2))
    assert (trace.key_inputs, trace.output_dense, trace.projected_output) == (None, None, None)
