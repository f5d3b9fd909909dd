"""Train and watch's figures: the alignment map shows the matrix as given, on 0..1, with output
steps down and input positions across; the learning curves carry the recorded numbers."""

import math

import numpy as np
import plotly.graph_objects as go

from attention_core.training_figures import alignment_heatmap, learning_curves
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
