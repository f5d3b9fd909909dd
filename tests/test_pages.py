"""The Streamlit pages, run headless with AppTest.

Every page runs clean on its defaults; every control changes what is drawn; the reset button
restores the defaults; the heatmaps show exactly what attention_core computes; bad input shows
an error box (never a traceback) and leaves the page usable; the URL sets the controls.
"""

import ast
import base64
import dataclasses
import html
import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import app
import attention_core as ac
from attention_core.mechanisms import export, starter_code
from attention_core.text import explain
from tests.map_images import assert_image_shows
from webapp import budget, cached_traces, shared_results
from webapp import widgets as page_widgets

ROOT = Path(__file__).resolve().parents[1]
PAGES = {
    "dot": "pages/1_Dot_product.py",
    "dense": "pages/2_Dense_layers.py",
    "sa": "pages/3_Self_attention.py",
    "rnn": "pages/4_Additive_attention_RNN.py",
    "cmp": "pages/5_Compare.py",
    "ym": "pages/7_Your_model.py",
}
WIDGET_TYPES = ("slider", "select_slider", "toggle", "selectbox", "radio", "text_input", "text_area")
# Elements whose text Streamlit renders as Markdown.
MARKDOWN_TYPES = ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success")


# --------------------------------------------------------------------------- helpers


