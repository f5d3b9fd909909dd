"""Plotly figures for the attention visualizer: pure functions from NumPy arrays and labels.

Every builder returns a `plotly.graph_objects.Figure` and never shows it (the Streamlit pages
call `st.plotly_chart`). Shape letters: T tokens, R rows, C columns, D vector length.

User text (tokens, feature names, titles) can contain HTML, which plotly partly renders, so it
goes through `_escape` before it reaches tick text, hover text, annotations or titles. Hover
templates only ever receive user text through `customdata`, never inside the template itself,
so a token such as "%{y}" is shown as typed.
"""

import base64
import functools
import html
import io
import math

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import plotly.io
from PIL import Image

from attention_core.explain import factor as _fmt_factor
from attention_core.explain import number as _fmt
from attention_core.explain import plural as _plural

# At most this many tick labels per axis (half-width charts stay legible); hover names them all.
_MAX_TICK_LABELS = 24
# Numbers (or token entries) shown per pipeline box before "… (+N more)".
_MAX_ENTRIES = 8
# Token entries ("'cat': 0.25") per line in the pipeline boxes, so lines fit a narrow column.
_ENTRIES_PER_LINE = 4
# Matrix rows (tokens) shown in the pipeline's Keys and Values boxes.
_MAX_MATRIX_ROWS = 3
# Longer labels are cut, with an ellipsis, in tick text and the diagram boxes; hover keeps them
# whole. A label's room is then bounded, so no label can squeeze a chart's plot area.
_MAX_LABEL_CHARS = 14

# "Source Sans" is the web font Streamlit's pages load; the others stand in outside them.
_FONT_FAMILY = '"Source Sans", "Source Sans Pro", "Source Sans 3", "Segoe UI", "Noto Sans", sans-serif'
_TEXT_COLOR = "#262730"
_MUTED_COLOR = "#808495"  # tick labels and axis titles, as Streamlit draws them
_RULE_COLOR = "#e6eaf1"  # ticks, grid and zero lines
_POSITIVE_COLOR = "#2166ac"
_NEGATIVE_COLOR = "#b2182b"
_ARROW_COLOR = "#555867"
_BOX_STYLES = {
    "input": ("#e8f1fb", "#4a7ab5"),
    "score": ("#fdf1e1", "#c98a2e"),
    "output": ("#e6f4ea", "#3f8f5a"),
    "plain": ("#f0f2f6", "#6b6f80"),
}

# First strong isolate / pop directional isolate: keep a right-to-left token from reordering
# the punctuation and numbers around it in a composed sentence.
_FSI, _PDI = "\u2068", "\u2069"


# --------------------------------------------------------------------------- shared helpers


@functools.cache
def _cartesian_template(name):
    """Plotly's template `name` (the default one when a figure is made: "plotly", or "streamlit"
    once Streamlit is imported), cut to the parts that apply to this module's figures.

    Every figure carries its template, and a whole one is 3.6 KB ("streamlit") to 7.1 KB
    ("plotly") of JSON, most of it for subplot kinds (polar, ternary, 3-D scenes, maps) and trace
    types these figures never use: resent with every figure on every press. Kept: the layout's and
    the 2-D axes' defaults, and those of the trace types used here; dropped as well, the default
    colour scales, since every heatmap here names its own.
    """
    template = plotly.io.templates[name].to_plotly_json()
    unused_layout = {"polar", "ternary", "scene", "geo", "colorscale"}
    return {
        "layout": {key: value for key, value in template.get("layout", {}).items() if key not in unused_layout},
        "data": {kind: [{key: value for key, value in defaults.items() if key != "colorscale"} for defaults in trace_defaults]
                 for kind, trace_defaults in template.get("data", {}).items() if kind in ("heatmap", "bar", "scatter")},
    }


def _escape(text):
    """`text` as a string plotly shows literally (no tags, no entities interpreted)."""
    # plotly.js decodes only a few named entities (&amp; &lt; &gt; ...) but any numeric one, so
    # the &quot; that html.escape produces for '"' is swapped for its numeric form.
    return html.escape(str(text), quote=True).replace("&quot;", "&#34;")


