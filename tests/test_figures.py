"""The plotly figures: data equals the arrays given, labels survive duplicates and HTML."""

import ast
import json
import re
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io
import pytest

from attention_core import figures
from attention_core.figures import (
    attention_heatmap,
    bar_chart,
    dense_network_figure,
    diagrams,
    dot_product_figure,
    encoder_attention_loop_figure,
    heatmap,
    heatmaps,
    learning,
    qkv_pipeline_figure,
    style,
)
from attention_core.text import explain
from tests.map_images import assert_image_shows

SCRIPT = "<script>alert(1)</script>"
TOKENS = ["the", "cat", "sat", "on", "the", "mat"]


def annotation_texts(fig):
    return [a.text for a in fig.layout.annotations]


def edge_segments(fig):
    """(trace, number of None-separated segments) for every edge line trace."""
    return [(t, sum(x is None for x in t.x)) for t in fig.data
            if t.mode == "lines" and t.x is not None and len(t.x) > 1]


def hover_markers(fig, weight_name):
    return [t for t in fig.data if t.mode == "markers" and t.customdata is not None
            and str(t.customdata[0]).startswith(f"{weight_name}: ")]


def neuron_labels(fig):
    return [str(text) for t in fig.data if t.text is not None and t.marker.size for text in t.text]


def pipeline_inputs(tokens=TOKENS, d=4, seed=0):
    rng = np.random.default_rng(seed)
    n = len(tokens)
    query, keys, values = rng.normal(size=d), rng.normal(size=(n, d)), rng.normal(size=(n, d))
    raw = keys @ query
    scaled = raw / np.sqrt(d)
    weights = np.exp(scaled) / np.exp(scaled).sum()
    return dict(tokens=tokens, token_index=1, query=query, keys=keys, values=values,
                raw_scores=raw, scaled_scores=scaled, weights=weights, context=weights @ values,
                scale=1 / np.sqrt(d))


# --------------------------------------------------------------------------- module contract


def imported_modules(module):
    """The modules a source file imports, as written: "numpy", "attention_core.text.explain", …"""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return imported | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_figure_modules_import_only_numpy_plotly_pillow_the_standard_library_and_explain():
    # explain formats the numbers; it imports numpy and the standard library only. The heads'
    # figures read the score names and titles from heads.scores, which is NumPy only.
    allowed = {"base64", "functools", "html", "io", "math", "numpy", "plotly.colors", "plotly.graph_objects",
               "plotly.io", "PIL", "attention_core.text.explain", "attention_core.figures",
               "attention_core.figures.style", "attention_core.figures.heatmaps",
               "attention_core.figures.diagrams", "attention_core.figures.learning", "attention_core.figures.heads",
               "attention_core.heads.scores"}
    for module in (figures, style, heatmaps, diagrams, learning, figures.heads):
        assert imported_modules(module) <= allowed, module.__name__
    assert imported_modules(explain) <= {"dataclasses", "numpy"}


def test_number_format_is_compact():
    assert [explain.number(x) for x in [4.0, -3, 0.0, 32, 0.123456, 2.5, 1e-7]] == [
        "4", "-3", "0", "32", "0.1235", "2.5", "1e-07"]


# --------------------------------------------------------------------------- heatmap


def test_heatmap_keeps_the_values_unrounded_and_uses_numeric_axes():
    values = np.array([[0.123456789, -2.0, 3.5], [1e-9, 0.5, -0.25]])
    fig = heatmap(values, ["a", "b"], ["x", "y", "z"], title="Scores")
    assert isinstance(fig, go.Figure) and len(fig.data) == 1
    np.testing.assert_array_equal(fig.data[0].z, values)
    assert len(fig.data[0].x) == 3 and len(fig.data[0].y) == 2
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.data[0].zmid == 0.0 and fig.data[0].colorscale is not None
    assert "%{z:.6f}" in fig.data[0].hovertemplate
    assert fig.data[0].hovertemplate.endswith("<extra></extra>")


