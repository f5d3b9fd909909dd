"""Heads knocked out (attention_core.heads.knock_out): nothing knocked out is the original model
exactly; a knocked-out head's context is zero before W_o, checked against NumPy to 1e-5; every
other weight is the original's; importance is the gradient a finite difference finds, each
example's own (per-example gates, one trace for any number of examples); a run's
prepare_knock_out compiles what its knock-outs and importance reuse; bad requests are
InputErrors."""

import keras
import numpy as np
import pytest

import attention_core as ac
from attention_core.heads.knock_out import (
    example_gate_gradients,
    gated_copy,
    head_importance,
    knock_out,
    set_knocked_out,
)
from attention_core.your_model.keras_graph import per_example_gates

TOKENS, FEATURES, HEADS, KEY_DIM, VOCAB = 5, 6, 3, 2, 7


@pytest.fixture(scope="module")
def model():
    """ids (B, T) -> Embedding -> self-attention -> cross... a small two-attention functional model."""
    keras.utils.set_random_seed(0)
    ids = keras.Input((TOKENS,), dtype="int32", name="ids")
    x = keras.layers.Embedding(VOCAB, FEATURES, name="embed")(ids)
    first = keras.layers.MultiHeadAttention(HEADS, KEY_DIM, name="first")(x, x)
    second = keras.layers.MultiHeadAttention(2, KEY_DIM, name="second")(first, x)
    return keras.Model(ids, keras.layers.Dense(VOCAB, name="logits")(second))


IDS = np.array([[1, 2, 3, 4, 5], [6, 5, 4, 3, 2]], "int32")


def multi_head_by_numpy(layer, query, value, knocked=()):
    """MultiHeadAttention(query, value) for one example (T, F) in NumPy, the heads in `knocked`
    zeroed before the output projection."""
    (wq, bq), (wk, bk), (wv, bv) = ([w.numpy() for w in dense.weights]
                                    for dense in (layer.query_dense, layer.key_dense, layer.value_dense))
    wo, bo = (w.numpy() for w in layer.output_dense.weights)
    q = np.einsum("tf,fnd->tnd", query, wq) + bq
    k = np.einsum("sf,fnd->snd", value, wk) + bk
    v = np.einsum("sf,fnd->snd", value, wv) + bv
    scores = np.einsum("tnd,snd->nts", q, k) / np.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    context = np.einsum("nts,snd->tnd", weights, v)
    context[:, list(knocked)] = 0.0
    return np.einsum("tnd,ndf->tf", context, wo) + bo


def test_nothing_knocked_out_is_the_original_exactly(model):
    np.testing.assert_array_equal(knock_out(model, []).predict(IDS, verbose=0), model.predict(IDS, verbose=0))


def test_a_knocked_out_heads_context_is_zero_before_the_output_projection(model):
    knocked = knock_out(model, [("first", 1), ("first", 2)])
    embedded = model.get_layer("embed")(IDS).numpy()
    expected = multi_head_by_numpy(model.get_layer("first"), embedded[0], embedded[0], knocked=(1, 2))
    read = keras.Model(knocked.inputs, knocked.get_layer("first").output)
    np.testing.assert_allclose(read.predict(IDS, verbose=0)[0], expected, atol=1e-5)
    unknocked = keras.Model(model.inputs, model.get_layer("first").output).predict(IDS, verbose=0)[0]
    np.testing.assert_allclose(unknocked, multi_head_by_numpy(model.get_layer("first"), embedded[0], embedded[0]),
                               atol=1e-5)
    assert not np.allclose(read.predict(IDS, verbose=0)[0], unknocked, atol=1e-3)


def test_every_other_weight_is_the_originals(model):
    knocked = knock_out(model, [("second", 0)])
    for layer in model.layers:
        copies = [w for w in knocked.get_layer(layer.name).weights if not w.path.endswith("head_gate")]
        for original, copied in zip(layer.weights, copies, strict=True):
            assert original.path.split("/")[-1] == copied.path.split("/")[-1]
            np.testing.assert_array_equal(original.numpy(), copied.numpy())
    np.testing.assert_array_equal(knocked.get_layer("second").head_gate.numpy(), [0, 1])
    np.testing.assert_array_equal(knocked.get_layer("first").head_gate.numpy(), [1, 1, 1])


