"""Diagrams drawn from real numbers: the Q/K/V pipeline for one token, a dense network from its
kernels, and the encoder -> attention -> input loop.

Pure functions returning plotly figures. Shape letters: T tokens, D vector length.
"""

import math

import numpy as np

from attention_core.figures import style
from attention_core.text.explain import number as _fmt
from attention_core.text.explain import plural as _plural

# --------------------------------------------------------------------------- Q/K/V pipeline

_LINE_PX = 17
_BOX_PAD_PX = 11
_BOX_GAP_PX = 30


def _matrix_lines(matrix, tokens):
    """One line per token "'the': [..]" for the first few rows, then how many are left."""
    lines = [f"{style.short_token(tok)}: {style.vector_text(row)}"
             for tok, row in zip(tokens[:style.MAX_MATRIX_ROWS], matrix[:style.MAX_MATRIX_ROWS])]
    if len(tokens) > style.MAX_MATRIX_ROWS:
        lines.append(f"… (+{len(tokens) - style.MAX_MATRIX_ROWS} more tokens)")
    return lines


def _per_token_text(scores, tokens):
    return style.preview(list(zip(tokens, scores)), lambda ts: f"{style.short_token(ts[0])}: {_fmt(ts[1])}",
                    per_line=style.ENTRIES_PER_LINE)


def _scaling_text(scale, d_key):
    """The pipeline's scaling box heading, for the factor the layer really applied."""
    if scale == 1:
        return "<b>Scores, not scaled</b> — scaling is off, so these equal the raw scores"
    return (f"<b>Scaled scores</b> — raw scores × {_fmt(scale)} (÷ √D, here √{d_key} = "
            f"{_fmt(math.sqrt(d_key))}), so the softmax does not saturate")


def _check_pipeline_shapes(tokens, query_tokens, token_index, query, keys, values, scores, context):
    n = len(tokens)
    if isinstance(token_index, bool) or not isinstance(token_index, (int, np.integer)) or not (
        0 <= token_index < len(query_tokens)
    ):
        raise ValueError(f"`token_index` must be an integer in [0, {len(query_tokens)}); got {token_index!r}.")
    d_key, d_value = query.shape[0], values.shape[1]
    expected = {"keys": (n, d_key), "values": (n, d_value), "context": (d_value,)}
    expected.update({name: (n,) for name in scores})
    actual = {"keys": keys.shape, "values": values.shape, "context": context.shape}
    actual.update({name: array.shape for name, array in scores.items()})
    for name, shape in expected.items():
        if actual[name] != shape:
            raise ValueError(
                f"`{name}` must have shape {shape} for {n} tokens, a query of length {d_key} "
                f"and value vectors of length {d_value}; got {actual[name]}."
            )


def qkv_pipeline_figure(
    tokens, token_index, query, keys, values, raw_scores, scaled_scores, weights, context, *, scale, query_tokens=None
):
    """The query/key/value pipeline for one query token, as a top-to-bottom flow of boxes.

    `scale` is the factor the layer applied to the raw scores (1/√D, or 1 when unscaled).
    tokens: T labels of the keys; token_index: position of the query token among `query_tokens`
    (the queries' labels when they are another sequence, as in cross-attention; else `tokens`);
    query: (D,); keys: (T, D); values: (T, Dv) (Dv is usually D); raw_scores, scaled_scores,
    weights: (T,); context: (Dv,).
    """
    query_tokens = tokens if query_tokens is None else query_tokens
    query = style.as_array("query", query, 1, "(D,)")
    keys = style.as_array("keys", keys, 2, "(T, D)")
    values = style.as_array("values", values, 2, "(T, D)")
    context = style.as_array("context", context, 1, "(D,)")
    scores = {
        name: style.as_array(name, array, 1, "(T,)")
        for name, array in [("raw_scores", raw_scores), ("scaled_scores", scaled_scores),
                            ("weights", weights)]
    }
    _check_pipeline_shapes(tokens, query_tokens, token_index, query, keys, values, scores, context)
    n, d_key = keys.shape
    me = style.short_token(query_tokens[token_index])

    boxes = [
        ("input", [f"<b>Query</b> — the query vector of {me} (#{token_index + 1}), "
                   f"length D = {d_key}", style.vector_text(query)]),
        ("input", [f"<b>Keys</b> — one key vector per token ({n} × {d_key})",
                   *_matrix_lines(keys, tokens)]),
        ("input", [f"<b>Values</b> — one value vector per token ({n} × {values.shape[1]})",
                   *_matrix_lines(values, tokens)]),
        ("score", [f"<b>Raw scores</b> — Raw attention scores for {me}: dot product of its "
                   "query with every key", _per_token_text(scores["raw_scores"], tokens)]),
        ("score", [_scaling_text(scale, d_key), _per_token_text(scores["scaled_scores"], tokens)]),
        ("score", ["<b>Softmax weights</b> — Softmax normalizes the scores into attention "
                   f"weights (sum = {_fmt(scores['weights'].sum())})",
                   _per_token_text(scores["weights"], tokens)]),
        ("output", ["<b>Weighted sum of value vectors</b> — Σ weight × value over all "
                    f"{n} tokens",
                    style.preview(list(zip(tokens, scores["weights"])),
                             lambda tw: f"{_fmt(tw[1])}×v({style.short_token(tw[0])})",
                             limit=4, sep=" + ")]),
        ("output", [f"<b>Context vector</b> — Context vector for {me}", style.vector_text(context)]),
    ]

    shapes, annotations = [], []
    spans = []  # (top, bottom) of each box, in pixels from the top
    top = 0
    for kind, lines in boxes:
        text = "<br>".join(lines)
        bottom = top - (2 * _BOX_PAD_PX + _LINE_PX * (text.count("<br>") + 1))
        style.box(shapes, annotations, _BOX_LEFT, bottom, _BOX_RIGHT, top, text, kind=kind, align="left")
        spans.append((top, bottom))
        top = bottom - _BOX_GAP_PX
    _pipeline_flows(shapes, annotations, dict(zip(_PIPELINE_BOXES, spans)))
    layout = dict(shapes=shapes, annotations=annotations,
                  **style.hidden_axes((-0.01, 1.01), (spans[-1][1] - 2, 2)))
    return style.figure([], layout, f"Query → key → value pipeline for '{style.shortened(query_tokens[token_index])}'",
                   height=-spans[-1][1] + 100, side=10, bottom=10)