def test_heatmap_keeps_one_tick_per_position_for_duplicate_labels():
    fig = heatmap(np.zeros((3, 6)), ["the", "cat", "the"], TOKENS)
    assert list(fig.layout.xaxis.tickvals) == list(fig.data[0].x)
    assert list(fig.layout.xaxis.ticktext) == TOKENS
    assert list(fig.layout.yaxis.tickvals) == list(fig.data[0].y)
    assert list(fig.layout.yaxis.ticktext) == ["the", "cat", "the"]
    # Categories name each row by label and 1-based position, so the two "the" rows differ.
    rows, cols = fig.data[0].y, fig.data[0].x
    assert len(set(rows)) == 3 and fig.layout.yaxis.type == "category"
    assert "the" in rows[0] and "(#1)" in rows[0]
    assert "the" in rows[2] and "(#3)" in rows[2]
    assert "mat" in cols[5] and "(#6)" in cols[5]
    assert "%{y}" in fig.data[0].hovertemplate and "%{x}" in fig.data[0].hovertemplate


def test_heatmap_thins_many_tick_labels_but_hover_stays_complete():
    labels = [f"tok{i}" for i in range(100)]
    fig = heatmap(np.zeros((100, 100)), labels, labels)
    for axis, categories in ((fig.layout.xaxis, fig.data[0].x), (fig.layout.yaxis, fig.data[0].y)):
        assert 20 <= len(axis.ticktext) <= style.MAX_TICK_LABELS
        assert len(axis.tickvals) == len(axis.ticktext)
        positions = [list(categories).index(value) for value in axis.tickvals]
        assert [labels[p] for p in positions] == list(axis.ticktext)
    ref = style.token_ref
    assert list(fig.data[0].y) == [ref(f"tok{r}", r + 1) for r in range(100)]
    assert list(fig.data[0].x) == [ref(f"tok{c}", c + 1) for c in range(100)]
    assert fig.data[0].customdata is None  # hover reads the categories: O(T), not O(T²)


def test_margins_make_room_for_the_longest_label_without_plotly_measuring():
    token = "internationalization"  # 20 characters, shown as its first 13 and "…"
    short = heatmap(np.eye(2), ["a", "b"], ["c", "d"])
    long = heatmap(np.eye(2), ["a", token], [token, "d"])
    bars = bar_chart(np.ones(2), ["a", token])
    assert short.layout.margin.l == 70 and short.layout.margin.b == 60  # the least margins
    room = 7 * style.MAX_LABEL_CHARS + 45
    assert long.layout.margin.l == long.layout.margin.b == bars.layout.margin.b == room
    # automargin would make plotly draw each chart twice to measure its labels.
    for fig in (short, long, bars):
        assert not fig.layout.xaxis.automargin and not fig.layout.yaxis.automargin


def plot_area_height(fig):
    """The pixels between a figure's top and bottom margins: what plotly leaves for the plot."""
    return fig.layout.height - fig.layout.margin.t - fig.layout.margin.b


LONG_TOKEN = "ab<c>" * 1000  # 5,000 characters, with HTML in it


@pytest.mark.parametrize("build", [
    lambda tokens: heatmap(np.eye(len(tokens)), tokens, tokens, title="Scores"),
    lambda tokens: attention_heatmap(np.full((len(tokens), len(tokens)), 1 / len(tokens)), tokens, tokens),
    lambda tokens: bar_chart(np.arange(len(tokens), dtype=float), tokens, title="Weights"),
], ids=["heatmap", "attention heatmap", "bar chart"])
def test_a_5000_character_token_keeps_the_plot_area_and_shows_cut_on_the_ticks(build):
    short_tokens = ["the", "cat", "sat"]
    long_tokens = ["the", LONG_TOKEN, "sat"]
    short, long = build(short_tokens), build(long_tokens)
    assert plot_area_height(long) >= plot_area_height(short) > 150
    assert long.layout.margin.l <= 7 * style.MAX_LABEL_CHARS + 45
    cut = style.escape(LONG_TOKEN[: style.MAX_LABEL_CHARS - 1] + "…")
    assert list(long.layout.xaxis.ticktext) == ["the", cut, "sat"]
    # Hover names the token in full: its axis category holds the whole (escaped) text.
    assert style.escape(LONG_TOKEN) in long.data[0].x[1]
    go.Figure(long.to_dict())


