"""The figures' shared look and vocabulary: colours, fonts, axes, escaping, label shortening,
and the one `figure()` that finishes every chart.

User text (tokens, feature names, titles) can contain HTML, which plotly partly renders, so it
goes through `escape` before it reaches tick text, hover text, annotations or titles. Hover
templates only ever receive user text through `customdata`, never inside the template itself,
so a token such as "%{y}" is shown as typed.
"""

import functools
import html
import math

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import plotly.io

from attention_core.text.explain import number as _fmt

# At most this many tick labels per axis (half-width charts stay legible); hover names them all.
MAX_TICK_LABELS = 24
# Numbers (or token entries) shown per pipeline box before "… (+N more)".
_MAX_ENTRIES = 8
# Token entries ("'cat': 0.25") per line in the pipeline boxes, so lines fit a narrow column.
ENTRIES_PER_LINE = 4
# Matrix rows (tokens) shown in the pipeline's Keys and Values boxes.
MAX_MATRIX_ROWS = 3
# Longer labels are cut, with an ellipsis, in tick text and the diagram boxes; hover keeps them
# whole. A label's room is then bounded, so no label can squeeze a chart's plot area.
MAX_LABEL_CHARS = 14

# "Source Sans" is the web font Streamlit's pages load; the others stand in outside them.
_FONT_FAMILY = '"Source Sans", "Source Sans Pro", "Source Sans 3", "Segoe UI", "Noto Sans", sans-serif'
TEXT_COLOR = "#262730"
MUTED_COLOR = "#808495"  # tick labels and axis titles, as Streamlit draws them
_RULE_COLOR = "#e6eaf1"  # ticks, grid and zero lines
POSITIVE_COLOR = "#2166ac"
NEGATIVE_COLOR = "#b2182b"
ARROW_COLOR = "#555867"
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


def escape(text):
    """`text` as a string plotly shows literally (no tags, no entities interpreted)."""
    # plotly.js decodes only a few named entities (&amp; &lt; &gt; ...) but any numeric one, so
    # the &quot; that html.escape produces for '"' is swapped for its numeric form.
    return html.escape(str(text), quote=True).replace("&quot;", "&#34;")


def token_ref(label, position):
    """A token named inside a sentence: "'cat' (#2)", position 1-based, label escaped."""
    return f"'{_FSI}{escape(label)}{_PDI}' (#{position})"


def shortened(label):
    """`label` as text of at most `MAX_LABEL_CHARS` characters: cut, ending in "…", if longer."""
    text = str(label)
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def short_token(label):
    """A token, shortened and escaped, in quotes for the diagram boxes."""
    return f"'{_FSI}{escape(shortened(label))}{_PDI}'"


def preview(items, to_text, *, limit=_MAX_ENTRIES, sep=", ", per_line=None):
    """The first `limit` items as text joined by `sep`, then "… (+N more)" if any are left.

    With `per_line`, a "<br>" starts a new line after every `per_line` entries.
    """
    parts = [to_text(item) for item in items[:limit]]
    step = per_line or max(1, len(parts))
    text = "<br>".join(sep.join(parts[i : i + step]) for i in range(0, len(parts), step))
    hidden = len(items) - limit
    return text if hidden <= 0 else f"{text}{sep}… (+{hidden} more)"


def vector_text(vector):
    return "[" + preview(vector, _fmt) + "]"


def categories(labels):
    """Unique axis categories for `labels`: "'cat' (#2)", so a repeated token keeps its own row.

    Hover templates read the category through %{x} / %{y}: O(T) strings per axis instead of a
    string per cell, which would make a 1024-token heatmap's payload explode.
    """
    return [token_ref(label, i + 1) for i, label in enumerate(labels)]


def ticks(tick_values, labels, axis_type="category"):
    """Axis settings showing `labels`, shortened and escaped, at their `tick_values`, thinned to ~24."""
    step = max(1, math.ceil(len(labels) / MAX_TICK_LABELS))
    shown = range(0, len(labels), step)
    return dict(
        type=axis_type,
        tickmode="array",
        tickvals=[tick_values[i] for i in shown],
        ticktext=[escape(shortened(labels[i])) for i in shown],
    )


@functools.cache
def colorscale(name):
    """plotly.py's named colorscale as explicit stops.

    Figures skip validation, which is where plotly.py would expand a name; plotly.js knows some
    names too, but with other colours ("Blues" runs dark to light there).
    """
    return plotly.colors.get_colorscale(name)


