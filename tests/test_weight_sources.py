"""Weights from a trained layer on the Self-attention and Compare pages.

A tiny Transformer is trained here (a few batches of reverse at length 4) and put in the session
as Train and watch leaves it (`tw_run`); a tiny functional model is built, saved and put in the
session as the Your model page leaves it (`ym_model`). Every number a view shows equals the
library's `ac.trace_attention_call` for the same layer and input.
"""

import html
import io

import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import attention_core as ac
from webapp import weight_sources
from attention_core.learning import training
from attention_core.mechanisms import export
from tests.test_pages import (
    PAGES,
    ROOT,
    assert_close,
    charts,
    heatmap_z,
    hover_lines,
    markdown_texts,
    open_view,
    passed_checks,
    set_widgets,
    unescape_markdown,
    widget,
    widgets,
)

# The Self-attention views that hold maps.
MAP_VIEWS = ["Attention weights", "Scores", "Every head", "Q, K, V", "Output", "Projection weights", "Token vectors"]


@pytest.fixture(scope="module")
def run(small_transformer_run):
    return small_transformer_run  # tests/conftest.py's, shared with other modules


def open_page(page, session, query_params=None, **values):
    at = AppTest.from_file(ROOT / PAGES[page], default_timeout=90)
    for key, value in session.items():
        at.session_state[key] = value
    at.query_params.update(query_params or {})
    at.run()
    return set_widgets(at, **values)


def assert_clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def charts_of_every_view(at):
    """{chart key: spec} of the Self-attention views that hold maps, each opened in turn, clean."""
    shown = {}
    for view in MAP_VIEWS:
        assert_clean(open_view(at, "sa_view", view))
        shown.update(charts(at))
    return shown


def labels_of(spec, axis):
    """A heatmap's category labels on `axis` ("x" or "y"), as the figure names them."""
    return [label for label in spec["data"][0][axis]]


def assert_labels(spec, rows, cols):
    assert len(labels_of(spec, "y")) == len(rows) and len(labels_of(spec, "x")) == len(cols)
    for label, token in zip(labels_of(spec, "y"), rows):
        assert html.escape(token) in label
    for label, token in zip(labels_of(spec, "x"), cols):
        assert html.escape(token) in label


# --------------------------------------------------------------------------- a Train and watch run


@pytest.mark.parametrize("call_index", [0, 1, 2], ids=["encoder self", "decoder causal", "cross"])
def test_every_view_of_a_runs_layer_shows_the_librarys_trace(run, call_index):
    source = run.task.unpadded(run.task.heldout_sources[2])
    trace = ac.trace_attention_call(run.model, run.model_inputs(source), call_index)
    source_labels, decoder_labels = run.token_labels(source)
    rows, cols = [(source_labels, source_labels), (decoder_labels, decoder_labels), (decoder_labels, source_labels)][call_index]
    at = open_page("sa", {"tw_run": run}, sa_source="Train and watch", sa_layer=call_index, sa_example=3, sa_head=2)
    assert_clean(at)
    shown = charts_of_every_view(at)
    assert_close(heatmap_z(shown["sa_weights"]), trace.weights[1])
    assert_close(heatmap_z(shown["sa_scores"]), trace.scaled_scores[1])
    for h in range(2):
        assert_close(heatmap_z(shown[f"sa_head_{h}"]), trace.weights[h])
    for field in ("query", "key", "value"):
        assert_close(heatmap_z(shown[f"sa_matrix_{field}"]), getattr(trace, field))
    assert_close(heatmap_z(shown["sa_output"]), trace.output)
    assert_close(heatmap_z(shown["sa_projected_output"]), trace.projected_output)
    assert_close(heatmap_z(shown["sa_kernel_query"]), trace.query_dense.kernel)
    assert_close(heatmap_z(shown["sa_kernel_output"]), trace.output_dense.kernel)
    assert_close(heatmap_z(shown["sa_inputs"]), trace.inputs)
    # Rows are the query tokens, columns the key tokens (the source's, for cross-attention).
    assert_labels(shown["sa_weights"], rows, cols)
    assert_labels(shown["sa_matrix_key"], cols, [f"u{i + 1}" for i in range(16)])
    if call_index == 2:
        assert_close(heatmap_z(shown["sa_key_inputs"]), trace.key_inputs)
    if call_index == 1:  # the decoder's causal mask: the hover says why a cell is 0
        assert hover_lines(shown["sa_weights"])[0, 3] == "masked (the key comes after the query): exp = 0, weight 0"
    # The note says where the weights come from, in place of the untrained one.
    (note,) = [unescape_markdown(t) for t in markdown_texts(at) if "Trained weights" in t]
    layer = ac.attention_calls(run.model)[call_index].layer
    assert f"layer {layer} of this session's Transformer from Train and watch (reverse, length 4, after 1 epoch" in note
    assert "held-out example 3" in note
    assert not [t for t in markdown_texts(at) if "Untrained" in t]