def test_labels_up_to_the_limit_are_shown_whole():
    exact = "x" * style.MAX_LABEL_CHARS
    assert list(heatmap(np.eye(1), [exact], [exact + "y"]).layout.yaxis.ticktext) == [exact]
    assert list(heatmap(np.eye(1), [exact], [exact + "y"]).layout.xaxis.ticktext) == ["x" * (len(exact) - 1) + "…"]


def test_heatmap_rejects_wrong_label_counts_and_non_2d_values():
    with pytest.raises(ValueError, match=r"`row_labels` has 2 labels but needs 3.*one per row"):
        heatmap(np.zeros((3, 2)), ["a", "b"], ["x", "y"])
    with pytest.raises(ValueError, match=r"`col_labels` has 3 labels but needs 2"):
        heatmap(np.zeros((3, 2)), ["a", "b", "c"], ["x", "y", "z"])
    with pytest.raises(ValueError, match=r"2-D array of shape \(R, C\); got shape \(3,\)"):
        heatmap(np.zeros(3), ["a", "b", "c"], ["x"])


def test_attention_heatmap_is_sequential_from_0_to_1_with_sentence_hover():
    weights = np.full((6, 6), 1 / 6)
    fig = attention_heatmap(weights, TOKENS, TOKENS)
    trace = fig.data[0]
    np.testing.assert_array_equal(trace.z, weights)
    assert (trace.zmin, trace.zmax, trace.zmid) == (0.0, 1.0, None)
    assert trace.colorscale == go.Heatmap(colorscale="Blues").colorscale  # sequential, not "RdBu"
    assert fig.layout.xaxis.title.text == "key (attended to)"
    assert fig.layout.yaxis.title.text == "query (attending)"
    assert fig.layout.title.text == "Attention weights"
    assert trace.hovertemplate.startswith("query %{y} → key %{x}")
    assert "weight %{z:.6f}" in trace.hovertemplate
    assert "cat" in trace.y[1] and "(#2)" in trace.y[1]
    assert "mat" in trace.x[5] and "(#6)" in trace.x[5]


# --------------------------------------------------------------------------- bars and dot product


def test_bar_chart_has_one_bar_per_label_with_duplicates_and_exact_hover():
    values = np.array([0.1, 0.2, 0.3, 0.15, 0.05, 0.2])
    fig = bar_chart(values, TOKENS, title="weights", value_name="weight")
    np.testing.assert_array_equal(fig.data[0].y, values)
    assert len(set(fig.data[0].x)) == 6
    assert list(fig.layout.xaxis.ticktext) == TOKENS
    assert "%{y:.6f}" in fig.data[0].hovertemplate


def test_bar_chart_thins_many_tick_labels_and_rejects_mismatched_labels():
    labels = [f"t{i}" for i in range(95)]
    fig = bar_chart(np.arange(95.0), labels)
    assert len(fig.layout.xaxis.ticktext) <= style.MAX_TICK_LABELS
    assert len(fig.data[0].x) == 95
    with pytest.raises(ValueError, match=r"`labels` has 2 labels but needs 3"):
        bar_chart([1, 2, 3], ["a", "b"])
    with pytest.raises(ValueError, match=r"1-D"):
        bar_chart(np.zeros((2, 2)), ["a", "b"])


def test_dot_product_figure_shows_each_product_and_the_sum():
    fig = dot_product_figure([1, 2, 3], [4, 5, 6], [4, 10, 18], 32)
    np.testing.assert_array_equal(fig.data[0].y, [4, 10, 18])
    assert fig.data[0].customdata[0] == "entry 1: 1 × 4 = 4"
    assert fig.data[0].customdata[2] == "entry 3: 3 × 6 = 18"
    assert fig.layout.title.text.endswith("= 32")
    assert any("1×4 + 2×5 + 3×6 = <b>32</b>" in text for text in annotation_texts(fig))


