"""Plotly figures of which heads matter: heads placed by two scores, and a score of every head
over training with the step each head formed.

Pure functions from HeadScores and arrays to figures, in the look of `attention_core.figures`.
Heads count from 1 in every label, as the pages count them. Shape letters: F recorded frames,
H heads (of every layer).
"""

import numpy as np

from attention_core.figures import style
from attention_core.heads.scores import SCORE_TITLES

# One colour per layer, so a layer's heads read as a group (plotly's qualitative "Safe" palette).
_LAYER_COLORS = ("#88CCEE", "#CC6677", "#DDCC77", "#117733", "#332288", "#AA4499", "#44AA99", "#999933",
                 "#882255", "#661100", "#6699CC", "#888888")
_FORMED_SYMBOL = "star"
RECORD_TITLES = {**SCORE_TITLES, "importance": "Importance (mean |∂ loss / ∂ gate|)"}


def head_label(layer, head):
    """'layer, head n' with n counted from 1, as the pages name a head."""
    return f"{layer}, head {head + 1}"


def _layer_colors(layers):
    """{layer name: colour}, in order of first appearance."""
    names = list(dict.fromkeys(layers))
    return {name: _LAYER_COLORS[index % len(_LAYER_COLORS)] for index, name in enumerate(names)}


def head_records(scores, importance=None):
    """One dict per head: `layer`, `head` (from 0) and every score by its name (None where a head
    lacks it), plus `importance` when `importance` ({layer name: (N,)}) is given: the rows of the
    heads-by-score table and the points of `head_scatter`."""
    records = []
    for score in scores:
        record = {"layer": score.layer, "head": score.head, **{name: score[name] for name in SCORE_TITLES}}
        if importance is not None:
            record["importance"] = float(importance[score.layer][score.head])
        records.append(record)
    return records


def head_scatter(records, x, y, *, title):
    """Every head as a point at its scores `x` and `y` (keys of `head_records`' records): a trace
    per layer, in its colour; each point's `customdata` is the head's index in `records`, so a
    selected point names its head. Heads without one of the two scores are left out."""
    colors = _layer_colors(record["layer"] for record in records)
    traces = []
    for layer, color in colors.items():
        points = [(index, score) for index, score in enumerate(records)
                  if score["layer"] == layer and score[x] is not None and score[y] is not None]
        traces.append(dict(
            type="scatter", mode="markers", name=style.escape(layer),
            x=[score[x] for _, score in points], y=[score[y] for _, score in points],
            customdata=[index for index, _ in points],
            text=[style.escape(head_label(layer, score["head"])) for _, score in points],
            marker=dict(size=13, color=color, line=dict(width=1, color=style.TEXT_COLOR)),
            hovertemplate=f"%{{text}}<br>{_title(x)}: %{{x:.3f}}<br>{_title(y)}: %{{y:.3f}}<extra></extra>",
        ))
    layout = dict(
        xaxis=style.axis(_title(x), zeroline=False), yaxis=style.axis(_title(y), zeroline=False),
        legend=dict(title=dict(text="layer"), font=dict(color=style.TEXT_COLOR)),
    )
    return style.figure(traces, layout, title, height=420)


def _title(name):
    return RECORD_TITLES[name]


def score_over_steps(steps, heads, values, formed, name, *, current_step=None, title):
    """Every head's score `name` over training: a line per head (layer, head from 0) in its
    layer's colour, `values` (F, H) at `steps` (F,), with a star where `formed` ({(layer,
    head): step or None}) says the head formed, and a vertical rule at `current_step` (the
    replay's frame). Heads whose values are all NaN (no such score) are left out."""
    steps, values = np.asarray(steps), np.asarray(values, dtype=np.float64)
    colors = _layer_colors(layer for layer, _ in heads)
    traces = []
    for column, (layer, head) in enumerate(heads):
        if np.isnan(values[:, column]).all():
            continue
        label = style.escape(head_label(layer, head))
        traces.append(dict(
            type="scatter", mode="lines", x=steps, y=values[:, column], name=label, legendgroup=label,
            line=dict(color=colors[layer], width=2),
            hovertemplate=f"{label}<br>step %{{x}}: %{{y:.3f}}<extra></extra>",
        ))
        step = formed.get((layer, head))
        if step is not None:
            traces.append(dict(
                type="scatter", mode="markers", x=[step], y=[values[list(steps).index(step), column]],
                legendgroup=label, showlegend=False,
                marker=dict(symbol=_FORMED_SYMBOL, size=15, color=colors[layer], line=dict(width=1, color=style.TEXT_COLOR)),
                hovertemplate=f"{label} formed at step %{{x}}<extra></extra>",
            ))
    shapes = [] if current_step is None else [dict(
        type="line", x0=current_step, x1=current_step, y0=0, y1=1, yref="paper",
        line=dict(color=style.ARROW_COLOR, width=1, dash="dot"),
    )]
    layout = dict(
        xaxis=style.axis("training step (batches)", zeroline=False), yaxis=style.axis(_title(name), zeroline=False),
        legend=dict(font=dict(color=style.TEXT_COLOR)), shapes=shapes,
    )
    return style.figure(traces, layout, title, height=440)
