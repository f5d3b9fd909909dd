"""Compare: the same tokens through four attention mechanisms, side by side, each verified."""

import streamlit as st

from attention_core import (
    COMPARED_MECHANISMS,
    MAX_TOKENS,
    InputError,
    figures,
    largest_change,
    trained_mask_text,
    weights_difference,
)
from attention_core.mechanisms import reference
from attention_core.text import explain
from webapp import cached_traces, url_notes, views, weight_sources, widgets

widgets.configure_page("Compare")
DEFAULTS = widgets.Defaults(
    cmp_source="Random weights",
    cmp_layer=0,
    cmp_example=1,
    cmp_symbols="",
    cmp_input="the film was not good",
    cmp_text="The animal didn't cross the street because it was too tired.",
    cmp_units=8,
    cmp_heads=2,
    cmp_seed=0,
    cmp_causal=False,
    cmp_positions=True,
    cmp_first="scaled dot-product",
    cmp_second="additive",
)
DESCRIPTIONS = {
    "dot-product": "softmax(Q·Kᵀ): raw dot products.",
    "scaled dot-product": "softmax(Q·Kᵀ/√d): the same Q and K, scores divided by √d so the softmax is less peaked.",
    "multi-head": "Several heads, each on its own slice of Q, K, V; shown here as the mean over heads.",
    "additive": "Bahdanau: softmax(V·tanh(W1·key + W2·query)) with each token's vector as the query.",
}
TRAINED_DESCRIPTION = "The trained layer: its heads' mean, each head with its own trained Q, K, V."

st.title("Compare attention mechanisms")
st.markdown(
    "One sentence, one seed, four ways to decide who attends to whom. Every heatmap is checked "
    "twice: against what the Keras layer's own call returns, and against an independent "
    "implementation given the same weights."
)

# A fragment: a widget change reruns only this function, not the navigation and introduction.
@st.fragment
@url_notes.notes_link_changes
def explorer():
    """The settings, the sentence, the four mechanisms and their difference."""
    with st.sidebar:
        st.header("Settings")
        weights = weight_sources.weights_from(DEFAULTS, "cmp")
        seeded = weights.random
        if seeded:
            units, num_heads = widgets.units_and_heads(DEFAULTS, "cmp", "Units", "Heads (multi-head only)")
        else:
            units = st.slider("Units (the untrained mechanisms)", 1, 64, DEFAULTS["cmp_units"], key="cmp_units",
                              bind="query-params")
        seed = st.slider("Seed" if seeded else "Seed (the untrained mechanisms)", 0, 99, DEFAULTS["cmp_seed"],
                         key="cmp_seed", bind="query-params")
        if seeded:
            use_causal_mask = st.toggle("Causal mask", DEFAULTS["cmp_causal"], key="cmp_causal", bind="query-params")
            add_positions = st.toggle("Add positional encoding", DEFAULTS["cmp_positions"], key="cmp_positions", bind="query-params")
        else:
            st.caption("Heads, masks and the token vectors are the trained layer's own, so their controls are "
                       "hidden; the other mechanisms take its inputs and its mask.")
        DEFAULTS.reset_button()

    try:
        text, trained = weight_sources.sequence_and_layer(weights, f"Sequence (at most {MAX_TOKENS} tokens)",
                                                          self_attention_only=True)
        if seeded:
            tokens, result_of = cached_traces.mechanism_comparison(text, units, num_heads, seed, use_causal_mask, add_positions)
            allowed = reference.causal_mask(len(tokens)) if use_causal_mask else None  # (T, T), for the hover's softmax
        else:
            result_of = weight_sources.trained_comparison(trained, units, seed)
            tokens, allowed = trained.query_labels, trained.trace.attention_mask
    except InputError as error:
        widgets.show_input_error(error)
        return

    if not seeded:
        st.info(f"The multi-head map is the trained layer's own ({explain.plural(trained.trace.num_heads, 'head')}, "
                "their mean; hover for each). The other three are untrained, with random weights, run on the same "
                "vectors that reached the trained layer and with its mask "
                f"({trained_mask_text(trained.trace.attention_mask)}): they show what attention does with these "
                "inputs before any training, so the difference with multi-head is what training (and the mechanism) "
                "changed.", icon=":material/school:")
    widgets.caption_if_image(len(tokens))
    by_name = {}  # each mechanism's result, asked for as its map is drawn (see cached_traces.mechanism_comparison)
    descriptions = {**DESCRIPTIONS, **({} if seeded else {"multi-head": TRAINED_DESCRIPTION})}
    st.markdown("\n".join(f"- **{name}**: {descriptions[name]}" for name in COMPARED_MECHANISMS))
    # Each map first in its column, so the two in a row start at the same height; its check below it.
    for column, name in views.two_to_a_row(COMPARED_MECHANISMS):
        with column:
            result = by_name[name] = result_of(name)
            # Hover writes out the mean of multi-head's heads, and every other map's softmax.
            if len(result.head_weights) > 1:
                hover = explain.mean_texts(result.head_weights, result.weights)
            else:
                hover = explain.softmax_hover_texts(result.head_scores[0], result.weights, allowed)
            widgets.plot(figures.attention_heatmap(result.weights, tokens, tokens, title=name, hover_texts=hover),
                         key=f"cmp_{name}")
            check = (
                f"the Keras layer's call (max |Δ| = {result.layer_max_diff:.1e}) and "
                f"{result.oracle} (max |Δ| = {result.oracle_max_diff:.1e})"
            )
            if result.verified:  # a caption: an alert box under each map took ~2.5 ms a press to redraw
                st.caption(f":green[:material/check_circle:] Equals {check}.")
            else:
                st.error(f"Disagrees with {check}.")

    st.header("Difference")
    left, right = st.columns(2)
    first = left.selectbox("First", COMPARED_MECHANISMS, COMPARED_MECHANISMS.index(DEFAULTS["cmp_first"]), key="cmp_first", bind="query-params")
    second = right.selectbox("Second", COMPARED_MECHANISMS, COMPARED_MECHANISMS.index(DEFAULTS["cmp_second"]), key="cmp_second", bind="query-params")
    if first == second:
        st.info(f"Both are {first}: a mechanism minus itself is 0 everywhere. Pick two different mechanisms to see "
                "where their weights differ.", icon=":material/info:")
        return
    difference = weights_difference(by_name.values(), first, second)
    st.metric("Largest change in any weight", f"{largest_change(difference):.4f}")
    widgets.plot(
        figures.heatmap(difference, tokens, tokens, title=f"{first} − {second}", colorscale="RdBu", zmid=0.0,
                        row_title="query (attending)", col_title="key (attended to)", value_name="difference",
                        hover_texts=explain.elementwise_texts(by_name[first].weights, by_name[second].weights,
                                                              difference, "−")),
        key="cmp_difference",
    )

explorer()
