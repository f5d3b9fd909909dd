"""Two sentences as one padded batch: the library's padding mask, and the Self-attention page's Padding view.

The layer applies the mask itself; the tests check its effect (padded keys weigh exactly 0, padded
queries attend to nothing, each sentence's real part equals the sentence alone) and that it
equals `keras.layers.MultiHeadAttention` given the same weights and the same attention mask.
"""

import io

import numpy as np
import pytest

import attention_core as ac  # first: it quiets TensorFlow before keras loads it
from webapp import cached_traces
from attention_core.mechanisms import export, padding
from attention_core.text import explain
from tests.test_pages import (
    assert_healthy,
    charts,
    heatmap_z,
    hover_lines,
    open_view,
    page_defaults,
    reset_button,
    run_page,
    set_widgets,
    unescape_markdown,
    widget,
)
from webapp import costs

DIM = 6
LONG, SHORT = "The cat sat on the mat.", "A dog slept."


def batch_of(units=4, num_heads=2, use_scale=True, use_causal_mask=False, texts=(LONG, SHORT), seed=3):
    layer = ac.SelfAttention(units, num_heads=num_heads, use_scale=use_scale, seed=seed)
    sentences = [ac.trace_text(text, DIM, seed=seed) for text in texts]
    return layer, sentences, ac.trace_padded_batch(layer, sentences, use_causal_mask=use_causal_mask)


def test_the_shorter_sentence_is_padded_with_zeros_and_masked():
    _, sentences, batch = batch_of()
    assert batch.lengths == (7, 4)
    assert batch.tokens[1] == ("A", "dog", "slept", ".", ac.PAD_LABEL, ac.PAD_LABEL, ac.PAD_LABEL)
    assert batch.tokens[0] == sentences[0].tokens
    np.testing.assert_array_equal(batch.padding_mask, [[True] * 7, [True] * 4 + [False] * 3])
    np.testing.assert_array_equal(batch.inputs[1, 4:], 0)
    np.testing.assert_array_equal(batch.inputs[1, :4], sentences[1].inputs)
    # Query i may attend to key j only when both are real tokens.
    real = batch.padding_mask
    np.testing.assert_array_equal(batch.attention_mask, real[:, :, None] & real[:, None, :])
    assert not batch.weights.flags.writeable and not batch.padding_mask.flags.writeable