def _token_ref(label, position):
    """A token named inside a sentence: "'cat' (#2)", position 1-based, label escaped."""
    return f"'{_FSI}{_escape(label)}{_PDI}' (#{position})"


def _shortened(label):
    """`label` as text of at most `_MAX_LABEL_CHARS` characters: cut, ending in "…", if longer."""
    text = str(label)
    return text if len(text) <= _MAX_LABEL_CHARS else text[: _MAX_LABEL_CHARS - 1] + "…"


def _short_token(label):
    """A token, shortened and escaped, in quotes for the diagram boxes."""
    return f"'{_FSI}{_escape(_shortened(label))}{_PDI}'"


def _preview(items, to_text, *, limit=_MAX_ENTRIES, sep=", ", per_line=None):
    """The first `limit` items as text joined by `sep`, then "… (+N more)" if any are left.

    With `per_line`, a "<br>" starts a new line after every `per_line` entries.
    """
    parts = [to_text(item) for item in items[:limit]]
    step = per_line or max(1, len(parts))
    text = "<br>".join(sep.join(parts[i : i + step]) for i in range(0, len(parts), step))
    hidden = len(items) - limit
    return text if hidden <= 0 else f"{text}{sep}… (+{hidden} more)"


def _vector_text(vector):
    return "[" + _preview(vector, _fmt) + "]"


def _categories(labels):
    """Unique axis categories for `labels`: "'cat' (#2)", so a repeated token keeps its own row.

    Hover templates read the category through %{x} / %{y}: O(T) strings per axis instead of a
    string per cell, which would make a 1024-token heatmap's payload explode.
    """
    return [_token_ref(label, i + 1) for i, label in enumerate(labels)]


def _ticks(tick_values, labels, axis_type="category"):
    """Axis settings showing `labels`, shortened and escaped, at their `tick_values`, thinned to ~24."""
    step = max(1, math.ceil(len(labels) / _MAX_TICK_LABELS))
    shown = range(0, len(labels), step)
    return dict(
        type=axis_type,
        tickmode="array",
        tickvals=[tick_values[i] for i in shown],
        ticktext=[_escape(_shortened(labels[i])) for i in shown],
    )


@functools.cache
def _colorscale(name):
    """plotly.py's named colorscale as explicit stops.

    Figures skip validation, which is where plotly.py would expand a name; plotly.js knows some
    names too, but with other colours ("Blues" runs dark to light there).
    """
    return plotly.colors.get_colorscale(name)


# The figures' own look for axes and colour bars, so they need no styling from whoever shows them
# (the app shows them with Streamlit's chart theme off: its automargin had plotly measure every
# axis's labels on each redraw).
_AXIS_STYLE = dict(
    tickfont=dict(size=12, color=_MUTED_COLOR),
    tickcolor=_RULE_COLOR,
    gridcolor=_RULE_COLOR,
    linecolor=_RULE_COLOR,
)
_COLORBAR_STYLE = dict(thickness=16, outlinewidth=0, tickfont=dict(size=12, color=_MUTED_COLOR))


# A generous width of one 12 px tick-label character.
_TICK_CHAR_PX = 7


def _label_margin(labels, least):
    """Pixels of margin for an axis showing `labels` (as `_ticks` shortens them) and its title,
    at least `least`; never more than `_MAX_LABEL_CHARS` characters' room.

    Estimated here rather than left to plotly's `automargin`, which measures every label on
    each redraw, a measurable part of every slider move.
    """
    longest = max((len(_shortened(label)) for label in labels), default=0)
    return max(least, 45 + _TICK_CHAR_PX * longest)


def _axis(title, **settings):
    """A visible axis titled `title` (escaped here) in the figures' own look, plus `settings`."""
    title_style = dict(text=_escape(title), font=dict(size=14, color=_MUTED_COLOR), standoff=16)
    return dict(_AXIS_STYLE, title=title_style, **settings)