def page_defaults(page):
    """The page's own `DEFAULTS = widgets.Defaults(key=value, ...)`, read from its source."""
    tree = ast.parse((ROOT / PAGES[page]).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "DEFAULTS":
            return {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.value.keywords}
    raise AssertionError(f"{PAGES[page]} has no DEFAULTS")


def run_page(page, query_params=None, **values):
    """A page run on its defaults (or on `query_params` from the URL), then each value set in turn."""
    at = AppTest.from_file(ROOT / PAGES[page], default_timeout=60)
    at.query_params.update(query_params or {})
    at.run()
    return set_widgets(at, **values)


def set_widgets(at, **values):
    """Set widgets one at a time, rerunning after each (a later widget may depend on an earlier)."""
    for key, value in values.items():
        widget(at, key).set_value(value)
        at.run()
    return at


def open_view(at, key, view):
    """Switch the page's view control (key `key`) to `view`, as a click does, and rerun."""
    at.segmented_control(key=key).set_value(view).run()
    return at


def widgets(at, block=None):
    """{key: widget} for every input widget on the page (or in `block`, e.g. at.sidebar)."""
    block = block or at
    return {w.key: w for kind in WIDGET_TYPES for w in getattr(block, kind)}


def widget(at, key):
    found = widgets(at)
    assert key in found, f"no widget {key!r} on the page; there are {sorted(found)}"
    return found[key]


def pills(at, key):
    """The pills (a button group) of `key`: the knock-out grids' rows of heads."""
    (found,) = [group for group in at.get("button_group") if group.key == key]
    return found


def reset_button(at):
    (button,) = [b for b in at.button if b.label == "Reset to defaults"]
    return button


def charts(at):
    """{key: plotly spec (dict)} for every chart on the page."""
    return {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def chart_data(at):
    """{key: the chart's traces}: what a figure shows, without its layout."""
    return {key: spec["data"] for key, spec in charts(at).items()}


def markdown_tables(at):
    """The Markdown tables on the page (see webapp.widgets.table), each as {header: its cells as shown}."""
    found = []
    for element in at.markdown:
        lines = element.value.split("\n")
        if len(lines) > 2 and lines[0].startswith("| ") and lines[1].startswith("| ---"):
            header, *rows = [[unescape_markdown(cell) for cell in line[2:-2].split(" | ")] for line in lines[:1] + lines[2:]]
            found.append({name: list(cells) for name, cells in zip(header, zip(*rows, strict=True), strict=True)})
    return found


def tables(at):
    """Every table on the page: dataframes' values and Markdown tables' cells, {header: cells}."""
    return [frame.value.to_dict("list") for frame in at.dataframe] + markdown_tables(at)


def decode(value):
    """A plotly JSON array as NumPy: a list as is, a typed array {"dtype", "bdata", "shape"} decoded."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return array.reshape([int(n) for n in str(shape).split(",")]) if shape else array
    return np.asarray(value)


def heatmap_z(spec):
    (trace,) = spec["data"]
    assert trace["type"] == "heatmap"
    return decode(trace["z"])


def markdown_texts(at):
    return [element.value for kind in MARKDOWN_TYPES for element in getattr(at, kind)]


def passed_checks(at):
    """Compare's checks that passed: the green-ticked caption under each map."""
    return [caption.value for caption in at.caption if caption.value.startswith(":green[:material/check_circle:] Equals ")]


def unescape_markdown(text):
    """What Markdown shows for `text`: a backslash before punctuation is dropped."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def assert_no_raw_script_tag(at):
    """No <script> tag reaches Markdown unescaped (a backslash makes `<` literal), nor a figure."""
    for text in markdown_texts(at):
        assert not re.search(r"(?<!\\)<\s*script", text, flags=re.IGNORECASE), text
    for chart in at.get("plotly_chart"):
        assert "<script" not in chart.proto.spec.lower()


def assert_healthy(at):
    """No traceback, no error box, and something drawn."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.get("plotly_chart"), "no chart drawn"


def assert_close(shown, expected):
    np.testing.assert_allclose(shown, expected, rtol=0, atol=1e-6)


def settings_id(settings):
    """A test id such as "sa_units=16,sa_heads=4" ("defaults" for none)."""
    return ",".join(f"{key}={value!r:.20}" for key, value in settings.items()) or "defaults"


# --------------------------------------------------------------------------- home and navigation


def test_home_shows_title_links_and_loop_figure():
    at = AppTest.from_file(ROOT / "app.py", default_timeout=60).run()
    assert not at.exception and not at.error
    assert [t.value for t in at.title] == ["Attention, computed"]
    sidebar = [(link.proto.label, link.proto.page) for link in at.sidebar.get("page_link")]
    assert sidebar == [("Home", ""), *((label, url_path) for _, url_path, label, _ in app.PAGES)]
    links = [(link.proto.label, link.proto.page) for link in at.main.get("page_link")]
    assert links == [
        ("1 · Dot product", "dot-product"),
        ("2 · Dense layers", "dense-layers"),
        ("3 · Self-attention (Query/Key/Value)", "self-attention"),
        ("4 · Additive attention with an RNN", "additive-attention"),
        ("5 · Compare mechanisms", "compare"),
        ("6 · Train and watch", "train-and-watch"),
        ("7 · Your model", "your-model"),
    ]
    loop = charts(at)["home_loop"]["layout"]
    boxes = " ".join(annotation.get("text", "") for annotation in loop["annotations"])
    for stage in ("Input", "Encoder", "Attention", "context vector"):
        assert stage in boxes


@pytest.mark.parametrize(
    ("page", "title"),
    [
        ("dot", "The dot product"),
        ("dense", "Dense layers"),
        ("sa", "Self-attention: Query, Key, Value"),
        ("rnn", "Additive attention with an RNN"),
        ("cmp", "Compare attention mechanisms"),
    ],
)
def test_navigation_opens_each_page(page, title):
    at = AppTest.from_file(ROOT / "app.py", default_timeout=60).run()
    at.switch_page(PAGES[page]).run()
    assert_healthy(at)
    assert [t.value for t in at.title] == [title]
    # Pages with weights say they are random and link to learned attention (the home page's
    # link above has the same path); the dot product has no weights.
    untrained = [text for text in markdown_texts(at) if "Untrained: random weights from the seed" in text]
    assert len(untrained) == (page != "dot")
    assert all("[Train and watch](train-and-watch)" in text for text in untrained)


# --------------------------------------------------------------------------- defaults and controls


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_clean_on_defaults(page):
    at = run_page(page)
    assert_healthy(at)
    defaults = page_defaults(page)
    shown = widgets(at)
    # Every control is prefixed by its page, bound to the URL under its own key, known to
    # DEFAULTS (so the reset button covers it) and showing its default.
    for key, w in shown.items():
        assert key.startswith(f"{page}_")
        assert w.proto.query_param_key == key
        assert key in defaults, f"{key} is missing from DEFAULTS"
        assert w.value == defaults[key], key
    assert all(key.startswith(f"{page}_") for key in charts(at))


# (page, values set first, widget key, a non-default value): one case per control.
CHANGES = [
    ("dot", {}, "dot_a", "1, -2, 3"),
    ("dot", {}, "dot_b", "0.5, 0, -1"),
    ("dense", {}, "dense_x", "3, 1, 2"),
    ("dense", {}, "dense_units_1", 5),
    ("dense", {}, "dense_units_2", 4),
    ("dense", {}, "dense_activation", "tanh"),
    ("dense", {}, "dense_seed", 7),
    ("dense", {}, "dense_layout", "seed"),
    ("sa", {}, "sa_text", "A different sentence for the test."),
    ("sa", {}, "sa_text2", "Another, longer second sentence for the padded batch."),
    ("sa", {}, "sa_units", 16),
    ("sa", {}, "sa_heads", 4),
    ("sa", {}, "sa_seed", 7),
    ("sa", {}, "sa_scale", False),
    ("sa", {}, "sa_causal", True),
    ("sa", {}, "sa_positions", False),
    ("sa", {}, "sa_token", 3),
    ("sa", {}, "sa_key", 2),
    ("sa", {}, "sa_head", 2),
    ("rnn", {}, "rnn_steps", 9),
    ("rnn", {}, "rnn_features", 6),
    ("rnn", {}, "rnn_units", 8),
    ("rnn", {}, "rnn_seed", 7),
    ("rnn", {}, "rnn_source", "typed"),
    ("rnn", {"rnn_source": "typed"}, "rnn_matrix", "1 2\n3 4\n5 6"),
    ("rnn", {}, "rnn_step", 3),
    ("cmp", {}, "cmp_text", "A different sentence for the test."),
    ("cmp", {}, "cmp_units", 16),
    ("cmp", {}, "cmp_heads", 4),
    ("cmp", {}, "cmp_seed", 7),
    ("cmp", {}, "cmp_causal", True),
    ("cmp", {}, "cmp_positions", False),
    ("cmp", {}, "cmp_first", "dot-product"),
    ("cmp", {}, "cmp_second", "multi-head"),
    ("ym", {}, "ym_text", "honestly the cast is charming"),
    ("ym", {}, "ym_open", 1),
    ("ym", {}, "ym_scatter_x", "first_token"),
    ("ym", {}, "ym_scatter_y", "previous_token"),
]
# Controls that live on a view other than the page's first: the URL opens it.
VIEW_OF = {"sa_token": {"sa_view": "One token"}, "sa_key": {"sa_view": "Scores"}, "sa_text2": {"sa_view": "Padding"},
           "rnn_step": {"rnn_view": "3 · V and softmax"}}
# The activation changes the layers' outputs, which the page shows in its tables; the charts
# show the weights, which the activation does not touch. The key token picks the score whose
# dot product the Scores view writes out in a table.
SHOWN_IN_TABLES = {"dense_activation", "sa_key", "rnn_step"}


# Controls drawn only with trained weights in the session (a Train and watch run, an uploaded
# model): tests/test_weight_sources.py changes each of them.
TRAINED_WEIGHT_CONTROLS = {f"{page}_{name}" for page in ("sa", "cmp") for name in ("source", "layer", "example", "symbols", "input")}


def test_every_control_has_a_change_case():
    for page in PAGES:
        assert {key for p, _, key, _ in CHANGES if p == page} == set(page_defaults(page)) - TRAINED_WEIGHT_CONTROLS


@pytest.mark.parametrize(("page", "setup", "key", "value"), CHANGES, ids=[case[2] for case in CHANGES])
def test_each_control_changes_the_output(page, setup, key, value):
    at = run_page(page, VIEW_OF.get(key), **setup)
    before_charts, before_tables = chart_data(at), tables(at)
    set_widgets(at, **{key: value})
    assert_healthy(at)
    assert widget(at, key).value == value
    if key in SHOWN_IN_TABLES:
        assert tables(at) != before_tables
    else:
        after_charts = chart_data(at)
        assert any(after_charts.get(k) != data for k, data in before_charts.items()), f"{key} changed no chart"


@pytest.mark.parametrize("page", PAGES)
def test_reset_restores_defaults(page):
    # On the self-attention page, the view whose charts depend on every control (token included);
    # a control that lives on another view only is not on this one.
    view = {"sa_view": "One token"} if page == "sa" else None
    at = run_page(page, view)
    default_charts = charts(at)
    for p, setup, key, value in CHANGES:
        if p == page and VIEW_OF.get(key, view) == view:
            set_widgets(at, **setup, **{key: value})
    assert charts(at) != default_charts

    reset_button(at).click()
    at.run()
    assert_healthy(at)
    defaults = page_defaults(page)
    for key, value in defaults.items():
        assert at.session_state[key] == value, key
    assert {key: w.value for key, w in widgets(at).items()} == {key: defaults[key] for key in widgets(at)}
    assert charts(at) == default_charts


# --------------------------------------------------------------------------- numbers shown = numbers computed


def assert_self_attention_matches_library(at, settings):
    """The page's heatmaps equal a SelfAttention built here from `settings` (the page's keys).

    Opens the views that hold them in turn; returns {chart key: spec} of every chart seen.
    """
    s = {**page_defaults("sa"), **settings}
    tokens, x = ac.encode_text(s["sa_text"], cached_traces.EMBEDDING_DIM, seed=s["sa_seed"], add_positions=s["sa_positions"])
    layer = ac.SelfAttention(s["sa_units"], num_heads=s["sa_heads"], use_scale=s["sa_scale"], seed=s["sa_seed"])
    trace = ac.trace_self_attention(layer, x, use_causal_mask=s["sa_causal"])
    head = s["sa_head"] - 1 if s["sa_heads"] > 1 else 0  # heads are numbered from 1 on the page

    shown = charts(at)  # the open view's, then those of the views that hold these heatmaps
    for view in ("Attention weights", "Scores", "Every head"):
        shown.update(charts(open_view(at, "sa_view", view)))
    assert_close(heatmap_z(shown["sa_weights"]), trace.weights[head])
    assert_close(heatmap_z(shown["sa_scores"]), trace.scaled_scores[head])
    per_head = sorted((k for k in shown if k.startswith("sa_head_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    assert per_head == ([f"sa_head_{h}" for h in range(s["sa_heads"])] if s["sa_heads"] > 1 else [])
    for h, k in enumerate(per_head):
        assert_close(heatmap_z(shown[k]), trace.weights[h])
    labels = shown["sa_weights"]["data"][0]["y"]
    assert len(labels) == len(tokens)
    for label, token in zip(labels, tokens):
        assert html.escape(token) in label
    return shown


def assert_compare_matches_library(at, settings):
    """The four heatmaps equal compare_mechanisms, and the dot-product family equals a
    SelfAttention traced here; the difference heatmap is first minus second."""
    s = {**page_defaults("cmp"), **settings}
    _, x = ac.encode_text(s["cmp_text"], cached_traces.EMBEDDING_DIM, seed=s["cmp_seed"], add_positions=s["cmp_positions"])
    results = {r.name: r for r in ac.compare_mechanisms(x, s["cmp_units"], s["cmp_heads"], s["cmp_seed"], s["cmp_causal"])}
    shown = charts(at)
    for name in ac.COMPARED_MECHANISMS:
        assert_close(heatmap_z(shown[f"cmp_{name}"]), results[name].weights)
    for name, heads, use_scale in (
        ("dot-product", 1, False),
        ("scaled dot-product", 1, True),
        ("multi-head", s["cmp_heads"], True),
    ):
        layer = ac.SelfAttention(s["cmp_units"], num_heads=heads, use_scale=use_scale, seed=s["cmp_seed"])
        trace = ac.trace_self_attention(layer, x, use_causal_mask=s["cmp_causal"])
        assert_close(heatmap_z(shown[f"cmp_{name}"]), trace.weights.mean(axis=0))
    assert_close(
        heatmap_z(shown["cmp_difference"]),
        results[s["cmp_first"]].weights - results[s["cmp_second"]].weights,
    )
    assert not at.error, "a mechanism disagreed with its oracle"
    assert len(passed_checks(at)) == len(ac.COMPARED_MECHANISMS)


SELF_ATTENTION_SETTINGS = [
    {},
    {"sa_head": 2},
    {"sa_units": 16, "sa_heads": 4, "sa_head": 4, "sa_seed": 5, "sa_causal": True},
    {"sa_scale": False, "sa_positions": False, "sa_text": "the the the cat"},
    {"sa_units": 1, "sa_heads": 1},
    {"sa_units": 64, "sa_heads": 1},
    {"sa_units": 64, "sa_heads": 64, "sa_head": 64},
    {"sa_seed": 99},
]


@pytest.mark.parametrize("settings", SELF_ATTENTION_SETTINGS, ids=settings_id)
def test_self_attention_heatmaps_equal_library(settings):
    at = run_page("sa", **settings)
    assert_healthy(at)
    assert_self_attention_matches_library(at, settings)


COMPARE_SETTINGS = [
    {},
    {"cmp_units": 12, "cmp_heads": 3, "cmp_seed": 4, "cmp_causal": True, "cmp_first": "additive", "cmp_second": "dot-product"},
    {"cmp_positions": False, "cmp_text": "one"},
    {"cmp_units": 1, "cmp_heads": 1},
    {"cmp_units": 64, "cmp_heads": 1},
    {"cmp_units": 64, "cmp_heads": 64},
    {"cmp_seed": 99},
]


@pytest.mark.parametrize("settings", COMPARE_SETTINGS, ids=settings_id)
def test_compare_heatmaps_equal_library(settings):
    at = run_page("cmp", **settings)
    assert_healthy(at)
    assert_compare_matches_library(at, settings)


def rnn_trace(inputs, units=32, seed=0):
    model = ac.RNNWithAttention(units, seed=seed)
    return ac.trace_rnn_with_attention(model, np.asarray(inputs, dtype="float32"))


def rnn_views(at):
    """Open each of the additive page's views in turn; the elements of each, in page order.

    Returns (charts of every view by key, {view label: [(element type, value)]}, every dataframe's value).
    """
    shown, elements, frames = {}, {}, []
    for view in at.segmented_control(key="rnn_view").options:
        open_view(at, "rnn_view", view)
        assert not at.exception and not at.error, view
        shown.update(charts(at))
        elements[view] = [(element.type, getattr(element, "value", None)) for element in page_elements(at.main)]
        frames += [frame.value for frame in at.dataframe]
    return shown, elements, frames


def test_rnn_page_draws_only_the_open_views_charts():
    at = run_page("rnn")
    assert sorted(charts(at)) == ["rnn_inputs", "rnn_states"]
    shown, elements, _ = rnn_views(at)
    assert len(elements) == 6 and len(shown) == 15


def test_rnn_weights_equal_library():
    at = run_page("rnn")
    assert_healthy(at)
    expected = rnn_trace(ac.random_sequence(5, 4, 0)).attention
    shown, _, _ = rnn_views(at)
    assert_close(decode(shown["rnn_weights"]["data"][0]["y"]), expected.weights[:, 0])
    assert_close(decode(shown["rnn_context"]["data"][0]["y"]), expected.context)
    assert_close(decode(shown["rnn_weights"]["data"][0]["y"]).sum(), 1.0)


def test_rnn_typed_matrix_works_and_equals_library():
    at = run_page("rnn", rnn_source="typed", rnn_matrix="1 2 3\n-4 5 0.5", rnn_units=8, rnn_seed=3)
    assert_healthy(at)
    expected = rnn_trace([[1, 2, 3], [-4, 5, 0.5]], units=8, seed=3).attention
    assert_close(decode(rnn_views(at)[0]["rnn_weights"]["data"][0]["y"]), expected.weights[:, 0])


@pytest.mark.parametrize("layout", ["keras", "seed"])
def test_dense_kernels_and_outputs_equal_library_with_shapes_that_fit_the_formula(layout):
    at = run_page("dense", dense_x="3, -1, 2", dense_units_1=4, dense_activation="tanh", dense_seed=5, dense_layout=layout)
    assert_healthy(at)
    model = ac.dense_network(3, [4, 2], activation="tanh", seed=5)
    trace = ac.trace_dense_network(model, np.array([3.0, -1.0, 2.0]))
    shown = charts(at)
    intro = [latex.value for latex in at.latex[:2]]
    assert "y = f(Wx + b)" in intro[0] and r"W = W_{\text{Keras}}^{\top}" in intro[1]
    formulas = [latex.value for latex in at.latex[2:]]
    linear = "x·W + b" if layout == "keras" else "Wx + b"
    for number, (layer, table, formula) in enumerate(zip(trace.layers, markdown_tables(at), formulas, strict=True), start=1):
        z = heatmap_z(shown[f"dense_kernel_{number}"])
        assert_close(z, layer.kernel if layout == "keras" else layer.kernel.T)
        rows, cols = z.shape
        # The matrix beside the formula has the shape the formula multiplies by.
        product = r"x\,W" if layout == "keras" else r"W_%d\,x" % number
        assert product in formula and f"({rows} \\times {cols})" in formula
        assert f"{rows} × {cols}" in shown[f"dense_kernel_{number}"]["layout"]["title"]["text"]
        # The table's numbers are the layer's, to their 4 printed digits.
        assert table["neuron"] == [f"N{number}_{j + 1}" for j in range(len(layer.bias))]
        for column, expected in (("b", layer.bias), (linear, layer.pre_activation), (f"tanh({linear})", layer.output)):
            np.testing.assert_allclose(np.array(table[column], dtype=float), expected, rtol=1e-3)
        # Each written-out sum, evaluated, gives the layer's number (to its 4 printed digits).
        for text, value in zip(table["weighted sum, written out"], layer.pre_activation, strict=True):
            np.testing.assert_allclose(eval(text.replace("×", "*")), value, rtol=1e-3, atol=1e-3)


def test_a_markdown_table_shows_every_cell_as_typed_on_its_row(monkeypatch):
    shown = []
    monkeypatch.setattr(page_widgets.st, "markdown", shown.append)
    page_widgets.table({"name | kind": ["a|b", "x\ny", "**1**"], "value": [np.float32(0.123456), np.int64(-3), True],
              "text": ["-1", "<b>", "$x$"]})

    class Page:  # what markdown_tables reads from an AppTest
        markdown = [type("Markdown", (), {"value": text}) for text in shown]

    assert markdown_tables(Page) == [{"name | kind": ["a|b", "x y", "**1**"], "value": ["0.1235", "-3", "True"],
                                      "text": ["-1", "<b>", "$x$"]}]


def summaries(at):
    """The Keras summaries on the page, as the text of their monospace blocks."""
    blocks = [element.proto.body for element in at.get("html")]
    return [html.unescape(re.sub(r"<[^>]+>", "", body)) for body in blocks if 'class="keras-summary"' in body]


def test_dense_summary_is_kerass_own_in_a_monospace_block():
    at = run_page("dense")
    (summary,) = summaries(at)
    expected = ac.model_summary_text(ac.dense_network(4, [3, 2], seed=0))
    assert summary == expected and summary.startswith('Model: "sequential"')
    assert "Total params: 23" in summary and "┏" in summary and "┃" in summary


def test_dot_product_shows_32_for_the_defaults():
    at = run_page("dot")
    assert_healthy(at)
    assert [metric.value for metric in at.metric] == ["32"]
    (table,) = tables(at)
    assert table == {"entry": [1, 2, 3], "a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0], "a × b": [4.0, 10.0, 18.0]}
    (bars,) = charts(at)["dot_figure"]["data"]
    assert_close(decode(bars["y"]), [4, 10, 18])


# --------------------------------------------------------------------------- bad and unusual input

TOO_MANY_TOKENS = " ".join(["word"] * (ac.MAX_TOKENS + 1))

# (page, values set first, widget key, bad value, a phrase the error must contain)
BAD_INPUTS = [
    ("dot", {}, "dot_a", "nan", "finite"),
    ("dot", {}, "dot_a", "inf", "finite"),
    ("dot", {}, "dot_b", "-inf", "finite"),
    ("dot", {}, "dot_a", "abc", "'abc'"),
    ("dot", {}, "dot_a", "1, 2", "same length"),
    ("dot", {}, "dot_b", "", "empty"),
    ("dense", {}, "dense_x", "1, 2, 3, 4, 5, 6, 7, 8, 9", "the limit is 8"),
    ("dense", {}, "dense_x", "nan", "finite"),
    ("dense", {}, "dense_x", "", "empty"),
    ("sa", {}, "sa_text", "", "empty"),
    ("sa", {}, "sa_text", "   \n\t ", "empty"),
    ("sa", {}, "sa_text", TOO_MANY_TOKENS, f"the limit is {ac.MAX_TOKENS}"),
    ("sa", {}, "sa_text", "x" * (ac.MAX_TEXT_CHARS + 1), f"the limit is {ac.MAX_TEXT_CHARS}"),
    ("cmp", {}, "cmp_text", "", "empty"),
    ("cmp", {}, "cmp_text", "   ", "empty"),
    ("cmp", {}, "cmp_text", TOO_MANY_TOKENS, f"the limit is {ac.MAX_TOKENS}"),
    ("rnn", {"rnn_source": "typed"}, "rnn_matrix", "1 2 3\n4 5", "same count"),
    ("rnn", {"rnn_source": "typed"}, "rnn_matrix", "1 nan\n2 3", "finite"),
    ("rnn", {"rnn_source": "typed"}, "rnn_matrix", "1 two", "'two'"),
    ("rnn", {"rnn_source": "typed"}, "rnn_matrix", "", "empty"),
]


@pytest.mark.parametrize(
    ("page", "setup", "key", "value", "phrase"),
    BAD_INPUTS,
    ids=[f"{case[2]}={case[3][:12]!r}" for case in BAD_INPUTS],
)
def test_bad_input_shows_an_error_and_the_page_stays_usable(page, setup, key, value, phrase):
    at = run_page(page, **setup)
    sidebar_before = set(widgets(at, at.sidebar))
    set_widgets(at, **{key: value})

    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    assert phrase in unescape_markdown(error.value)
    assert not at.get("plotly_chart")
    # The controls are still there (the bad value kept, so it can be fixed), and reset works.
    assert set(widgets(at, at.sidebar)) == sidebar_before
    assert widget(at, key).value == value
    reset_button(at).click()
    at.run()
    assert_healthy(at)
    assert at.session_state[key] == page_defaults(page)[key]


@pytest.mark.parametrize("value", ["<script>alert(1)</script>", "**1**", "$x^2$", "<b>1</b>"])
def test_user_text_in_an_error_shows_literally(value):
    at = run_page("dot", dot_a=value)
    assert not at.exception
    (error,) = at.error
    # The box renders Markdown: the user's text must reach it escaped, and read back intact.
    assert f"'{value}' in vector a is not a number" in unescape_markdown(error.value)
    assert value not in error.value
    assert_no_raw_script_tag(at)


LONG_TEXT = " ".join(f"w{i:03d}" + "a" * 95 for i in range(100)) + "."
UNUSUAL_TEXTS = {
    "one token": "hello",
    "10,000 characters": LONG_TEXT,
    "emoji": "I ❤️ 🍕 👩‍💻 🇫🇷 1️⃣ 👍🏽!",
    "right-to-left": "שלום עולם مرحبا بالعالم hello",
    "script tag": "<script>alert(1)</script>",
}
assert len(LONG_TEXT) == 10_000


@pytest.mark.parametrize("page", ["sa", "cmp"])
@pytest.mark.parametrize("name", UNUSUAL_TEXTS)
def test_unusual_text_works(page, name):
    text = UNUSUAL_TEXTS[name]
    at = run_page(page, **{f"{page}_text": text})
    assert_healthy(at)
    if page == "sa":
        shown = assert_self_attention_matches_library(at, {"sa_text": text})
    else:
        assert_compare_matches_library(at, {"cmp_text": text})
        shown = charts(at)
    tokens = ac.tokenize(text)
    weights = heatmap_z(shown["sa_weights" if page == "sa" else "cmp_additive"])
    assert weights.shape == (len(tokens), len(tokens))
    assert_no_raw_script_tag(at)


# --------------------------------------------------------------------------- dependent controls


def test_heads_and_token_follow_when_their_options_shrink():
    at = run_page("sa", {"sa_view": "One token"}, sa_heads=8, sa_head=8, sa_token=10)
    set_widgets(at, sa_units=6, sa_text="a b c")
    assert_healthy(at)
    values = {key: w.value for key, w in widgets(at).items()}
    # 8 heads do not divide 6 units: the largest divisor below is kept; the head and token
    # move to the last that still exists.
    assert (values["sa_heads"], values["sa_head"], values["sa_token"]) == (6, 6, 2)
    assert_self_attention_matches_library(at, {"sa_units": 6, "sa_heads": 6, "sa_head": 6, "sa_text": "a b c"})


def test_compare_heads_follow_the_units():
    at = run_page("cmp", cmp_heads=8)
    set_widgets(at, cmp_units=6)
    assert_healthy(at)
    assert widget(at, "cmp_heads").value == 6
    assert_compare_matches_library(at, {"cmp_units": 6, "cmp_heads": 6})


# --------------------------------------------------------------------------- the URL

# (page, query params as a URL carries them, the widget values they must produce). A radio or
# selectbox puts the label it shows in the URL ("Typed matrix", "#4 on"), not the option's value.
URL_CASES = [
    ("sa", {"sa_units": "16", "sa_heads": "4", "sa_text": "hello world"},
     {"sa_units": 16, "sa_heads": 4, "sa_text": "hello world"}),
    ("sa", {"sa_units": "6", "sa_heads": "3", "sa_causal": "true", "sa_seed": "42", "sa_head": "2"},
     {"sa_units": 6, "sa_heads": 3, "sa_causal": True, "sa_seed": 42, "sa_head": 2}),
    ("dot", {"dot_a": "1 1", "dot_b": "2 2"}, {"dot_a": "1 1", "dot_b": "2 2"}),
    ("dense", {"dense_activation": "tanh", "dense_units_1": "5"}, {"dense_activation": "tanh", "dense_units_1": 5}),
    ("rnn", {"rnn_source": "Typed matrix", "rnn_matrix": "1 2\n3 4"}, {"rnn_source": "typed", "rnn_matrix": "1 2\n3 4"}),
    ("sa", {"sa_view": "One token", "sa_token": "#4 on"}, {"sa_token": 3}),
    ("cmp", {"cmp_units": "12", "cmp_heads": "3", "cmp_first": "dot-product"},
     {"cmp_units": 12, "cmp_heads": 3, "cmp_first": "dot-product"}),
]


@pytest.mark.parametrize(("page", "query", "expected"), URL_CASES, ids=[settings_id(case[1]) for case in URL_CASES])
def test_url_sets_the_controls(page, query, expected):
    at = run_page(page, query_params=query)
    assert_healthy(at)
    assert {key: widget(at, key).value for key in expected} == expected
    if page == "sa" and "sa_view" in query:  # the token view: its pipeline follows the token
        assert html.unescape(charts(at)["sa_pipeline"]["layout"]["title"]["text"]).endswith("'on'")
    elif page == "sa":
        assert_self_attention_matches_library(at, expected)
    elif page == "cmp":
        assert_compare_matches_library(at, expected)
    elif page == "dot":
        assert [metric.value for metric in at.metric] == ["4"]
    elif page == "rnn":
        weights = decode(rnn_views(at)[0]["rnn_weights"]["data"][0]["y"])
        assert_close(weights, rnn_trace([[1, 2], [3, 4]]).attention.weights[:, 0])


# (page, query params, the ones that are valid and kept): every other control keeps its default.
URL_INVALID = [
    ("sa", {"sa_units": "999"}, {}),
    ("sa", {"sa_units": "abc"}, {}),
    ("sa", {"sa_heads": "3"}, {}),  # 3 heads do not divide the default 8 units
    ("sa", {"sa_units": "6", "sa_heads": "4"}, {"sa_units": 6}),
    ("sa", {"sa_scale": "maybe"}, {}),
    ("sa", {"sa_view": "One token", "sa_token": "77"}, {"sa_view": "One token"}),
    ("sa", {"sa_head": "5"}, {}),
    ("dense", {"dense_units_1": "0"}, {}),
    ("dense", {"dense_activation": "softmax"}, {}),
    ("rnn", {"rnn_source": "bogus"}, {}),
    ("rnn", {"rnn_steps": "-3"}, {}),
    ("cmp", {"cmp_heads": "5"}, {}),
    ("cmp", {"cmp_first": "nope"}, {}),
]


@pytest.mark.parametrize(("page", "query", "kept"), URL_INVALID, ids=[settings_id(case[1]) for case in URL_INVALID])
def test_invalid_url_value_falls_back(page, query, kept):
    at = run_page(page, query_params=query)
    assert_healthy(at)
    defaults = page_defaults(page)
    for key, w in widgets(at).items():
        expected = kept.get(key, defaults[key])
        if key == f"{page}_heads":  # the default head count, or the nearest that divides the units
            expected = page_widgets.nearest_option(expected, page_widgets.heads_for(widget(at, f"{page}_units").value))
        assert w.value == expected, key
    # The rejected values are dropped from the URL, so a copied address does not carry them on.
    assert set(at.query_params) == set(kept)


@pytest.mark.parametrize("page", ["sa", "cmp"])
def test_bad_text_from_the_url_shows_an_error(page):
    at = run_page(page, query_params={f"{page}_text": TOO_MANY_TOKENS})
    assert not at.exception
    (error,) = at.error
    assert f"the limit is {ac.MAX_TOKENS}" in unescape_markdown(error.value)
    reset_button(at).click()
    at.run()
    assert_healthy(at)


def test_url_reaches_a_page_opened_through_navigation():
    at = AppTest.from_file(ROOT / "app.py", default_timeout=60)
    at.query_params.update(sa_units="16", sa_heads="4", sa_text="hello world")
    at.run()
    at.switch_page(PAGES["sa"]).run()
    assert_healthy(at)
    assert_self_attention_matches_library(at, {"sa_units": 16, "sa_heads": 4, "sa_text": "hello world"})


def test_reset_clears_the_url():
    at = run_page("sa", query_params={"sa_units": "16", "sa_heads": "4", "sa_text": "hello world"})
    assert at.query_params == {"sa_units": "16", "sa_heads": "4", "sa_text": "hello world"}
    reset_button(at).click()
    at.run()
    assert_healthy(at)
    assert at.query_params == {}
    assert {key: w.value for key, w in widgets(at).items()} == {key: page_defaults("sa")[key] for key in widgets(at)}


# --------------------------------------------------------------------------- long sequences and downloads


def test_long_sequences_draw_maps_as_images_of_the_library_weights():
    text = " ".join(f"w{i}" for i in range(300))  # 300² cells: over the exact limit
    at = run_page("sa", sa_text=text)
    assert_healthy(at)
    assert any("drawn as an image" in caption.value for caption in at.caption)
    s = {**page_defaults("sa"), "sa_text": text}
    _, x = ac.encode_text(text, cached_traces.EMBEDDING_DIM, seed=s["sa_seed"], add_positions=s["sa_positions"])
    layer = ac.SelfAttention(s["sa_units"], num_heads=s["sa_heads"], use_scale=s["sa_scale"], seed=s["sa_seed"])
    trace = ac.trace_self_attention(layer, x, use_causal_mask=s["sa_causal"])
    assert_image_shows(charts(at)["sa_weights"]["data"], trace.weights[s["sa_head"] - 1], "Blues")


DOWNLOADS = {"dot": "dot_product", "dense": "dense_network", "sa": "self_attention", "rnn": "rnn_with_attention"}


@pytest.mark.parametrize("page", DOWNLOADS)
def test_downloads_are_built_only_when_their_expander_opens(page):
    name = DOWNLOADS[page]
    at = run_page(page)
    assert [e.label for e in at.expander].count("Download every tensor") == 1
    assert not at.get("download_button")
    at.session_state[f"{name}_downloads"] = True
    at.run()
    assert_healthy(at)
    labels = [button.proto.label for button in at.get("download_button")]
    assert labels == ["Tensors as JSON", "Tensors as CSV", "Tensors as NumPy .npz"]
    # The page counts from 1, the files from 0: one line says so beside the buttons.
    assert export.INDEXING in [caption.value for caption in at.caption]


# --------------------------------------------------------------------------- every number explained


def default_sa_trace(**settings):
    """(tokens, trace, layer) of the self-attention page's defaults with `settings` (page keys)."""
    s = {**page_defaults("sa"), **settings}
    tokens, x = ac.encode_text(s["sa_text"], cached_traces.EMBEDDING_DIM, seed=s["sa_seed"], add_positions=s["sa_positions"])
    layer = ac.SelfAttention(s["sa_units"], num_heads=s["sa_heads"], use_scale=s["sa_scale"], seed=s["sa_seed"])
    return tokens, ac.trace_self_attention(layer, x, use_causal_mask=s["sa_causal"]), layer


@pytest.mark.parametrize("settings", [{}, {"sa_causal": True, "sa_token": 3, "sa_head": 2}], ids=settings_id)
def test_one_token_shows_the_softmax_as_arithmetic(settings):
    at = run_page("sa", {"sa_view": "One token"}, **settings)
    assert_healthy(at)
    s = {**page_defaults("sa"), **settings}
    _, trace, _ = default_sa_trace(**settings)
    head, token = s["sa_head"] - 1, s["sa_token"]
    (table,) = [frame.value for frame in at.dataframe if "exp(s − m)" in frame.value.columns]
    scores = trace.scaled_scores[head, token]
    allowed = trace.attention_mask[token]
    peak = scores[allowed].max()
    assert_close(table["score s"], scores)
    assert_close(table["s − m"][allowed], scores[allowed] - peak)
    exponentials = np.where(allowed, np.exp(np.where(allowed, scores - peak, 0)), 0)
    assert_close(table["exp(s − m)"], exponentials)
    assert_close(table["exp ÷ Σ"], exponentials / exponentials.sum())
    assert_close(table["weight (the layer's)"], trace.weights[head, token])
    assert_close(table["exp ÷ Σ"], table["weight (the layer's)"])  # the arithmetic gives the layer's weights
    text = " ".join(markdown_texts(at))
    assert f"m = {peak:.6g}" in text and f"Σ = {exponentials.sum():.6g}" in text
    assert any(r"\frac{e^{\,s_j - m}}" in latex.value for latex in at.latex)


def test_scores_hover_and_cell_picker_write_out_the_dot_product():
    at = run_page("sa", {"sa_view": "Scores"}, sa_token=2, sa_key=4, sa_head=2)
    assert_healthy(at)
    _, trace, _ = default_sa_trace(sa_head=2)
    head = 1
    q, k = trace.head_columns(trace.query, head), trace.head_columns(trace.key, head)
    (heat,) = charts(at)["sa_scores"]["data"]
    hover = np.array(heat["customdata"])
    assert hover.shape == trace.raw_scores[head].shape
    for i, j in [(0, 0), (2, 4), (10, 3)]:
        text = hover[i, j]
        assert text.startswith(f"q{i + 1} · k{j + 1} = {explain.products_text(q[i], k[j], 3)} = ")
        assert text.endswith(f"= {explain.number(trace.scaled_scores[head, i, j])}")
    assert "%{customdata}" in heat["hovertemplate"]
    # The picked cell: every product, and the sum is the layer's raw score.
    (table,) = [frame.value for frame in at.dataframe if "product" in frame.value.columns]
    assert_close(table["q3[d]"], q[2])
    assert_close(table["k5[d]"], k[4])
    assert_close(table["product"], q[2] * k[4])
    assert_close(table["product"].sum(), trace.raw_scores[head, 2, 4])
    (code,) = [c.value for c in at.code]
    assert f"= {trace.raw_scores[head, 2, 4]:.6g}" in code.splitlines()[0]
    assert f"= {trace.scaled_scores[head, 2, 4]:.6g}" in code.splitlines()[1]
    assert f"= {trace.weights[head, 2, 4]:.6g}" in code.splitlines()[2]


def test_scores_hover_arithmetic_stops_above_its_limit():
    text = " ".join(f"w{i}" for i in range(40))  # 1600 cells: over the limit, still a heatmap
    at = run_page("sa", {"sa_view": "Scores"}, sa_text=text)
    assert_healthy(at)
    (heat,) = charts(at)["sa_scores"]["data"]
    assert heat["type"] == "heatmap" and "customdata" not in heat
    assert [frame for frame in at.dataframe if "product" in frame.value.columns]  # the picker still explains


def test_token_vectors_view_explains_the_hash_and_positional_encoding():
    at = run_page("sa", {"sa_view": "Token vectors"})
    assert_healthy(at)
    s = page_defaults("sa")
    tokens = ac.tokenize(s["sa_text"])
    embedded = ac.embed_tokens(tokens, cached_traces.EMBEDDING_DIM, s["sa_seed"])
    positions = ac.positional_encoding(len(tokens), cached_traces.EMBEDDING_DIM)
    shown = charts(at)
    assert_close(heatmap_z(shown["sa_embedding"]), embedded)
    assert_close(heatmap_z(shown["sa_positions_map"]), positions)
    assert_close(heatmap_z(shown["sa_inputs"]), embedded + positions)
    text = " ".join(markdown_texts(at))
    assert "seeded hash" in text and "not learned" in text
    (formula,) = [latex.value for latex in at.latex if "PE" in latex.value]
    assert r"\sin" in formula and r"\cos" in formula and "10000^{2i/d}" in formula
    set_widgets(at, sa_positions=False)
    assert_close(heatmap_z(charts(at)["sa_inputs"]), embedded)
    assert any("Positional encoding is off" in info.value for info in at.info)


def test_projection_weights_view_shows_the_kernels_and_biases():
    at = run_page("sa", {"sa_view": "Projection weights"}, sa_seed=4)
    assert_healthy(at)
    _, trace, layer = default_sa_trace(sa_seed=4)
    shown = charts(at)
    for field in ("query", "key", "value"):
        dense = getattr(layer, f"{field}_dense")
        assert_close(heatmap_z(shown[f"sa_kernel_{field}"]), keras.ops.convert_to_numpy(dense.kernel))
    (biases,) = tables(at)
    assert_close(biases["b_q"], keras.ops.convert_to_numpy(layer.query_dense.bias))
    assert set(biases) == {"unit", "b_q", "b_k", "b_v"}


def test_the_head_control_appears_only_on_views_it_changes():
    views = {"Attention weights": True, "Scores": True, "One token": True, "Token vectors": False, "Q, K, V": False,
             "Every head": False, "Output": False, "Projection weights": False}
    for view, has_head in views.items():
        at = run_page("sa", {"sa_view": view})
        assert_healthy(at)
        assert ("sa_head" in widgets(at)) == has_head, view


def test_everything_is_numbered_from_1_and_counted_in_words():
    at = run_page("sa", {"sa_view": "Every head"}, sa_units=8, sa_heads=4)
    titles = [spec["layout"]["title"]["text"] for spec in charts(at).values()]
    assert titles == ["Head 1", "Head 2", "Head 3", "Head 4"]
    assert any("4 heads of 2 columns" in caption.value for caption in at.caption)
    at = run_page("sa", {"sa_view": "Output"}, sa_text="one", sa_units=1, sa_heads=1)
    assert any(caption.value == "1 token → vectors of 16 features → Q, K, V of 1 unit → 1 head of 1 column."
               for caption in at.caption)
    assert charts(at)["sa_output"]["data"][0]["x"] == ["'\u2068u1\u2069' (#1)"]


def test_rnn_page_shows_the_seeds_classes_and_each_call_line_beside_its_shape():
    at = run_page("rnn", rnn_units=6, rnn_steps=3, rnn_features=2)
    assert_healthy(at)
    codes = [c.value for c in at.code]
    assert starter_code.ATTENTION_CLASS.rstrip() in codes and starter_code.RNN_WITH_ATTENTION_CLASS.rstrip() in codes
    # The seed's SimpleRNN model, for the page's sizes, with its summary: 2·6 + 6·6 + 6 = 54 parameters.
    (summary,) = summaries(at)
    assert summary == ac.model_summary_text(starter_code.simple_rnn_model(2, 6))
    assert summary.startswith('Model: "sequential"') and "Total params: 54" in summary
    assert starter_code.simple_rnn_model_code(2, 6).rstrip() in codes
    trace = rnn_trace(ac.random_sequence(3, 2, 0), units=6)
    tensors = export.trace_tensors(trace)
    _, views, _ = rnn_views(at)
    for step in starter_code.CALL_STEPS:
        assert step.line in starter_code.ATTENTION_CLASS + starter_code.RNN_WITH_ATTENTION_CLASS
        shapes = ", ".join(f"{name.split('.')[-1]} {(1,) + tensors[name].shape}" for name in step.fields)
        # The line in its own block, on the view of its step, and right under it the caption of the shapes it made.
        (elements,) = [elements for elements in views.values() if ("code", step.line) in elements]
        at_line = elements.index(("code", step.line))
        assert elements[at_line + 1] == ("caption", f"→ {shapes}"), step.line


def page_elements(block):
    """Every element under `block`, depth first: the order the page shows them in."""
    for child in block.children.values():
        if getattr(child, "children", None):
            yield from page_elements(child)
        else:
            yield child


def test_rnn_page_writes_out_w1_w2_tanh_and_v_for_a_step_and_on_hover():
    shown, _, _ = rnn_views(run_page("rnn", rnn_units=4, rnn_seed=2))
    at = run_page("rnn", VIEW_OF["rnn_step"], rnn_units=4, rnn_seed=2, rnn_step=3)
    assert_healthy(at)
    model = ac.RNNWithAttention(4, seed=2)
    trace = ac.trace_rnn_with_attention(model, ac.random_sequence(5, 4, 2))
    a = trace.attention
    h, hidden = a.features.astype(np.float64), a.hidden.astype(np.float64)
    w1, b1 = (keras.ops.convert_to_numpy(v) for v in (model.attention.W1.kernel, model.attention.W1.bias))
    w2, b2 = (keras.ops.convert_to_numpy(v) for v in (model.attention.W2.kernel, model.attention.W2.bias))
    v, bv = (keras.ops.convert_to_numpy(x) for x in (model.attention.V.kernel, model.attention.V.bias))
    number, factor = explain.number, explain.factor
    (table,) = [frame.value for frame in at.dataframe if "W1(features)" in frame.value.columns]
    written = " + ".join(f"{factor(x)}×{factor(w)}" for x, w in zip(h[2], w1[:, 1])) + f" + {factor(b1[1])}"
    assert table["h3 · W1[:, u] + b1[u]"][1] == written
    assert_close(table["W1(features)"], h[2] @ w1 + b1)
    assert table["hidden · W2[:, u] + b2[u]"][3].startswith(f"{factor(hidden[0])}×{factor(w2[0, 3])} + ")
    assert_close(table["W2(hidden)"], hidden @ w2 + b2)
    assert_close(table["score = tanh(W1 + W2)"], np.tanh(h[2] @ w1 + b1 + hidden @ w2 + b2))
    score = np.tanh(h[2] @ w1 + b1 + hidden @ w2 + b2)
    (v_line,) = [c.value for c in at.code if c.value.startswith("V(score3)")]
    assert v_line.endswith(f" + {factor(bv[0])} = {number(score @ v[:, 0] + bv[0])}")
    assert hover_lines(shown["rnn_w1"])[2, 1] == f"h3 · W1[:, u2] + b1[u2] = {explain.products_text(h[2], w1[:, 1], 3)} + {factor(b1[1])} = {number(h[2] @ w1[:, 1] + b1[1])}"
    assert hover_lines(shown["rnn_w2"])[0, 0].startswith("hidden · W2[:, u1] + b2[u1] = ")
    assert hover_lines(shown["rnn_score"])[2, 1] == (
        f"tanh(W1 + W2) = tanh({number(a.features_projection[2, 1])} + {factor(a.hidden_projection[0, 1])}) = "
        f"{number(a.score[2, 1])}")
    assert shown["rnn_logits"]["data"][0]["customdata"][2].startswith("score3 · V + bV = ")
    assert shown["rnn_weights"]["data"][0]["customdata"][2].startswith("weight = exp(s − max) / Σ = exp(")
    assert hover_lines(shown["rnn_weights_heatmap"]).shape == (1, 5)
    assert hover_lines(shown["rnn_weighted"])[2, 1] == (
        f"{number(a.weights[2, 0])} × {factor(a.features[2, 1])} = {number(a.weighted_features[2, 1])}")
    assert shown["rnn_context"]["data"][0]["customdata"][1].endswith(f"= {number(a.context[1])}")
    # The hidden states: tanh(x_t · W + h_(t−1) · R + b), from the SimpleRNN's own weights.
    cell = model.rnn.cell
    w, r, b = (keras.ops.convert_to_numpy(v) for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
    x = ac.random_sequence(5, 4, 2).astype(np.float64)
    state = np.tanh(x[1] @ w + np.tanh(x[0] @ w + b) @ r + b)
    assert hover_lines(shown["rnn_states"])[1, 2] == (
        f"h2[u3] = tanh(x2 · W[:, u3] + h1 · R[:, u3] + b[u3]) = tanh({explain.products_text(x[1], w[:, 2], 3)} + "
        f"{explain.products_text(h[0], r[:, 2], 3)} + {factor(b[2])}) = {number(state[2])}")


def test_rnn_shape_table_lines_up_and_counts_in_words():
    at = run_page("rnn", rnn_steps=1, rnn_features=1, rnn_units=1)
    assert_healthy(at)
    shown, views, _ = rnn_views(at)
    (table,) = [value for kind, value in views["Every shape"] if kind == "code" and value.startswith("# tensor")]
    lines = table.splitlines()
    assert len({line.index("# ", 2) for line in lines}) == 1  # the comments start in one column
    assert len({line.index("(") for line in lines[1:]}) == 1
    assert "Inputs: 1 step × 1 feature" in [spec["layout"]["title"]["text"] for spec in shown.values()]


def test_rnn_page_shows_its_weights_and_the_softmax_arithmetic():
    at = run_page("rnn", rnn_units=4, rnn_seed=3)
    assert_healthy(at)
    model = ac.RNNWithAttention(4, seed=3)
    trace = ac.trace_rnn_with_attention(model, ac.random_sequence(5, 4, 3))
    shown, _, frames = rnn_views(at)
    cell = model.rnn.cell
    for key, variable in [("rnn_kernel", cell.kernel), ("rnn_recurrent", cell.recurrent_kernel),
                          ("rnn_W1_kernel", model.attention.W1.kernel), ("rnn_W2_kernel", model.attention.W2.kernel)]:
        assert_close(heatmap_z(shown[key]), keras.ops.convert_to_numpy(variable))
    assert_close(decode(shown["rnn_V_kernel"]["data"][0]["y"]), keras.ops.convert_to_numpy(model.attention.V.kernel)[:, 0])
    (steps,) = [frame for frame in frames if "exp(s − m)" in frame.columns]
    assert_close(steps["logit s"], trace.attention.logits[:, 0])
    assert_close(steps["exp ÷ Σ"], trace.attention.weights[:, 0])
    assert_close(steps["weight (the layer's)"], trace.attention.weights[:, 0])
    (biases,) = [frame for frame in frames if "SimpleRNN bias b" in frame.columns]
    assert_close(biases["W1 bias"], keras.ops.convert_to_numpy(model.attention.W1.bias))


def test_compare_notes_a_mechanism_against_itself_instead_of_an_empty_map():
    at = run_page("cmp", cmp_first="additive", cmp_second="additive")
    assert not at.exception and not at.error
    assert "cmp_difference" not in charts(at)
    (note,) = at.info
    assert "a mechanism minus itself is 0 everywhere" in note.value
    set_widgets(at, cmp_second="dot-product")
    assert "cmp_difference" in charts(at) and not at.info


def test_compare_puts_each_map_first_in_its_column():
    """Each map is first in its column, its downloads and check below it, so the two in a row start
    at the same height; the mechanisms' descriptions are one list above them."""
    at = run_page("cmp")
    (fragment,) = [block for block in at.main.children.values() if getattr(block, "type", None) == "flex_container"]
    map_rows = []
    for row in fragment.children.values():
        columns = [c for c in getattr(row, "children", {}).values() if getattr(c, "type", None) == "column"]
        contents = [[element.type for element in column.children.values()] for column in columns]
        if any("plotly_chart" in content for content in contents):
            map_rows.append(contents)
    assert map_rows == [[["plotly_chart", "popover", "caption"], ["plotly_chart", "popover", "caption"]]] * 2
    (descriptions,) = [text for text in markdown_texts(at) if text.startswith("- **")]
    assert [line.split("**")[1] for line in descriptions.splitlines()] == list(ac.COMPARED_MECHANISMS)
    assert "- **multi-head**: Several heads, each on its own slice of Q, K, V" in descriptions


def compare_with_a_fresh_budget(monkeypatch, wrap):
    """Compare's mechanisms computed through `wrap(compare_mechanism)`, cached in a budget of this
    test's own, so what they return is never shared with another test."""
    monkeypatch.setattr(shared_results, "MEMORY", budget.MemoryBudget.from_environment())
    monkeypatch.setattr(ac, "compare_mechanism", wrap(ac.compare_mechanism))


def test_compare_shows_a_failed_check_as_an_error_under_its_map(monkeypatch):
    """A mechanism that disagrees with its oracle is flagged in red where its tick would be."""
    def corrupting(compare):
        def corrupted(name, *args, **kwargs):
            result = compare(name, *args, **kwargs)
            return dataclasses.replace(result, oracle_max_diff=1e-3) if name == "additive" else result
        return corrupted

    compare_with_a_fresh_budget(monkeypatch, corrupting)
    at = run_page("cmp")
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("Disagrees with the Keras layer's call (max |Δ| = ")
    assert error.value.endswith(" and NumPy reference (max |Δ| = 1.0e-03).")
    assert len(passed_checks(at)) == 3
    assert "cmp_difference" in charts(at)


def test_compare_computes_again_only_the_mechanism_a_setting_changes(monkeypatch):
    """Each mechanism is kept on its own, so changing the heads runs multi-head only."""
    computed = []

    def counting(compare):
        def counted(name, *args, **kwargs):
            computed.append(name)
            return compare(name, *args, **kwargs)
        return counted

    compare_with_a_fresh_budget(monkeypatch, counting)
    at = run_page("cmp")
    assert computed == list(ac.COMPARED_MECHANISMS)
    computed.clear()
    set_widgets(at, cmp_heads=4)
    assert computed == ["multi-head"]
    assert len(passed_checks(at)) == len(ac.COMPARED_MECHANISMS)
    set_widgets(at, cmp_heads=2)  # back: every mechanism is still kept
    assert computed == ["multi-head"]


def hover_lines(spec):
    """A chart's per-cell hover lines (its customdata), as a NumPy array of strings."""
    (trace,) = [t for t in spec["data"] if "customdata" in t]
    assert "%{customdata}" in trace["hovertemplate"]
    return np.array(trace["customdata"], dtype=object)


def test_every_self_attention_map_explains_its_cells_on_hover():
    """Each map's hover writes out how a cell arose, with numbers NumPy gets from the layer's inputs and weights."""
    _, trace, layer = default_sa_trace(sa_head=2)
    number = explain.number
    x = trace.inputs.astype(np.float64)
    # The weights: exp(s − max) / Σ of the row, from the scaled scores.
    at = run_page("sa", {"sa_view": "Attention weights"}, sa_head=2)
    lines = hover_lines(charts(at)["sa_weights"])
    scores = trace.scaled_scores[1, 3].astype(np.float64)
    exponentials = np.exp(scores - scores.max())
    assert lines[3, 5] == (f"weight = exp(s − max) / Σ = exp({number(scores[5])} − {number(scores.max())}) / "
                           f"{number(exponentials.sum())} = {number(exponentials[5])} / {number(exponentials.sum())} = "
                           f"{number(trace.weights[1, 3, 5])}")
    # Q, K and V: x_t · the kernel's column + the bias.
    at = run_page("sa", {"sa_view": "Q, K, V"})
    shown = charts(at)
    for field, kernel, bias in (("query", "W_q", "b_q"), ("key", "W_k", "b_k"), ("value", "W_v", "b_v")):
        lines = hover_lines(shown[f"sa_matrix_{field}"])
        dense = getattr(layer, f"{field}_dense")
        w, b = keras.ops.convert_to_numpy(dense.kernel), keras.ops.convert_to_numpy(dense.bias)
        assert lines.shape == (len(x), 8)
        assert lines[2, 6].startswith(f"x3 · {kernel}[:, u7] + {bias}[u7] = {number(x[2, 0])}×")
        assert lines[2, 6].endswith(f" + {explain.factor(b[6])} = {number(x[2] @ w[:, 6] + b[6])}")
    # The output: head 2's weights times the values' column.
    at = run_page("sa", {"sa_view": "Output"})
    lines = hover_lines(charts(at)["sa_output"])
    assert lines[4, 5].startswith(f"head 2: Σ weight × v[u6] = {number(trace.weights[1, 4, 0])}×{number(trace.value[0, 5])}")
    assert lines[4, 5].endswith(f"= {number(trace.weights[1, 4] @ trace.value[:, 5])}")
    # The positional encoding's formula, and the inputs as token vector + position.
    at = run_page("sa", {"sa_view": "Token vectors"})
    shown = charts(at)
    assert hover_lines(shown["sa_positions_map"])[3, 5] == f"cos(3 / 10000^(4/16)) = {number(np.cos(3 / 10000 ** 0.25))}"
    s = page_defaults("sa")
    token_vectors = ac.embed_tokens(ac.tokenize(s["sa_text"]), cached_traces.EMBEDDING_DIM, s["sa_seed"])
    positions = ac.positional_encoding(len(x), cached_traces.EMBEDDING_DIM)
    assert hover_lines(shown["sa_inputs"])[1, 0] == (
        f"{number(token_vectors[1, 0])} + {explain.factor(positions[1, 0])} = {number(x[1, 0])}")
    # One token's bar chart and every head's map carry the same softmax lines.
    at = run_page("sa", {"sa_view": "One token"}, sa_token=3, sa_head=2)
    bars = charts(at)["sa_token_weights"]["data"][0]
    assert bars["customdata"][5] == hover_lines(charts(run_page("sa", {"sa_view": "Attention weights"}, sa_head=2))["sa_weights"])[3, 5]
    at = run_page("sa", {"sa_view": "Every head"})
    assert {key for key, spec in charts(at).items() if hover_lines(spec).shape == (len(x), len(x))} == {"sa_head_0", "sa_head_1"}


def test_self_attention_hover_stops_above_its_limit_on_every_map():
    text = " ".join(f"w{i}" for i in range(40))  # 1,600 cells per map
    for view, key in (("Attention weights", "sa_weights"), ("Output", "sa_output")):
        at = run_page("sa", {"sa_view": view}, sa_text=text, sa_units=32)
        assert_healthy(at)
        assert all("customdata" not in trace for trace in charts(at)[key]["data"])


def test_compare_hover_writes_out_the_mean_over_heads_each_softmax_and_the_difference():
    at = run_page("cmp", cmp_heads=2, cmp_first="multi-head", cmp_second="dot-product")
    assert_healthy(at)
    s = page_defaults("cmp")
    _, x = ac.encode_text(s["cmp_text"], cached_traces.EMBEDDING_DIM, seed=s["cmp_seed"], add_positions=s["cmp_positions"])
    results = {r.name: r for r in ac.compare_mechanisms(x, s["cmp_units"], 2, s["cmp_seed"], False)}
    heads = results["multi-head"].head_weights
    number = explain.number
    shown = charts(at)
    assert hover_lines(shown["cmp_multi-head"])[1, 2] == (
        f"mean of 2 heads = ({number(heads[0, 1, 2])} + {number(heads[1, 1, 2])}) / 2 = "
        f"{number((heads[0, 1, 2] + heads[1, 1, 2]) / 2)}")
    # One head: the softmax of the row, from the scores it read (causal off: no cell masked).
    scores = results["additive"].head_scores[0, 2]
    exponentials = np.exp(scores.astype(np.float64) - scores.max())
    assert hover_lines(shown["cmp_additive"])[2, 0] == (
        f"weight = exp(s − max) / Σ = exp({number(scores[0])} − {explain.factor(scores.max())}) / "
        f"{number(exponentials.sum())} = {number(exponentials[0])} / {number(exponentials.sum())} = "
        f"{number(results['additive'].weights[2, 0])}")
    assert hover_lines(shown["cmp_dot-product"]).shape == (len(results["dot-product"].weights),) * 2
    first, second = results["multi-head"].weights, results["dot-product"].weights
    assert hover_lines(shown["cmp_difference"])[3, 4] == (
        f"{number(first[3, 4])} − {explain.factor(second[3, 4])} = {number(first[3, 4] - second[3, 4])}")


# --------------------------------------------------------------------------- Your model


def axis_tokens(categories):
    """The tokens of a heatmap axis's categories "'token' (#n)", without the bidi isolates around them."""
    return [html.unescape(re.fullmatch(r"'\u2068(.*)\u2069' \(#\d+\)", label).group(1)) for label in categories]


def test_your_model_shows_the_example_as_the_library_reads_it():
    at = run_page("ym")
    assert_healthy(at)
    model = ac.load_keras_model(ROOT / "examples" / "sentiment.keras")
    inputs = ac.model_inputs_from_text(model, page_defaults("ym")["ym_text"])
    [attention] = ac.model_attention(model, inputs)
    shown = charts(at)
    assert sorted(shown) == ["ym_last_layer", "ym_map_0_0", "ym_map_0_1", "ym_open_map", "ym_rollout", "ym_scatter"]
    for head in range(2):
        assert_close(heatmap_z(shown[f"ym_map_0_{head}"]), attention.weights[head])
    assert_close(heatmap_z(shown["ym_open_map"]), attention.weights[0])
    assert axis_tokens(shown["ym_open_map"]["data"][0]["y"]) == ["the", "film", "was", "not", "good"] + [ac.PAD_LABEL] * 5
    assert tables(at)[0] == {"call": [0], "layer": ["self_attention"], "kind": ["MultiHeadAttention"], "heads": [2],
                             "reads": ["its own sequence (self-attention)"]}
    # The example is shown, but offered to the other pages only once chosen.
    assert "ym_model" not in at.session_state
    (button,) = [b for b in at.button if b.label == "Use the example model"]
    button.click()
    at.run()
    assert at.session_state["ym_model"] == ("sentiment.keras", (ROOT / "examples" / "sentiment.keras").read_bytes())
    assert any("which the Self-attention and Compare pages offer too" in text for text in markdown_texts(at))


def test_your_model_with_a_transformer_of_two_inputs():
    from attention_core.learning import transformer

    model = transformer.transformer(vocab_size=9, num_layers=1, num_heads=2, units=8, seed=1)
    at = AppTest.from_file(ROOT / PAGES["ym"], default_timeout=90)
    at.session_state["ym_model"] = ("transformer.keras", ac.model_bytes(model))
    at.run()
    # Text for the example is no input for this model: the message says what it takes, and the
    # list of its layers stays.
    (error,) = at.error
    assert "The model takes 2 inputs ('source_ids', 'decoder_input_ids'); give each one's ids" in unescape_markdown(error.value)
    assert tables(at)[0]["layer"] == transformer.attention_names(1)
    set_widgets(at, ym_text="3 4 5 0 | 1 6 2")
    assert_healthy(at)
    inputs = ac.model_inputs_from_text(model, "3 4 5 0 | 1 6 2")
    shown = charts(at)
    for item in ac.model_attention(model, inputs):
        for head in range(2):
            assert_close(heatmap_z(shown[f"ym_map_{item.call_index}_{head}"]), item.weights[head])
    cross = shown["ym_map_2_1"]["data"][0]
    assert (axis_tokens(cross["y"]), axis_tokens(cross["x"])) == (["1", "6", "2"], ["3", "4", "5", "0"])
    set_widgets(at, ym_open=5)
    assert_close(heatmap_z(charts(at)["ym_open_map"]), ac.model_attention(model, inputs)[2].weights[1])


def test_your_model_scores_rolls_out_and_knocks_heads_out_as_the_library_computes():
    at = run_page("ym")
    model = ac.load_keras_model(ROOT / "examples" / "sentiment.keras")
    inputs = ac.model_inputs_from_text(model, page_defaults("ym")["ym_text"])
    [attention] = ac.model_attention(model, inputs)
    # Scores: a row per head, as head_scores computes them; rollout of the one self-attention layer.
    scores = ac.head_scores({"#0 self_attention": attention.weights})
    table = tables(at)[1]
    assert table["head"] == [1, 2]
    np.testing.assert_allclose(table["entropy"], [score.entropy for score in scores], atol=1e-9)
    scatter = charts(at)["ym_scatter"]["data"][0]
    assert scatter["text"] == ["#0 self_attention, head 1", "#0 self_attention, head 2"]
    assert_close(heatmap_z(charts(at)["ym_rollout"]), ac.attention_rollout([attention.weights]))
    assert_close(heatmap_z(charts(at)["ym_last_layer"]), attention.weights.mean(axis=0))
    # Nothing knocked out: no change. Head 2 knocked out: the knocked-out copy's own output.
    assert [m.value for m in at.metric][2] == "0"
    pills(at, "ym_knock_out_0_of_2").set_value([1])
    at.run()
    assert_healthy(at)
    expected = np.asarray(ac.knock_out(model, [("self_attention", 1)])(inputs))[0]
    before = np.asarray(model(inputs))[0]
    np.testing.assert_allclose(tables(at)[2]["heads knocked out"], expected, atol=1e-5)
    np.testing.assert_allclose(tables(at)[2]["the model"], before, atol=1e-5)
    assert [m.label for m in at.metric][1] == "Its prediction with 1 head knocked out"
    assert float([m.value for m in at.metric][2]) == pytest.approx(np.abs(expected - before).max(), rel=1e-3)
    # Every head: an InputError saying what is allowed; the maps above stay.
    pills(at, "ym_knock_out_0_of_2").set_value([0, 1])
    at.run()
    assert not at.exception
    (error,) = at.error
    assert "keep at least one head" in unescape_markdown(error.value)
    assert {"ym_map_0_0", "ym_scatter", "ym_rollout"} <= set(charts(at))


def test_your_model_without_multi_head_attention_says_no_head_can_be_knocked_out():
    ids = keras.Input((4,), dtype="int32", name="ids")
    vectors = keras.layers.Embedding(9, 4)(ids)
    mixed = keras.layers.Attention(name="dot_attention")([vectors, vectors])
    model = keras.Model(ids, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(mixed)))
    at = AppTest.from_file(ROOT / PAGES["ym"], default_timeout=90)
    at.session_state["ym_model"] = ("dot.keras", ac.model_bytes(model))
    at.run()
    set_widgets(at, ym_text="1 2 3 4")
    assert not at.exception
    (error,) = at.error
    assert "no MultiHeadAttention layer, so no head can be knocked out" in unescape_markdown(error.value)
    # Its one map is still scored and rolled out.
    shown = charts(at)
    assert {"ym_map_0_0", "ym_scatter", "ym_rollout"} <= set(shown)
    [attention] = ac.model_attention(model, ac.model_inputs_from_text(model, "1 2 3 4"))
    assert_close(heatmap_z(shown["ym_rollout"]), ac.attention_rollout([attention.weights]))


def test_your_model_shows_a_refusal_beside_the_model_it_keeps():
    at = AppTest.from_file(ROOT / PAGES["ym"], default_timeout=90)
    at.session_state["ym_refused"] = ("evil.keras", "The model contains a Lambda layer.")
    at.run()
    (error,) = at.error
    assert unescape_markdown(error.value) == "evil.keras was not opened. The model contains a Lambda layer."
    assert {"ym_map_0_0", "ym_map_0_1", "ym_open_map"} <= set(charts(at))


def test_navigation_opens_your_model():
    at = AppTest.from_file(ROOT / "app.py", default_timeout=60).run()
    at.switch_page(PAGES["ym"]).run()
    assert_healthy(at)
    assert [t.value for t in at.title] == ["Your model"]
    assert any("[Self-attention](self-attention) page shows any multi-head layer's whole Q/K/V pipeline" in text
               for text in markdown_texts(at))