def test_one_token_and_the_score_picker_use_the_trained_layer(run):
    source = run.task.unpadded(run.task.heldout_sources[0])
    trace = ac.trace_attention_call(run.model, run.model_inputs(source), 2)
    at = open_page("sa", {"tw_run": run}, {"sa_view": "One token"}, sa_source="Train and watch", sa_layer=2, sa_token=2)
    assert_clean(at)
    (steps,) = [frame.value for frame in at.dataframe if "exp(s − m)" in frame.value.columns]
    np.testing.assert_allclose(steps["weight (the layer's)"], trace.weights[0, 2], atol=1e-6)
    np.testing.assert_allclose(steps["exp ÷ Σ"], trace.weights[0, 2], atol=1e-6)
    at = open_page("sa", {"tw_run": run}, {"sa_view": "Scores"}, sa_source="Train and watch", sa_layer=2,
                   sa_token=1, sa_key=3)
    assert_clean(at)
    (code,) = [c.value for c in at.code]
    assert f"= {trace.raw_scores[0, 1, 3]:.6g}" in code and f"= {trace.weights[0, 1, 3]:.6g}" in code


def test_the_seeds_controls_are_hidden_with_a_reason_and_come_back(run):
    at = open_page("sa", {"tw_run": run}, sa_source="Train and watch")
    assert_clean(at)
    assert not {"sa_units", "sa_heads", "sa_seed", "sa_scale", "sa_causal", "sa_positions", "sa_text"} & set(widgets(at))
    assert any("controls are hidden" in c.value for c in at.sidebar.caption)
    set_widgets(at, sa_source="Random weights")
    assert_clean(at)
    assert {"sa_units", "sa_heads", "sa_seed", "sa_text"} <= set(widgets(at))
    assert any("Untrained" in t for t in markdown_texts(at))


def test_typed_symbols_are_the_input_and_bad_ones_say_why(run):
    at = open_page("sa", {"tw_run": run}, sa_source="Train and watch", sa_symbols="1 2 3 4")
    assert_clean(at)
    source = run.task.encode("1234")
    trace = ac.trace_attention_call(run.model, run.model_inputs(source), 0)
    assert_close(heatmap_z(charts(at)["sa_weights"]), trace.weights[0])
    set_widgets(at, sa_symbols="12")
    assert not at.exception
    (error,) = at.error
    assert "exactly 4" in unescape_markdown(error.value)
    set_widgets(at, sa_symbols="")
    assert_clean(at)


def test_without_a_run_the_source_is_not_offered_and_a_link_to_it_falls_back_with_a_note():
    at = open_page("sa", {}, {"sa_source": "Train and watch"})
    assert_clean(at)
    assert widget(at, "sa_source").options == ["Random weights"]
    assert widget(at, "sa_source").value == "Random weights"
    assert any("train a Transformer on [Train and watch](train-and-watch)" in c.value for c in at.sidebar.caption)
    assert any("The link's value 'Train and watch' for sa_source was not allowed here; using 'Random weights'"
               in unescape_markdown(w.value) for w in at.warning)