def _figure(data, layout, title, *, height=None, side=70, bottom=60):
    """The finished Figure: trace dicts and a layout dict, with the shared look and escaped title.

    Built from plain dicts in one step without plotly's validation: going property by property
    (update_layout, add_annotation, ...) costs about 10 ms a figure, paid on every slider move.
    The tests validate every figure the builders make. `side` is the left margin (room for axis
    labels; diagrams without axes pass less).
    """
    layout = {
        "title": dict(text=_escape(title), x=0.0, xanchor="left", font=dict(size=18, weight=600)),
        "font": dict(family=_FONT_FAMILY, size=13, color=_TEXT_COLOR),
        "margin": dict(l=side, r=min(side, 30), t=70 if title else 30, b=bottom, pad=8),
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hoverlabel": dict(
            bgcolor="white", bordercolor=_RULE_COLOR, font=dict(family=_FONT_FAMILY, size=13, color=_TEXT_COLOR)
        ),
        **({"height": height} if height is not None else {}),
        "template": _cartesian_template(plotly.io.templates.default),
        **layout,
    }
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def _hidden_axes(x_range, y_range):
    """Layout entries fixing a diagram's data ranges and hiding its axes, grid and zoom."""
    hidden = dict(visible=False, showgrid=False, zeroline=False, fixedrange=True)
    return dict(
        xaxis=dict(range=list(x_range), **hidden),
        yaxis=dict(range=list(y_range), **hidden),
        showlegend=False,
        dragmode=False,
    )


def _box(shapes, annotations, x0, y0, x1, y1, text, *, kind="plain", align="center"):
    """Append a filled rectangle and its `text` (already safe HTML), centred or left-aligned."""
    fill, border = _BOX_STYLES[kind]
    shapes.append(dict(
        type="rect", x0=x0, y0=y0, x1=x1, y1=y1,
        line=dict(color=border, width=1.5), fillcolor=fill, layer="below",
    ))
    left = align == "left"
    annotations.append(dict(
        x=x0 + 0.015 if left else (x0 + x1) / 2, y=(y0 + y1) / 2, text=text,
        showarrow=False, align=align, xanchor="left" if left else "center", yanchor="middle",
    ))


def _arrow(annotations, start, end, *, text="", name=None):
    """Append an arrow from data point `start` to `end`, with optional caption `text` (safe HTML);
    `name` says what flows along it (plotly keeps it, unseen, for tests and templates)."""
    annotations.append(dict(
        x=end[0], y=end[1], ax=start[0], ay=start[1], xref="x", yref="y", axref="x", ayref="y",
        showarrow=True, arrowhead=2, arrowsize=1.2, arrowwidth=2, arrowcolor=_ARROW_COLOR,
        text="", standoff=2, **({"name": name} if name else {}),
    ))
    if text:
        annotations.append(dict(
            x=(start[0] + end[0]) / 2, y=(start[1] + end[1]) / 2, text=text, showarrow=False,
            yshift=14, font=dict(size=12, color=_ARROW_COLOR),
        ))


def _as_array(name, value, ndim, shape_hint):
    array = np.asarray(value)
    if array.ndim != ndim:
        raise ValueError(
            f"`{name}` must be a {ndim}-D array of shape {shape_hint}; got shape {array.shape}."
        )
    return array


def _check_labels(name, labels, expected, per):
    if len(labels) != expected:
        raise ValueError(
            f"`{name}` has {len(labels)} labels but needs {expected}, one per {per}: "
            f"pass exactly {expected} labels."
        )


def _sign_colors(values):
    """Blue for values >= 0, red for negative ones (the same convention as the edges)."""
    return np.where(np.asarray(values) < 0, _NEGATIVE_COLOR, _POSITIVE_COLOR).tolist()


# --------------------------------------------------------------------------- heatmaps and bars


