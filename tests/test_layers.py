"""The layers: contract, hand-worked numbers, and agreement with NumPy and Keras's own layers."""

import math
import threading

import keras
import numpy as np
import pytest

from attention_core import (
    BahdanauAttention,
    RNNWithAttention,
    SelfAttention,
    dense_network,
    seeded,
)
from attention_core.mechanisms import reference
from attention_core.mechanisms.comparison import multi_head_attention_like

ATOL = 1e-5


def rng_array(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def as_numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def set_dense(dense, kernel, bias=None):
    dense.kernel.assign(np.asarray(kernel, dtype="float32"))
    dense.bias.assign(np.zeros(dense.bias.shape) if bias is None else np.asarray(bias, "float32"))


def dense_weights(dense):
    return as_numpy(dense.kernel).astype(np.float64), as_numpy(dense.bias).astype(np.float64)


def randomize_biases(layer, seed):
    """Keras starts biases at zero; random ones make the agreement tests cover them too."""
    for i, variable in enumerate(v for v in layer.weights if v.path.endswith("bias")):
        variable.assign(rng_array(seed + i, *variable.shape))


# --- The seed's own examples --------------------------------------------------------------


def test_seed_dot_product_is_32():
    assert reference.dot_product([1, 2, 3], [4, 5, 6]) == 32


def test_seed_rnn_with_attention_shapes():
    model = RNNWithAttention(units=32)
    context_vector, attention_weights = model(rng_array(0, 1, 5, 4))
    assert tuple(context_vector.shape) == (1, 32)
    assert tuple(attention_weights.shape) == (1, 5, 1)


@pytest.mark.parametrize(
    "input_dim, layer_units, params",
    [(4, [3, 2], 23), (3, [4, 2], 26)],  # 4*3+3 + 3*2+2 and 3*4+4 + 4*2+2
)
def test_seed_dense_networks_parameter_counts(input_dim, layer_units, params):
    assert dense_network(input_dim, layer_units).count_params() == params


def test_seed_attention_attribute_names():
    layer = BahdanauAttention(4)
    assert [type(d) for d in (layer.W1, layer.W2, layer.V)] == [keras.layers.Dense] * 3
    assert (layer.W1.units, layer.W2.units, layer.V.units) == (4, 4, 1)


# --- Contract ------------------------------------------------------------------------------


@pytest.mark.parametrize("num_heads", [1, 2, 4])
def test_self_attention_shapes_and_weight_count(num_heads):
    layer = SelfAttention(8, num_heads=num_heads)
    output, scores = layer(rng_array(0, 2, 5, 3), return_attention_scores=True)
    assert tuple(output.shape) == (2, 5, 8)
    assert tuple(scores.shape) == (2, num_heads, 5, 5)
    assert len(layer.weights) == 6  # kernel and bias of query, key, value
    assert layer.count_params() == 3 * (3 * 8 + 8)


def test_bahdanau_shapes_and_weight_count():
    layer = BahdanauAttention(6)
    context, weights = layer(rng_array(0, 2, 5, 3), rng_array(1, 2, 7))
    assert tuple(context.shape) == (2, 3)
    assert tuple(weights.shape) == (2, 5, 1)
    assert layer.count_params() == (3 * 6 + 6) + (7 * 6 + 6) + (6 + 1)


def test_symbolic_shapes_match_eager_ones():
    features, hidden = keras.Input((5, 3)), keras.Input((7,))
    context, weights = BahdanauAttention(6)(features, hidden)
    assert (context.shape, weights.shape) == ((None, 3), (None, 5, 1))
    assert SelfAttention(8, num_heads=2)(keras.Input((5, 3))).shape == (None, 5, 8)
    output, scores = SelfAttention(8, num_heads=2)(keras.Input((5, 3)), return_attention_scores=True)
    assert (output.shape, scores.shape) == ((None, 5, 8), (None, 2, 5, 5))


@pytest.mark.parametrize(
    "make",
    [
        lambda: BahdanauAttention(5, seed=3, name="additive"),
        lambda: SelfAttention(6, num_heads=3, use_scale=False, seed=1, name="qkv"),
        lambda: RNNWithAttention(4, seed=2, name="rnn_attention"),
    ],
)
def test_config_round_trip(make):
    layer = make()
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_get_config_has_every_constructor_argument():
    config = SelfAttention(6, num_heads=3, use_scale=False, seed=7).get_config()
    assert {k: config[k] for k in ("units", "num_heads", "use_scale", "seed")} == {
        "units": 6, "num_heads": 3, "use_scale": False, "seed": 7
    }
    assert {"units": 5, "seed": None}.items() <= BahdanauAttention(5).get_config().items()


def test_seed_makes_weights_reproducible_and_distinct_per_projection():
    a, b = SelfAttention(4, seed=11), SelfAttention(4, seed=11)
    x = rng_array(0, 1, 3, 2)
    np.testing.assert_array_equal(as_numpy(a(x)), as_numpy(b(x)))
    assert not np.allclose(as_numpy(a.query_dense.kernel), as_numpy(a.key_dense.kernel))
    assert not np.allclose(as_numpy(SelfAttention(4, seed=12)(x)), as_numpy(a(x)))


# Each maker builds a layer and returns (layer, call): call runs it on fixed inputs.
SEEDED_LAYERS = {
    "self-attention": lambda seed: _built_call(
        SelfAttention(6, num_heads=2, seed=seed), lambda layer: layer(rng_array(0, 1, 5, 4), use_causal_mask=True)
    ),
    "bahdanau": lambda seed: _built_call(
        BahdanauAttention(3, seed=seed), lambda layer: layer(rng_array(0, 1, 5, 4), rng_array(1, 1, 2))
    ),
    "rnn": lambda seed: _built_call(RNNWithAttention(4, seed=seed), lambda layer: layer(rng_array(0, 1, 5, 4))),
    "dense network": lambda seed: _built_call(
        dense_network(4, [3, 2], seed=seed),
        lambda model: [model(rng_array(0, 1, 4))] + [weight for layer in model.layers for weight in (layer.kernel, layer.bias)],
    ),
}


def _built_call(layer, call):
    call(layer)  # builds it
    return layer, lambda: [as_numpy(t) for t in keras.tree.flatten(call(layer))]


@pytest.mark.parametrize("kind", SEEDED_LAYERS)
def test_seeded_scope_computes_exactly_what_a_layer_made_with_that_seed_does(kind):
    shared, call_shared = SEEDED_LAYERS[kind](None)
    variables_before = [as_numpy(v) for v in shared.weights]
    for seed in (0, 7, 41):
        _, call_fresh = SEEDED_LAYERS[kind](seed)
        with seeded(shared, seed):
            for ours, fresh in zip(call_shared(), call_fresh(), strict=True):
                np.testing.assert_array_equal(ours, fresh)
    # The shared layer's own variables were never touched.
    for before, after in zip(variables_before, shared.weights, strict=True):
        np.testing.assert_array_equal(before, as_numpy(after))


def test_seeded_scope_holds_only_in_its_own_thread():
    shared, call_shared = SEEDED_LAYERS["self-attention"](None)
    _, call_seed_3 = SEEDED_LAYERS["self-attention"](3)
    unseeded = call_shared()
    inside, outside = threading.Event(), threading.Event()
    seen_elsewhere = []

    def other_session():
        inside.wait()
        seen_elsewhere.extend(call_shared())
        outside.set()

    thread = threading.Thread(target=other_session)
    thread.start()
    with seeded(shared, 3):
        inside.set()
        outside.wait(timeout=30)
        np.testing.assert_array_equal(call_shared()[0], call_seed_3()[0])
    thread.join()
    np.testing.assert_array_equal(seen_elsewhere[0], unseeded[0])


def test_seeded_scope_says_what_it_needs():
    with pytest.raises(ValueError, match="Expected a built layer"):
        seeded(SelfAttention(4), 0)
    with pytest.raises(ValueError, match="Expected `seed` to be an integer. Received: seed=None"):
        seeded(SEEDED_LAYERS["bahdanau"](None)[0], None)


def _model_holding_all_layers():
    x = keras.Input((5, 3))
    hidden = keras.Input((4,))
    sequence = SelfAttention(4, num_heads=2, seed=0)(x)
    context, _ = BahdanauAttention(3, seed=1)(sequence, hidden)
    rnn_context, _ = RNNWithAttention(4, seed=2)(x)
    return keras.Model([x, hidden], [context, rnn_context])


def test_save_and_load_with_safe_mode_gives_identical_outputs(tmp_path):
    model = _model_holding_all_layers()
    inputs = [rng_array(0, 2, 5, 3), rng_array(1, 2, 4)]
    expected = [as_numpy(t) for t in model(inputs)]
    path = tmp_path / "attention.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    for got, want in zip(loaded(inputs), expected):
        np.testing.assert_array_equal(as_numpy(got), want)


def test_subclassed_model_saves_and_loads(tmp_path):
    model = RNNWithAttention(6, seed=4)
    inputs = rng_array(0, 1, 5, 4)
    expected = as_numpy(model(inputs)[1])
    model.save(tmp_path / "rnn.keras")
    loaded = keras.models.load_model(tmp_path / "rnn.keras", safe_mode=True)
    assert isinstance(loaded, RNNWithAttention)
    np.testing.assert_array_equal(as_numpy(loaded(inputs)[1]), expected)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SelfAttention(6, num_heads=4), "divisible by `num_heads`"),
        (lambda: SelfAttention(0), "positive integer"),
        (lambda: SelfAttention(4, num_heads=0), "positive integer"),
        (lambda: SelfAttention(2.5), "positive integer"),
        (lambda: BahdanauAttention(-1), "positive integer"),
        (lambda: RNNWithAttention(True), "positive integer"),
        (lambda: dense_network(4, [3, 0]), "positive integer"),
    ],
)
def test_bad_constructor_arguments_say_what_is_expected(make, message):
    with pytest.raises(ValueError, match=message) as error:
        make()
    assert "Received:" in str(error.value)