def test_dot_product_figure_formats_floats_and_negatives_compactly():
    fig = dot_product_figure([0.5, -2.0], [0.123456, 3.0], [0.061728, -6.0], -5.938272)
    assert fig.data[0].customdata[1] == "entry 2: (-2) × 3 = -6"
    assert "0.5×0.1235 + (-2)×3 = <b>-5.938</b>" in annotation_texts(fig)[0]


def test_dot_product_figure_rejects_mismatched_vectors():
    with pytest.raises(ValueError, match="same length"):
        dot_product_figure([1, 2, 3], [4, 5], [4, 10], 14)


# --------------------------------------------------------------------------- escaping


def test_user_text_is_escaped_everywhere():
    tokens = ["the", SCRIPT, "שלום", "😀", '"q" & %{y}']
    n = len(tokens)
    built = [
        heatmap(np.zeros((n, n)), tokens, tokens, title=SCRIPT, row_title=SCRIPT),
        attention_heatmap(np.eye(n), tokens, tokens, title=SCRIPT),
        bar_chart(np.ones(n), tokens, title=SCRIPT, value_name=SCRIPT),
        qkv_pipeline_figure(**pipeline_inputs(tokens) | {"token_index": 1}),
        dense_network_figure([np.ones((n, 2))], input_labels=tokens, layer_names=[SCRIPT]),
    ]
    for fig in built:
        as_json = fig.to_json()
        assert "<script>" not in as_json
        assert "&lt;script&gt;" in as_json
        assert '\\"q\\"' not in as_json  # the JSON encoding of a raw '"q"'
    heat = built[0]
    assert heat.layout.xaxis.ticktext[1] == "&lt;script&gt;alert…"  # cut before escaping: no half entity
    assert heat.layout.xaxis.ticktext[4] == "&#34;q&#34; &amp; %{y}"
    assert heat.layout.xaxis.ticktext[2:4] == ("שלום", "😀")
    # Tokens reach hover through the axis categories, never inside the template.
    assert "&#34;q" not in heat.data[0].hovertemplate
    assert heat.data[0].x[4] == "'\u2068&#34;q&#34; &amp; %{y}\u2069' (#5)"


# --------------------------------------------------------------------------- pipeline


def test_pipeline_shows_the_tokens_numbers_in_order():
    inputs = pipeline_inputs()
    fig = qkv_pipeline_figure(**inputs)
    texts = annotation_texts(fig)
    boxes = [t for t in texts if t]
    assert len([s for s in fig.layout.shapes if s.type == "rect"]) == 8
    assert len([a for a in fig.layout.annotations if a.showarrow]) == 7
    headings = ["Query", "Keys", "Values", "Raw scores", "Scaled scores", "Softmax weights",
                "Weighted sum of value vectors", "Context vector"]
    assert [re.match(r"<b>(.*?)</b>", t).group(1) for t in boxes] == headings
    ys = [a.y for a in fig.layout.annotations if a.text]
    assert ys == sorted(ys, reverse=True)  # top to bottom

    fmt = explain.number
    assert "cat" in boxes[0] and all(fmt(x) in boxes[0] for x in inputs["query"])
    assert fmt(inputs["keys"][0, 0]) in boxes[1] and fmt(inputs["values"][2, 3]) in boxes[2]
    assert "Raw attention scores for '\u2068cat\u2069'" in boxes[3]
    assert all(fmt(x) in boxes[3] for x in inputs["raw_scores"])
    assert all(fmt(x) in boxes[4] for x in inputs["scaled_scores"])
    assert "Softmax normalizes the scores into attention weights (sum = 1)" in boxes[5]
    assert all(fmt(x) in boxes[5] for x in inputs["weights"])
    assert "Context vector for '\u2068cat\u2069'" in boxes[7]
    assert all(fmt(x) in boxes[7] for x in inputs["context"])