def test_a_runs_inputs_and_their_labels_come_from_one_decoding(run, monkeypatch):
    source = run.task.unpadded(run.task.heldout_sources[1])
    decodings = []
    decode = run.learner.decode
    monkeypatch.setattr(run.learner, "decode", lambda sources: decodings.append(sources) or decode(sources))
    (padded, fed), (source_labels, decoder_labels) = run.inputs_and_labels(source)
    assert len(decodings) == 1
    assert source_labels == training.symbol_labels(run.task, padded[0])
    assert decoder_labels == training.symbol_labels(run.task, fed[0])
    for got, expected in zip((padded, fed), run.model_inputs(source)):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("page", ["sa", "cmp"])
def test_a_run_that_trains_is_not_offered_until_it_is_paused(run, page):
    """Its weights change while it trains: the sidebar says to pause it, and offers it once paused."""
    moving = ac.Run(run.task, mechanism="transformer", units=16, num_layers=1, num_heads=2)
    for status in ("training", "waiting"):
        moving.status = status
        at = open_page(page, {"tw_run": moving}, {f"{page}_source": "Train and watch"})
        assert not at.exception, [e.value for e in at.exception]
        assert widget(at, f"{page}_source").options == ["Random weights"]
        assert any(f"this session's Transformer is {status} on [Train and watch](train-and-watch); pause it there"
                   in c.value for c in at.sidebar.caption)
    moving.status = "paused"
    at = open_page(page, {"tw_run": moving})
    assert_clean(at)
    assert widget(at, f"{page}_source").options == ["Random weights", "Train and watch"]
    assert not any("pause it there" in c.value for c in at.sidebar.caption)


# --------------------------------------------------------------------------- Compare with a trained layer


@pytest.mark.parametrize("call_index", [0, 1], ids=["encoder self", "decoder causal"])
def test_compare_shows_the_trained_layer_beside_untrained_mechanisms_on_its_inputs(run, call_index):
    source = run.task.unpadded(run.task.heldout_sources[0])
    trace = ac.trace_attention_call(run.model, run.model_inputs(source), call_index)
    at = open_page("cmp", {"tw_run": run}, cmp_source="Train and watch", cmp_layer=call_index, cmp_units=8, cmp_seed=5)
    assert_clean(at)
    shown = charts(at)
    # The multi-head map is the trained layer's, the mean of its heads.
    assert_close(heatmap_z(shown["cmp_multi-head"]), trace.weights.mean(axis=0))
    # The others are the seed's mechanisms on the vectors that reached the layer, with its mask:
    # none for the encoder, the causal mask for the decoder's self-attention.
    untrained = {r.name: r for r in ac.compare_mechanisms(trace.inputs, 8, 1, 5, use_causal_mask=call_index == 1)}
    for name in ("dot-product", "scaled dot-product", "additive"):
        assert_close(heatmap_z(shown[f"cmp_{name}"]), untrained[name].weights)
    assert len(passed_checks(at)) == 4, [e.value for e in at.error]
    assert any("The multi-head map is the trained layer's own" in i.value for i in at.info)
    assert any("- **multi-head**: The trained layer: its heads' mean" in text for text in markdown_texts(at))
    assert not {"cmp_heads", "cmp_causal", "cmp_positions", "cmp_text", "cmp_input"} & set(widgets(at))


def test_compare_offers_only_layers_that_attend_over_one_sequence(run):
    at = open_page("cmp", {"tw_run": run}, cmp_source="Train and watch")
    assert_clean(at)
    names = [call.layer for call in ac.attention_calls(run.model) if call.is_self_attention]
    assert [option.split(" ")[0] for option in widget(at, "cmp_layer").options] == names