def test_bad_input_rank_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(batch, tokens, features\)"):
        SelfAttention(4)(rng_array(0, 5, 3))
    with pytest.raises(ValueError, match=r"\(batch, hidden\)"):
        BahdanauAttention(4)(rng_array(0, 1, 5, 3), rng_array(1, 1, 1, 4))


# --- Numbers worked by hand ----------------------------------------------------------------


def identity_self_attention(use_scale):
    """Two tokens x = I (2x2) with Wq = Wk = Wv = I and zero biases."""
    layer = SelfAttention(2, use_scale=use_scale)
    layer.build((1, 2, 2))
    for dense in (layer.query_dense, layer.key_dense, layer.value_dense):
        set_dense(dense, np.eye(2))
    return layer


def test_self_attention_by_hand_unscaled():
    # Q = K = V = I, so raw scores = I; softmax([1, 0]) = [e/(e+1), 1/(e+1)].
    layer = identity_self_attention(use_scale=False)
    output, weights = layer(np.eye(2, dtype="float32")[None], return_attention_scores=True)
    high, low = math.e / (math.e + 1), 1 / (math.e + 1)  # 0.7311, 0.2689
    np.testing.assert_allclose(as_numpy(weights)[0, 0], [[high, low], [low, high]], atol=ATOL)
    # output = weights @ V = weights @ I.
    np.testing.assert_allclose(as_numpy(output)[0], [[high, low], [low, high]], atol=ATOL)