# The starter code's boxes, in its order, and where the data really flows between them: the query and
# the keys make the raw scores; the weights and the values make the weighted sum. (The starter code's
# diagram chains Query -> Key -> Value -> scores, as if values fed the scores; they do not.)
_PIPELINE_BOXES = ("Query", "Keys", "Values", "Raw scores", "Scaled scores", "Softmax weights",
                   "Weighted sum", "Context vector")
PIPELINE_FLOWS = (
    ("Query", "Raw scores"), ("Keys", "Raw scores"), ("Raw scores", "Scaled scores"),
    ("Scaled scores", "Softmax weights"), ("Softmax weights", "Weighted sum"), ("Values", "Weighted sum"),
    ("Weighted sum", "Context vector"),
)
_BOX_LEFT, _BOX_RIGHT = 0.07, 0.93
# The lines that run past the boxes between them: the query's outermost on the left, so it
# crosses no other line; the values' on the right.
_SIDE_LANES = {"Query": (0.015, 0.7), "Keys": (0.045, 0.3), "Values": (0.975, 0.5)}


def _pipeline_flows(shapes, annotations, spans):
    """Arrows along PIPELINE_FLOWS between boxes at `spans` {name: (top, bottom)}: straight down
    between neighbours, and around the boxes in between along a side lane otherwise."""
    for source, target in PIPELINE_FLOWS:
        name = f"flow: {source} → {target}"
        (source_top, source_bottom), (target_top, target_bottom) = spans[source], spans[target]
        if source not in _SIDE_LANES:
            style.arrow(annotations, (0.5, source_bottom), (0.5, target_top), name=name)
            continue
        lane, depth = _SIDE_LANES[source]
        edge = _BOX_LEFT if lane < 0.5 else _BOX_RIGHT
        start_y = (source_top + source_bottom) / 2
        end_y = target_top - depth * (target_top - target_bottom)
        shapes.append(dict(type="path", name=name, path=f"M {edge},{start_y} L {lane},{start_y} L {lane},{end_y}",
                           line=dict(color=style.ARROW_COLOR, width=2)))
        style.arrow(annotations, (lane, end_y), (edge, end_y), name=name)


# --------------------------------------------------------------------------- dense network

_WIDTH_LEVELS = 4


def _check_kernels(kernels, input_labels, layer_names):
    if len(kernels) == 0:
        raise ValueError("`kernels` is empty: pass one (inputs, units) array per dense layer.")
    kernels = [style.as_array(f"kernels[{k}]", w, 2, "(inputs, units)") for k, w in enumerate(kernels)]
    for k in range(1, len(kernels)):
        if kernels[k].shape[0] != kernels[k - 1].shape[1]:
            raise ValueError(
                f"kernels[{k}] has shape {kernels[k].shape} but kernels[{k - 1}] has "
                f"{kernels[k - 1].shape[1]} units, so kernels[{k}] needs "
                f"{kernels[k - 1].shape[1]} rows: pass the kernels in layer order, each as "
                "(inputs, units) like Keras' `layer.kernel`."
            )
    if input_labels is not None:
        style.check_labels("input_labels", input_labels, kernels[0].shape[0],
                      f"input row of kernels[0] {kernels[0].shape}")
    if layer_names is not None:
        style.check_labels("layer_names", layer_names, len(kernels), "kernel")
    return kernels


