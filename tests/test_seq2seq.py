"""The encoder-decoder: shapes, the attention it records against NumPy given the same states
and weights, the additive path running the seed's BahdanauAttention itself, greedy decoding."""

import keras
import numpy as np
import pytest

import attention_core as ac
from attention_core.learning import encoder_decoder
from attention_core.learning.encoder_decoder import decoder_inputs
from attention_core.mechanisms import reference

VOCAB, UNITS = 7, 8
ATOL = 1e-5


def as_numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def batch(seed, rows=3, source_steps=5, target_steps=4):
    """Sources with some right padding (id 0) and targets, ids 2..VOCAB-1."""
    rng = np.random.default_rng(seed)
    sources = rng.integers(2, VOCAB, (rows, source_steps)).astype("int32")
    sources[1, 3:] = 0  # a shorter source: two padding steps
    targets = rng.integers(2, VOCAB, (rows, target_steps)).astype("int32")
    return sources, targets


@pytest.fixture(scope="module",
                params=[(mechanism, backwards, False) for mechanism in encoder_decoder.DECODER_ATTENTIONS for backwards in (False, True)]
                + [(mechanism, False, True) for mechanism in encoder_decoder.DECODER_ATTENTIONS],
                ids=lambda param: f"{param[0]}-{'backwards' if param[1] else 'forwards'}{'-coverage' if param[2] else ''}")
def model(request):
    mechanism, read_backwards, coverage = request.param
    model = ac.Seq2SeqAttention(VOCAB, units=UNITS, mechanism=mechanism, seed=3, read_backwards=read_backwards,
                                coverage=coverage)
    sources, targets = batch(0)
    model((sources, decoder_inputs(targets)))
    return model


def test_shapes_and_alignment_rows_are_distributions_over_real_positions(model):
    sources, targets = batch(1)
    steps = model.compute_steps(sources, decoder_inputs(targets))
    assert tuple(steps["logits"].shape) == (3, 4, VOCAB)
    alignment = as_numpy(steps["alignment"])
    assert alignment.shape == (3, 4, 5)
    np.testing.assert_allclose(alignment.sum(-1), 1.0, atol=ATOL)
    assert np.all(alignment[1, :, 3:] == 0.0)  # padding is never looked at
    assert np.all(alignment[1, :, :3] > 0.0)


def test_additive_alignment_is_bahdanau_attention_at_every_step():
    model = ac.Seq2SeqAttention(VOCAB, units=UNITS, mechanism="additive", seed=1)
    assert isinstance(model.attention, ac.BahdanauAttention)
    sources, targets = batch(2)
    steps = model.compute_steps(sources, decoder_inputs(targets))
    encoder_states, decoder_states = as_numpy(steps["encoder_states"]), as_numpy(steps["decoder_states"])
    # Random biases, so the check covers every weight of W1, W2 and V.
    rng = np.random.default_rng(0)
    for variable in model.attention.weights:
        variable.assign(rng.standard_normal(variable.shape).astype("float32"))
    steps = model.compute_steps(sources, decoder_inputs(targets))
    weights = {name: as_numpy(getattr(model.attention, name).kernel).astype(np.float64) for name in ("W1", "W2", "V")}
    biases = {name: as_numpy(getattr(model.attention, name).bias).astype(np.float64) for name in ("W1", "W2", "V")}
    mask = sources != 0
    for b in range(3):
        for i in range(4):
            context, expected = reference.bahdanau_attention(
                encoder_states[b].astype(np.float64), decoder_states[b, i].astype(np.float64),
                weights["W1"], biases["W1"], weights["W2"], biases["W2"], weights["V"], biases["V"], mask=mask[b],
            )
            np.testing.assert_allclose(as_numpy(steps["alignment"])[b, i], expected, atol=ATOL)
            np.testing.assert_allclose(as_numpy(steps["context"])[b, i], context, atol=ATOL)
            # And the layer's own call, on the same states, gives the same weights.
            _, layer_weights = model.attention(encoder_states[b:b + 1], decoder_states[b:b + 1, i], mask=mask[b:b + 1])
            np.testing.assert_allclose(as_numpy(layer_weights)[0, :, 0], expected, atol=ATOL)


def test_dot_alignment_is_the_scaled_dot_product():
    model = ac.Seq2SeqAttention(VOCAB, units=UNITS, mechanism="dot", seed=1)
    assert model.attention.weights == []  # nothing to learn in the attention itself
    sources, targets = batch(3)
    steps = model.compute_steps(sources, decoder_inputs(targets))
    keys, queries = as_numpy(steps["encoder_states"]).astype(np.float64), as_numpy(steps["decoder_states"]).astype(np.float64)
    for b in range(3):
        expected = reference.softmax(queries[b] @ keys[b].T / np.sqrt(UNITS), axis=-1, mask=(sources[b] != 0)[None])
        np.testing.assert_allclose(as_numpy(steps["alignment"])[b], expected, atol=ATOL)
        np.testing.assert_allclose(as_numpy(steps["context"])[b], expected @ keys[b], atol=ATOL)


def test_hand_worked_dot_attention():
    # Two steps, features [1, 0] and [0, 1], query [2, 0]: logits 2/sqrt(2) and 0.
    layer = ac.ScaledDotProductAttention()
    context, weights = layer(np.array([[[1.0, 0.0], [0.0, 1.0]]], "float32"), np.array([[2.0, 0.0]], "float32"))
    first = np.exp(np.sqrt(2)) / (np.exp(np.sqrt(2)) + 1)
    np.testing.assert_allclose(as_numpy(weights)[0, :, 0], [first, 1 - first], atol=ATOL)
    np.testing.assert_allclose(as_numpy(context)[0], [first, 1 - first], atol=ATOL)


