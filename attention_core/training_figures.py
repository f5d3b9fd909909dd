"""Plotly figures of Train and watch: a run's alignment and its learning curves.

Pure functions from arrays to figures, in the look of `attention_core.figures` (whose helpers
they use). Shape letters: T output steps, S input positions, F recorded frames.
"""

import numpy as np

from attention_core.figures import _NEGATIVE_COLOR, _POSITIVE_COLOR, _TEXT_COLOR, _axis, _figure, heatmap

_ALIGNMENT_COLOR = "#c98a2e"  # the alignment score's curve, apart from accuracy's blue


def alignment_heatmap(alignment, output_labels, input_labels, *, title):
    """An alignment (T, S), weights in [0, 1]: row i is the attention of output step i over the
    S input positions (each row sums to 1, or is 0/1 for an ideal alignment). The labels are
    the symbols written (T) and read (S); duplicates are fine."""
    return heatmap(
        alignment, output_labels, input_labels, title=title, colorscale="Blues", zmid=None, zmin=0.0, zmax=1.0,
        value_name="weight", row_title="output step (writing)", col_title="input position (read)",
        hovertemplate="writing %{y}, reading %{x}: weight %{z:.4f}<extra></extra>",
    )


def learning_curves(steps, loss, accuracy, alignment_score):
    """Two panels over the training steps (batches): the training loss above; held-out
    accuracy and the alignment score, from 0 to 1, below. Each argument is (F,); a NaN loss
    (the untrained frame) leaves a gap."""
    steps, loss = np.asarray(steps, dtype=np.float64), np.asarray(loss, dtype=np.float64)
    line = dict(type="scatter", mode="lines", x=steps, xaxis="x")
    traces = [
        dict(line, y=loss, yaxis="y", name="training loss", line=dict(color=_NEGATIVE_COLOR, width=2),
             hovertemplate="step %{x}: loss %{y:.4f}<extra></extra>"),
        dict(line, y=np.asarray(accuracy, dtype=np.float64), yaxis="y2", name="held-out accuracy",
             line=dict(color=_POSITIVE_COLOR, width=2), hovertemplate="step %{x}: accuracy %{y:.1%}<extra></extra>"),
        dict(line, y=np.asarray(alignment_score, dtype=np.float64), yaxis="y2", name="alignment score",
             line=dict(color=_ALIGNMENT_COLOR, width=2), hovertemplate="step %{x}: alignment %{y:.1%}<extra></extra>"),
    ]
    layout = dict(
        xaxis=_axis("training step (batches)", anchor="y2", zeroline=False),
        yaxis=_axis("loss", domain=[0.58, 1.0], rangemode="tozero", zeroline=False),
        yaxis2=_axis("held-out", domain=[0.0, 0.42], range=[0.0, 1.05], tickformat=".0%", zeroline=False),
        legend=dict(orientation="h", x=0.0, y=1.12, font=dict(color=_TEXT_COLOR)),
        hovermode="x unified",
    )
    return _figure(traces, layout, "", height=420, bottom=60)