def _column_ys(n):
    """Vertical positions of n neurons, centred on 0, first at the top."""
    return (n - 1) / 2 - np.arange(n)


def _edge_traces(layer, kernel, weight_name, names_in, names_out, max_abs):
    """Line traces (one per sign and width class) and one hover-marker trace for one layer."""
    y_in, y_out = _column_ys(kernel.shape[0]), _column_ys(kernel.shape[1])
    levels = np.clip(np.ceil(np.abs(kernel) / max_abs * _WIDTH_LEVELS), 1, _WIDTH_LEVELS)
    traces = []
    for negative, color in [(False, style.POSITIVE_COLOR), (True, style.NEGATIVE_COLOR)]:
        for level in range(1, _WIDTH_LEVELS + 1):
            ii, jj = np.nonzero(((kernel < 0) == negative) & (levels == level))
            if len(ii) == 0:
                continue
            xs, ys = [], []
            for i, j in zip(ii, jj):
                xs += [layer, layer + 1, None]
                ys += [y_in[i], y_out[j], None]
            traces.append(dict(
                type="scatter", x=xs, y=ys, mode="lines", hoverinfo="skip", opacity=0.75,
                line=dict(color=color, width=0.8 + 1.6 * (level - 1)),
                name="negative weight" if negative else "positive weight",
                legendgroup=str(negative), showlegend=False,
            ))
    # One hover point per edge, spread along the edge by target so no two points coincide.
    ii, jj = np.indices(kernel.shape).reshape(2, -1)
    t = 0.3 + 0.4 * (jj + 0.5) / kernel.shape[1]
    traces.append(dict(
        type="scatter", x=layer + t, y=y_in[ii] + t * (y_out[jj] - y_in[ii]), mode="markers",
        marker=dict(size=10, color="rgba(0,0,0,0)"), showlegend=False,
        customdata=[
            f"{weight_name}: {names_in[i]} → {names_out[j]} = {_fmt(kernel[i, j])}"
            for i, j in zip(ii, jj)
        ],
        hovertemplate="%{customdata}<extra></extra>",
    ))
    return traces


def _legend_entries():
    """Two legend-only traces explaining the edge colours."""
    return [
        dict(type="scatter", x=[None], y=[None], mode="lines", name=name, legendgroup=str(negative),
                   line=dict(color=color, width=3))
        for name, negative, color in [("positive weight", False, style.POSITIVE_COLOR),
                                      ("negative weight", True, style.NEGATIVE_COLOR)]
    ]


def _neuron_names(sizes, input_labels):
    """Escaped labels per column: inputs x1, x2, … (or `input_labels`), then N1_1, N1_2, …"""
    inputs = ([style.escape(x) for x in input_labels] if input_labels is not None
              else [f"x{i + 1}" for i in range(sizes[0])])
    return [inputs] + [[f"N{k}_{j + 1}" for j in range(n)] for k, n in enumerate(sizes[1:], 1)]


def _neuron_trace(column_index, names, heading, marker_px, show_text):
    """One column of neurons; input labels sit left of their circle, unit labels inside."""
    is_input = column_index == 0
    return dict(
        type="scatter", x=np.full(len(names), column_index), y=_column_ys(len(names)),
        mode="markers+text" if show_text else "markers", text=names,
        textposition="middle left" if is_input else "middle center",
        textfont=dict(color=style.TEXT_COLOR if is_input else "white", size=11),
        marker=dict(size=marker_px, color="#9aa5b8" if is_input else "#3d5a80",
                    line=dict(color="white", width=1.5)),
        customdata=[f"{name} — {heading}" for name in names],
        hovertemplate="%{customdata}<extra></extra>", showlegend=False,
    )