def test_pipeline_draws_the_data_flow_not_a_chain():
    fig = qkv_pipeline_figure(**pipeline_inputs())
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    flows = {a.name.removeprefix("flow: ") for a in arrows}
    assert flows == {
        "Query → Raw scores", "Keys → Raw scores", "Raw scores → Scaled scores",
        "Scaled scores → Softmax weights", "Softmax weights → Weighted sum", "Values → Weighted sum",
        "Weighted sum → Context vector",
    }
    assert not any("Values → Raw" in flow or "Query → Keys" in flow or "Keys → Values" in flow for flow in flows)
    # Every arrow ends on the box it names: its tip lies inside that box's rectangle.
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    boxes = dict(zip(diagrams._PIPELINE_BOXES, rects))
    for arrow in arrows:
        source, target = arrow.name.removeprefix("flow: ").split(" → ")
        box = boxes[target]
        assert box.x0 <= arrow.x <= box.x1 and box.y0 - 1 <= arrow.y <= box.y1 + 1, arrow.name
    # Lines that pass other boxes run beside them, never through them.
    for lane in [s for s in fig.layout.shapes if s.type == "path"]:
        xs = [float(point.split(",")[0]) for point in lane.path[2:].split(" L ")]
        assert min(xs) < diagrams._BOX_LEFT + 1e-9 or max(xs) > diagrams._BOX_RIGHT - 1e-9
        assert all(x <= diagrams._BOX_LEFT or x >= diagrams._BOX_RIGHT for x in xs[1:])


def test_pipeline_truncates_long_vectors_and_token_lists():
    tokens = [f"w{i}" for i in range(30)]
    fig = qkv_pipeline_figure(**pipeline_inputs(tokens, d=20))
    boxes = [t for t in annotation_texts(fig) if t]
    query_line = boxes[0].split("<br>")[1]
    assert query_line.count(",") == 8 and query_line.endswith("… (+12 more)]")
    assert "… (+27 more tokens)" in boxes[1]
    assert "w7" in boxes[3] and "w8'" not in boxes[3] and "(+22 more)" in boxes[3]
    # The boxes stay the same size however long the inputs get.
    longer = qkv_pipeline_figure(**pipeline_inputs([f"w{i}" for i in range(300)], d=200))
    assert longer.layout.height == fig.layout.height


@pytest.mark.parametrize(
    "change, message",
    [
        ({"keys": np.zeros((6, 3))}, r"`keys` must have shape \(6, 4\)"),
        ({"values": np.zeros((5, 4))}, r"`values` must have shape \(6, 4\)"),
        ({"raw_scores": np.zeros(5)}, r"`raw_scores` must have shape \(6,\)"),
        ({"weights": np.zeros((6, 1))}, r"`weights` must be a 1-D array"),
        ({"context": np.zeros(3)}, r"`context` must have shape \(4,\)"),
        ({"token_index": 6}, r"`token_index` must be an integer in \[0, 6\)"),
        ({"tokens": TOKENS[:5]}, r"for 5 tokens"),
    ],
)
def test_pipeline_rejects_inconsistent_shapes(change, message):
    with pytest.raises(ValueError, match=message):
        qkv_pipeline_figure(**pipeline_inputs() | change)


# --------------------------------------------------------------------------- dense network