def test_a_cross_attention_layer_is_refused_by_compare_with_why(run):
    source = run.task.unpadded(run.task.heldout_sources[0])
    trace = ac.trace_attention_call(run.model, run.model_inputs(source), 2)
    with pytest.raises(ac.InputError, match="cross-attention"):
        ac.compare_with_trained(trace, trace.weights, 8, 0)


def test_compare_takes_a_padding_mask_from_the_trained_layer():
    """A padded self-attention layer: the other mechanisms get the same padding mask (keys 0)."""
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, seed=1)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(12, 6, mask_zero=True, embeddings_initializer=keras.initializers.RandomNormal(seed=2))(ids)
    model = keras.Model(ids, layer(x, x))
    inputs = np.array([[3, 5, 7, 0, 0]], np.int32)
    trace = ac.trace_attention_call(model, inputs, 0)
    called = ac.model_attention(model, inputs)[0].weights
    results = {r.name: r for r in ac.compare_with_trained(trace, called, 4, 0)}
    assert all(r.verified for r in results.values())
    for r in results.values():
        np.testing.assert_array_equal(r.weights[:, 3:], 0.0)
        np.testing.assert_array_equal(r.weights[3:], 0.0)
    alone = {r.name: r for r in ac.compare_mechanisms(trace.inputs[:3], 4, 1, 0)}
    np.testing.assert_allclose(results["additive"].weights[:3, :3], alone["additive"].weights, atol=1e-6)


def test_compare_takes_the_app_transformers_key_padding_mask_on_a_padded_date():
    """The encoder's PaddingMask hides padded keys only: Compare gives the others that mask and says so."""
    task = ac.make_task("dates", num_examples=64, seed=0)
    paused = ac.Run(task, mechanism="transformer", units=16, num_layers=1, num_heads=2)
    paused.status = "paused"
    real = len(task.unpadded(task.heldout_sources[1]))
    assert real < task.source_length  # held-out example 2 is padded
    at = open_page("cmp", {"tw_run": paused}, cmp_source="Train and watch", cmp_layer=0, cmp_example=2)
    assert_clean(at)
    assert len(passed_checks(at)) == 4
    shown = charts(at)
    for name in ac.COMPARED_MECHANISMS:
        weights = heatmap_z(shown[f"cmp_{name}"])
        np.testing.assert_array_equal(weights[:, real:], 0.0)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)  # padded queries keep their rows
    assert any("every query keeps its row, a padded one too (the mask pads keys only)" in i.value for i in at.info)


# --------------------------------------------------------------------------- a model uploaded on Your model

EXAMPLE = ROOT / "examples" / "sentiment.keras"


def padded_causal_model():
    """A model built here: ids -> Embedding(mask_zero) -> causal MultiHeadAttention over itself."""
    ids = keras.Input((None,), dtype="int32", name="ids")
    x = keras.layers.Embedding(20, 6, mask_zero=True, embeddings_initializer=keras.initializers.RandomNormal(seed=4))(ids)
    attended = keras.layers.MultiHeadAttention(num_heads=3, key_dim=2, seed=5, name="causal_attention")(
        x, x, use_causal_mask=True)
    return keras.Model(ids, keras.layers.Dense(2)(attended))


