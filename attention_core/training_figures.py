"""Plotly figures of Train and watch: a run's alignment, its learning curves and a
Transformer's model view.

Pure functions from arrays to figures, in the look of `attention_core.figures` (whose helpers
they use). Shape letters: T output steps, S input positions, F recorded frames, N heads,
Q queries, K keys.
"""

import numpy as np

from attention_core.figures import (
    _COLORBAR_STYLE,
    _MUTED_COLOR,
    _NEGATIVE_COLOR,
    _POSITIVE_COLOR,
    _TEXT_COLOR,
    _axis,
    _categories,
    _colorscale,
    _escape,
    _figure,
    heatmap,
)

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


_MODEL_VIEW_ROW_PX = 150  # each layer's row of small maps
_MODEL_VIEW_GAP = 0.025  # the share of the width (and of a row's height) between two maps


def model_view(maps, labels, *, title):
    """Every attention layer x head as a small map (BertViz's "model view"): a row per layer,
    in the order of `maps`, a column per head, each map's weights on one 0..1 colour scale.

    maps: {layer name: (N, Q, K) weights}; every layer has the same N. labels: {layer name:
    (Q query labels, K key labels)}. Hover names the layer, head, query and key. Tick labels
    are left out (the maps are small); the layer names stand at the left, "head n" on top.
    """
    names = list(maps)
    heads = {np.shape(maps[name])[0] for name in names}
    if len(heads) != 1:
        raise ValueError(f"Every layer must have the same number of heads; got {sorted(heads)}.")
    (num_heads,) = heads
    rows = len(names)
    traces, layout, annotations = [], {}, []
    for row, name in enumerate(names):
        query_labels, key_labels = labels[name]
        weights = np.asarray(maps[name], dtype=np.float32)
        if weights.shape[1:] != (len(query_labels), len(key_labels)):
            raise ValueError(f"{name}'s weights are {weights.shape[1:]} (queries, keys); its labels "
                             f"{len(query_labels)} x {len(key_labels)}.")
        top = 1.0 - row / rows
        y_domain = [top - 1.0 / rows + _MODEL_VIEW_GAP, top - _MODEL_VIEW_GAP]
        for head in range(num_heads):
            k = row * num_heads + head + 1
            suffix = "" if k == 1 else str(k)
            x_domain = [head / num_heads + _MODEL_VIEW_GAP / 2, (head + 1) / num_heads - _MODEL_VIEW_GAP / 2]
            traces.append(dict(
                type="heatmap", z=weights[head], x=_categories(key_labels), y=_categories(query_labels),
                xaxis=f"x{suffix}", yaxis=f"y{suffix}", coloraxis="coloraxis", name=f"{name}, head {head + 1}",
                hovertemplate=f"{_escape(name)}, head {head + 1}<br>query %{{y}} → key %{{x}}: "
                              "weight %{z:.4f}<extra></extra>",
            ))
            hidden = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", fixedrange=True)
            layout[f"xaxis{suffix}"] = dict(hidden, domain=x_domain, anchor=f"y{suffix}", type="category")
            layout[f"yaxis{suffix}"] = dict(hidden, domain=y_domain, anchor=f"x{suffix}", type="category",
                                            autorange="reversed")
            if row == 0:
                annotations.append(dict(text=f"head {head + 1}", x=sum(x_domain) / 2, y=1.0, xref="paper", yref="paper",
                                        yanchor="bottom", showarrow=False, font=dict(color=_MUTED_COLOR)))
        annotations.append(dict(text=_escape(name), x=0.0, y=sum(y_domain) / 2, xref="paper", yref="paper",
                                xanchor="right", xshift=-6, showarrow=False, font=dict(size=12, color=_TEXT_COLOR)))
    layout["coloraxis"] = dict(colorscale=_colorscale("Blues"), cmin=0.0, cmax=1.0,
                               colorbar=dict(_COLORBAR_STYLE, title=dict(text="weight")))
    layout["annotations"] = annotations
    return _figure(traces, layout, title, height=_MODEL_VIEW_ROW_PX * rows + 100, side=190, bottom=20)