# Above this many cells (256 × 256) a matrix is drawn as a PNG image, one pixel per cell,
# coloured here with the heatmap's own colour scale. As a plotly heatmap, 1024 × 1024 float32
# values are 5.9 MB of JSON that Streamlit's front end re-serializes and scans dozens of times
# before plotly colours it cell by cell in JavaScript: over a second per slider move (measured
# by `make bench`). The image is a few hundred KB, decoded natively by the browser. At 256+
# rows a cell is under 3 px, so hover names its row and column; the downloads hold the values.
EXACT_CELL_LIMIT = 256 * 256
# Colours along the scale in an image: 8-bit steps, as fine as a screen's channels.
_IMAGE_LEVELS = 256


def heatmap(
    values,
    row_labels,
    col_labels,
    *,
    title="",
    colorscale="RdBu",
    zmid=0.0,
    zmin=None,
    zmax=None,
    value_name="value",
    row_title="",
    col_title="",
    hovertemplate=None,
    hover_texts=None,
):
    """A labelled heatmap of a matrix, first row at the top, exact values on hover.

    values: (R, C) finite; row_labels: R labels; col_labels: C labels (duplicates allowed).
    Up to EXACT_CELL_LIMIT cells the axes are categories such as "'cat' (#2)" (see
    `_categories`), which hover shows with the exact value; `hovertemplate` replaces the default
    "row: …<br>column: …<br>value: …", and `hover_texts` (R, C) adds a line per cell (e.g. how
    it was computed; escaped here). Above it the matrix is an image (see `_image_traces`)
    on numeric axes 1..R and 1..C, and hover shows row and column numbers.
    """
    values = _as_array("values", values, 2, "(R, C)")
    rows, cols = values.shape
    _check_labels("row_labels", row_labels, rows, f"row of values {values.shape}")
    _check_labels("col_labels", col_labels, cols, f"column of values {values.shape}")

    row_name, col_name = _escape(row_title or "row"), _escape(col_title or "column")
    colorbar = dict(_COLORBAR_STYLE, title=dict(text=_escape(value_name)))
    if values.size <= EXACT_CELL_LIMIT:
        row_categories, col_categories = _categories(row_labels), _categories(col_labels)
        if hovertemplate is None:
            hovertemplate = f"{row_name}: %{{y}}<br>{col_name}: %{{x}}<br>{_escape(value_name)}: %{{z:.6f}}<extra></extra>"
        trace = dict(
            type="heatmap", z=values, x=col_categories, y=row_categories,
            colorscale=_colorscale(colorscale), zmid=zmid, zmin=zmin, zmax=zmax,
            colorbar=colorbar, hovertemplate=hovertemplate,
        )
        if hover_texts is not None:
            if np.shape(hover_texts) != values.shape:
                raise ValueError(f"`hover_texts` must have the shape of values, {values.shape}; got {np.shape(hover_texts)}.")
            trace["customdata"] = [[_escape(text) for text in row] for row in hover_texts]
            trace["hovertemplate"] = hovertemplate.replace("<extra></extra>", "<br>%{customdata}<extra></extra>")
        traces = [trace]
        x_ticks, y_ticks = _ticks(col_categories, col_labels), _ticks(row_categories, row_labels)
    else:
        low, high = _color_range(values, zmin, zmax, zmid)
        traces = _image_traces(values, colorscale, low, high, colorbar,
                               hovertemplate=f"{row_name}: #%{{y}}<br>{col_name}: #%{{x}}<extra></extra>")
        x_ticks = _ticks(range(1, cols + 1), col_labels, "linear")
        # plotly keeps an image's pixels square unless told otherwise: a square map then sat
        # small in a tall frame. Stretched, it fills the frame as a heatmap does.
        y_ticks = dict(_ticks(range(1, rows + 1), row_labels, "linear"), scaleanchor=False)
    layout = dict(
        xaxis=_axis(col_title, showgrid=False, zeroline=False, **x_ticks),
        yaxis=_axis(row_title, showgrid=False, zeroline=False, autorange="reversed", **y_ticks),
    )
    # The labels' room is added to the height, so the plot area is as tall whatever the labels.
    bottom = _label_margin(col_labels, 60)
    return _figure(traces, layout, title, height=int(np.clip(26 * rows + 190, 320, 800)) + bottom - 60,
                   side=_label_margin(row_labels, 70), bottom=bottom)