def test_gates_can_be_set_again_without_a_new_copy(model):
    gated = gated_copy(model)
    assert set_knocked_out(gated, [("second", 1), ("first", 0)]) == (("first", 0), ("second", 1))
    set_knocked_out(gated, [])
    np.testing.assert_array_equal(gated.predict(IDS, verbose=0), model.predict(IDS, verbose=0))


@pytest.mark.parametrize(("heads", "message"), [
    ([("nope", 0)], "no MultiHeadAttention layer named 'nope'; the layers are first, second"),
    ([("first", 3)], "has heads 0 to 2; 3 is none"),
    ([("first", -1)], "has heads 0 to 2"),
    ([("first", 1.0)], "has heads 0 to 2"),
    (["first"], "Name each head as \\(layer name, head\\)"),
    ([("first", h) for h in range(HEADS)] + [("second", 0), ("second", 1)], "every head"),
])
def test_bad_requests_are_input_errors(model, heads, message):
    with pytest.raises(ac.InputError, match=message):
        knock_out(model, heads)


def test_a_model_without_multi_head_attention_cannot_be_masked():
    x = keras.Input((3, 2))
    plain = keras.Model(x, keras.layers.Attention()([x, x]))
    with pytest.raises(ac.InputError, match="no MultiHeadAttention layer"):
        knock_out(plain, [])

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ac.InputError, match="subclassed"):
        knock_out(Subclassed(), [])


def test_importance_is_the_gradient_a_finite_difference_finds(model):
    gated = gated_copy(model)
    targets = np.array([[1, 1, 2, 3, 5], [0, 2, 4, 6, 1]], "int32")
    importance = head_importance(gated, IDS, targets)
    assert {name: scores.shape for name, scores in importance.items()} == {"first": (HEADS,), "second": (2,)}

    def example_losses():
        logits = gated(IDS)
        return keras.ops.convert_to_numpy(
            keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)).mean(-1)  # (E,)

    layer, step = gated.get_layer("first"), 1e-2
    for head in range(HEADS):
        gates = np.ones(HEADS, "float32")
        gates[head] = 1 + step
        layer.head_gate.assign(gates)
        above = example_losses()
        gates[head] = 1 - step
        layer.head_gate.assign(gates)
        below = example_losses()
        expected = np.abs((above - below) / (2 * step)).mean()
        assert importance["first"][head] == pytest.approx(expected, rel=1e-2, abs=1e-4)
    layer.head_gate.assign(np.ones(HEADS, "float32"))


def test_importance_averages_each_examples_own_gradient_from_one_trace(model):
    gated = gated_copy(model)
    targets = np.array([[1, 1, 2, 3, 5], [0, 2, 4, 6, 1]], "int32")
    both = head_importance(gated, IDS, targets)
    apart = [head_importance(gated, IDS[e:e + 1], targets[e:e + 1]) for e in range(2)]
    for name, scores in both.items():  # the mean of |gradient| per example, not |mean gradient|
        np.testing.assert_allclose(scores, (apart[0][name] + apart[1][name]) / 2, rtol=1e-5, atol=1e-9)
    assert example_gate_gradients(gated).experimental_get_tracing_count() == 1  # any number of examples


def test_per_example_gates_gate_each_example_apart(model):
    gated = gated_copy(model)
    first = gated.get_layer("first")
    with per_example_gates({first: keras.ops.convert_to_tensor([[1, 1, 1], [1, 0, 0]], "float32")}):
        gated_apart = keras.ops.convert_to_numpy(gated(IDS))
    assert first._example_gate is None  # head_gate again after the block
    np.testing.assert_array_equal(gated_apart[0], model.predict(IDS, verbose=0)[0])
    knocked = knock_out(model, [("first", 1), ("first", 2)]).predict(IDS, verbose=0)
    np.testing.assert_allclose(gated_apart[1], knocked[1], atol=1e-6)