def test_greedy_decoding_agrees_with_teacher_forcing_on_its_own_outputs(model):
    sources, _ = batch(4)
    outputs, alignment, decoder_states = model.greedy_decode(sources, 4)
    outputs = as_numpy(outputs)
    steps = model.compute_steps(sources, decoder_inputs(outputs))
    assert np.array_equal(as_numpy(steps["logits"]).argmax(-1), outputs)
    np.testing.assert_allclose(as_numpy(alignment), as_numpy(steps["alignment"]), atol=ATOL)
    np.testing.assert_allclose(as_numpy(decoder_states), as_numpy(steps["decoder_states"]), atol=ATOL)


def test_same_seed_same_weights_other_seed_other_weights():
    def weights(seed):
        model = ac.Seq2SeqAttention(VOCAB, units=UNITS, seed=seed)
        model((batch(0)[0], decoder_inputs(batch(0)[1])))
        return [as_numpy(w) for w in model.weights]

    first, again, other = weights(5), weights(5), weights(6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    # Biases start at zero whatever the seed; every other weight differs.
    assert not any(np.array_equal(a, b) for a, b in zip(first, other) if np.any(a))


def test_coverage_adds_to_the_features_what_each_position_has_been_read():
    # Step i's attention reads encoder_states + read_i @ C, read_i being the sum of the
    # alignments of steps 0..i-1 (zeros at step 0), C the coverage layer's (1, U) kernel.
    model = ac.Seq2SeqAttention(VOCAB, units=UNITS, mechanism="additive", seed=1, coverage=True)
    sources, targets = batch(6)
    model((sources, decoder_inputs(targets)))
    rng = np.random.default_rng(1)
    for variable in (*model.attention.weights, *model.coverage_layer.weights):
        variable.assign(rng.standard_normal(variable.shape).astype("float32"))
    steps = model.compute_steps(sources, decoder_inputs(targets))
    encoder_states = as_numpy(steps["encoder_states"]).astype(np.float64)
    decoder_states = as_numpy(steps["decoder_states"]).astype(np.float64)
    kernel = as_numpy(model.coverage_layer.kernel).astype(np.float64)  # (1, U)
    params = [as_numpy(getattr(getattr(model.attention, name), part)).astype(np.float64)
              for name in ("W1", "W2", "V") for part in ("kernel", "bias")]
    for b in range(3):
        read = np.zeros(sources.shape[1])
        for i in range(targets.shape[1]):
            context, expected = reference.bahdanau_attention(
                encoder_states[b] + read[:, None] @ kernel, decoder_states[b, i], *params, mask=sources[b] != 0)
            np.testing.assert_allclose(as_numpy(steps["alignment"])[b, i], expected, atol=ATOL)
            np.testing.assert_allclose(as_numpy(steps["context"])[b, i], context, atol=ATOL)
            read += expected
    # Without coverage the same seed gives the same weights as before coverage existed: the
    # coverage layer draws its seed last.
    plain, covered = (ac.Seq2SeqAttention(VOCAB, units=UNITS, seed=1, coverage=coverage) for coverage in (False, True))
    for fresh in (plain, covered):
        fresh((sources, decoder_inputs(targets)))
    shared = [as_numpy(w) for w in covered.weights if "coverage" not in w.path]
    assert len(shared) == len(plain.weights) == len(covered.weights) - 1
    assert all(np.array_equal(a, as_numpy(b)) for a, b in zip(shared, plain.weights))


def test_config_round_trip_and_argument_checks():
    model = ac.Seq2SeqAttention(VOCAB, units=UNITS, mechanism="dot", seed=2, read_backwards=True, coverage=True,
                                name="s2s")
    assert ac.Seq2SeqAttention.from_config(model.get_config()).get_config() == model.get_config()
    with pytest.raises(ValueError, match="Expected `mechanism` to be one of"):
        ac.Seq2SeqAttention(VOCAB, mechanism="multiplicative")
    with pytest.raises(ValueError, match="Expected `units` to be a positive integer"):
        ac.Seq2SeqAttention(VOCAB, units=0)


def test_reading_backwards_is_reading_the_reversed_source():
    # A source without padding read right to left gives, at position j, the state a forward
    # reading of the reversed source has at position S-1-j.
    forwards = ac.Seq2SeqAttention(VOCAB, units=UNITS, seed=4)
    backwards = ac.Seq2SeqAttention(VOCAB, units=UNITS, seed=4, read_backwards=True)
    sources = batch(5)[0][[0, 2]]  # the rows without padding
    for model in (forwards, backwards):
        model((sources, decoder_inputs(batch(5)[1][[0, 2]])))
    states, _ = backwards.encode(sources)
    reversed_states, _ = forwards.encode(sources[:, ::-1].copy())
    np.testing.assert_allclose(as_numpy(states), as_numpy(reversed_states)[:, ::-1], atol=ATOL)
    # With padding on the right, the real positions' states do not depend on how much.
    padded = np.concatenate([sources, np.zeros((2, 3), "int32")], axis=1)
    np.testing.assert_allclose(as_numpy(backwards.encode(padded)[0])[:, :5], as_numpy(states), atol=ATOL)