def _color_range(values, zmin, zmax, zmid):
    """The (low, high) values at the ends of the colour scale, as plotly picks them.

    Given bounds are kept; a missing one is the data's extreme, and with `zmid` the automatic
    bounds are widened to sit equally far from it. An empty range is widened by 0.5 each way.
    """
    low = float(np.min(values)) if zmin is None else float(zmin)
    high = float(np.max(values)) if zmax is None else float(zmax)
    if zmid is not None and (zmin is None or zmax is None):
        reach = max(abs(high - zmid), abs(zmid - low))
        low = zmid - reach if zmin is None else low
        high = zmid + reach if zmax is None else high
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return low, high


def _palette(colorscale):
    """(_IMAGE_LEVELS, 3) uint8 RGB: the colour scale sampled evenly, interpolated in RGB as plotly does."""
    stops = _colorscale(colorscale)
    positions = [position for position, _ in stops]
    rgb, _ = plotly.colors.convert_colors_to_same_type([color for _, color in stops], colortype="tuple")
    levels = np.linspace(0.0, 1.0, _IMAGE_LEVELS)
    channels = [np.interp(levels, positions, [color[c] * 255 for color in rgb]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def _image_traces(values, colorscale, low, high, colorbar, *, hovertemplate):
    """values (R, C) as a PNG image trace, coloured over [low, high], plus a trace for its colour bar.

    A palette PNG: one byte a cell, the nearest of `_IMAGE_LEVELS` colours. Pixel centres sit
    at x = 1..C and y = 1..R, so hover's %{x} and %{y} are 1-based column and row numbers.
    The colour bar comes from a transparent 1 × 1 heatmap with the same scale and range.
    """
    scaled = (np.asarray(values, dtype=np.float64) - low) / (high - low)
    indices = np.rint(np.clip(scaled, 0.0, 1.0) * (_IMAGE_LEVELS - 1)).astype(np.uint8)
    image = Image.fromarray(indices)
    image.putpalette(_palette(colorscale).tobytes())
    png = io.BytesIO()
    image.save(png, format="PNG", compress_level=1)  # fastest; the palette already makes it small
    source = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    return [
        dict(type="image", source=source, x0=1, dx=1, y0=1, dy=1, hovertemplate=hovertemplate),
        dict(type="heatmap", z=[[low]], x=[1], y=[1], zmin=low, zmax=high, colorscale=_colorscale(colorscale),
             opacity=0, hoverinfo="skip", colorbar=colorbar),
    ]


def attention_heatmap(weights, query_tokens, key_tokens, *, title="Attention weights", hover_texts=None):
    """Attention weights: how much each query token attends to each key token.

    weights: (Tq, Tk) in [0, 1]; query_tokens: Tq labels; key_tokens: Tk labels; hover_texts:
    (Tq, Tk) or None, a line per cell (see `heatmap`). Coloured from 0 to 1; above
    EXACT_CELL_LIMIT cells an image (see `heatmap`).
    """
    weights = _as_array("weights", weights, 2, "(Tq, Tk)")
    return heatmap(
        weights, query_tokens, key_tokens, title=title, colorscale="Blues", zmid=None, zmin=0.0, zmax=1.0,
        value_name="weight", row_title="query (attending)", col_title="key (attended to)",
        hovertemplate="query %{y} → key %{x}: weight %{z:.6f}<extra></extra>", hover_texts=hover_texts,
    )


def mask_heatmap(allowed, row_labels, col_labels, *, title, row_title, col_title, hover_texts):
    """A boolean mask as a map: dark (1) where `allowed` is True, white (0) where it is masked.

    allowed: (R, C) bool; hover_texts: (R, C) what each cell means (escaped here). Drawn by
    `heatmap`, so above EXACT_CELL_LIMIT cells it is an image.
    """
    allowed = _as_array("allowed", allowed, 2, "(R, C)").astype(bool)
    row_name, col_name = _escape(row_title), _escape(col_title)
    return heatmap(
        allowed.astype(np.float32), row_labels, col_labels, title=title, colorscale="Blues", zmid=None,
        zmin=0.0, zmax=1.0, value_name="1 = allowed", row_title=row_title, col_title=col_title,
        hovertemplate=f"{row_name}: %{{y}}<br>{col_name}: %{{x}}<br>%{{z:.0f}}<extra></extra>", hover_texts=hover_texts,
    )


def bar_chart(values, labels, *, title="", value_name="value", hover_texts=None, x_title=""):
    """One bar per label (blue positive, red negative), exact value on hover.

    values: (T,); labels: T labels (duplicates allowed); hover_texts: T texts (escaped here), each
    a line under the default "label: value" hover (e.g. how the value was computed).
    """
    values = _as_array("values", values, 1, "(T,)")
    _check_labels("labels", labels, len(values), f"entry of values {values.shape}")
    categories = _categories(labels)
    trace = dict(type="bar", x=categories, y=values, marker=dict(color=_sign_colors(values)),
                 hovertemplate=f"%{{x}}: {_escape(value_name)} %{{y:.6f}}<extra></extra>")
    if hover_texts is not None:
        _check_labels("hover_texts", hover_texts, len(values), f"entry of values {values.shape}")
        trace.update(customdata=[_escape(text) for text in hover_texts],
                     hovertemplate=trace["hovertemplate"].replace("<extra>", "<br>%{customdata}<extra>"))
    layout = dict(
        xaxis=_axis(x_title, showgrid=False, **_ticks(categories, labels)),
        yaxis=_axis(value_name, zeroline=True, zerolinecolor="#9a9ca8"),
    )
    bottom = _label_margin(labels, 60)
    return _figure([trace], layout, title, height=380 + bottom - 60, bottom=bottom)


def dot_product_figure(a, b, products, total):
    """The dot product a · b step by step: the products a[i]×b[i] as bars, and their sum.

    a, b, products: (D,) as computed (e.g. a `DotProductTrace`); total: their sum.
    """
    a = _as_array("a", a, 1, "(D,)")
    b = _as_array("b", b, 1, "(D,)")
    products = _as_array("products", products, 1, "(D,)")
    if not a.shape == b.shape == products.shape:
        raise ValueError(
            "`a`, `b` and `products` must have the same length for a dot product; "
            f"got {len(a)}, {len(b)} and {len(products)}."
        )
    total = _fmt(total)
    fig = bar_chart(
        products, [f"{_fmt_factor(x)}×{_fmt_factor(y)}" for x, y in zip(a, b)],
        title=f"Dot product a · b = {total}", value_name="a × b",
        x_title="each entry: a × b",
        hover_texts=[
            f"entry {i}: {_fmt_factor(x)} × {_fmt_factor(y)} = {_fmt(p)}"
            for i, (x, y, p) in enumerate(zip(a, b, products), start=1)
        ],
    )
    terms = _preview(list(zip(a, b)), lambda xy: f"{_fmt_factor(xy[0])}×{_fmt_factor(xy[1])}",
                     limit=4, sep=" + ")
    fig.layout.annotations = [dict(
        x=0.5, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False,
        text=f"a · b = {terms} = <b>{total}</b>", font=dict(size=15),
    )]
    return fig


# --------------------------------------------------------------------------- Q/K/V pipeline

_LINE_PX = 17
_BOX_PAD_PX = 11
_BOX_GAP_PX = 30


def _matrix_lines(matrix, tokens):
    """One line per token "'the': [..]" for the first few rows, then how many are left."""
    lines = [f"{_short_token(tok)}: {_vector_text(row)}"
             for tok, row in zip(tokens[:_MAX_MATRIX_ROWS], matrix[:_MAX_MATRIX_ROWS])]
    if len(tokens) > _MAX_MATRIX_ROWS:
        lines.append(f"… (+{len(tokens) - _MAX_MATRIX_ROWS} more tokens)")
    return lines


def _per_token_text(scores, tokens):
    return _preview(list(zip(tokens, scores)), lambda ts: f"{_short_token(ts[0])}: {_fmt(ts[1])}",
                    per_line=_ENTRIES_PER_LINE)


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
    query = _as_array("query", query, 1, "(D,)")
    keys = _as_array("keys", keys, 2, "(T, D)")
    values = _as_array("values", values, 2, "(T, D)")
    context = _as_array("context", context, 1, "(D,)")
    scores = {
        name: _as_array(name, array, 1, "(T,)")
        for name, array in [("raw_scores", raw_scores), ("scaled_scores", scaled_scores),
                            ("weights", weights)]
    }
    _check_pipeline_shapes(tokens, query_tokens, token_index, query, keys, values, scores, context)
    n, d_key = keys.shape
    me = _short_token(query_tokens[token_index])

    boxes = [
        ("input", [f"<b>Query</b> — the query vector of {me} (#{token_index + 1}), "
                   f"length D = {d_key}", _vector_text(query)]),
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
                    _preview(list(zip(tokens, scores["weights"])),
                             lambda tw: f"{_fmt(tw[1])}×v({_short_token(tw[0])})",
                             limit=4, sep=" + ")]),
        ("output", [f"<b>Context vector</b> — Context vector for {me}", _vector_text(context)]),
    ]

    shapes, annotations = [], []
    spans = []  # (top, bottom) of each box, in pixels from the top
    top = 0
    for kind, lines in boxes:
        text = "<br>".join(lines)
        bottom = top - (2 * _BOX_PAD_PX + _LINE_PX * (text.count("<br>") + 1))
        _box(shapes, annotations, _BOX_LEFT, bottom, _BOX_RIGHT, top, text, kind=kind, align="left")
        spans.append((top, bottom))
        top = bottom - _BOX_GAP_PX
    _pipeline_flows(shapes, annotations, dict(zip(_PIPELINE_BOXES, spans)))
    layout = dict(shapes=shapes, annotations=annotations,
                  **_hidden_axes((-0.01, 1.01), (spans[-1][1] - 2, 2)))
    return _figure([], layout, f"Query → key → value pipeline for '{_shortened(query_tokens[token_index])}'",
                   height=-spans[-1][1] + 100, side=10, bottom=10)


