"""The Transformer of Train and watch: its contract (shapes, names, config round trip, .keras,
seeds), its two own layers worked by hand and against NumPy, and a run's maps against each
MultiHeadAttention layer called directly on the tensors that reached it."""

import keras
import numpy as np
import pytest

import attention_core as ac
from attention_core.learning import tasks, transformer

VOCAB = 7
NAMES = ["encoder_1_self_attention", "encoder_2_self_attention", "decoder_1_self_attention",
         "decoder_1_cross_attention", "decoder_2_self_attention", "decoder_2_cross_attention"]


@pytest.fixture(scope="module")
def model():
    return transformer.transformer(VOCAB, units=16, num_heads=2, seed=3)


def inputs(batch=2, source=5, target=4):
    rng = np.random.default_rng(0)
    return rng.integers(2, VOCAB, (batch, source)).astype(np.int32), rng.integers(1, VOCAB, (batch, target)).astype(np.int32)


def test_contract_shapes_names_and_layers(model):
    logits = model(inputs())
    assert logits.shape == (2, 4, VOCAB)
    assert [tensor.name for tensor in model.inputs] == ["source_ids", "decoder_input_ids"]
    assert transformer.attention_layer_names(model) == NAMES
    for name in NAMES:
        layer = model.get_layer(name)
        assert type(layer) is keras.layers.MultiHeadAttention and layer.num_heads == 2 and layer.key_dim == 8
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    # Any lengths: the same model reads a longer source and decodes more steps.
    assert model(inputs(1, 9, 6)).shape == (1, 6, VOCAB)


def test_defaults_are_two_layers_four_heads_64_units():
    model = transformer.transformer(VOCAB)
    names = transformer.attention_layer_names(model)
    assert names == NAMES
    assert {(model.get_layer(n).num_heads, model.get_layer(n).key_dim) for n in names} == {(4, 16)}


@pytest.mark.parametrize(("arguments", "message"), [
    ({"num_layers": 0}, "num_layers"), ({"num_heads": 3}, "multiple of `num_heads`"), ({"units": 2.5}, "units"),
])
def test_bad_arguments_say_what_was_received(arguments, message):
    with pytest.raises(ValueError, match=message):
        transformer.transformer(VOCAB, **arguments)


def test_config_round_trip_and_keras_file_give_the_same_model(model, tmp_path):
    rebuilt = keras.Model.from_config(model.get_config())
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt(inputs()), model(inputs()), atol=1e-6)
    path = tmp_path / "transformer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(inputs()), model(inputs()), atol=1e-6)
    np.testing.assert_allclose(ac.load_keras_model(path.read_bytes())(inputs()), model(inputs()), atol=1e-6)


def test_a_seed_gives_one_model_and_each_projection_its_own_weights(model):
    same, other = transformer.transformer(VOCAB, units=16, num_heads=2, seed=3), transformer.transformer(VOCAB, units=16, num_heads=2, seed=4)
    for a, b in zip(model.weights, same.weights):
        assert np.array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(model.get_layer("output").kernel.numpy(), other.get_layer("output").kernel.numpy())
    kernels = [w.numpy().ravel() for name in NAMES for w in model.get_layer(name).weights if w.ndim == 3]
    assert len(kernels) == 4 * len(NAMES)
    assert len({k.tobytes() for k in kernels}) == len(kernels)  # no two projections start equal


def test_positional_encoding_adds_the_numpy_signal():
    x = np.random.default_rng(1).standard_normal((2, 6, 10)).astype(np.float32)
    np.testing.assert_allclose(transformer.PositionalEncoding()(x), x + ac.positional_encoding(6, 10)[None], atol=1e-5)


def test_padding_mask_worked_by_hand():
    mask = transformer.PaddingMask()([np.ones((1, 2), np.int32), np.array([[4, 0, 3]], np.int32)])
    assert np.array_equal(mask, [[[True, False, True], [True, False, True]]])


