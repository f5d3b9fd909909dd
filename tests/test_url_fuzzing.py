"""Links with any query parameters: never an exception, and a visible note where a value changed.

Every page runs under AppTest with query parameters Hypothesis makes: wrong types, out of range,
huge, unknown keys, Markdown and HTML. Whatever the link holds, the page runs without an
exception, renders no raw HTML, and says which of the link's values it did not take and what it
uses instead (webapp.url_notes.notes_link_changes); values it took get no note. Hypothesis runs a few
examples per page, derandomized, so the suite stays quick and CI sees the same examples each time.
"""

import functools
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

import attention_core  # noqa: F401  first: it quiets TensorFlow before keras loads it

ROOT = Path(__file__).resolve().parents[1]
# Each page and the URL keys of its controls (its widgets bound to the URL).
PAGES = {
    "pages/1_Dot_product.py": ["dot_a", "dot_b"],
    "pages/2_Dense_layers.py": ["dense_x", "dense_units_1", "dense_units_2", "dense_activation", "dense_seed",
                                "dense_layout"],
    "pages/3_Self_attention.py": ["sa_source", "sa_text", "sa_text2", "sa_units", "sa_heads", "sa_seed", "sa_scale", "sa_causal",
                                  "sa_positions", "sa_view", "sa_token", "sa_key", "sa_head"],
    "pages/4_Additive_attention_RNN.py": ["rnn_source", "rnn_steps", "rnn_features", "rnn_units", "rnn_seed",
                                          "rnn_matrix", "rnn_view", "rnn_step"],
    "pages/5_Compare.py": ["cmp_source", "cmp_text", "cmp_units", "cmp_heads", "cmp_seed", "cmp_causal", "cmp_positions",
                           "cmp_first", "cmp_second"],
    "pages/7_Your_model.py": ["ym_text", "ym_open"],
    "pages/6_Train_and_watch.py": ["tw_task", "tw_length", "tw_mechanism", "tw_units", "tw_learning_rate",
                                   "tw_epochs", "tw_seed", "tw_text", "tw_layers", "tw_heads"],
}
EXAMPLES_PER_PAGE = 15

HOSTILE = ["", " ", "true", "FALSE", "maybe", "None", "null", "[]", "{}", "-0", "1e308", "nan", "-inf", "١٢", "−1",
           "<script>alert(1)</script>", "<b>bold</b>", "**bold**", "$x^2$", "[link](https://example.com)", "`code`",
           "Typed matrix", "One token", "Every head", "#1 The", "dot-product", "additive", "dates", "0.03", "128"]
values = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(-10**12, 10**12).map(str),
    st.floats().map(str),
    st.text(max_size=40),
    st.integers(1, 25_000).map(lambda n: ("w " * n)[:n]),  # long, up past the 20,000-character limit
)


def link(keys):
    """Query parameters: some of the page's own keys, and unknown ones, each with a value above."""
    own = st.dictionaries(st.sampled_from(keys), values, min_size=1, max_size=4)
    unknown = st.dictionaries(st.text(st.characters(codec="utf-8"), min_size=1, max_size=12), values, max_size=2)
    return st.tuples(own, unknown).map(lambda both: {**both[1], **both[0]})


WIDGET_TYPES = ("slider", "select_slider", "toggle", "selectbox", "radio", "text_input", "text_area",
                "segmented_control")


@functools.cache
def default_spellings(page):
    """{key: how a link may write the control's default (lower case)} from a run without a link.

    Streamlit drops a link's value that equals the default without changing anything, so no note
    is due: 8 for units, true for a toggle on, or an option's label.
    """
    at = AppTest.from_file(ROOT / page, default_timeout=120).run()
    spellings = {}
    for kind in WIDGET_TYPES:
        for widget in getattr(at, kind):
            forms = {str(widget.value).lower()}
            if isinstance(widget.value, bool):
                forms = {"true" if widget.value else "false"}
            if getattr(widget, "index", None) is not None:
                forms.add(widget.options[widget.index].lower())
            spellings[widget.key] = forms
    return spellings