def test_self_attention_by_hand_scaled():
    # Scaled by 1/sqrt(2): softmax([0.7071, 0]) = [0.6698, 0.3302].
    layer = identity_self_attention(use_scale=True)
    steps = layer.compute_steps(np.eye(2, dtype="float32")[None])
    np.testing.assert_allclose(as_numpy(steps["raw_scores"])[0, 0], np.eye(2), atol=ATOL)
    np.testing.assert_allclose(as_numpy(steps["scaled_scores"])[0, 0], np.eye(2) / math.sqrt(2), atol=ATOL)
    np.testing.assert_allclose(as_numpy(steps["attention_weights"])[0, 0, 0], [0.66976, 0.33024], atol=ATOL)


def test_self_attention_by_hand_causal():
    # Token 0 may only see itself; token 1 sees both, as unmasked.
    layer = identity_self_attention(use_scale=False)
    _, weights = layer(np.eye(2, dtype="float32")[None], use_causal_mask=True, return_attention_scores=True)
    high, low = math.e / (math.e + 1), 1 / (math.e + 1)
    np.testing.assert_allclose(as_numpy(weights)[0, 0], [[1, 0], [low, high]], atol=ATOL)


def test_two_heads_by_hand():
    # units 2, two heads of one column each: head 0 sees x[:, 0], head 1 sees x[:, 1].
    layer = SelfAttention(2, num_heads=2, use_scale=False)
    layer.build((1, 2, 2))
    for dense in (layer.query_dense, layer.key_dense, layer.value_dense):
        set_dense(dense, np.eye(2))
    x = np.array([[[1.0, 0.0], [2.0, 1.0]]], dtype="float32")
    _, weights = layer(x, return_attention_scores=True)
    # Head 0: q = k = [1, 2] -> scores [[1, 2], [2, 4]]; head 1: q = k = [0, 1] -> [[0, 0], [0, 1]].
    np.testing.assert_allclose(as_numpy(weights)[0, 0], reference.softmax([[1, 2], [2, 4]]), atol=ATOL)
    np.testing.assert_allclose(as_numpy(weights)[0, 1], reference.softmax([[0, 0], [0, 1]]), atol=ATOL)