# The seed's boxes, in its order, and where the data really flows between them: the query and
# the keys make the raw scores; the weights and the values make the weighted sum. (The seed's
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
            _arrow(annotations, (0.5, source_bottom), (0.5, target_top), name=name)
            continue
        lane, depth = _SIDE_LANES[source]
        edge = _BOX_LEFT if lane < 0.5 else _BOX_RIGHT
        start_y = (source_top + source_bottom) / 2
        end_y = target_top - depth * (target_top - target_bottom)
        shapes.append(dict(type="path", name=name, path=f"M {edge},{start_y} L {lane},{start_y} L {lane},{end_y}",
                           line=dict(color=_ARROW_COLOR, width=2)))
        _arrow(annotations, (lane, end_y), (edge, end_y), name=name)


# --------------------------------------------------------------------------- dense network

_WIDTH_LEVELS = 4


def _check_kernels(kernels, input_labels, layer_names):
    if len(kernels) == 0:
        raise ValueError("`kernels` is empty: pass one (inputs, units) array per dense layer.")
    kernels = [_as_array(f"kernels[{k}]", w, 2, "(inputs, units)") for k, w in enumerate(kernels)]
    for k in range(1, len(kernels)):
        if kernels[k].shape[0] != kernels[k - 1].shape[1]:
            raise ValueError(
                f"kernels[{k}] has shape {kernels[k].shape} but kernels[{k - 1}] has "
                f"{kernels[k - 1].shape[1]} units, so kernels[{k}] needs "
                f"{kernels[k - 1].shape[1]} rows: pass the kernels in layer order, each as "
                "(inputs, units) like Keras' `layer.kernel`."
            )
    if input_labels is not None:
        _check_labels("input_labels", input_labels, kernels[0].shape[0],
                      f"input row of kernels[0] {kernels[0].shape}")
    if layer_names is not None:
        _check_labels("layer_names", layer_names, len(kernels), "kernel")
    return kernels