def test_dense_network_4_3_2_labels_every_neuron_and_edge():
    rng = np.random.default_rng(1)
    kernels = [rng.normal(size=(4, 3)), rng.normal(size=(3, 2))]
    fig = dense_network_figure(kernels)
    assert neuron_labels(fig) == ["x1", "x2", "x3", "x4", "N1_1", "N1_2", "N1_3", "N2_1", "N2_2"]
    assert sum(count for _, count in edge_segments(fig)) == 4 * 3 + 3 * 2
    headings = " ".join(annotation_texts(fig))
    assert all(h in headings for h in ["Input (4 features)", "Dense 1 (3 units)",
                                       "Dense 2 (2 units)"])
    names = [["x1", "x2", "x3", "x4"], ["N1_1", "N1_2", "N1_3"], ["N2_1", "N2_2"]]
    for k, kernel in enumerate(kernels, start=1):
        (markers,) = hover_markers(fig, f"W{k}")
        assert list(markers.customdata) == [
            f"W{k}: {names[k - 1][i]} → {names[k][j]} = {explain.number(kernel[i, j])}"
            for i, j in np.ndindex(kernel.shape)
        ]
        # No two hover points of a layer coincide, so each edge can be hovered.
        assert len(set(zip(markers.x, markers.y))) == kernel.size


def test_dense_network_colours_sign_and_widens_with_magnitude():
    kernel = np.array([[0.1, -0.1], [1.0, -1.0]])
    segments = edge_segments(dense_network_figure([kernel]))
    by_style = {(t.line.color, t.line.width): count for t, count in segments}
    positive, negative = style.POSITIVE_COLOR, style.NEGATIVE_COLOR
    assert sum(c for (color, _), c in by_style.items() if color == positive) == 2
    assert sum(c for (color, _), c in by_style.items() if color == negative) == 2
    widths = sorted(w for (color, w) in by_style if color == positive)
    assert len(widths) == 2 and widths[0] < widths[1]
    assert len(segments) <= 2 * diagrams._WIDTH_LEVELS


def test_dense_network_3_4_2_and_custom_names():
    kernels = [np.ones((3, 4)), -np.ones((4, 2))]
    fig = dense_network_figure(kernels, input_labels=["age", "income", "age"],
                               layer_names=["hidden", "out"])
    assert neuron_labels(fig)[:3] == ["age", "income", "age"]
    assert len(neuron_labels(fig)) == 3 + 4 + 2
    assert sum(count for _, count in edge_segments(fig)) == 3 * 4 + 4 * 2
    assert hover_markers(fig, "hidden")[0].customdata[0] == "hidden: age → N1_1 = 1"
    assert hover_markers(fig, "out")[0].customdata[0] == "out: N1_1 → N2_1 = -1"
    assert any("hidden (4 units)" in t for t in annotation_texts(fig))


def test_dense_network_rejects_kernels_that_do_not_chain():
    with pytest.raises(ValueError, match=r"kernels\[1\] has shape \(2, 2\).*needs 3 rows"):
        dense_network_figure([np.ones((4, 3)), np.ones((2, 2))])
    with pytest.raises(ValueError, match="empty"):
        dense_network_figure([])
    with pytest.raises(ValueError, match=r"`input_labels` has 2 labels but needs 4"):
        dense_network_figure([np.ones((4, 3))], input_labels=["a", "b"])
    with pytest.raises(ValueError, match=r"`layer_names` has 1 labels but needs 2"):
        dense_network_figure([np.ones((4, 3)), np.ones((3, 2))], layer_names=["only"])


# --------------------------------------------------------------------------- encoder loop


def test_encoder_attention_loop_has_three_boxes_and_the_loop_back():
    fig = encoder_attention_loop_figure()
    texts = " ".join(annotation_texts(fig))
    for word in ["Input", "Encoder", "Attention", "hidden states", "context vector"]:
        assert word in texts
    assert len([s for s in fig.layout.shapes if s.type == "rect"]) == 3
    assert len([s for s in fig.layout.shapes if s.type == "path"]) == 1
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == 3
    # The last arrow points up into the Input box: the loop closes on the input.
    assert arrows[-1].x == arrows[-1].ax and arrows[-1].y > arrows[-1].ay


# --------------------------------------------------------------------------- validity


