"""Train and watch's figures: the alignment map shows the matrix as given, on 0..1, with output
steps down and input positions across; the learning curves carry the recorded numbers."""

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from attention_core.figures.learning import (
    alignment_heatmap,
    learning_curves,
    model_view,
    model_view_maps,
)
from tests.test_pages import decode


def test_alignment_heatmap_shows_the_matrix_with_outputs_down_and_inputs_across():
    alignment = np.array([[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]])
    figure = alignment_heatmap(alignment, ["b", "a", "a"], ["a", "<b>"], title="Learned alignment")
    go.Figure(figure.to_dict())  # valid plotly, though built without validation
    (trace,) = figure.data
    np.testing.assert_array_equal(decode(trace.z), alignment)
    assert (trace.zmin, trace.zmax) == (0.0, 1.0)
    assert figure.layout.yaxis.title.text == "output step (writing)"
    assert figure.layout.xaxis.title.text == "input position (read)"
    assert figure.layout.yaxis.autorange == "reversed"  # the first output step on top
    assert "&lt;b&gt;" in " ".join(figure.layout.xaxis.ticktext)  # symbols are text, never HTML


def test_learning_curves_carry_the_recorded_numbers():
    steps, loss = [0, 2, 4], [math.nan, 2.0, 1.5]
    figure = learning_curves(steps, loss, [0.1, 0.5, 0.9], [0.0, 0.25, 1.0])
    go.Figure(figure.to_dict())
    shown = {trace.name: (decode(trace.x).tolist(), decode(trace.y), trace.yaxis) for trace in figure.data}
    assert set(shown) == {"training loss", "held-out accuracy", "alignment score"}
    assert all(x == steps for x, _, _ in shown.values())
    assert np.isnan(shown["training loss"][1][0]) and shown["training loss"][1][1:].tolist() == [2.0, 1.5]
    assert shown["held-out accuracy"][1].tolist() == [0.1, 0.5, 0.9]
    assert shown["alignment score"][1].tolist() == [0.0, 0.25, 1.0]
    # Loss above on its own axis; the two shares below, on 0..1.
    assert [shown[name][2] for name in ("training loss", "held-out accuracy", "alignment score")] == ["y", "y2", "y2"]
    assert figure.layout.yaxis.domain[0] > figure.layout.yaxis2.domain[1]
    assert tuple(figure.layout.yaxis2.range) == (0.0, 1.05)


def test_model_view_tiles_every_layer_and_head_into_one_heatmap_with_its_labels():
    rng = np.random.default_rng(0)
    maps = {"encoder_1_self_attention": rng.random((2, 3, 3)), "decoder_1_cross_attention": rng.random((2, 2, 3))}
    labels = {"encoder_1_self_attention": (["a", "b", "<b>"], ["a", "b", "<b>"]),
              "decoder_1_cross_attention": (["<start>", "x"], ["a", "b", "<b>"])}
    figure = model_view(maps, labels, title="Model view")
    go.Figure(figure.to_dict())
    (trace,) = figure.data  # one trace on one pair of axes
    assert trace.type == "heatmap" and "xaxis2" not in figure.layout
    # Cells of 3 x 3 (the most queries, the most keys), a blank row and column between them: a row
    # per layer (the encoder on top, the decoder's 2 queries padded to 3), a column per head.
    z = decode(trace.z)
    assert z.shape == (7, 7)
    for name, top in (("encoder_1_self_attention", 0), ("decoder_1_cross_attention", 4)):
        for head, left in enumerate((0, 4)):
            queries = maps[name].shape[1]
            np.testing.assert_allclose(z[top:top + queries, left:left + 3], maps[name][head], rtol=1e-6)
    assert np.isfinite(z).sum() == 2 * 9 + 2 * 6  # the rest is blank
    assert np.isnan(z[3]).all() and np.isnan(z[:, 3]).all() and np.isnan(z[6]).all()
    cut = model_view_maps(z, {name: weights.shape for name, weights in maps.items()})
    assert list(cut) == list(maps)
    for name in maps:
        np.testing.assert_allclose(cut[name], maps[name], rtol=1e-6)
    assert tuple(figure.layout.yaxis.range) == (6.5, -0.5)  # the first row on top
    assert (figure.layout.coloraxis.cmin, figure.layout.coloraxis.cmax) == (0.0, 1.0)

    # Hover: every weight names its layer and query (its row), head and key (its column and text);
    # no string per cell but the key's symbol, and blank cells none.
    def hover(row, col):
        return (trace.hovertemplate.replace("%{y}", trace.y[row]).replace("%{x}", trace.x[col])
                .replace("%{text}", trace.text[row][col]).replace("%{z:.4f}", f"{z[row, col]:.4f}")
                .replace("<extra></extra>", ""))

    assert hover(5, 6) == (f"decoder_1_cross_attention, query '\u2068x\u2069' (#2)<br>head 2, key #3: "
                           f"'\u2068&lt;b&gt;\u2069', weight {maps['decoder_1_cross_attention'][1, 1, 2]:.4f}")
    assert hover(0, 0).startswith("encoder_1_self_attention, query '\u2068a\u2069' (#1)<br>head 1, key #1: '\u2068a")
    assert len(set(trace.x)) == 7 and len(set(trace.y)) == 7  # a category per row and per column
    assert trace.text[6][0] == "" and trace.text[3][3] == "" and trace.hoverongaps is False
    # The layer names at the left of their rows, "head n" above its column, as text.
    names = {a.text: (a.x, a.y, a.xref, a.yref) for a in figure.layout.annotations}
    assert names == {"head 1": (1.0, 1.0, "x", "paper"), "head 2": (5.0, 1.0, "x", "paper"),
                     "encoder_1_self_attention": (0.0, 1.0, "paper", "y"),
                     "decoder_1_cross_attention": (0.0, 5.0, "paper", "y")}
    with pytest.raises(ValueError, match="same number of heads"):
        model_view({**maps, "decoder_1_self_attention": rng.random((3, 2, 2))}, labels, title="")
    with pytest.raises(ValueError, match=r"weights are \(2, 3\)"):
        model_view(maps, {**labels, "decoder_1_cross_attention": (["x"], ["a", "b", "<b>"])}, title="")