def notes(at):
    """The notes the page shows about the link, as the user reads them (Markdown escapes undone)."""
    shown = [re.sub(r"\\(.)", r"\1", warning.value) for warning in at.warning]
    return [text for text in shown if text.startswith("The link's value")]


def check_link(page, query):
    at = AppTest.from_file(ROOT / page, default_timeout=120)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    for element in at.markdown:  # unescaped HTML from the link never reaches Markdown
        assert not re.search(r"(?<!\\)<\s*(script|b)\b", element.value, flags=re.IGNORECASE), element.value
    shown = notes(at)
    for key, value in query.items():
        noted = [note for note in shown if f" for {key} was not allowed" in note]
        if key in PAGES[page] and key in at.session_state and at.query_params.get(key) != value:
            # The control did not take the link's value: a note says so, unless the link wrote the
            # default as the URL does.
            assert len(noted) == 1 or value.lower() in default_spellings(page).get(key, set()), (key, value, shown)
        else:
            assert noted == [], (key, value, shown)
    return at


@pytest.mark.parametrize("page", PAGES)
def test_any_link_runs_the_page_and_notes_what_it_changed(page):
    @settings(max_examples=EXAMPLES_PER_PAGE, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(link(PAGES[page]))
    def run(query):
        check_link(page, query)

    run()


# (page, link, the notes it must show, as read): hand-picked cases of each way a value changes.
NOTED = [
    ("pages/3_Self_attention.py", {"sa_units": "999"}, ["The link's value '999' for sa_units was not allowed here; using '8'."]),
    ("pages/3_Self_attention.py", {"sa_units": "12.7"}, ["The link's value '12.7' for sa_units was not allowed here; using '12'."]),
    ("pages/3_Self_attention.py", {"sa_units": "6", "sa_heads": "4"},
     ["The link's value '4' for sa_heads was not allowed here; using '2'."]),  # 4 does not divide 6
    ("pages/3_Self_attention.py", {"sa_view": "One token", "sa_token": "77"},
     ["The link's value '77' for sa_token was not allowed here; using '#2 cat'."]),
    ("pages/4_Additive_attention_RNN.py", {"rnn_source": "typed"},
     ["The link's value 'typed' for rnn_source was not allowed here; using 'Random (seeded)'."]),
    ("pages/2_Dense_layers.py", {"dense_activation": "<b>softmax</b>", "dense_units_1": ""},
     ["The link's value '' for dense_units_1 was not allowed here; using '3'.",
      "The link's value '<b>softmax</b>' for dense_activation was not allowed here; using 'relu'."]),
    ("pages/6_Train_and_watch.py", {"tw_units": "17"},
     ["The link's value '17' for tw_units was not allowed here; using '64'."]),
    ("pages/6_Train_and_watch.py", {"tw_mechanism": "transformer", "tw_heads": "3", "tw_layers": "9"},
     ["The link's value '3' for tw_heads was not allowed here; using '4'.",
      "The link's value '9' for tw_layers was not allowed here; using '2'."]),
    # Taken as they are, or not a control's: no note.
    ("pages/3_Self_attention.py", {"sa_units": "16", "sa_scale": "FALSE", "nope": "<script>x</script>"}, []),
    ("pages/3_Self_attention.py", {"sa_units": "8", "sa_scale": "true"}, []),  # the defaults, as the URL writes them
    ("pages/1_Dot_product.py", {"dot_a": "**1**, 2, 3"}, []),  # text is taken as typed; its error says what is wrong
]


@pytest.mark.parametrize(("page", "query", "expected"), NOTED, ids=[str(case[1])[:40] for case in NOTED])
def test_a_link_value_the_page_did_not_take_is_noted(page, query, expected):
    at = check_link(page, query)
    assert sorted(notes(at)) == sorted(expected)
    at.run()  # the next run: the URL now changes because the user moves controls, not the link
    assert notes(at) == []
