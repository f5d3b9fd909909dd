"""Plotly figures of Train and watch: a run's alignment, its learning curves and a
Transformer's model view.

Pure functions from arrays to figures, in the look of `attention_core.figures` (whose helpers
they use). Shape letters: T output steps, S input positions, F recorded frames, N heads,
Q queries, K keys.
"""

import numpy as np

from attention_core.figures import style
from attention_core.figures.heatmaps import heatmap

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
        dict(line, y=loss, yaxis="y", name="training loss", line=dict(color=style.NEGATIVE_COLOR, width=2),
             hovertemplate="step %{x}: loss %{y:.4f}<extra></extra>"),
        dict(line, y=np.asarray(accuracy, dtype=np.float64), yaxis="y2", name="held-out accuracy",
             line=dict(color=style.POSITIVE_COLOR, width=2), hovertemplate="step %{x}: accuracy %{y:.1%}<extra></extra>"),
        dict(line, y=np.asarray(alignment_score, dtype=np.float64), yaxis="y2", name="alignment score",
             line=dict(color=_ALIGNMENT_COLOR, width=2), hovertemplate="step %{x}: alignment %{y:.1%}<extra></extra>"),
    ]
    layout = dict(
        xaxis=style.axis("training step (batches)", anchor="y2", zeroline=False),
        yaxis=style.axis("loss", domain=[0.58, 1.0], rangemode="tozero", zeroline=False),
        yaxis2=style.axis("held-out", domain=[0.0, 0.42], range=[0.0, 1.05], tickformat=".0%", zeroline=False),
        legend=dict(orientation="h", x=0.0, y=1.12, font=dict(color=style.TEXT_COLOR)),
        hovermode="x unified",
    )
    return style.figure(traces, layout, "", height=420, bottom=60)


_MODEL_VIEW_ROW_PX = 150  # each layer's row of small maps


def _model_view_cells(shapes):
    """The model view's grid for maps of `shapes` {layer name: (N, Q, K)}, every layer with the
    same N: each map at the top left of a cell of (max Q) x (max K), a blank row or column
    between two cells. Returns ({layer name: [(row, column) of head n's first weight, ...]},
    (cell rows, cell columns))."""
    cell = (max(shape[1] for shape in shapes.values()), max(shape[2] for shape in shapes.values()))
    origins = {name: [(layer * (cell[0] + 1), head * (cell[1] + 1)) for head in range(shape[0])]
               for layer, (name, shape) in enumerate(shapes.items())}
    return origins, cell


def model_view_maps(z, shapes):
    """The maps a model view shows, cut back out of its tiled `z` (grid rows, grid columns):
    {layer name: (N, Q, K)} for `shapes` {layer name: (N, Q, K)}, where `model_view` put them."""
    z = np.asarray(z)
    origins, _ = _model_view_cells(shapes)
    return {name: np.stack([z[row:row + shape[1], col:col + shape[2]] for row, col in origins[name]])
            for name, shape in shapes.items()}


def model_view(maps, labels, *, title):
    """Every attention layer x head as a small map (BertViz's "model view"): a row per layer,
    in the order of `maps`, a column per head, each map's weights on one 0..1 colour scale.

    maps: {layer name: (N, Q, K) weights}; every layer has the same N. labels: {layer name:
    (Q query labels, K key labels)}. The maps are tiled into ONE heatmap trace on one pair of
    axes, so that a browser redraws one trace rather than a subplot per map: each map at the top
    left of a (max Q) x (max K) cell, NaN (blank) padding and a blank row and column between
    cells; `model_view_maps` cuts them back out. Hover on a weight names the layer and query (the
    row's category), the head and key position (the column's) and the key's symbol (one short
    `text` per cell: the key symbols differ from layer to layer); blank cells have no hover. No
    tick labels (the maps are small): the layer names stand at the left, "head n" on top.
    """
    names = list(maps)
    heads = {np.shape(maps[name])[0] for name in names}
    if len(heads) != 1:
        raise ValueError(f"Every layer must have the same number of heads; got {sorted(heads)}.")
    (num_heads,) = heads
    for name in names:
        query_labels, key_labels = labels[name]
        if np.shape(maps[name])[1:] != (len(query_labels), len(key_labels)):
            raise ValueError(f"{name}'s weights are {np.shape(maps[name])[1:]} (queries, keys); its labels "
                             f"{len(query_labels)} x {len(key_labels)}.")
    origins, (cell_rows, cell_cols) = _model_view_cells({name: np.shape(maps[name]) for name in names})
    grid_rows, grid_cols = len(names) * (cell_rows + 1) - 1, num_heads * (cell_cols + 1) - 1
    z = np.full((grid_rows, grid_cols), np.nan, dtype=np.float32)
    # Unique categories; a blank row or column keeps a placeholder that no hover shows.
    rows = [f"blank {row}" for row in range(grid_rows)]
    columns = [f"blank {col}" for col in range(grid_cols)]
    key_symbols = [[""] * grid_cols for _ in range(grid_rows)]
    annotations = [dict(text=f"head {head + 1}", x=col + (cell_cols - 1) / 2, y=1.0, xref="x", yref="paper",
                        yanchor="bottom", showarrow=False, font=dict(color=style.MUTED_COLOR))
                   for head, (_, col) in enumerate(origins[names[0]])]
    for head, (_, col) in enumerate(origins[names[0]]):
        columns[col:col + cell_cols] = [f"head {head + 1}, key #{j + 1}" for j in range(cell_cols)]
    for name in names:
        layer = style.escape(name)
        query_labels, key_labels = labels[name]
        symbols = [style.short_token(key) for key in key_labels]
        for head, (row, col) in enumerate(origins[name]):
            z[row:row + len(query_labels), col:col + len(key_labels)] = maps[name][head]
            rows[row:row + len(query_labels)] = [f"{layer}, query {query}" for query in style.categories(query_labels)]
            for i in range(len(query_labels)):
                key_symbols[row + i][col:col + len(key_labels)] = symbols
        annotations.append(dict(text=layer, x=0.0, y=origins[name][0][0] + (cell_rows - 1) / 2, xref="paper",
                                yref="y", xanchor="right", xshift=-6, showarrow=False,
                                font=dict(size=12, color=style.TEXT_COLOR)))
    trace = dict(
        type="heatmap", z=z, x=columns, y=rows, text=key_symbols, hoverongaps=False, coloraxis="coloraxis",
        hovertemplate="%{y}<br>%{x}: %{text}, weight %{z:.4f}<extra></extra>",
    )
    hidden = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", fixedrange=True, type="category")
    layout = dict(
        xaxis=dict(hidden, range=[-0.5, grid_cols - 0.5]),
        yaxis=dict(hidden, range=[grid_rows - 0.5, -0.5]),  # the first layer on top
        coloraxis=dict(colorscale=style.colorscale("Blues"), cmin=0.0, cmax=1.0,
                       colorbar=dict(style.COLORBAR_STYLE, title=dict(text="weight"))),
        annotations=annotations,
    )
    return style.figure([trace], layout, title, height=_MODEL_VIEW_ROW_PX * len(names) + 100, side=190, bottom=20)