@pytest.mark.parametrize(
    "build",
    [
        lambda: heatmap(np.eye(3), ["a", "b", "a"], ["x", "y", "z"], title="t", row_title="r", col_title="c"),
        lambda: attention_heatmap(np.eye(6), TOKENS, TOKENS),
        lambda: bar_chart(np.arange(6.0) - 2, TOKENS, title="t", value_name="v"),
        lambda: dot_product_figure([1, 2, 3], [4, 5, 6], [4, 10, 18], 32),
        lambda: qkv_pipeline_figure(**pipeline_inputs()),
        lambda: dense_network_figure([np.ones((4, 3)), -np.ones((3, 2))]),
        lambda: encoder_attention_loop_figure(),
    ],
)
def test_every_figure_is_valid_plotly(build):
    """The builders skip validation for speed; plotly's validating constructor must accept them."""
    go.Figure(build().to_dict())


# (name, matrix, builder, colorscale, expected colour range)
LARGE_MAPS = {
    "attention weights": (
        np.random.default_rng(0).dirichlet(np.full(300, 0.3), 300).astype("float32"),
        lambda values, labels: attention_heatmap(values, labels, labels), "Blues", (0.0, 1.0),
    ),
    "scores around zero": (
        np.random.default_rng(1).standard_normal((300, 260)) * 3 + 1,
        lambda values, labels: figures.heatmap(values, labels, [f"k{i}" for i in range(260)], value_name="score"),
        "RdBu", None,  # symmetric around zmid=0, from the data
    ),
}


@pytest.mark.parametrize("name", LARGE_MAPS)
def test_large_maps_are_images_in_the_heatmaps_colours(name):
    values, build, colorscale, bounds = LARGE_MAPS[name]
    labels = [f"w{i}" for i in range(values.shape[0])]
    assert values.size > figures.EXACT_CELL_LIMIT
    image, colorbar = build(values, labels).to_dict()["data"]
    low, high = bounds or (-np.abs(values).max(), np.abs(values).max())
    assert (colorbar["zmin"], colorbar["zmax"]) == pytest.approx((low, high))
    assert colorbar["opacity"] == 0 and colorbar["hoverinfo"] == "skip"
    assert_image_shows([image, colorbar], values, colorscale)
    assert (image["x0"], image["dx"], image["y0"], image["dy"]) == (1, 1, 1, 1)  # 1-based numbers on hover


def test_large_maps_name_tokens_by_number_on_hover_and_ticks():
    tokens = [f"<b>t{i}</b>" for i in range(300)]
    fig = attention_heatmap(np.full((300, 300), 1 / 300), tokens, tokens).to_dict()
    assert fig["data"][0]["hovertemplate"] == "query (attending): #%{y}<br>key (attended to): #%{x}<extra></extra>"
    xaxis = fig["layout"]["xaxis"]
    assert xaxis["type"] == "linear" and xaxis["tickvals"][:2] == [1, 14]
    assert xaxis["ticktext"][0] == "&lt;b&gt;t0&lt;/b&gt;"
    assert len(xaxis["tickvals"]) <= 24
    assert fig["layout"]["yaxis"]["autorange"] == "reversed"


def test_large_map_payload_is_far_below_the_float_heatmap():
    tokens = [f"w{i}" for i in range(1024)]
    weights = np.random.default_rng(2).dirichlet(np.ones(1024), 1024).astype("float32")
    payload = len(plotly.io.to_json(attention_heatmap(weights, tokens, tokens), validate=False))
    assert payload < 1_500_000  # the float32 heatmap's JSON is 5.9 MB


def test_attention_maps_up_to_the_limit_stay_exact():
    tokens = [f"w{i}" for i in range(256)]
    weights = np.random.default_rng(1).dirichlet(np.ones(256), 256).astype("float32")
    z = attention_heatmap(weights, tokens, tokens).data[0].z
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z, weights)


def test_pipeline_names_the_scaling_the_layer_applied():
    scaled = " ".join(annotation_texts(qkv_pipeline_figure(**pipeline_inputs(d=4))))
    assert "raw scores × 0.5 (÷ √D, here √4 = 2)" in scaled
    inputs = pipeline_inputs(d=4)
    unscaled = qkv_pipeline_figure(**inputs | {"scaled_scores": inputs["raw_scores"], "scale": 1.0})
    text = " ".join(annotation_texts(unscaled))
    assert "not scaled" in text and "÷ √D" not in text