def test_bahdanau_by_hand():
    # features = I (2 steps, 2 features), hidden = 0, W1 = I, W2 = 0, V = [1, 0]:
    # score = tanh(I), logits = [tanh 1, 0] = [0.76159, 0], weights = softmax = [0.68170, 0.31830],
    # context = weights @ I.
    layer = BahdanauAttention(2)
    layer.build((1, 2, 2), (1, 2))
    set_dense(layer.W1, np.eye(2))
    set_dense(layer.W2, np.zeros((2, 2)))
    set_dense(layer.V, [[1.0], [0.0]])
    context, weights = layer(np.eye(2, dtype="float32")[None], np.zeros((1, 2), "float32"))
    np.testing.assert_allclose(as_numpy(weights)[0, :, 0], [0.68170, 0.31830], atol=ATOL)
    np.testing.assert_allclose(as_numpy(context)[0], [0.68170, 0.31830], atol=ATOL)


def test_bahdanau_expand_dims_broadcasts_hidden_over_time():
    layer = BahdanauAttention(3, seed=0)
    steps = layer.compute_steps(rng_array(0, 2, 4, 5), rng_array(1, 2, 6))
    assert tuple(steps["hidden_with_time_axis"].shape) == (2, 1, 6)
    assert tuple(steps["hidden_projection"].shape) == (2, 1, 3)
    assert tuple(steps["score"].shape) == (2, 4, 3)


# --- Agreement with NumPy ------------------------------------------------------------------


def numpy_self_attention(layer, x, allowed=None):
    Wq, bq = dense_weights(layer.query_dense)
    Wk, bk = dense_weights(layer.key_dense)
    Wv, bv = dense_weights(layer.value_dense)
    return reference.self_attention(
        x.astype(np.float64), Wq, bq, Wk, bk, Wv, bv, layer.num_heads, layer.use_scale, allowed
    )


@pytest.mark.parametrize("units, num_heads", [(4, 1), (8, 2), (12, 4), (5, 5)])
@pytest.mark.parametrize("use_scale", [True, False])
@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_matches_numpy(units, num_heads, use_scale, causal):
    layer = SelfAttention(units, num_heads=num_heads, use_scale=use_scale, seed=units)
    x = rng_array(units, 1, 6, 3)
    layer.build(x.shape)
    randomize_biases(layer, seed=5)
    output, weights = layer(x, use_causal_mask=causal, return_attention_scores=True)
    allowed = reference.causal_mask(6) if causal else None
    want_output, want_weights = numpy_self_attention(layer, x[0], allowed)
    np.testing.assert_allclose(as_numpy(weights)[0], want_weights, atol=ATOL)
    np.testing.assert_allclose(as_numpy(output)[0], want_output, atol=ATOL)


