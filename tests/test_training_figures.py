"""Train and watch's figures: the alignment map shows the matrix as given, on 0..1, with output
steps down and input positions across; the learning curves carry the recorded numbers."""

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from attention_core.training_figures import alignment_heatmap, learning_curves, model_view
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


def test_model_view_draws_every_layer_and_head_with_its_labels():
    rng = np.random.default_rng(0)
    maps = {"encoder_1_self_attention": rng.random((2, 3, 3)), "decoder_1_cross_attention": rng.random((2, 2, 3))}
    labels = {"encoder_1_self_attention": (["a", "b", "<b>"], ["a", "b", "<b>"]),
              "decoder_1_cross_attention": (["<start>", "x"], ["a", "b", "<b>"])}
    figure = model_view(maps, labels, title="Model view")
    go.Figure(figure.to_dict())
    assert [trace.name for trace in figure.data] == [
        "encoder_1_self_attention, head 1", "encoder_1_self_attention, head 2",
        "decoder_1_cross_attention, head 1", "decoder_1_cross_attention, head 2"]
    for trace, (name, head) in zip(figure.data, [(n, h) for n in maps for h in range(2)]):
        np.testing.assert_allclose(decode(trace.z), maps[name][head], rtol=1e-6)
        assert list(trace.y)[0].startswith("'") and len(trace.y) == len(labels[name][0])
    # Four maps, each on its own axes: rows are layers (the first on top), columns heads.
    assert [trace.xaxis for trace in figure.data] == ["x", "x2", "x3", "x4"]
    assert figure.layout.yaxis.domain[0] > figure.layout.yaxis3.domain[1]
    assert figure.layout.xaxis.domain[1] < figure.layout.xaxis2.domain[0]
    assert (figure.layout.coloraxis.cmin, figure.layout.coloraxis.cmax) == (0.0, 1.0)
    assert "&lt;b&gt;" in "".join(figure.data[0].x)  # symbols are text, never HTML
    with pytest.raises(ValueError, match="same number of heads"):
        model_view({**maps, "decoder_1_self_attention": rng.random((3, 2, 2))}, labels, title="")
    with pytest.raises(ValueError, match=r"weights are \(2, 3\)"):
        model_view(maps, {**labels, "decoder_1_cross_attention": (["x"], ["a", "b", "<b>"])}, title="")