def test_large_maps_fill_their_frame_like_heatmaps():
    """plotly keeps an image's pixels square unless both axes are free: then a 300 × 260 map sat
    as a small square in a tall frame. (tests/test_browser.py measures the drawn image.)"""
    tokens = [f"w{i}" for i in range(300)]
    fig = heatmap(np.zeros((300, 260)), tokens, tokens[:260]).to_dict()
    xaxis, yaxis = fig["layout"]["xaxis"], fig["layout"]["yaxis"]
    assert yaxis["scaleanchor"] is False and "scaleanchor" not in xaxis
    assert "constrain" not in xaxis and "constrain" not in yaxis and "scaleratio" not in yaxis
    # Same frame as an exact heatmap of the same rows: the height does not depend on the drawing.
    exact = heatmap(np.zeros((250, 260)), tokens[:250], tokens[:260]).to_dict()["layout"]
    assert fig["layout"]["height"] == exact["height"]
    go.Figure(fig)


def test_heatmap_hover_texts_add_a_line_per_cell_escaped():
    texts = np.array([["q1 · k1 = 1×2 = 2", "<b>"], ["a", "b"]], dtype=object)
    trace = heatmap(np.eye(2), ["x", "y"], ["u", "v"], hover_texts=texts).data[0]
    assert trace.customdata[0][0] == "q1 · k1 = 1×2 = 2" and trace.customdata[0][1] == "&lt;b&gt;"
    assert trace.hovertemplate.endswith("<br>%{customdata}<extra></extra>")
    with pytest.raises(ValueError, match="`hover_texts` must have the shape of values"):
        heatmap(np.eye(2), ["x", "y"], ["u", "v"], hover_texts=texts[:1])


def test_bar_charts_and_attention_maps_add_a_hover_line_per_cell_escaped():
    bars = bar_chart(np.array([0.25, 0.75]), ["a", "b"], value_name="weight", hover_texts=["exp(1) / 2", "<b>"]).data[0]
    assert list(bars.customdata) == ["exp(1) / 2", "&lt;b&gt;"]
    assert bars.hovertemplate == "%{x}: weight %{y:.6f}<br>%{customdata}<extra></extra>"
    with pytest.raises(ValueError, match="`hover_texts` has 1 labels but needs 2"):
        bar_chart(np.ones(2), ["a", "b"], hover_texts=["x"])
    texts = np.array([["w = 1", "w = 0"]], dtype=object)
    heat = attention_heatmap(np.array([[1.0, 0.0]]), ["q"], ["k1", "k2"], hover_texts=texts).data[0]
    assert heat.customdata[0][1] == "w = 0"
    assert heat.hovertemplate == "query %{y} → key %{x}: weight %{z:.6f}<br>%{customdata}<extra></extra>"


def test_figures_carry_the_default_templates_2d_parts_only():
    import streamlit.elements.plotly_chart  # noqa: F401 (registers the "streamlit" template the app's figures get)

    for name in ("plotly", "streamlit"):
        plotly.io.templates.default, before = name, plotly.io.templates.default
        try:
            template = json.loads(figures.heatmap(np.eye(2), ["a", "b"], ["c", "d"]).to_json())["layout"]["template"]
        finally:
            plotly.io.templates.default = before
        whole = plotly.io.templates[name].to_plotly_json()
        assert len(json.dumps(template)) < 1500  # a whole template is 3.6-7.1 KB, sent with every figure
        for key in ("xaxis", "yaxis", "colorway", "hoverlabel", "font", "plot_bgcolor", "annotationdefaults"):
            assert template["layout"].get(key) == whole["layout"].get(key)
        assert template["data"].get("bar") == whole["data"].get("bar")
        assert "polar" not in template["layout"] and "scatter3d" not in template["data"]
        assert "colorscale" not in template["layout"]