def test_self_attention_padding_mask_matches_numpy():
    layer = SelfAttention(4, num_heads=2, seed=3)
    x = rng_array(0, 2, 5, 3)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    output, weights = layer(x, mask=mask, return_attention_scores=True)
    for b in range(2):
        allowed = np.outer(mask[b], mask[b])
        want_output, want_weights = numpy_self_attention(layer, x[b], allowed)
        np.testing.assert_allclose(as_numpy(weights)[b], want_weights, atol=ATOL)
        np.testing.assert_allclose(as_numpy(output)[b], want_output, atol=ATOL)


def test_bahdanau_matches_numpy():
    layer = BahdanauAttention(7, seed=1)
    features, hidden = rng_array(0, 3, 6, 4), rng_array(1, 3, 5)
    layer.build(features.shape, hidden.shape)
    randomize_biases(layer, seed=9)
    mask = np.array([[1] * 6, [1, 1, 1, 1, 0, 0], [0, 1, 0, 1, 0, 1]], dtype=bool)
    context, weights = layer(features, hidden, mask=mask)
    for b in range(3):
        want_context, want_weights = reference.bahdanau_attention(
            features[b].astype(np.float64),
            hidden[b].astype(np.float64),
            *dense_weights(layer.W1),
            *dense_weights(layer.W2),
            *dense_weights(layer.V),
            mask=mask[b],
        )
        np.testing.assert_allclose(as_numpy(weights)[b, :, 0], want_weights, atol=ATOL)
        np.testing.assert_allclose(as_numpy(context)[b], want_context, atol=ATOL)


def test_rnn_with_attention_matches_numpy():
    model = RNNWithAttention(5, seed=8)
    inputs = rng_array(0, 1, 6, 4)
    context, weights = model(inputs)
    kernel, recurrent_kernel, bias = (as_numpy(w).astype(np.float64) for w in model.rnn.weights)
    states = reference.simple_rnn(inputs[0].astype(np.float64), kernel, recurrent_kernel, bias)
    attention = model.attention
    want_context, want_weights = reference.bahdanau_attention(
        states, states[-1], *dense_weights(attention.W1), *dense_weights(attention.W2), *dense_weights(attention.V)
    )
    np.testing.assert_allclose(as_numpy(weights)[0, :, 0], want_weights, atol=ATOL)
    np.testing.assert_allclose(as_numpy(context)[0], want_context, atol=ATOL)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "linear"])
def test_dense_network_matches_numpy(activation):
    model = dense_network(4, [3, 2], activation=activation, seed=0)
    x = rng_array(1, 1, 4)
    numpy_activation = {
        "relu": lambda z: np.maximum(z, 0),
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "tanh": np.tanh,
        "linear": None,
    }[activation]
    want = x.astype(np.float64)
    for layer in model.layers:
        want = reference.dense(want, *dense_weights(layer), numpy_activation)
    np.testing.assert_allclose(as_numpy(model(x)), want, atol=ATOL)


# --- Agreement with Keras's own layers -----------------------------------------------------


@pytest.mark.parametrize("units, num_heads", [(4, 1), (8, 2), (12, 3)])
@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_matches_keras_multi_head_attention(units, num_heads, causal):
    x = rng_array(2, 2, 7, 5)
    layer = SelfAttention(units, num_heads=num_heads, seed=4)
    layer.build(x.shape)
    randomize_biases(layer, seed=1)
    mha = multi_head_attention_like(layer, x.shape)
    output, weights = layer(x, use_causal_mask=causal, return_attention_scores=True)
    keras_output, keras_weights = mha(x, x, use_causal_mask=causal, return_attention_scores=True)
    np.testing.assert_allclose(as_numpy(weights), as_numpy(keras_weights), atol=ATOL)
    np.testing.assert_allclose(as_numpy(output), as_numpy(keras_output), atol=ATOL)


def test_self_attention_padding_matches_keras_multi_head_attention():
    x = rng_array(3, 2, 6, 4)
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
    layer = SelfAttention(6, num_heads=2, seed=5)
    layer.build(x.shape)
    mha = multi_head_attention_like(layer, x.shape)
    output, weights = layer(x, mask=mask, return_attention_scores=True)
    # MultiHeadAttention's query and value masks combine to this (B, T, T) mask.
    attention_mask = mask[:, :, None] & mask[:, None, :]
    keras_output, keras_weights = mha(x, x, attention_mask=attention_mask, return_attention_scores=True)
    np.testing.assert_allclose(as_numpy(weights), as_numpy(keras_weights), atol=ATOL)
    np.testing.assert_allclose(as_numpy(output), as_numpy(keras_output), atol=ATOL)