def test_every_view_of_an_uploaded_models_layer_shows_the_librarys_trace():
    model = padded_causal_model()
    upload = ("causal.keras", ac.model_bytes(model))
    text = "3 14 15 0 0"
    inputs = ac.model_inputs_from_text(model, text)
    trace = ac.trace_attention_call(model, inputs, 0)
    at = open_page("sa", {"ym_model": upload}, sa_source="Your model", sa_input=text, sa_head=3)
    assert_clean(at)
    shown = charts_of_every_view(at)
    assert_close(heatmap_z(shown["sa_weights"]), trace.weights[2])
    assert_close(heatmap_z(shown["sa_scores"]), trace.scaled_scores[2])
    assert_close(heatmap_z(shown["sa_projected_output"]), trace.projected_output)
    assert_close(heatmap_z(shown["sa_kernel_output"]), trace.output_dense.kernel)
    # Padded keys (id 0) and keys after the query weigh exactly 0.
    np.testing.assert_array_equal(heatmap_z(shown["sa_weights"])[:, 3:], 0.0)
    np.testing.assert_array_equal(np.triu(heatmap_z(shown["sa_weights"]), 1), 0.0)
    assert_labels(shown["sa_weights"], ["3", "14", "15", "0", "0"], ["3", "14", "15", "0", "0"])
    lines = hover_lines(shown["sa_weights"])
    assert lines[0, 1] == "masked (the key comes after the query): exp = 0, weight 0"
    assert lines[2, 4] == "masked (the key is padding): exp = 0, weight 0"
    assert lines[4, 0] == "masked (the query is padding): exp = 0, weight 0"
    (note,) = [unescape_markdown(t) for t in markdown_texts(at) if "Trained weights" in t]
    assert "layer causal_attention of your model 'causal.keras', on the input typed above" in note


def test_the_example_model_reads_text_on_both_pages():
    upload = ("sentiment.keras", EXAMPLE.read_bytes())
    model = ac.load_keras_model(upload[1])
    text = "the film was not good"
    inputs = ac.model_inputs_from_text(model, text)
    trace = ac.trace_attention_call(model, inputs, 0)
    at = open_page("sa", {"ym_model": upload}, sa_source="Your model", sa_input=text)
    assert_clean(at)
    shown = charts(at)
    assert_close(heatmap_z(shown["sa_weights"]), trace.weights[0])
    assert [label.split("'")[1].strip("\u2068\u2069") for label in labels_of(shown["sa_weights"], "y")][:5] == text.split()
    at = open_page("cmp", {"ym_model": upload}, cmp_source="Your model", cmp_input=text)
    assert_clean(at)
    assert_close(heatmap_z(charts(at)["cmp_multi-head"]), trace.weights.mean(axis=0))
    assert len(passed_checks(at)) == 4


def test_input_the_uploaded_model_cannot_take_says_why_and_the_page_stays_usable():
    upload = ("causal.keras", ac.model_bytes(padded_causal_model()))
    at = open_page("sa", {"ym_model": upload}, sa_source="Your model", sa_input="3 99")
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    assert "99" in unescape_markdown(error.value)
    set_widgets(at, sa_input="3 4")
    assert_clean(at)
    set_widgets(at, sa_source="Random weights")
    assert_clean(at)
    assert any("Untrained" in t for t in markdown_texts(at))


def test_a_trained_layers_downloads_are_offered_and_hold_its_whole_trace(run):
    source = run.task.unpadded(run.task.heldout_sources[0])
    trace = ac.trace_attention_call(run.model, run.model_inputs(source), 2)
    at = open_page("sa", {"tw_run": run}, sa_source="Train and watch", sa_layer=2)
    at.session_state["self_attention_downloads"] = True
    at.run()
    assert_clean(at)
    assert [b.proto.label for b in at.get("download_button")] == ["Tensors as JSON", "Tensors as CSV",
                                                                    "Tensors as NumPy .npz"]
    files = np.load(io.BytesIO(export.trace_to_npz(trace, {"weights_from": "a run"})))
    assert {"key_inputs", "output_dense.kernel", "projected_output", "attention_mask", "metadata.weights_from"} <= set(files.files)
    np.testing.assert_array_equal(files["key_inputs"], trace.key_inputs)


def test_each_run_has_its_own_number_for_the_caches(run):
    other = ac.Run(run.task, mechanism="transformer", units=16, num_layers=1, num_heads=2)
    assert weight_sources.run_number(run) == weight_sources.run_number(run) != weight_sources.run_number(other)
