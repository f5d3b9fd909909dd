"""The dot product: multiply matching entries, add them up; attention's measure of compatibility."""

import streamlit as st

from attention_core import (
    InputError,
    check_same_length,
    figures,
    parse_vector,
    trace_dot_product,
)
from attention_core.mechanisms.checks import check_float32_range
from attention_core.text.numbers import FLOAT32_RANGE, MAX_VECTOR_LENGTH, NUMBER_RULE
from webapp import url_notes, widgets

widgets.configure_page("Dot product")
DEFAULTS = widgets.Defaults(dot_a="1, 2, 3", dot_b="4, 5, 6")

st.title("The dot product")
st.markdown(
    "A raw attention score is the **dot product** of a query vector and a key vector: multiply "
    "the entries that sit at the same position, then add the products up. The result is one "
    "number that is large when the two vectors point the same way, near zero when they are "
    "unrelated, and negative when they point apart — a measure of how well a query and a key match."
)

# A fragment: a widget change reruns only this function, not the navigation and introduction.
@st.fragment
@url_notes.notes_link_changes
def calculator():
    """The two vectors, their dot product step by step, and the downloads."""
    left, right = st.columns(2)
    a_text = left.text_input("Vector a (the query)", DEFAULTS["dot_a"], key="dot_a", bind="query-params", help=NUMBER_RULE)
    b_text = right.text_input("Vector b (the key)", DEFAULTS["dot_b"], key="dot_b", bind="query-params", help=NUMBER_RULE)
    DEFAULTS.reset_button()
    st.caption(f"Numbers separated by commas or spaces, brackets optional; up to {MAX_VECTOR_LENGTH} entries, "
               f"each within {FLOAT32_RANGE}.")

    try:
        a = parse_vector(a_text, name="a")
        b = parse_vector(b_text, name="b")
        check_same_length(a, b, names=("a", "b"))
        trace = trace_dot_product(a, b)
        check_float32_range(trace, "Type smaller numbers: each product a × b and their sum must stay within it too.")
    except InputError as error:
        widgets.show_input_error(error)
        return

    st.metric("a · b", f"{trace.total:.15g}")  # every digit float64 carries
    st.dataframe(
        {"entry": range(1, len(a) + 1), "a": trace.a, "b": trace.b, "a × b": trace.products},
        hide_index=True,
    )
    widgets.plot(figures.dot_product_figure(trace.a, trace.b, trace.products, trace.total), key="dot_figure")

    st.subheader("The same in Python")
    st.caption("Python counts positions from 0, so its a[0] is entry 1 above.")
    st.code(
        "a = " + repr(trace.a.tolist()) + "\n"
        "b = " + repr(trace.b.tolist()) + "\n"
        "dot_product = sum([a[i] * b[i] for i in range(len(a))])  # "
        + f"{trace.total:.15g}",
        language="python",
    )
    st.markdown(
        "In attention, token *i*'s query is dotted with **every** key, giving one raw score per "
        "token. The Self-attention page does exactly this for a whole sentence at once (Q·Kᵀ)."
    )

    widgets.download_trace(trace, "dot_product", {"a": a_text, "b": b_text})


calculator()