def test_bahdanau_matches_keras_additive_attention():
    # With W1 = W2 = I, zero biases and V = Keras's `scale` vector, our logits are exactly
    # AdditiveAttention's scores sum(scale * tanh(query + key)) with query = hidden, key = features.
    features, hidden = rng_array(0, 2, 6, 4), rng_array(1, 2, 4)
    scale = rng_array(2, 4)
    layer = BahdanauAttention(4)
    layer.build(features.shape, hidden.shape)
    set_dense(layer.W1, np.eye(4))
    set_dense(layer.W2, np.eye(4))
    set_dense(layer.V, scale[:, None])
    context, weights = layer(features, hidden)
    additive = keras.layers.AdditiveAttention()
    query = hidden[:, None, :]
    additive.build([query.shape, features.shape])
    additive.scale.assign(scale)
    keras_context, keras_weights = additive([query, features], return_attention_scores=True)
    np.testing.assert_allclose(as_numpy(weights)[:, :, 0], as_numpy(keras_weights)[:, 0, :], atol=ATOL)
    np.testing.assert_allclose(as_numpy(context), as_numpy(keras_context)[:, 0, :], atol=ATOL)


# --- Invariants ----------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [1, 2, 9])
def test_causal_weights_are_lower_triangular_rows_summing_to_one(tokens):
    layer = SelfAttention(6, num_heads=3, seed=0)
    _, weights = layer(rng_array(tokens, 1, tokens, 4), use_causal_mask=True, return_attention_scores=True)
    weights = as_numpy(weights)[0]
    np.testing.assert_array_equal(weights == 0, ~np.broadcast_to(reference.causal_mask(tokens), weights.shape))
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=ATOL)


def test_masked_positions_are_exactly_zero():
    mask = np.array([[1, 0, 1, 0, 1]], dtype=bool)
    _, weights = BahdanauAttention(3, seed=0)(rng_array(0, 1, 5, 2), rng_array(1, 1, 3), mask=mask)
    weights = as_numpy(weights)[0, :, 0]
    assert (weights[~mask[0]] == 0.0).all()
    assert weights.sum() == pytest.approx(1.0, abs=ATOL)
    _, scores = SelfAttention(4, seed=0)(rng_array(2, 1, 5, 2), mask=mask, return_attention_scores=True)
    scores = as_numpy(scores)[0, 0]
    assert (scores[:, ~mask[0]] == 0.0).all()
    assert (scores[~mask[0], :] == 0.0).all()  # a padded query attends to nothing


def test_fully_masked_sequence_gives_zero_weights_not_nan():
    context, weights = BahdanauAttention(3, seed=0)(
        rng_array(0, 1, 4, 2), rng_array(1, 1, 3), mask=np.zeros((1, 4), bool)
    )
    assert (as_numpy(weights) == 0).all() and (as_numpy(context) == 0).all()


def test_huge_scores_do_not_overflow():
    layer = identity_self_attention(use_scale=False)
    _, weights = layer(np.eye(2, dtype="float32")[None] * 1e4, return_attention_scores=True)
    weights = as_numpy(weights)
    assert np.isfinite(weights).all()
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=ATOL)


def test_seeded_initial_values_are_kept_and_unseeded_ones_drawn_anew():
    from attention_core.mechanisms.layers import _initial_values

    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    seeded_init = keras.initializers.GlorotUniform(seed=5)
    (_, first), (_, again) = _initial_values([(dense.kernel, seeded_init), (dense.kernel, seeded_init)])
    assert first is again  # drawn once
    np.testing.assert_array_equal(as_numpy(first), as_numpy(keras.initializers.GlorotUniform(seed=5)((4, 3))))
    (_, one), (_, two) = _initial_values([(dense.kernel, "glorot_uniform"), (dense.kernel, "glorot_uniform")])
    assert not np.array_equal(as_numpy(one), as_numpy(two))