def _column_ys(n):
    """Vertical positions of n neurons, centred on 0, first at the top."""
    return (n - 1) / 2 - np.arange(n)


def _edge_traces(layer, kernel, weight_name, names_in, names_out, max_abs):
    """Line traces (one per sign and width class) and one hover-marker trace for one layer."""
    y_in, y_out = _column_ys(kernel.shape[0]), _column_ys(kernel.shape[1])
    levels = np.clip(np.ceil(np.abs(kernel) / max_abs * _WIDTH_LEVELS), 1, _WIDTH_LEVELS)
    traces = []
    for negative, color in [(False, _POSITIVE_COLOR), (True, _NEGATIVE_COLOR)]:
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
        for name, negative, color in [("positive weight", False, _POSITIVE_COLOR),
                                      ("negative weight", True, _NEGATIVE_COLOR)]
    ]


def _neuron_names(sizes, input_labels):
    """Escaped labels per column: inputs x1, x2, … (or `input_labels`), then N1_1, N1_2, …"""
    inputs = ([_escape(x) for x in input_labels] if input_labels is not None
              else [f"x{i + 1}" for i in range(sizes[0])])
    return [inputs] + [[f"N{k}_{j + 1}" for j in range(n)] for k, n in enumerate(sizes[1:], 1)]


