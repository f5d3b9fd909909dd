"""A model's attention: every call's maps equal what its layer returns, with
return_attention_scores=True, on the same tensors and masks given explicitly (<= 1e-6); the
traced Q/K/V pipeline of a MultiHeadAttention call equals Keras and a NumPy reference."""

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest

import attention_core as ac
from attention_core.mechanisms import reference
from attention_core.your_model.attention import reader_of
from webapp import costs

ATOL = 1e-6
VOCAB, FEATURES = 12, 8
# Two sentences padded with 0 to five tokens: the first has three real tokens, the second five.
IDS = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]], dtype="int32")
TARGET_IDS = np.array([[6, 7, 8, 9], [2, 2, 2, 2]], dtype="int32")


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def padding_mask(ids):
    """(B, Tq, Tk) bool from token ids: real queries attend to real keys, by hand."""
    real = ids != 0
    return real[:, :, None] & real[:, None, :]


def causal(tokens):
    return np.tril(np.ones((1, tokens, tokens), dtype=bool))


def seeded_model(inputs, outputs):
    """A model whose weights are drawn from a fixed seed, so the test is the same each run."""
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    for variable in model.weights:
        variable.assign(rng.normal(0, 0.5, variable.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def encoder_decoder():
    """Embedding(mask_zero) -> self-attention -> the same layer again, causal; a decoder's causal
    self-attention and its cross-attention over the encoder."""
    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    source_vectors = keras.layers.Embedding(VOCAB, FEATURES, mask_zero=True, name="source_embedding")(source)
    target_vectors = keras.layers.Embedding(VOCAB, FEATURES, name="target_embedding")(target)
    encoder = keras.layers.MultiHeadAttention(2, 4, name="encoder_self_attention")
    encoded = encoder(source_vectors, source_vectors)
    encoded = encoder(encoded, encoded, use_causal_mask=True)  # a second call of one layer
    decoded = keras.layers.MultiHeadAttention(2, 3, name="decoder_self_attention")(
        target_vectors, target_vectors, use_causal_mask=True
    )
    crossed = keras.layers.MultiHeadAttention(4, 2, value_dim=3, name="cross_attention")(decoded, encoded)
    model = seeded_model([source, target], keras.layers.Dense(VOCAB)(crossed))
    tensors = keras.Model([source, target], [source_vectors, encoded, target_vectors, decoded])
    return model, tensors


def test_attention_calls_lists_every_call_in_model_order(encoder_decoder):
    model, _ = encoder_decoder
    assert ac.attention_calls(model) == [
        ac.AttentionCall("encoder_self_attention", "MultiHeadAttention", 0, 2, True),
        ac.AttentionCall("encoder_self_attention", "MultiHeadAttention", 1, 2, True),
        ac.AttentionCall("decoder_self_attention", "MultiHeadAttention", 2, 2, True),
        ac.AttentionCall("cross_attention", "MultiHeadAttention", 3, 4, False),
    ]


def test_model_attention_equals_each_layer_called_with_its_masks_given_explicitly(encoder_decoder):
    model, tensors = encoder_decoder
    source_vectors, encoded, target_vectors, decoded = tensors([IDS, TARGET_IDS])
    # Keras masks removed, so only the masks written here apply.
    for tensor in (source_vectors, encoded, target_vectors, decoded):
        keras.src.backend.set_keras_mask(tensor, None)
    padding = padding_mask(IDS)
    first_encoded = model.get_layer("encoder_self_attention")(source_vectors, source_vectors, attention_mask=padding)
    cross_padding = (TARGET_IDS > -1)[:, :, None] & (IDS != 0)[:, None, :]  # every query, real keys
    expected = [
        model.get_layer("encoder_self_attention")(
            source_vectors, source_vectors, attention_mask=padding, return_attention_scores=True
        ),
        model.get_layer("encoder_self_attention")(
            first_encoded, first_encoded, attention_mask=padding & causal(5), return_attention_scores=True
        ),
        model.get_layer("decoder_self_attention")(
            target_vectors, target_vectors, attention_mask=causal(4), return_attention_scores=True
        ),
        model.get_layer("cross_attention")(decoded, encoded, attention_mask=cross_padding, return_attention_scores=True),
    ]
    found = ac.model_attention(model, [IDS, TARGET_IDS])
    assert [(item.layer, item.call_index) for item in found] == [
        (call.layer, call.call_index) for call in ac.attention_calls(model)
    ]
    for item, (_, weights) in zip(found, expected):
        assert item.weights.dtype == np.float32 and not item.weights.flags.writeable
        np.testing.assert_allclose(item.weights, numpy(weights)[0], atol=ATOL)
    # The padding shows: the first sentence's padded keys get weight 0 everywhere.
    assert np.all(found[0].weights[:, :, 3:] == 0) and np.all(found[3].weights[:, :, 3:] == 0)
    assert np.all(np.triu(found[2].weights, 1) == 0)
    assert found[3].weights.shape == (4, 4, 5)


def test_an_explicit_attention_mask_input_is_applied_as_the_model_applies_it():
    tokens = keras.Input((None, FEATURES), name="tokens")
    allowed = keras.Input((None, None), dtype="bool", name="allowed")
    layer = keras.layers.MultiHeadAttention(2, 4, name="masked")
    outputs = layer(tokens, tokens, attention_mask=allowed)
    model = seeded_model([tokens, allowed], outputs)
    x = np.random.default_rng(1).normal(size=(1, 4, FEATURES)).astype("float32")
    mask = np.array([[[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1]]], dtype=bool)
    [found] = ac.model_attention(model, [x, mask])
    _, weights = layer(x, x, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(found.weights, numpy(weights)[0], atol=ATOL)
    assert np.all(found.weights[:, ~mask[0]] == 0)
    assert ac.attention_calls(model)[0].is_self_attention  # a mask input is no second sequence


def test_keras_and_attention_core_single_map_layers():
    """Attention, AdditiveAttention, SelfAttention (in a Sequential) and BahdanauAttention, each
    read as (heads, queries, keys)."""
    query = keras.Input((3, FEATURES))
    value = keras.Input((5, FEATURES))
    state = keras.Input((FEATURES,))
    dot = keras.layers.Attention(name="dot")([query, value])
    additive = keras.layers.AdditiveAttention(name="additive")([query, value, value])
    context, _ = ac.BahdanauAttention(4, seed=0, name="bahdanau")(value, state)
    model = seeded_model([query, value, state], [dot, additive, context])
    rng = np.random.default_rng(2)
    q, v, h = (rng.normal(size=shape).astype("float32") for shape in ((1, 3, FEATURES), (1, 5, FEATURES), (1, FEATURES)))
    found = ac.model_attention(model, [q, v, h])
    assert [(item.layer, item.kind, item.weights.shape) for item in found] == [
        ("dot", "Attention", (1, 3, 5)),
        ("additive", "AdditiveAttention", (1, 3, 5)),
        ("bahdanau", "BahdanauAttention", (1, 1, 5)),
    ]
    _, dot_weights = model.get_layer("dot")([q, v], return_attention_scores=True)
    _, additive_weights = model.get_layer("additive")([q, v, v], return_attention_scores=True)
    _, bahdanau_weights = model.get_layer("bahdanau")(v, h)
    np.testing.assert_allclose(found[0].weights[0], numpy(dot_weights)[0], atol=ATOL)
    np.testing.assert_allclose(found[1].weights[0], numpy(additive_weights)[0], atol=ATOL)
    np.testing.assert_allclose(found[2].weights[0, 0], numpy(bahdanau_weights)[0, :, 0], atol=ATOL)

    sequential = keras.Sequential(
        [keras.Input((None,), dtype="int32"), keras.layers.Embedding(VOCAB, FEATURES, mask_zero=True),
         ac.SelfAttention(FEATURES, num_heads=2, seed=0, name="self")]
    )
    [found] = ac.model_attention(sequential, IDS[:1])
    vectors = sequential.layers[0](IDS[:1])
    _, weights = sequential.get_layer("self")(vectors, mask=IDS[:1] != 0, return_attention_scores=True)
    np.testing.assert_allclose(found.weights, numpy(weights)[0], atol=ATOL)
    assert ac.attention_calls(sequential) == [ac.AttentionCall("self", "SelfAttention", 0, 2, True)]


def test_a_model_without_a_graph_or_attention():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ac.InputError, match="subclassed Subclassed, whose call\\(\\) is Python code"):
        ac.attention_calls(Subclassed())
    with pytest.raises(ac.InputError, match="Sequential model has no input shape"):
        ac.model_attention(keras.Sequential([keras.layers.Dense(2)]), np.zeros((1, 2)))
    inputs = keras.Input((2,))
    assert ac.model_attention(keras.Model(inputs, keras.layers.Dense(2)(inputs)), np.zeros((1, 2))) == []


def test_inputs_the_model_cannot_run(encoder_decoder):
    model, _ = encoder_decoder
    with pytest.raises(ac.InputError, match="The model could not run on these inputs"):
        ac.model_attention(model, [IDS, np.zeros((1, 4, 2, 2), "int32")])


def test_trace_attention_call_is_the_layers_own_pipeline(encoder_decoder):
    model, tensors = encoder_decoder
    source_vectors, encoded, target_vectors, decoded = (numpy(t)[0] for t in tensors([IDS, TARGET_IDS]))
    layer = model.get_layer("cross_attention")
    trace = ac.trace_attention_call(model, [IDS, TARGET_IDS], 3)
    np.testing.assert_array_equal(trace.inputs, decoded)
    np.testing.assert_array_equal(trace.key_inputs, encoded)
    assert (trace.num_heads, trace.query.shape, trace.value.shape, trace.weights.shape) == (4, (4, 8), (5, 12), (4, 4, 5))
    assert (trace.query_head_size, trace.head_size) == (2, 3)  # key_dim 2, value_dim 3
    assert trace.scale == pytest.approx(1 / np.sqrt(2))
    np.testing.assert_array_equal(trace.attention_mask, np.broadcast_to(IDS[0] != 0, (4, 5)))
    assert trace.is_masked == bool(np.any(IDS[0] == 0))
    # Against Keras: the weights and output the layer returns on the same tensors and mask.
    output, weights = layer(
        decoded[None], encoded[None], attention_mask=trace.attention_mask[None], return_attention_scores=True
    )
    np.testing.assert_allclose(trace.weights, numpy(weights)[0], atol=ATOL)
    np.testing.assert_allclose(trace.projected_output, numpy(output)[0], rtol=1e-6, atol=ATOL)
    # Against NumPy, from the kernels as the trace shows them.
    q, k, v = (trace.query_dense, trace.key_dense, trace.value_dense)
    np.testing.assert_allclose(trace.query, decoded @ q.kernel + q.bias, atol=1e-5)
    np.testing.assert_allclose(trace.key, encoded @ k.kernel + k.bias, atol=1e-5)
    for head in range(4):
        scores = trace.head_columns(trace.query, head) @ trace.head_columns(trace.key, head).T
        np.testing.assert_allclose(trace.raw_scores[head], scores, atol=1e-5)
        np.testing.assert_allclose(trace.scaled_scores[head], scores * trace.scale, atol=1e-5)
        np.testing.assert_allclose(trace.context[head], trace.weights[head] @ trace.head_columns(trace.value, head), atol=1e-5)
    expected_output, expected_weights = reference.self_attention(
        decoded, q.kernel, q.bias, k.kernel, k.bias, v.kernel, v.bias, 4, allowed=trace.attention_mask, key_inputs=encoded
    )
    np.testing.assert_allclose(trace.weights, expected_weights, atol=1e-5)
    np.testing.assert_allclose(trace.output, expected_output, atol=1e-5)
    o = trace.output_dense
    assert o.kernel.shape == (12, FEATURES)
    np.testing.assert_allclose(trace.projected_output, reference.dense(expected_output, o.kernel, o.bias), atol=1e-5)


def test_trace_of_a_masked_self_attention_call(encoder_decoder):
    model, tensors = encoder_decoder
    trace = ac.trace_attention_call(model, [IDS, TARGET_IDS], 1)
    assert trace.key_inputs is None
    np.testing.assert_array_equal(trace.attention_mask, padding_mask(IDS)[0] & causal(5)[0])
    [_, second, *_] = ac.model_attention(model, [IDS, TARGET_IDS])
    np.testing.assert_array_equal(trace.weights, second.weights)
    np.testing.assert_array_equal(trace.weights[:, 3:], 0)  # padded queries attend to nothing


def test_trace_refuses_other_calls():
    query = keras.Input((3, FEATURES))
    model = keras.Model(query, keras.layers.Attention(name="dot")([query, query]))
    with pytest.raises(ac.InputError, match="'dot' is a Attention; only multi-head layers"):
        ac.trace_attention_call(model, np.zeros((1, 3, FEATURES)), 0)
    with pytest.raises(ac.InputError, match="has 1 attention calls \\(0 to 0\\); 2 is none of them"):
        ac.trace_attention_call(model, np.zeros((1, 3, FEATURES)), 2)


def test_the_reader_is_built_once_and_reads_the_current_weights(encoder_decoder):
    model, _ = encoder_decoder
    assert reader_of(model) is reader_of(model)
    layer = model.get_layer("decoder_self_attention")
    before = ac.model_attention(model, [IDS, TARGET_IDS])[2].weights
    kernel = layer._query_dense.kernel
    saved = numpy(kernel)
    try:
        kernel.assign(saved * 3)
        after = ac.model_attention(model, [IDS, TARGET_IDS])[2].weights
        assert not np.allclose(before, after)
    finally:
        kernel.assign(saved)


def test_train_and_watchs_transformer_passes_the_gate_and_reads_as_its_own_weights():
    """A Transformer as Train and watch builds it (functional, MultiHeadAttention, attention_core's
    PositionalEncoding and PaddingMask) saves, loads through the gate, and reads the maps its own
    graph returns with return_attention_scores=True (`transformer.attention_model`)."""
    from attention_core.learning import transformer

    model = transformer.transformer(vocab_size=7, num_layers=1, num_heads=2, units=8, seed=0)
    loaded = ac.load_keras_model(ac.model_bytes(model))
    names = transformer.attention_names(1)
    assert [call.layer for call in ac.attention_calls(loaded)] == names
    assert [call.is_self_attention for call in ac.attention_calls(loaded)] == [True, True, False]
    source, decoder_inputs = np.array([[3, 4, 5, 0]], "int32"), np.array([[1, 6, 2]], "int32")
    _, *expected = transformer.attention_model(model)([source, decoder_inputs])
    found = ac.model_attention(loaded, [source, decoder_inputs])
    for item, weights in zip(found, expected, strict=True):
        np.testing.assert_allclose(item.weights, numpy(weights)[0], atol=ATOL)
    assert np.all(found[2].weights[:, :, 3] == 0)  # the source's pad, as a key of the cross-attention


# Inputs from text, labels, and the shipped example model.

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def example_script():
    spec = importlib.util.spec_from_file_location("make_example_model", ROOT / "scripts" / "make_example_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_example_loads_through_the_gate_and_classifies_new_sentences(example_script):
    model = ac.load_keras_model(ROOT / "examples" / "sentiment.keras")
    texts, labels = example_script.make_sentences(500, seed=2026)  # never seen in training (seed 0)
    assert example_script.accuracy(model, texts, labels) >= 0.99
    inputs = ac.model_inputs_from_text(model, "the film was not good")
    [attention] = ac.model_attention(model, inputs)
    assert attention.weights.shape == (2, example_script.MAX_WORDS, example_script.MAX_WORDS)
    [(queries, keys)] = ac.attention_labels(model, inputs, [attention])
    assert queries == keys == ("the", "film", "was", "not", "good") + (ac.PAD_LABEL,) * 5
    np.testing.assert_array_equal(attention.weights[:, :, 5:], 0)


def test_the_example_script_still_builds_a_model_the_gate_takes(example_script, tmp_path):
    texts, labels = example_script.make_sentences(64, seed=0)
    assert set(" ".join(texts).split()) <= set(example_script.VOCABULARY)
    assert max(len(text.split()) for text in texts) <= example_script.MAX_WORDS
    model = example_script.train(example_script.build_model(seed=0), texts, labels, epochs=1, steps_per_epoch=2)
    loaded = ac.load_keras_model(saved_bytes(model, tmp_path))
    assert [call.layer for call in ac.attention_calls(loaded)] == ["self_attention"]
    inputs = ac.model_inputs_from_text(loaded, "this movie is fun")
    np.testing.assert_array_equal(ac.model_attention(loaded, inputs)[0].weights, ac.model_attention(model, inputs)[0].weights)


def saved_bytes(model, tmp_path):
    path = tmp_path / "model.keras"
    model.save(path)
    return path.read_bytes()


def test_model_inputs_from_text_for_ids(encoder_decoder):
    model, _ = encoder_decoder
    source, target = ac.model_inputs_from_text(model, "3, 4 5 | 6 7")
    np.testing.assert_array_equal(source, [[3, 4, 5]])
    np.testing.assert_array_equal(target, [[6, 7]])
    assert source.dtype == np.int32
    refusals = {
        "3 4 5": r"takes 2 inputs \('source', 'target'\); give each one's ids, separated by '\|', e.g. 3 4 5 \| 3 4 5",
        "3 x 5 | 1": r"'x' in the ids for 'source' is not a token id",
        "3 -4 | 1": r"'-4' in the ids for 'source' is not a token id",
        " | 1": r"The ids for 'source' is empty",
        "3 12 | 1": r"The id 12 in the ids for 'source' is past the model's vocabulary: its Embedding 'source_embedding' takes ids from 0 to 11",
        "3 4294967296 | 1": r"The id 4294967296 in the ids for 'source' is past the model's vocabulary",
        "3 " + "9" * 5000 + " | 1": r"The id '9+…' \(5000 digits\) in the ids for 'source' is past the model's vocabulary",
        "3 " * (ac.MAX_TOKENS + 1) + "| 1": rf"That is {ac.MAX_TOKENS + 1} ids; the limit is {ac.MAX_TOKENS}",
    }
    for text, message in refusals.items():
        with pytest.raises(ac.InputError, match=message):
            ac.model_inputs_from_text(model, text)
    vectors = keras.Input((None, FEATURES), name="vectors")
    features = keras.Model(vectors, keras.layers.MultiHeadAttention(1, 2)(vectors, vectors))
    with pytest.raises(ac.InputError, match=r"input 'vectors' takes float32 of shape \(None, None, 8\); this page gives"):
        ac.model_inputs_from_text(features, "1 2")
    fixed = keras.Input((4,), dtype="int32", name="fixed")
    vectors = keras.layers.Embedding(VOCAB, FEATURES)(fixed)
    with pytest.raises(ac.InputError, match="input 'fixed' takes exactly 4 ids; that is 3"):
        ac.model_inputs_from_text(keras.Model(fixed, keras.layers.Attention()([vectors, vectors])), "1 2 3")
    # An id the input's integer type cannot hold, where no Embedding reads the input itself.
    ids = keras.Input((None,), dtype="int32", name="ids")
    vectors = keras.layers.Embedding(VOCAB, FEATURES)(keras.layers.Identity()(ids))
    indirect = keras.Model(ids, keras.layers.Attention()([vectors, vectors]))
    np.testing.assert_array_equal(ac.model_inputs_from_text(indirect, "3 002147483647"), [[3, 2**31 - 1]])
    for text, shown in [("3 2147483648", "2147483648"), ("3 99999999999999999999", "99999999999999999999"),
                        ("3 " + "9" * 5000, r"'9+…' \(5000 digits\)")]:
        with pytest.raises(ac.InputError, match=rf"The id {shown} in the ids for 'ids' does not fit the model's input, which takes int32 ids: from 0 to 2147483647\."):
            ac.model_inputs_from_text(indirect, text)


def test_model_inputs_from_text_for_strings():
    words = keras.Input((None,), dtype="string", name="words")
    lookup = keras.layers.StringLookup(vocabulary=["good", "not", "film"], name="lookup")
    vectors = keras.layers.Embedding(5, 4, mask_zero=True)(lookup(words))
    model = keras.Model(words, keras.layers.MultiHeadAttention(1, 2)(vectors, vectors))
    inputs = ac.model_inputs_from_text(model, "  not  good film ")
    assert inputs.tolist() == [["not", "good", "film"]]
    [attention] = ac.model_attention(model, inputs)
    assert ac.attention_labels(model, inputs, [attention]) == [(("not", "good", "film"),) * 2]
    with pytest.raises(ac.InputError, match="The text is empty"):
        ac.model_inputs_from_text(model, "   ")
    with pytest.raises(ac.InputError, match=f"the limit is {ac.MAX_TEXT_CHARS} characters"):
        ac.model_inputs_from_text(model, "a" * (ac.MAX_TEXT_CHARS + 1))
    unread = keras.Input((1,), dtype="string", name="unread")
    hashed = keras.layers.Hashing(5)(unread)
    vectors = keras.layers.Embedding(5, 4)(hashed)
    with pytest.raises(ac.InputError, match="takes strings \\('unread'\\) but reads them with no TextVectorization"):
        ac.model_inputs_from_text(keras.Model(unread, keras.layers.Attention()([vectors, vectors])), "a b")


def test_attention_labels_follow_each_axis_to_its_input(encoder_decoder):
    model, _ = encoder_decoder
    inputs = ac.model_inputs_from_text(model, "3 4 5 0 0 | 6 7 8 9")
    attention = ac.model_attention(model, inputs)
    source, target = ("3", "4", "5", "0", "0"), ("6", "7", "8", "9")
    assert ac.attention_labels(model, inputs, attention) == [(source, source), (source, source), (target, target), (target, source)]
    # Of one length, the cross-attention's queries still come from the target alone.
    inputs = ac.model_inputs_from_text(model, "3 4 5 1 | 6 7 8 9")
    assert ac.attention_labels(model, inputs, ac.model_attention(model, inputs))[3] == (target, ("3", "4", "5", "1"))


def test_input_labels_and_the_views_cost(encoder_decoder):
    model, _ = encoder_decoder
    inputs = ac.model_inputs_from_text(model, "3 4 5 0 0 | 6 7 8 9")
    assert ac.input_labels(model, inputs) == [("3", "4", "5", "0", "0"), ("6", "7", "8", "9")]
    cost = costs.attention_cost(model, inputs)
    heads = 2 + 2 + 2 + 4  # two calls of the encoder's layer, the decoder's, the cross-attention's
    assert cost.description == f"{heads} heads × 5² token pairs"
    assert cost.peak_bytes == costs.SELF_ATTENTION_PEAK_BYTES_PER_HEAD_CELL * heads * 25
    assert cost.advice(costs.SELF_ATTENTION_PEAK_BYTES_PER_HEAD_CELL * heads * 16) == "To fit, give the model at most 4 tokens."


def test_masks_of_the_single_map_layers_and_grouped_queries_as_the_models_own_graph_returns_them():
    """Each layer called in the model with return_attention_scores=True, its scores a model output:
    what model_attention reads equals what the model's own pass returned, masks included."""
    ids = keras.Input((None,), dtype="int32")
    vectors = keras.layers.Embedding(VOCAB, FEATURES, mask_zero=True)(ids)
    _, dot = keras.layers.Attention(name="dot")([vectors, vectors], use_causal_mask=True, return_attention_scores=True)
    _, additive = keras.layers.AdditiveAttention(name="additive")([vectors, vectors], return_attention_scores=True)
    grouped = keras.layers.GroupQueryAttention(head_dim=2, num_query_heads=4, num_key_value_heads=2, name="grouped")
    _, grouped_weights = grouped(vectors, vectors, use_causal_mask=True, return_attention_scores=True)
    model = seeded_model(ids, [dot, additive, grouped_weights])
    returned = [numpy(weights)[0] for weights in model(IDS)]
    found = ac.model_attention(model, IDS)
    assert [(item.kind, item.weights.shape) for item in found] == [
        ("Attention", (1, 5, 5)), ("AdditiveAttention", (1, 5, 5)), ("GroupedQueryAttention", (4, 5, 5))]
    for item, weights in zip(found, returned):
        np.testing.assert_allclose(item.weights, weights if weights.ndim == 3 else weights[None], atol=ATOL)
    assert np.all(found[0].weights[0][np.triu_indices(5, 1)] == 0) and np.all(found[1].weights[0, :, 3:] == 0)


def test_attention_inside_a_nested_model_is_named_when_refused():
    inner_input = keras.Input((None, FEATURES))
    inner = keras.Model(inner_input, keras.layers.MultiHeadAttention(1, 2)(inner_input, inner_input), name="encoder")
    outer_input = keras.Input((None, FEATURES))
    model = keras.Model(outer_input, keras.layers.Dense(2)(inner(outer_input)))
    with pytest.raises(ac.InputError, match="inside the nested model 'encoder', whose calls this page does not read"):
        ac.load_keras_model(ac.model_bytes(model))
