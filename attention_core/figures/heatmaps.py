"""Heatmaps and bar charts: pure functions from NumPy arrays and labels to plotly figures.

Every builder returns a `plotly.graph_objects.Figure` and never shows it (the Streamlit pages
call `st.plotly_chart`). Shape letters: R rows, C columns, D vector length.
"""

import base64
import io

import numpy as np
import plotly.colors
import plotly.io
from PIL import Image

from attention_core.figures import style
from attention_core.text.explain import factor as _fmt_factor
from attention_core.text.explain import number as _fmt

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
    `style.categories`), which hover shows with the exact value; `hovertemplate` replaces the default
    "row: …<br>column: …<br>value: …", and `hover_texts` (R, C) adds a line per cell (e.g. how
    it was computed; escaped here). Above it the matrix is an image (see `_image_traces`)
    on numeric axes 1..R and 1..C, and hover shows row and column numbers.
    """
    values = style.as_array("values", values, 2, "(R, C)")
    rows, cols = values.shape
    style.check_labels("row_labels", row_labels, rows, f"row of values {values.shape}")
    style.check_labels("col_labels", col_labels, cols, f"column of values {values.shape}")

    row_name, col_name = style.escape(row_title or "row"), style.escape(col_title or "column")
    colorbar = dict(style.COLORBAR_STYLE, title=dict(text=style.escape(value_name)))
    if values.size <= EXACT_CELL_LIMIT:
        row_categories, col_categories = style.categories(row_labels), style.categories(col_labels)
        if hovertemplate is None:
            hovertemplate = f"{row_name}: %{{y}}<br>{col_name}: %{{x}}<br>{style.escape(value_name)}: %{{z:.6f}}<extra></extra>"
        trace = dict(
            type="heatmap", z=values, x=col_categories, y=row_categories,
            colorscale=style.colorscale(colorscale), zmid=zmid, zmin=zmin, zmax=zmax,
            colorbar=colorbar, hovertemplate=hovertemplate,
        )
        if hover_texts is not None:
            if np.shape(hover_texts) != values.shape:
                raise ValueError(f"`hover_texts` must have the shape of values, {values.shape}; got {np.shape(hover_texts)}.")
            trace["customdata"] = [[style.escape(text) for text in row] for row in hover_texts]
            trace["hovertemplate"] = hovertemplate.replace("<extra></extra>", "<br>%{customdata}<extra></extra>")
        traces = [trace]
        x_ticks, y_ticks = style.ticks(col_categories, col_labels), style.ticks(row_categories, row_labels)
    else:
        low, high = _color_range(values, zmin, zmax, zmid)
        traces = _image_traces(values, colorscale, low, high, colorbar,
                               hovertemplate=f"{row_name}: #%{{y}}<br>{col_name}: #%{{x}}<extra></extra>")
        x_ticks = style.ticks(range(1, cols + 1), col_labels, "linear")
        # plotly keeps an image's pixels square unless told otherwise: a square map then sat
        # small in a tall frame. Stretched, it fills the frame as a heatmap does.
        y_ticks = dict(style.ticks(range(1, rows + 1), row_labels, "linear"), scaleanchor=False)
    layout = dict(
        xaxis=style.axis(col_title, showgrid=False, zeroline=False, **x_ticks),
        yaxis=style.axis(row_title, showgrid=False, zeroline=False, autorange="reversed", **y_ticks),
    )
    # The labels' room is added to the height, so the plot area is as tall whatever the labels.
    bottom = style.label_margin(col_labels, 60)
    return style.figure(traces, layout, title, height=int(np.clip(26 * rows + 190, 320, 800)) + bottom - 60,
                   side=style.label_margin(row_labels, 70), bottom=bottom)


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
    stops = style.colorscale(colorscale)
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
        dict(type="heatmap", z=[[low]], x=[1], y=[1], zmin=low, zmax=high, colorscale=style.colorscale(colorscale),
             opacity=0, hoverinfo="skip", colorbar=colorbar),
    ]


def attention_heatmap(weights, query_tokens, key_tokens, *, title="Attention weights", hover_texts=None):
    """Attention weights: how much each query token attends to each key token.

    weights: (Tq, Tk) in [0, 1]; query_tokens: Tq labels; key_tokens: Tk labels; hover_texts:
    (Tq, Tk) or None, a line per cell (see `heatmap`). Coloured from 0 to 1; above
    EXACT_CELL_LIMIT cells an image (see `heatmap`).
    """
    weights = style.as_array("weights", weights, 2, "(Tq, Tk)")
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
    allowed = style.as_array("allowed", allowed, 2, "(R, C)").astype(bool)
    row_name, col_name = style.escape(row_title), style.escape(col_title)
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
    values = style.as_array("values", values, 1, "(T,)")
    style.check_labels("labels", labels, len(values), f"entry of values {values.shape}")
    categories = style.categories(labels)
    trace = dict(type="bar", x=categories, y=values, marker=dict(color=style.sign_colors(values)),
                 hovertemplate=f"%{{x}}: {style.escape(value_name)} %{{y:.6f}}<extra></extra>")
    if hover_texts is not None:
        style.check_labels("hover_texts", hover_texts, len(values), f"entry of values {values.shape}")
        trace.update(customdata=[style.escape(text) for text in hover_texts],
                     hovertemplate=trace["hovertemplate"].replace("<extra>", "<br>%{customdata}<extra>"))
    layout = dict(
        xaxis=style.axis(x_title, showgrid=False, **style.ticks(categories, labels)),
        yaxis=style.axis(value_name, zeroline=True, zerolinecolor="#9a9ca8"),
    )
    bottom = style.label_margin(labels, 60)
    return style.figure([trace], layout, title, height=380 + bottom - 60, bottom=bottom)


def dot_product_figure(a, b, products, total):
    """The dot product a · b step by step: the products a[i]×b[i] as bars, and their sum.

    a, b, products: (D,) as computed (e.g. a `DotProductTrace`); total: their sum.
    """
    a = style.as_array("a", a, 1, "(D,)")
    b = style.as_array("b", b, 1, "(D,)")
    products = style.as_array("products", products, 1, "(D,)")
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
    terms = style.preview(list(zip(a, b)), lambda xy: f"{_fmt_factor(xy[0])}×{_fmt_factor(xy[1])}",
                     limit=4, sep=" + ")
    fig.layout.annotations = [dict(
        x=0.5, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False,
        text=f"a · b = {terms} = <b>{total}</b>", font=dict(size=15),
    )]
    return fig