def dense_network_figure(kernels, *, input_labels=None, layer_names=None):
    """A stack of dense layers as neurons in columns joined by their weights.

    kernels: list of (n_k, n_{k+1}) arrays (Keras layout: inputs × units), one per layer;
    input_labels: n_0 labels (default x1, x2, …);
    layer_names: one per kernel (default W1, W2, …, headed "Dense 1", "Dense 2", …).
    Line colour is the weight's sign (blue positive, red negative), width its magnitude
    (in 4 classes relative to the largest |weight|); hover names each weight by the neurons it
    joins, e.g. "W1: x1 → N1_3 = 0.25" (everything a user sees counts from 1, as x1 and N1_1 do).
    """
    kernels = _check_kernels(kernels, input_labels, layer_names)
    sizes = [kernels[0].shape[0]] + [w.shape[1] for w in kernels]
    names = _neuron_names(sizes, input_labels)
    weight_names = ([style.escape(name) for name in layer_names] if layer_names is not None
                    else [f"W{k + 1}" for k in range(len(kernels))])
    headings = [f"Input ({_plural(sizes[0], 'feature')})"] + [
        f"{name if layer_names is not None else f'Dense {k}'} ({_plural(n, 'unit')})"
        for k, (name, n) in enumerate(zip(weight_names, sizes[1:]), start=1)
    ]
    max_abs = max(float(np.max(np.abs(w))) for w in kernels) or 1.0

    data = _legend_entries()
    for k, kernel in enumerate(kernels):
        data += _edge_traces(k, kernel, weight_names[k], names[k], names[k + 1], max_abs)

    tallest = max(sizes)
    height = int(np.clip(70 * tallest + 170, 380, 900))
    marker_px = float(np.clip(0.6 * (height - 170) / tallest, 8, 42))
    # Unit labels must fit inside the circle (~7 px per character at font size 11).
    fits_inside = marker_px >= 7 * max(len(n) for column in names[1:] for n in column) + 2
    data += [
        _neuron_trace(k, column, headings[k], marker_px, show_text=marker_px >= 12 if k == 0 else fits_inside)
        for k, column in enumerate(names)
    ]
    annotations = [
        dict(x=k, y=(tallest - 1) / 2 + 0.75, text=f"<b>{heading}</b>", showarrow=False)
        for k, heading in enumerate(headings)
    ]

    # Room left of the input column for its labels, assuming a plot roughly 850 px wide.
    raw_inputs = names[0] if input_labels is None else input_labels
    label_px = 7 * max(len(str(x)) for x in raw_inputs) + marker_px / 2 + 8
    left = -0.15 - label_px * (len(kernels) + 1.3) / 850
    layout = dict(
        annotations=annotations,
        **style.hidden_axes((left, len(kernels) + 0.35), (-(tallest - 1) / 2 - 0.6, (tallest - 1) / 2 + 1.1)),
    )
    layout.update(
        showlegend=True, hovermode="closest",
        legend=dict(orientation="h", x=1.0, xanchor="right", y=-0.02, yanchor="top",
                    title=dict(text="line width ∝ |weight|")),
    )
    return style.figure(data, layout, "Dense network weights", height=height, side=20)


# --------------------------------------------------------------------------- encoder loop


def encoder_attention_loop_figure():
    """The encoder–attention loop: Input → Encoder → Attention, whose context feeds back.

    Takes no arrays: a static wire diagram.
    """
    shapes, annotations = [], []
    boxes = [
        (0.5, "<b>Input</b><br><span style='font-size:12px'>tokens x₁ … xₜ</span>", "input"),
        (1.5, "<b>Encoder</b><br><span style='font-size:12px'>RNN / dense layers</span>",
         "plain"),
        (2.5, "<b>Attention</b><br><span style='font-size:12px'>scores → weights</span>",
         "score"),
    ]
    half_w, y0, y1 = 0.3, 1.0, 1.5
    for x, text, kind in boxes:
        style.box(shapes, annotations, x - half_w, y0, x + half_w, y1, text, kind=kind)
    middle = (y0 + y1) / 2
    style.arrow(annotations, (0.5 + half_w, middle), (1.5 - half_w, middle), text="embeddings")
    style.arrow(annotations, (1.5 + half_w, middle), (2.5 - half_w, middle), text="hidden states")

    # The loop back: down from Attention, left along the bottom, then an arrow up into Input.
    low = 0.5
    shapes.append(dict(
        type="path", path=f"M 2.5,{y0} L 2.5,{low + 0.08} Q 2.5,{low} 2.42,{low} "
        f"L 0.58,{low} Q 0.5,{low} 0.5,{low + 0.08}",
        line=dict(color=style.ARROW_COLOR, width=2),
    ))
    style.arrow(annotations, (0.5, low + 0.06), (0.5, y0))  # overlaps the path's end: no visible seam
    annotations.append(dict(
        x=1.5, y=low, yshift=-22, showarrow=False, font=dict(size=12, color=style.ARROW_COLOR),
        text="<b>context vector</b>: what attention selects feeds the next step",
    ))
    layout = dict(shapes=shapes, annotations=annotations, **style.hidden_axes((0.0, 3.0), (0.25, 1.65)))
    return style.figure([], layout, "Encoder–attention loop", height=340, side=20, bottom=10)

