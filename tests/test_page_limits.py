"""Issue 11 on the pages: every limit stated beside its control, and numbers that overflow float32
refused with a message (never inf, None or Infinity on screen, nor a warning in the server log).

Each page runs headless in AppTest; the limits are read from attention_core and from the pages'
own constants, so a label cannot drift from the limit the code applies.
"""

import ast
import re
import warnings

import pytest
from streamlit.testing.v1 import AppTest

from attention_core.text import numbers, tokens, validation
from attention_core.your_model import gate
from tests import test_pages
from webapp import training_jobs

ROOT = test_pages.ROOT
PAGES = {**test_pages.PAGES, "tw": "pages/6_Train_and_watch.py"}


def page_constant(page, name):
    """A page's own module-level constant, read from its source (`MAX_STEPS, MAX_FEATURES = 64, 16` too)."""
    for node in ast.parse((ROOT / PAGES[page]).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            names, values = node.targets[0], node.value
            if isinstance(names, ast.Tuple):
                pairs = zip((n.id for n in names.elts), values.elts)
            else:
                pairs = [(names.id, values)]
            for target, value in pairs:
                if target == name:
                    return ast.literal_eval(value)
    raise AssertionError(f"{PAGES[page]} has no {name}")


def run_page(page, query_params=None):
    at = AppTest.from_file(ROOT / PAGES[page], default_timeout=90)
    at.query_params.update(query_params or {})
    return at.run()


def strings(message):
    """Every string in a protobuf message: labels, help, bodies, captions, options."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for item in values:
            if isinstance(item, str):
                yield item
            elif hasattr(item, "ListFields"):
                yield from strings(item)


def rendered_text(at):
    """All text of the page's elements, main area and sidebar, as one string."""
    elements = []

    def walk(node):
        elements.append(node)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return "\n".join(text for node in elements if getattr(node, "proto", None) is not None
                     for text in strings(node.proto))


def stated(number, text):
    """Whether `number` appears in `text`, written plainly or with thousands separators."""
    return str(number) in text or f"{number:,}" in text


# --------------------------------------------------------------------------- stated limits

# (page, query params that show the control, {what the limit is: its value}) - each from the code.
LIMITS = [
    ("dot", {}, {"entries per vector": numbers.MAX_VECTOR_LENGTH, "characters": validation.MAX_TEXT_CHARS,
                 "float32 range": numbers.FLOAT32_RANGE}),
    ("dense", {}, {"input features": page_constant("dense", "MAX_FEATURES"), "characters": validation.MAX_TEXT_CHARS,
                   "float32 range": numbers.FLOAT32_RANGE}),
    ("sa", {}, {"tokens": validation.MAX_TOKENS, "characters": validation.MAX_TEXT_CHARS}),
    ("cmp", {}, {"tokens": validation.MAX_TOKENS, "characters": validation.MAX_TEXT_CHARS}),
    ("rnn", {"rnn_source": "Typed matrix"}, {"time steps": page_constant("rnn", "MAX_STEPS"),
                                             "features": page_constant("rnn", "MAX_FEATURES"),
                                             "characters": validation.MAX_TEXT_CHARS,
                                             "float32 range": numbers.FLOAT32_RANGE}),
    ("ym", {}, {"model file (MB)": f"{gate.MAX_MODEL_MB} MB", "tokens": validation.MAX_TOKENS,
                "characters": validation.MAX_TEXT_CHARS}),
    ("tw", {}, {"model file (MB)": f"{gate.MAX_MODEL_MB} MB",
                "runs trained at once": f"{training_jobs.MAX_CONCURRENT_RUNS} run"}),
]


@pytest.mark.parametrize(("page", "query", "limits"), LIMITS, ids=[case[0] for case in LIMITS])
def test_every_limit_is_stated_on_its_page(page, query, limits):
    at = run_page(page, query)
    assert not at.exception, [e.value for e in at.exception]
    text = rendered_text(at)
    missing = {what: value for what, value in limits.items()
               if not (stated(value, text) if isinstance(value, int) else value in text)}
    assert missing == {}, f"{PAGES[page]} does not state these limits: {missing}"


def test_the_rules_state_the_limits_they_apply():
    assert stated(validation.MAX_TOKENS, tokens.TEXT_RULE) and stated(validation.MAX_TEXT_CHARS, tokens.TEXT_RULE)
    assert numbers.FLOAT32_RANGE in numbers.NUMBER_RULE and stated(validation.MAX_TEXT_CHARS, numbers.NUMBER_RULE)


# --------------------------------------------------------------------------- numbers beyond float32


# (page, query params, a phrase the one error box must hold)
OVERFLOWS = [
    ("dense", {"dense_x": "1e300, 1e300, 1e300"}, "'1e300' in vector x is outside float32's range, ±3.4e38"),
    ("dense", {"dense_x": "3e38, 3e38, 3e38"}, "the step 'layers.0.pre_activation' reached inf"),
    ("rnn", {"rnn_source": "Typed matrix", "rnn_matrix": "1e300, 1"}, "'1e300' in row 1 of matrix inputs is outside"),
    ("dot", {"dot_a": "1e308, 1e308", "dot_b": "1e308, 1e308"}, "'1e308' in vector a is outside float32's range"),
    ("dot", {"dot_a": "1e20, 1e20", "dot_b": "1e20, 1e20"}, "the step 'products' reached 1e+40"),
]


@pytest.mark.parametrize(("page", "query", "phrase"), OVERFLOWS, ids=[f"{c[0]}:{list(c[1].values())[-1]}" for c in OVERFLOWS])
def test_overflow_is_refused_with_the_range(page, query, phrase):
    with warnings.catch_warnings():
        # "overflow encountered in cast" reached the server log before: now any such warning fails.
        warnings.simplefilter("error", RuntimeWarning)
        at = run_page(page, query)
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    shown = error.value.replace("\\", "")  # the box escapes Markdown punctuation
    assert phrase in shown
    assert not at.get("plotly_chart") and not at.metric
    rest = rendered_text(at).replace(error.value, "")  # everything but the message
    for word in ("inf", "None", "Infinity", "nan"):
        assert not re.search(rf"\b{word}\b", rest), word


def test_a_unicode_minus_is_a_minus_on_the_page():
    at = run_page("dot", {"dot_a": "−1, −2, 3", "dot_b": "4, 5, ６"})
    assert not at.exception and not at.error
    assert [metric.value for metric in at.metric] == ["4"]  # -4 - 10 + 18
