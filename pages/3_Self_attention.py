"""Self-attention: a sentence through the Query/Key/Value pipeline, every number visible."""

import streamlit as st

import page_support as ps
from attention_core import MAX_TOKENS, InputError, figures

ps.configure_page("Self-attention")
DEFAULTS = ps.Defaults(
    sa_text="The cat sat on the mat because it was tired.",
    sa_units=8,
    sa_heads=2,
    sa_seed=0,
    sa_scale=True,
    sa_causal=False,
    sa_positions=True,
    sa_token=1,
    sa_head=0,
)
# The page's views, in the order of the pipeline's story. Only the open one is computed and
# drawn, so a slider move redraws one or two charts, not a dozen. The open view is navigation,
# not a setting: it lives in the URL, and the reset button leaves it be.
VIEWS = ["Attention weights", "Scores", "Q, K, V", "One token", "Every head", "Output"]

st.title("Self-attention: Query, Key, Value")
st.markdown(
    "Each token's vector is projected three ways. Its **query** is compared (dot product) with "
    "every token's **key**; softmax turns those raw scores into **attention weights** that "
    "sum to 1; the token's **context vector** is the weighted sum of every token's **value**. "
    "Heads do this side by side on slices of the projections."
)

# A fragment: a widget change reruns only this function, not the navigation and introduction.
@st.fragment
def explorer():
    """The settings, the sequence, the open view and the downloads."""
    with st.sidebar:
        st.header("Settings")
        units, num_heads = ps.units_and_heads(DEFAULTS, "sa", "Units (width of Q, K, V)", "Heads")
        seed = st.slider("Seed (weights and token vectors)", 0, 99, DEFAULTS["sa_seed"], key="sa_seed", bind="query-params")
        use_scale = st.toggle("Scale scores by 1/√d", DEFAULTS["sa_scale"], key="sa_scale", bind="query-params")
        use_causal_mask = st.toggle("Causal mask (no peeking ahead)", DEFAULTS["sa_causal"], key="sa_causal", bind="query-params")
        add_positions = st.toggle("Add positional encoding", DEFAULTS["sa_positions"], key="sa_positions", bind="query-params")
        DEFAULTS.reset_button()

    text = st.text_area(
        f"Sequence (words and punctuation become tokens; at most {MAX_TOKENS})",
        DEFAULTS["sa_text"],
        key="sa_text",
        bind="query-params",
    )
    try:
        tokens, trace = ps.self_attention_trace(text, units, num_heads, use_scale, seed, use_causal_mask, add_positions)
    except InputError as error:
        ps.show_input_error(error)
        return

    st.caption(
        f"{len(tokens)} tokens → vectors of {ps.EMBEDDING_DIM} features → Q, K, V of {units} units "
        f"→ {num_heads} head(s) of {trace.head_size} columns."
    )
    head = 0
    if num_heads > 1:
        head_ids = list(range(num_heads))
        ps.keep_valid("sa_head", head_ids)
        head = st.select_slider("Head to show", options=head_ids, value=0, key="sa_head", bind="query-params")
    unit_labels = [f"u{i}" for i in range(units)]

    weights_tab, scores_tab, qkv_tab, token_tab, heads_tab, output_tab = st.tabs(
        VIEWS, default=VIEWS[0], key="sa_view", on_change="rerun", bind="query-params"
    )
    with weights_tab:
        if weights_tab.open:
            ps.plot(figures.attention_heatmap(trace.weights[head], tokens, tokens, title=f"Softmax weights (head {head})"),
                    key="sa_weights")
            if use_causal_mask:
                st.caption("Masked scores (a token looking ahead) are set to −10⁹ before the softmax, so their weight is exactly 0.")
            if not ps.caption_if_image(len(tokens), "the One token view and the downloads"):
                st.caption("Each row is a query token; its weights over the key tokens sum to 1. Hover for the exact value.")

    with scores_tab:
        if scores_tab.open:
            scores_title = "Scaled scores Q·Kᵀ/√d" if use_scale else "Raw scores Q·Kᵀ"
            ps.plot(
                figures.heatmap(trace.scaled_scores[head], tokens, tokens, title=f"{scores_title} (head {head})",
                                row_title="query (attending)", col_title="key (attended to)", value_name="score"),
                key="sa_scores",
            )
            ps.caption_if_image(len(tokens), "the downloads")
            st.caption(
                "Entry (i, j) is the dot product of token i's query with token j's key"
                + (", divided by √d" if use_scale else "")
                + "; softmax over each row gives the weights."
                + (" With the causal mask, entries right of the diagonal are computed but never used:"
                   " the softmax gives them weight 0." if use_causal_mask else "")
            )

    with qkv_tab:
        if qkv_tab.open:
            matrices = {
                "Query Q": (trace.query, unit_labels),
                "Key K": (trace.key, unit_labels),
                "Value V": (trace.value, unit_labels),
                "Token vectors": (trace.inputs, [f"f{i}" for i in range(ps.EMBEDDING_DIM)]),
            }
            for name, (matrix, columns) in matrices.items():
                ps.plot(
                    figures.heatmap(matrix, tokens, columns, title=f"{name}: {matrix.shape[0]} × {matrix.shape[1]}",
                                    row_title="token", col_title="column"),
                    key=f"sa_matrix_{name.split()[0].lower()}",
                )
            with st.expander("Tokens"):
                st.dataframe({"#": range(1, len(tokens) + 1), "token": tokens}, hide_index=True)

    with token_tab:
        if token_tab.open:
            token_ids = list(range(len(tokens)))
            ps.keep_valid("sa_token", token_ids)
            token = st.selectbox(
                "Token to follow",
                token_ids,
                index=min(DEFAULTS["sa_token"], len(tokens) - 1),
                format_func=lambda i: f"#{i + 1} {tokens[i]}",  # 1-based, as in every figure
                key="sa_token",
                bind="query-params",
            )
            ps.plot(
                figures.qkv_pipeline_figure(
                    tokens,
                    token,
                    query=trace.head_columns(trace.query, head)[token],
                    keys=trace.head_columns(trace.key, head),
                    values=trace.head_columns(trace.value, head),
                    raw_scores=trace.raw_scores[head, token],
                    scaled_scores=trace.scaled_scores[head, token],
                    weights=trace.weights[head, token],
                    context=trace.context[head, token],
                    scale=trace.scale,
                ),
                key="sa_pipeline",
            )
            ps.plot(
                figures.bar_chart(trace.weights[head, token], tokens,
                                  title=f"How much #{token + 1} attends to each token (head {head})", value_name="weight"),
                key="sa_token_weights",
            )

    with heads_tab:
        if heads_tab.open:
            if num_heads == 1:
                st.info("One head: its weights are on the Attention weights tab. Raise Heads in the sidebar to compare several.")
            else:
                for start in range(0, num_heads, 2):
                    for column, h in zip(st.columns(2), range(start, min(start + 2, num_heads))):
                        with column:
                            ps.plot(figures.attention_heatmap(trace.weights[h], tokens, tokens, title=f"Head {h}"),
                                    key=f"sa_head_{h}")

    with output_tab:
        if output_tab.open:
            st.markdown("Each row is a token's context vector, the heads' contexts side by side.")
            ps.plot(figures.heatmap(trace.output, tokens, unit_labels, title=f"Output: {len(tokens)} × {units}",
                                    row_title="token", col_title="unit"), key="sa_output")

    ps.download_trace(
        trace,
        "self_attention",
        {"tokens": tokens, "units": units, "num_heads": num_heads, "use_scale": use_scale, "seed": seed,
         "use_causal_mask": use_causal_mask, "add_positions": add_positions},
    )


explorer()