# The figures' own look for axes and colour bars, so they need no styling from whoever shows them
# (the app shows them with Streamlit's chart theme off: its automargin had plotly measure every
# axis's labels on each redraw).
_AXIS_STYLE = dict(
    tickfont=dict(size=12, color=MUTED_COLOR),
    tickcolor=_RULE_COLOR,
    gridcolor=_RULE_COLOR,
    linecolor=_RULE_COLOR,
)
COLORBAR_STYLE = dict(thickness=16, outlinewidth=0, tickfont=dict(size=12, color=MUTED_COLOR))


# A generous width of one 12 px tick-label character.
_TICK_CHAR_PX = 7


def label_margin(labels, least):
    """Pixels of margin for an axis showing `labels` (as `ticks` shortens them) and its title,
    at least `least`; never more than `MAX_LABEL_CHARS` characters' room.

    Estimated here rather than left to plotly's `automargin`, which measures every label on
    each redraw, a measurable part of every slider move.
    """
    longest = max((len(shortened(label)) for label in labels), default=0)
    return max(least, 45 + _TICK_CHAR_PX * longest)


def axis(title, **settings):
    """A visible axis titled `title` (escaped here) in the figures' own look, plus `settings`."""
    title_style = dict(text=escape(title), font=dict(size=14, color=MUTED_COLOR), standoff=16)
    return dict(_AXIS_STYLE, title=title_style, **settings)


def figure(data, layout, title, *, height=None, side=70, bottom=60):
    """The finished Figure: trace dicts and a layout dict, with the shared look and escaped title.

    Built from plain dicts in one step without plotly's validation: going property by property
    (update_layout, add_annotation, ...) costs about 10 ms a figure, paid on every slider move.
    The tests validate every figure the builders make. `side` is the left margin (room for axis
    labels; diagrams without axes pass less).
    """
    layout = {
        "title": dict(text=escape(title), x=0.0, xanchor="left", font=dict(size=18, weight=600)),
        "font": dict(family=_FONT_FAMILY, size=13, color=TEXT_COLOR),
        "margin": dict(l=side, r=min(side, 30), t=70 if title else 30, b=bottom, pad=8),
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hoverlabel": dict(
            bgcolor="white", bordercolor=_RULE_COLOR, font=dict(family=_FONT_FAMILY, size=13, color=TEXT_COLOR)
        ),
        **({"height": height} if height is not None else {}),
        "template": _cartesian_template(plotly.io.templates.default),
        **layout,
    }
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def hidden_axes(x_range, y_range):
    """Layout entries fixing a diagram's data ranges and hiding its axes, grid and zoom."""
    hidden = dict(visible=False, showgrid=False, zeroline=False, fixedrange=True)
    return dict(
        xaxis=dict(range=list(x_range), **hidden),
        yaxis=dict(range=list(y_range), **hidden),
        showlegend=False,
        dragmode=False,
    )


def box(shapes, annotations, x0, y0, x1, y1, text, *, kind="plain", align="center"):
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


def arrow(annotations, start, end, *, text="", name=None):
    """Append an arrow from data point `start` to `end`, with optional caption `text` (safe HTML);
    `name` says what flows along it (plotly keeps it, unseen, for tests and templates)."""
    annotations.append(dict(
        x=end[0], y=end[1], ax=start[0], ay=start[1], xref="x", yref="y", axref="x", ayref="y",
        showarrow=True, arrowhead=2, arrowsize=1.2, arrowwidth=2, arrowcolor=ARROW_COLOR,
        text="", standoff=2, **({"name": name} if name else {}),
    ))
    if text:
        annotations.append(dict(
            x=(start[0] + end[0]) / 2, y=(start[1] + end[1]) / 2, text=text, showarrow=False,
            yshift=14, font=dict(size=12, color=ARROW_COLOR),
        ))


def as_array(name, value, ndim, shape_hint):
    array = np.asarray(value)
    if array.ndim != ndim:
        raise ValueError(
            f"`{name}` must be a {ndim}-D array of shape {shape_hint}; got shape {array.shape}."
        )
    return array


def check_labels(name, labels, expected, per):
    if len(labels) != expected:
        raise ValueError(
            f"`{name}` has {len(labels)} labels but needs {expected}, one per {per}: "
            f"pass exactly {expected} labels."
        )


def sign_colors(values):
    """Blue for values >= 0, red for negative ones (the same convention as the edges)."""
    return np.where(np.asarray(values) < 0, NEGATIVE_COLOR, POSITIVE_COLOR).tolist()