def _neuron_trace(column_index, names, heading, marker_px, show_text):
    """One column of neurons; input labels sit left of their circle, unit labels inside."""
    is_input = column_index == 0
    return dict(
        type="scatter", x=np.full(len(names), column_index), y=_column_ys(len(names)),
        mode="markers+text" if show_text else "markers", text=names,
        textposition="middle left" if is_input else "middle center",
        textfont=dict(color=_TEXT_COLOR if is_input else "white", size=11),
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
    weight_names = ([_escape(name) for name in layer_names] if layer_names is not None
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
        **_hidden_axes((left, len(kernels) + 0.35), (-(tallest - 1) / 2 - 0.6, (tallest - 1) / 2 + 1.1)),
    )
    layout.update(
        showlegend=True, hovermode="closest",
        legend=dict(orientation="h", x=1.0, xanchor="right", y=-0.02, yanchor="top",
                    title=dict(text="line width ∝ |weight|")),
    )
    return _figure(data, layout, "Dense network weights", height=height, side=20)


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
        _box(shapes, annotations, x - half_w, y0, x + half_w, y1, text, kind=kind)
    middle = (y0 + y1) / 2
    _arrow(annotations, (0.5 + half_w, middle), (1.5 - half_w, middle), text="embeddings")
    _arrow(annotations, (1.5 + half_w, middle), (2.5 - half_w, middle), text="hidden states")

    # The loop back: down from Attention, left along the bottom, then an arrow up into Input.
    low = 0.5
    shapes.append(dict(
        type="path", path=f"M 2.5,{y0} L 2.5,{low + 0.08} Q 2.5,{low} 2.42,{low} "
        f"L 0.58,{low} Q 0.5,{low} 0.5,{low + 0.08}",
        line=dict(color=_ARROW_COLOR, width=2),
    ))
    _arrow(annotations, (0.5, low + 0.06), (0.5, y0))  # overlaps the path's end: no visible seam
    annotations.append(dict(
        x=1.5, y=low, yshift=-22, showarrow=False, font=dict(size=12, color=_ARROW_COLOR),
        text="<b>context vector</b>: what attention selects feeds the next step",
    ))
    layout = dict(shapes=shapes, annotations=annotations, **_hidden_axes((0.0, 3.0), (0.25, 1.65)))
    return _figure([], layout, "Encoder–attention loop", height=340, side=20, bottom=10)
