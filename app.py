"""The app's entry point: the navigation, the home page (what the app teaches, where each
concept lives, and the encoder -> attention -> input loop) and the page-not-found page.

Importable without running: Streamlit runs this file as `__main__`, and serve.py imports it for
the URL paths of its pages (`known_paths`).
"""

import streamlit as st

from attention_core import figures
from attention_core.text.validation import shortened
from webapp import widgets

# (file, URL path, title, what it teaches), in the order a learner needs them.
PAGES = [
    ("pages/1_Dot_product.py", "dot-product", "Dot product",
     "Multiply matching entries and add them up: the raw score of a query against a key."),
    ("pages/2_Dense_layers.py", "dense-layers", "Dense layers",
     "y = f(Wx + b): the projections W1, W2, V, Q, K and V are all dense layers."),
    ("pages/3_Self_attention.py", "self-attention", "Self-attention (Query/Key/Value)",
     "Raw scores for every token, softmax to weights, weighted sum of values to context vectors."),
    ("pages/4_Additive_attention_RNN.py", "additive-attention", "Additive attention with an RNN",
     "A SimpleRNN's hidden states, W1 and W2, tanh, V and a softmax over time."),
    ("pages/5_Compare.py", "compare", "Compare mechanisms",
     "Dot-product, scaled, multi-head and additive attention on the same tokens, side by side."),
    ("pages/6_Train_and_watch.py", "train-and-watch", "Train and watch",
     "A seq2seq model learns copy, reverse, sort or dates; watch its attention form live, beside the ideal."),
    ("pages/7_Your_model.py", "your-model", "Your model",
     "Upload a Keras model (or use the example): every attention layer's maps, per head, on your input."),
]
# Where serve.py sends an address that is no page (`?path=` carries the address asked for).
NOT_FOUND_PATH = "page-not-found"
# Longest asked-for address the not-found page repeats; the rest is cut.
_SHOWN_PATH_CHARS = 200


def known_paths():
    """The URL paths the app answers at: "" (home), each page's, and the not-found page's."""
    return {"", NOT_FOUND_PATH} | {url_path for _, url_path, _, _ in PAGES}


def page_links():
    """A link to every page, numbered in the order a learner needs them, each with its summary."""
    for number, (path, _, label, summary) in enumerate(PAGES, start=1):
        st.page_link(path, label=f"{number} · {label}")
        st.caption(summary)


def home():
    widgets.configure_page("Home")
    st.title("Attention, computed")
    st.markdown(
        "Type a sentence, move a slider, and watch attention compute with real numbers. Every "
        "number on every page is what a Keras layer computed, and each layer is tested against an "
        "independent NumPy implementation and Keras's own attention layers."
    )

    st.header("The path through the app")
    page_links()

    st.header("Where attention sits")
    st.markdown(
        "The encoder turns the input into hidden states; attention weighs them into a context "
        "vector; that context feeds the next step, which reads the input again."
    )
    widgets.plot(figures.encoder_attention_loop_figure(), key="home_loop")


def not_found():
    """What an address that is no page shows (serve.py redirects every such address here)."""
    widgets.configure_page("Page not found")
    st.title("Page not found")
    asked = shortened(st.query_params.get("path", ""), _SHOWN_PATH_CHARS)
    st.markdown("There is no page at this address" + (":" if asked else "."))
    if asked:
        st.code(asked, language=None, wrap_lines=True)  # shown as typed: never Markdown or HTML
    st.markdown("These are the app's pages:")
    st.page_link(HOME)
    page_links()


if __name__ == "__main__":
    HOME = st.Page(home, title="Home", icon=":material/home:", default=True)
    navigation = st.navigation(
        [HOME]
        + [st.Page(path, title=label, url_path=url_path) for path, url_path, label, _ in PAGES]
        + [st.Page(not_found, title="Page not found", url_path=NOT_FOUND_PATH)],
        position="hidden",
    )
    # The sidebar's links are drawn here rather than by st.navigation: outside every page's
    # fragment, they are not redrawn when a control reruns one, whereas the built-in menu is
    # re-rendered on every rerun (about 11 ms of the browser's main thread a press, measured).
    with st.sidebar:
        st.page_link(HOME)
        for path, _, label, _ in PAGES:
            st.page_link(path, label=label)
        st.divider()
    navigation.run()