def reached(model, name):
    """The tensors that reached attention layer `name`: (query, value, attention_mask or None)."""
    query = model.get_layer(f"{name}_norm").output
    if name.endswith("_cross_attention"):
        return query, model.get_layer("encoder_output_norm").output, model.get_layer("cross_padding_mask").output
    if name.startswith("encoder"):
        return query, query, model.get_layer("source_padding_mask").output
    return query, query, None


@pytest.fixture(scope="module")
def dates_run():
    # Dates are padded on the right, so the maps show the padding mask too.
    task = ac.make_task("dates", num_examples=64, num_heldout=8)
    return ac.train(task, mechanism="transformer", units=16, num_heads=2, epochs=1, batch_size=32, frame_examples=8,
                    record_every=1)


def test_run_attention_is_each_layer_called_directly(dates_run):
    run, source = dates_run, dates_run.task.heldout_sources[0]
    maps = run.attention(source)
    assert list(maps) == NAMES
    model_inputs = run.model_inputs(source)
    real = len(run.task.unpadded(source))
    for name in NAMES:
        query, value, mask = reached(run.model, name)
        tensors = keras.Model(run.model.inputs, [query, value] + ([mask] if mask is not None else []))(list(model_inputs))
        layer = run.model.get_layer(name)
        arguments = {"use_causal_mask": True} if mask is None else {"attention_mask": tensors[2]}
        _, expected = layer(tensors[0], tensors[1], return_attention_scores=True, **arguments)
        np.testing.assert_allclose(maps[name], np.asarray(expected)[0], atol=1e-6)
        np.testing.assert_allclose(maps[name].sum(-1), 1.0, atol=1e-5)
        if name.startswith("decoder") and name.endswith("self_attention"):
            assert np.all(np.triu(maps[name], k=1) == 0.0)  # the causal mask: never a later step
        else:
            assert np.all(maps[name][..., real:] == 0.0)  # the source's pads: weight 0
    # ac.model_attention, which finds the tensors by walking the graph, reads the same maps.
    read = ac.model_attention(run.model, model_inputs)
    assert [entry.layer for entry in read] == NAMES
    for entry in read:
        np.testing.assert_allclose(entry.weights, maps[entry.layer], atol=1e-6)


def test_greedy_decoding_feeds_the_model_its_own_outputs(dates_run):
    run, source = dates_run, dates_run.task.heldout_sources[1]
    outputs, alignment = run.predict(source)
    fed = [tasks.START_ID]
    for step in range(run.task.target_length):  # one step at a time, the model called as it is
        logits = run.model([run.task.pad(source)[None], np.array([fed], np.int32)])
        fed.append(int(np.argmax(logits[0, step])))
    assert outputs.tolist() == fed[1:]
    assert np.array_equal(run.model_inputs(source)[1][0], fed[:-1])
    source_labels, decoder_labels = run.token_labels(source)
    assert source_labels[: len(run.task.unpadded(source))] == list(run.task.decode(source).replace(" ", "␣"))
    assert decoder_labels[0] == "<start>" and len(decoder_labels) == run.task.target_length
    # The alignment is the chosen cross-attention head, over the real input.
    layer, head = run.history[-1].alignment_choice.split(", head ")
    np.testing.assert_allclose(alignment, run.attention(source)[layer][int(head) - 1][:, : len(run.task.unpadded(source))],
                               atol=1e-6)
    assert run.history[-1].alignment_choice in run.alignment_choice


def test_a_tiny_run_records_every_map_in_its_frames(dates_run):
    history = dates_run.history
    assert [frame.step for frame in history] == [0, 1, 2]  # the untrained model, then each of 2 batches
    frame = history[-1]
    assert list(frame.maps) == NAMES and frame.maps["decoder_1_cross_attention"].shape == (
        2, dates_run.task.target_length, dates_run.task.source_length)
    assert frame.alignment_choice.startswith("decoder_") and frame.alignment.shape[0] == dates_run.task.target_length