@pytest.fixture(scope="module")
def transformer_run(small_transformer_run):
    return small_transformer_run  # tests/conftest.py's, shared with other modules


def test_a_run_evaluates_with_heads_knocked_out(transformer_run):
    run = transformer_run
    plain = run.evaluate()
    assert set(plain) == {"accuracy", "exact_match", "alignment_score", "loss"}
    assert run.evaluate(knock_out=[]) == plain  # nothing knocked out: exactly the unmasked metrics
    knocked = run.evaluate(knock_out=[("decoder_1_cross_attention", 0), ("decoder_1_cross_attention", 1)])
    assert knocked["loss"] != plain["loss"]
    assert run.evaluate() == plain  # the run's own model is untouched
    # The held-out loss is the masked model's, computed apart from the run.
    model = knock_out(run.model, [("decoder_1_cross_attention", 0), ("decoder_1_cross_attention", 1)])
    sources, targets = np.asarray(run.task.heldout_sources), np.asarray(run.task.heldout_targets)
    fed = np.concatenate([np.ones_like(targets[:, :1]), targets[:, :-1]], axis=1)  # the start id (1), then the targets
    logits = keras.ops.convert_to_numpy(model((sources, fed)))
    shifted = logits - logits.max(-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_softmax, targets[..., None], axis=-1).mean()
    assert knocked["loss"] == pytest.approx(expected, abs=1e-5)


def test_a_runs_head_importance_and_bad_knock_outs(transformer_run):
    importance = transformer_run.head_importance()
    assert list(importance) == transformer_run.learner.attention_names
    assert all(scores.shape == (2,) and np.all(scores >= 0) for scores in importance.values())
    with pytest.raises(ac.InputError, match="has heads 0 to 1"):
        transformer_run.evaluate(knock_out=[("encoder_1_self_attention", 2)])
    task = ac.make_task("reverse", length=4, vocab_size=5, num_examples=64, num_heldout=8)
    additive = ac.Run(task, units=8, frame_examples=8)
    with pytest.raises(ac.InputError, match="for a transformer run; this one uses additive"):
        additive.evaluate(knock_out=[("attention", 0)])
    with pytest.raises(ac.InputError, match="for a transformer run; this one uses additive"):
        additive.prepare_knock_out()


def test_prepare_knock_out_compiles_what_knock_outs_reuse(transformer_run):
    run = transformer_run
    assert run.prepare_knock_out() is run
    gated = run._gated  # the gated copy's learner, its decoder compiled, its importance traced
    gradients = example_gate_gradients(gated.model)
    traces = gated._greedy.experimental_get_tracing_count(), gradients.experimental_get_tracing_count()
    assert traces == (1, 1)
    knocked = run.evaluate(3, knock_out=[("decoder_1_cross_attention", 1)])
    importance = run.head_importance()
    assert run.prepare_knock_out()._gated is gated  # made once
    assert (gated._greedy.experimental_get_tracing_count(), gradients.experimental_get_tracing_count()) == traces
    assert knocked == run.evaluate(3, knock_out=[("decoder_1_cross_attention", 1)])
    assert all(scores.shape == (2,) for scores in importance.values())


def test_every_frame_keeps_every_heads_scores(transformer_run):
    frame = transformer_run.history[-1]
    names = transformer_run.learner.attention_names
    assert [(score.layer, score.head) for score in frame.head_scores] == [(name, h) for name in names for h in range(2)]
    cross = [score for score in frame.head_scores if score.layer.endswith("_cross_attention")]
    assert all(score.ideal_agreement is not None for score in cross)
    assert all(score.ideal_agreement is None for score in frame.head_scores if score not in cross)
    # The cross-attention head the run draws as its alignment has the frame's alignment score.
    layer, head = frame.alignment_choice.split(", head ")
    chosen = next(s for s in cross if (s.layer, s.head) == (layer, int(head) - 1))
    assert chosen.ideal_agreement == pytest.approx(frame.alignment_score)