@pytest.mark.parametrize("use_causal_mask", [False, True])
def test_padded_keys_weigh_exactly_zero_and_padded_queries_attend_to_nothing(use_causal_mask):
    _, _, batch = batch_of(use_causal_mask=use_causal_mask)
    padded = ~batch.padding_mask[1]
    assert np.all(batch.weights[1][:, :, padded] == 0.0)  # every head, every query: exactly 0
    assert np.all(batch.weights[1][:, padded, :] == 0.0)
    assert np.all(batch.output[1][padded] == 0.0)
    real = batch.padding_mask[1]
    np.testing.assert_allclose(batch.weights[1][:, real][:, :, real].sum(axis=-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(batch.weights == 0.0, ~batch.attention_mask[:, None] | (batch.weights == 0.0))


@pytest.mark.parametrize("use_causal_mask", [False, True])
@pytest.mark.parametrize("use_scale", [False, True])
def test_each_sentences_real_part_equals_the_sentence_alone(use_causal_mask, use_scale):
    layer, sentences, batch = batch_of(use_scale=use_scale, use_causal_mask=use_causal_mask)
    for b, sentence in enumerate(sentences):
        alone = ac.trace_self_attention(layer, sentence, use_causal_mask=use_causal_mask)
        n = batch.lengths[b]
        np.testing.assert_allclose(batch.weights[b][:, :n, :n], alone.weights, rtol=0, atol=1e-6)
        np.testing.assert_allclose(batch.scaled_scores[b][:, :n, :n], alone.scaled_scores, rtol=0, atol=1e-5)
        np.testing.assert_allclose(batch.output[b][:n], alone.output, rtol=0, atol=1e-6)


@pytest.mark.parametrize("use_causal_mask", [False, True])
def test_equals_keras_multi_head_attention_given_the_same_weights_and_mask(use_causal_mask):
    layer, _, batch = batch_of(units=6, num_heads=3, use_causal_mask=use_causal_mask)
    mha = ac.multi_head_attention_like(layer, batch.inputs.shape)
    real = batch.padding_mask
    output, weights = mha(batch.inputs, batch.inputs, attention_mask=real[:, :, None] & real[:, None, :],
                          use_causal_mask=use_causal_mask, return_attention_scores=True)
    np.testing.assert_allclose(batch.weights, np.asarray(weights), rtol=0, atol=1e-6)
    # Its identity output projection adds a zero bias, so a padded query's output is 0 there too.
    np.testing.assert_allclose(batch.output, np.asarray(output), rtol=0, atol=1e-6)


def test_a_hand_worked_batch():
    """One unit, one head, unscaled, kernels 1 and biases 0: q = k = v = x, score = x_i · x_j."""
    layer = ac.SelfAttention(1, num_heads=1, use_scale=False)
    layer.build((2, 2, 1))
    for dense in (layer.query_dense, layer.key_dense, layer.value_dense):
        dense.kernel.assign([[1.0]])
    tokens, inputs, mask = padding.pad_texts([ac.trace_text("a b", 1), ac.trace_text("c", 1)])
    steps = ac.trace_padded_batch(layer, [ac.trace_text("a b", 1), ac.trace_text("c", 1)])
    a, b = inputs[0, :, 0]
    e = np.exp([a * a, a * b])
    np.testing.assert_allclose(steps.weights[0, 0, 0], e / e.sum(), rtol=1e-6)
    np.testing.assert_array_equal(steps.weights[1, 0], [[1.0, 0.0], [0.0, 0.0]])  # "c" alone: weight 1 on itself
    assert tokens == (("a", "b"), ("c", ac.PAD_LABEL))


def test_why_a_cell_is_masked():
    real = np.array([True, True, False])
    assert padding.why_masked(real, 2, 0) == "the query is padding"
    assert padding.why_masked(real, 0, 2) == "the key is padding"
    assert padding.why_masked(real, 0, 1) == "the key comes after the query"
    texts = explain.softmax_hover_texts(np.zeros((3, 3)), np.zeros((3, 3)), np.eye(3, dtype=bool),
                                        lambda i, j: padding.why_masked(real, i, j))
    assert texts[0, 2] == "masked (the key is padding): exp = 0, weight 0"


def test_a_models_mask_says_why_each_cell_is_masked():
    real = np.array([True, True, True, False])
    allowed = real[:, None] & real[None, :] & np.tril(np.ones((4, 4), bool))
    allowed[2, 0] = False  # a mask of the model's own making
    why = padding.mask_reasons(allowed)
    assert [why(3, 0), why(0, 3), why(0, 1), why(2, 0)] == [
        "the query is padding", "the key is padding", "the key comes after the query", "the model's attention mask"]


def test_a_batch_costs_its_sentences_times_one_sequence():
    one = costs.self_attention_cost(100, 2, 8)
    two = costs.self_attention_cost(100, 2, 8, batch=2)
    assert two.peak_bytes == 2 * one.peak_bytes
    assert two.description.startswith("2 sentences × 2 heads")


# --------------------------------------------------------------------------- the page's Padding view

PADDING_VIEW = {"sa_view": "Padding"}


def library_batch(settings):
    s = {**page_defaults("sa"), **settings}
    layer = ac.SelfAttention(s["sa_units"], num_heads=s["sa_heads"], use_scale=s["sa_scale"], seed=s["sa_seed"])
    sentences = [ac.trace_text(text, cached_traces.EMBEDDING_DIM, seed=s["sa_seed"], add_positions=s["sa_positions"])
                 for text in (s["sa_text"], s["sa_text2"])]
    return ac.trace_padded_batch(layer, sentences, use_causal_mask=s["sa_causal"]), s


@pytest.mark.parametrize("settings", [{}, {"sa_causal": True, "sa_heads": 4, "sa_head": 3, "sa_text2": "Hi."}],
                         ids=["defaults", "causal"])
def test_the_padding_view_shows_the_mask_and_each_sentences_weights_as_the_library(settings):
    at = run_page("sa", PADDING_VIEW, **settings)
    assert_healthy(at)
    batch, s = library_batch(settings)
    shown = charts(at)
    np.testing.assert_array_equal(heatmap_z(shown["sa_padding_mask"]), batch.padding_mask.astype(float))
    assert ("sa_causal_mask" in shown) == s["sa_causal"]
    if s["sa_causal"]:
        np.testing.assert_array_equal(heatmap_z(shown["sa_causal_mask"]), np.tril(np.ones((11, 11))))
    head = s["sa_head"] - 1 if s["sa_heads"] > 1 else 0
    for b in range(2):
        np.testing.assert_allclose(heatmap_z(shown[f"sa_padded_weights_{b}"]), batch.weights[b, head], rtol=0, atol=1e-6)
    short = shown["sa_padded_weights_1"]
    assert short["data"][0]["y"][-1].startswith("'\u2068&lt;pad&gt;")
    lines = hover_lines(short).ravel()
    assert any("masked (the key is padding)" in line for line in lines)
    assert any("masked (the query is padding)" in line for line in lines)
    text = " ".join(unescape_markdown(m.value) for m in at.markdown)
    assert "padded keys get weight exactly 0" in text and "a padded query attends to nothing" in text


def test_the_padding_views_download_holds_the_mask():
    at = run_page("sa", PADDING_VIEW)
    at.session_state["padded_batch_downloads"] = True
    at.run()
    batch, _ = library_batch({})
    buttons = {b.key: b for b in at.get("download_button")}
    assert "padded_batch_npz" in buttons
    assert [e.label for e in at.expander if "Download" in e.label] == ["Download the batch's every tensor, masks included",
                                                                       "Download every tensor"]
    files = np.load(io.BytesIO(export.trace_to_npz(batch)))
    np.testing.assert_array_equal(files["padding_mask"], batch.padding_mask)
    np.testing.assert_array_equal(files["attention_mask"], batch.attention_mask)


@pytest.mark.parametrize(("value", "phrase"), [("", "empty"), ("word " * 1100, "the limit is 1024")],
                         ids=["empty", "over the limit"])
def test_a_bad_second_sentence_shows_a_message_and_the_page_works(value, phrase):
    at = run_page("sa", PADDING_VIEW)
    set_widgets(at, sa_text2=value)
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    assert phrase in unescape_markdown(error.value)
    assert widget(at, "sa_text2").value == value
    # The rest of the page still works: another view draws, and reset clears the bad sentence.
    assert_healthy(open_view(at, "sa_view", "Scores"))
    reset_button(at).click()
    at.run()
    assert at.session_state["sa_text2"] == page_defaults("sa")["sa_text2"]


def test_the_mask_figure_shows_the_mask_and_what_each_cell_means():
    allowed = np.array([[True, True, False], [True, False, False]])
    texts = explain.mask_texts(allowed, lambda r, c: f"real {r}{c}", lambda r, c: "padding")
    figure = ac.figures.mask_heatmap(allowed, ["s1", "s2"], ["1", "2", "3"], title="<b>mask</b>", row_title="sentence",
                                     col_title="position", hover_texts=texts)
    (trace,) = figure.data
    np.testing.assert_array_equal(trace.z, allowed.astype(float))
    assert (trace.zmin, trace.zmax) == (0.0, 1.0)
    assert [list(row) for row in trace.customdata] == [["real 00", "real 01", "masked: padding"],
                                                       ["real 10", "masked: padding", "masked: padding"]]
    assert "<b>" not in figure.layout.title.text
