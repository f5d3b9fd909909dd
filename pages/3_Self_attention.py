"""Self-attention: a sentence through the Query/Key/Value pipeline, every number visible."""

import dataclasses
import functools

import streamlit as st

from attention_core import MAX_TOKENS, InputError, SelfAttentionTrace, figures, trace_dot_product
from attention_core.mechanisms import padding, reference
from attention_core.text import explain
from attention_core.text.tokens import TEXT_RULE
from webapp import cached_traces, shared_results, url_notes, views, weight_sources, widgets
from webapp.weight_sources import TrainedLayer

widgets.configure_page("Self-attention")
DEFAULTS = widgets.Defaults(
    sa_source="Random weights",
    sa_layer=0,
    sa_example=1,
    sa_symbols="",
    sa_input="the film was not good",
    sa_text="The cat sat on the mat because it was tired.",
    sa_text2="The dog slept.",
    sa_units=8,
    sa_heads=2,
    sa_seed=0,
    sa_scale=True,
    sa_causal=False,
    sa_positions=True,
    sa_token=1,
    sa_key=5,
    sa_head=1,
)
PROJECTIONS = [("Query Q", "query", "W_q", "b_q"), ("Key K", "key", "W_k", "b_k"), ("Value V", "value", "W_v", "b_v")]

st.title("Self-attention: Query, Key, Value")
st.markdown(
    "Each token's vector is projected three ways. Its **query** is compared (dot product) with "
    "every token's **key**; softmax turns those raw scores into **attention weights** that "
    "sum to 1; the token's **context vector** is the weighted sum of every token's **value**. "
    "Heads do this side by side on slices of the projections. Tokens, heads, units and features "
    "are all numbered from 1. The weights come from a seed (random, untrained) or from a trained "
    "model's MultiHeadAttention layer (sidebar: Weights from)."
)


@dataclasses.dataclass(frozen=True)
class RandomLayer:
    """The sidebar's settings of the layer with random weights, in cached_traces' order after the text."""

    units: int
    num_heads: int
    use_scale: bool
    seed: int
    use_causal_mask: bool
    add_positions: bool


@dataclasses.dataclass(frozen=True)
class Context:
    """What every view reads: the trace, its labels, and the random layer's settings or the trained layer."""

    trace: SelfAttentionTrace
    query_labels: tuple  # T labels: the trace's rows
    key_labels: tuple  # Tk labels: its columns
    text: str  # the sequence box's text
    random: RandomLayer | None = None  # None: the weights are `trained`'s
    trained: TrainedLayer | None = None

    @property
    def seeded(self):
        return self.random is not None

    @property
    def causal(self):
        """Whether the random layer's causal mask is on (a trained layer's masks are its model's)."""
        return self.seeded and self.random.use_causal_mask

    @property
    def settings(self):
        """Names the trace in the shared caches (hover texts)."""
        return (self.text, *dataclasses.astuple(self.random)) if self.seeded else self.trained.key

    @property
    def units(self):
        return self.trace.query.shape[1]

    @property
    def value_units(self):
        return self.trace.value.shape[1]

    @property
    def features(self):
        return self.trace.inputs.shape[1]

    @property
    def cross(self):
        """Whether the keys and values come from another sequence (cross-attention)."""
        return self.trace.key_inputs is not None

    @functools.cached_property
    def why_masked(self):
        """why_masked(i, j): why the mask hides cell (i, j), in words."""
        return padding.mask_reasons(self.trace.attention_mask)

    def hover(self, kind, compute, head=None):
        """A map's hover texts (explain's, None above its cell limit), shared by every session."""
        return shared_results.shared(("self-attention hover", kind, head, *self.settings), compute)

    def weights_hover(self, head):
        """Head `head`'s weights map's hover: each weight's softmax with its row's numbers."""
        trace = self.trace
        return self.hover("weights", lambda: explain.softmax_hover_texts(
            trace.scaled_scores[head], trace.weights[head], trace.attention_mask, self.why_masked), head)


def choose_head(num_heads):
    """The head a view shows, as an index; a control (heads numbered from 1) only when there are several."""
    if num_heads == 1:
        return 0
    options = list(range(1, num_heads + 1))
    widgets.keep_valid("sa_head", options)
    return st.select_slider("Head to show", options=options, value=widgets.nearest_option(DEFAULTS["sa_head"], options),
                            key="sa_head", bind="query-params") - 1


def choose_token(tokens, key, label):
    """A token picked by its position (an index), shown as "#2 cat"."""
    token_ids = list(range(len(tokens)))
    widgets.keep_valid(key, token_ids)
    return st.selectbox(label, token_ids, index=min(DEFAULTS[key], len(tokens) - 1),
                        format_func=lambda i: f"#{i + 1} {tokens[i]}", key=key, bind="query-params")


def attention_weights(context):
    """The Attention weights view: one head's softmax weights, with what masks them."""
    trace = context.trace
    head = choose_head(trace.num_heads)
    weight_hover = context.weights_hover(head)
    widgets.plot(figures.attention_heatmap(trace.weights[head], context.query_labels, context.key_labels,
                                           title=f"Softmax weights (head {head + 1})", hover_texts=weight_hover),
                 key="sa_weights")
    if context.causal:
        st.caption("Masked scores (a token looking ahead) are set to −10⁹ before the softmax, so their weight is exactly 0.")
    elif trace.is_masked:
        st.caption("The model masks some cells (a causal mask, or padding): their weight is exactly 0.")
    if not widgets.caption_if_image(max(len(context.query_labels), len(context.key_labels)),
                                    "the One token view and the downloads"):
        st.caption("Each row is a query token; its weights over the key tokens sum to 1. Hover a cell for its "
                   "softmax, exp(score − the row's largest) ÷ the row's sum, with the numbers"
                   + ("" if weight_hover is not None else " (written out up to 32 tokens; the One token view "
                      "shows any row step by step)") + ".")


def scores(context):
    """The Scores view: one head's scores map, then any cell's score worked out (score_picker)."""
    trace = context.trace
    head = choose_head(trace.num_heads)
    query, key = trace.head_columns(trace.query, head), trace.head_columns(trace.key, head)
    score_hover = context.hover("scores", lambda: explain.score_hover_texts(
        query, key, trace.raw_scores[head], trace.scale, trace.scaled_scores[head]), head)
    scores_title = "Scaled scores Q·Kᵀ/√d" if trace.scale != 1 else "Raw scores Q·Kᵀ"
    widgets.plot(
        figures.heatmap(trace.scaled_scores[head], context.query_labels, context.key_labels,
                        title=f"{scores_title} (head {head + 1})", row_title="query (attending)",
                        col_title="key (attended to)", value_name="score", hover_texts=score_hover),
        key="sa_scores",
    )
    widgets.caption_if_image(max(len(context.query_labels), len(context.key_labels)),
                             "the cell picker below and the downloads")
    st.caption(
        "Entry (i, j) is the dot product of token i's query with token j's key"
        + (", divided by √d" if trace.scale != 1 else "")
        + "; softmax over each row gives the weights."
        + (" Hover a cell for its dot product written out." if score_hover is not None else "")
        + (" With the causal mask, entries right of the diagonal are computed but never used:"
           " the softmax gives them weight 0." if context.causal else "")
        + (" Masked entries are computed but never used: the softmax gives them weight 0."
           if trace.is_masked and not context.seeded else "")
    )
    score_picker(context, head)


# Its own fragment: picking another cell reruns only this, not the map above it.
@st.fragment
def score_picker(context, head):
    """Any cell (i, j) of head `head`'s score map: every product of q_i · k_j, the sum, the scaling and the weight."""
    st.subheader("How one score was computed")
    trace = context.trace
    D = trace.query_head_size
    query, key = trace.head_columns(trace.query, head), trace.head_columns(trace.key, head)
    left, right = st.columns(2)
    with left:
        i = choose_token(context.query_labels, "sa_token", "Query token (row)")
    with right:
        j = choose_token(context.key_labels, "sa_key", "Key token (column)")
    dot = trace_dot_product(query[i], key[j])
    st.markdown(
        f"q{i + 1} · k{j + 1}: multiply the {explain.plural(D, 'entry', 'entries')} of head {head + 1}'s "
        f"query for #{i + 1} and key for #{j + 1} (columns {head * D + 1}–{(head + 1) * D} of Q and K) "
        "that sit at the same position, then add the products up."
    )
    st.dataframe({"d": range(1, D + 1), f"q{i + 1}[d]": dot.a, f"k{j + 1}[d]": dot.b, "product": dot.products},
                 hide_index=True)
    lines = [f"raw score = {explain.products_text(dot.a, dot.b, explain.SUM_TERMS)} = "
             f"{trace.raw_scores[head, i, j]:.6g}"]
    if trace.scale != 1:
        lines.append(f"scaled score = raw × 1/√{D} = {trace.raw_scores[head, i, j]:.6g} × {trace.scale:.6g} = "
                     f"{trace.scaled_scores[head, i, j]:.6g}")
    lines.append(f"weight after the softmax over row #{i + 1} = {trace.weights[head, i, j]:.6g}"
                 + ("" if trace.attention_mask[i, j] else f" (masked: {context.why_masked(i, j)})"))
    st.code("\n".join(lines), language=None)


def token_vectors(context):
    """The Token vectors view: where the layer's inputs X come from."""
    if context.seeded:
        random_token_vectors(context)
    else:
        trained_layer_inputs(context)


def random_token_vectors(context):
    """The Token vectors view with random weights: the hashed vectors, the positional encoding and their sum."""
    trace, tokens = context.trace, context.query_labels
    T, F = len(tokens), context.features
    feature_labels = views.numbered("f", F)
    embedded, positions = trace.text.token_vectors, trace.text.positional_encoding
    st.markdown(
        f"**Where the token vectors come from.** Each token's {F} numbers are **not learned**: "
        "they come from a seeded hash. SHAKE-256 of the seed and the token's text gives random bits, which "
        "become standard-normal numbers (Box–Muller). So a token gets the same vector wherever it appears, "
        "in every session, for a given seed; another seed gives other vectors. A trained model would learn "
        "these vectors instead; here they stand in for a not-yet-trained embedding table."
    )
    widgets.plot(figures.heatmap(embedded, tokens, feature_labels, title=f"Token vectors (seeded hash): {T} × {F}",
                                 row_title="token", col_title="feature"), key="sa_embedding")
    st.markdown(
        "**What positional encoding adds.** Attention itself ignores order: two equal tokens would get equal "
        "vectors and be indistinguishable. The Transformer's positional encoding adds a different pattern "
        "of sines and cosines at each position (pos = token number − 1, d = "
        f"{F} features, i = 0, 1, …):"
    )
    st.latex(r"PE_{(pos,\,2i)} = \sin\!\left(\frac{pos}{10000^{2i/d}}\right), \qquad "
             r"PE_{(pos,\,2i+1)} = \cos\!\left(\frac{pos}{10000^{2i/d}}\right)")
    widgets.plot(figures.heatmap(positions, tokens, feature_labels, title=f"Positional encoding: {T} × {F}",
                                 row_title="token", col_title="feature",
                                 hover_texts=context.hover("positions",
                                                           lambda: explain.positional_encoding_texts(positions))),
                 key="sa_positions_map")
    st.caption("The first columns change quickly from one token to the next, the last ones slowly: together "
               "they give every position its own pattern. The first token's row is 0, 1, 0, 1, …")
    add_positions = context.random.add_positions
    if add_positions:
        title = "Inputs = token vectors + positional encoding"
    else:
        st.info("Positional encoding is off (sidebar): the layer reads the token vectors as they are.")
        title = "Inputs = token vectors (positional encoding off)"
    input_hover = (context.hover("inputs", lambda: explain.elementwise_texts(embedded, positions, trace.inputs, "+"))
                   if add_positions else None)
    widgets.plot(figures.heatmap(trace.inputs, tokens, feature_labels, title=f"{title}: {T} × {F}",
                                 row_title="token", col_title="feature", hover_texts=input_hover), key="sa_inputs")


def trained_layer_inputs(context):
    """The Token vectors view with a trained layer: the vectors that reached it, and the keys' own when they differ."""
    trace = context.trace
    st.markdown(
        "**The vectors that reached the layer**: what the model computed before this layer (its "
        "embeddings and positional encoding, and the layers before), for the first example of the batch. "
        "These are the layer's X: every projection below starts from them."
    )
    widgets.plot(figures.heatmap(trace.inputs, context.query_labels, views.numbered("f", context.features),
                                 title=f"Query inputs X: {len(context.query_labels)} × {context.features}",
                                 row_title="token", col_title="feature"),
                 key="sa_inputs")
    if context.cross:
        key_features = trace.key_inputs.shape[1]
        widgets.plot(figures.heatmap(trace.key_inputs, context.key_labels, views.numbered("f", key_features),
                                     title=f"Key and value inputs: {len(context.key_labels)} × {key_features}",
                                     row_title="token", col_title="feature"),
                     key="sa_key_inputs")
        st.caption("Cross-attention: the keys and values come from another sequence (here the "
                   "encoder's output), the queries from this one.")


def projections(context):
    """The Q, K, V view: each projection's matrix, with its equation and shapes."""
    trace = context.trace
    st.markdown("Each projection is a dense layer without activation, applied to every token's vector "
                "(a row of the inputs X): its kernel and bias are on the Projection weights view. Hover a cell "
                "for its sum written out (up to 32 × 32 cells): x_t times the kernel's column, plus the bias.")
    for name, field, kernel, bias in PROJECTIONS:
        matrix, dense = getattr(trace, field), getattr(trace, f"{field}_dense")
        reads_keys = context.cross and field != "query"
        x, rows = (trace.key_inputs, context.key_labels) if reads_keys else (trace.inputs, context.query_labels)
        x_name = "X_kv" if reads_keys else "X"
        st.latex(rf"{name[-1]} = {x_name}\,{kernel} + {bias}:\quad ({matrix.shape[0]} \times {x.shape[1]})\,"
                 rf"({x.shape[1]} \times {matrix.shape[1]}) + ({matrix.shape[1]}) \to "
                 rf"({matrix.shape[0]} \times {matrix.shape[1]})")
        projection_hover = context.hover(field, lambda: explain.sum_of_products_texts(
            x, dense.kernel, matrix, lambda t, u: f"x{t + 1} · {kernel}[:, u{u + 1}] + {bias}[u{u + 1}]",
            bias=dense.bias))
        widgets.plot(
            figures.heatmap(matrix, rows, views.numbered("u", matrix.shape[1]),
                            title=f"{name}: {matrix.shape[0]} × {matrix.shape[1]}",
                            row_title="token", col_title="unit", hover_texts=projection_hover),
            key=f"sa_matrix_{field}",
        )
    with st.expander("Tokens"):
        st.dataframe({"#": range(1, len(context.query_labels) + 1), "token": context.query_labels}, hide_index=True)


def one_token(context):
    """The One token view: one token's pipeline, its row of weights and its softmax worked out."""
    trace, key_labels = context.trace, context.key_labels
    head = choose_head(trace.num_heads)
    token = choose_token(context.query_labels, "sa_token", "Token to follow")
    widgets.plot(
        figures.qkv_pipeline_figure(
            key_labels,
            token,
            query=trace.head_columns(trace.query, head)[token],
            keys=trace.head_columns(trace.key, head),
            values=trace.head_columns(trace.value, head),
            raw_scores=trace.raw_scores[head, token],
            scaled_scores=trace.scaled_scores[head, token],
            weights=trace.weights[head, token],
            context=trace.context[head, token],
            scale=trace.scale,
            query_tokens=context.query_labels,
        ),
        key="sa_pipeline",
    )
    row_hover = context.weights_hover(head)
    widgets.plot(
        figures.bar_chart(trace.weights[head, token], key_labels,
                          title=f"How much #{token + 1} attends to each token (head {head + 1})", value_name="weight",
                          hover_texts=None if row_hover is None else row_hover[token]),
        key="sa_token_weights",
    )
    st.subheader("The softmax, step by step")
    steps = explain.softmax_steps(trace.scaled_scores[head, token], trace.attention_mask[token])
    st.latex(r"w_j = \frac{e^{\,s_j - m}}{\sum_k e^{\,s_k - m}}, \qquad m = \max_k s_k")
    st.markdown(
        f"Subtracting the largest score m = {steps.peak:.6g} changes no weight (it cancels in the fraction) "
        f"and keeps exp() from overflowing. The exponentials add up to Σ = {steps.total:.6g}; each weight is "
        "its exponential divided by Σ."
        + (" Masked keys (after the query) get exp = 0, so weight 0." if context.causal else "")
        + (" Keys the model masks get exp = 0, so weight 0." if trace.is_masked and not context.seeded else "")
    )
    st.dataframe(
        {
            "#": range(1, len(key_labels) + 1),
            "token": key_labels,
            "score s": steps.scores,
            "s − m": steps.shifted,
            "exp(s − m)": steps.exponentials,
            "exp ÷ Σ": steps.weights,
            "weight (the layer's)": trace.weights[head, token],
        },
        hide_index=True,
        key="sa_softmax_steps",
    )


def every_head(context):
    """The Every head view: each head's weights, two to a row."""
    trace = context.trace
    if trace.num_heads == 1:
        st.info("One head: its weights are on the Attention weights view."
                + (" Raise Heads in the sidebar to compare several." if context.seeded else ""))
        return
    for column, h in views.two_to_a_row(range(trace.num_heads)):
        with column:
            widgets.plot(figures.attention_heatmap(trace.weights[h], context.query_labels, context.key_labels,
                                                   title=f"Head {h + 1}", hover_texts=context.weights_hover(h)),
                         key=f"sa_head_{h}")


def output(context):
    """The Output view: the heads' contexts side by side, then the output projection when the layer has one."""
    trace, T, value_units = context.trace, len(context.query_labels), context.value_units
    st.markdown("Each row is a token's context vector, the heads' contexts side by side: column u of head h "
                "is Σ_j weight(token, j) × v_j[u] over every token j, with head h's weights. Hover a cell for "
                "its sum written out (up to 32 × 32 cells).")
    output_hover = context.hover("output", lambda: explain.context_hover_texts(trace.weights, trace.value, trace.output))
    widgets.plot(figures.heatmap(trace.output, context.query_labels, views.numbered("u", value_units),
                                 title=f"Output: {T} × {value_units}", row_title="token", col_title="unit",
                                 hover_texts=output_hover), key="sa_output")
    if trace.output_dense is None:
        return
    projected = trace.projected_output
    st.markdown("**The output projection.** MultiHeadAttention then maps the heads' contexts through one "
                "more dense layer, W_o and b_o: this is what the layer returns.")
    st.latex(rf"\text{{output}} = C\,W_o + b_o:\quad ({T} \times {value_units})\,({value_units} \times "
             rf"{projected.shape[1]}) + ({projected.shape[1]}) \to ({T} \times {projected.shape[1]})")
    projected_hover = context.hover("projected", lambda: explain.sum_of_products_texts(
        trace.output, trace.output_dense.kernel, projected,
        lambda t, f: f"c{t + 1} · W_o[:, f{f + 1}] + b_o[f{f + 1}]", bias=trace.output_dense.bias))
    widgets.plot(figures.heatmap(projected, context.query_labels, views.numbered("f", projected.shape[1]),
                                 title=f"Projected output: {T} × {projected.shape[1]}", row_title="token",
                                 col_title="feature", hover_texts=projected_hover), key="sa_projected_output")


def projection_weights(context):
    """The Projection weights view: every kernel as a map, every bias in a table."""
    trace, units, value_units = context.trace, context.units, context.value_units
    if context.seeded:
        st.markdown(
            "The weights the projections computed with, for this seed: Q = X·W_q + b_q, K = X·W_k + b_k, "
            f"V = X·W_v + b_v. Each kernel is features × units ({context.features} × {units}), as Keras stores it. "
            "Kernels start as Glorot-uniform random numbers drawn with the seed and biases as zeros: nothing "
            "here is trained. The downloads hold them all, so every step can be redone from the file."
        )
    else:
        st.markdown(
            "The trained weights of the layer: Q = X·W_q + b_q, K = X·W_k + b_k, V = X·W_v + b_v, and the "
            "output projection W_o, b_o. Keras stores each projection kernel as (features, heads, head size); "
            "here the heads sit side by side, head n in columns n·D + 1 to (n + 1)·D. The downloads hold them all."
        )
    for name, field, kernel, _ in PROJECTIONS:
        weights = getattr(trace, f"{field}_dense")
        rows, cols = weights.kernel.shape
        widgets.plot(figures.heatmap(weights.kernel, views.numbered("f", rows), views.numbered("u", cols),
                                     title=f"{kernel} ({name.split()[0].lower()} kernel): {rows} × {cols}",
                                     row_title="feature", col_title="unit", value_name="weight"),
                     key=f"sa_kernel_{field}")
    if trace.output_dense is not None:
        rows, cols = trace.output_dense.kernel.shape
        widgets.plot(figures.heatmap(trace.output_dense.kernel, views.numbered("u", value_units),
                                     views.numbered("f", cols), title=f"W_o (output kernel): {rows} × {cols}",
                                     row_title="unit", col_title="feature", value_name="weight"),
                     key="sa_kernel_output")
    st.dataframe({"unit": views.numbered("u", units), **{bias: getattr(trace, f"{field}_dense").bias
                                                         for _, field, _, bias in PROJECTIONS[:2]},
                  **({"b_v": trace.value_dense.bias} if value_units == units else {})}, hide_index=True)
    if value_units != units:
        st.dataframe({"unit": views.numbered("u", value_units), "b_v": trace.value_dense.bias}, hide_index=True)
    if trace.output_dense is not None:
        st.dataframe({"feature": views.numbered("f", len(trace.output_dense.bias)),
                      "b_o": trace.output_dense.bias}, hide_index=True)


def padding_view(context):
    """The Padding view: with random weights, two sentences as one batch; a trained layer's padding is its model's."""
    if not context.seeded:
        st.info("This view pads two typed sentences into one batch for the layer with random weights (Weights from: "
                "Random weights). A trained layer's padding is its model's own: the cells its mask hides weigh "
                "exactly 0 on the other views.")
        return
    st.markdown(
        "A batch is one tensor, so its sentences must be equally long: the shorter one is **padded** with zero "
        f"vectors (shown as {padding.PAD_LABEL}) up to the longer, and a **padding mask**, True for real tokens, "
        "tells the layer which positions are padding. The layer runs once on both, with the mask."
    )
    second = st.text_area("Sentence 2 of the batch (sentence 1 is the sequence above)", DEFAULTS["sa_text2"],
                          key="sa_text2", bind="query-params", help=TEXT_RULE)
    layer = context.random
    try:
        batch = cached_traces.padded_batch_trace((context.text, second), *dataclasses.astuple(layer))
    except InputError as error:
        widgets.show_input_error(error)
        return
    padded_masks(batch, layer.use_causal_mask)
    padded_weights(batch, layer.num_heads)
    widgets.download_trace(batch, "padded_batch", {"texts": [context.text, second], **dataclasses.asdict(layer)},
                           label="Download the batch's every tensor, masks included")


def padded_masks(batch, use_causal_mask):
    """The padding mask beside the causal mask (when on), and what they do."""
    T = batch.padding_mask.shape[1]
    positions = views.numbered("", T)
    sentences = [f"sentence {b + 1}" for b in range(len(batch.tokens))]
    st.caption("; ".join(f"sentence {b + 1}: {explain.plural(n, 'token')}" for b, n in enumerate(batch.lengths)).capitalize()
               + f"; both padded to {explain.plural(T, 'position')}.")
    mask_columns = st.columns(2) if use_causal_mask else [st.container()]
    with mask_columns[0]:
        widgets.plot(figures.mask_heatmap(
            batch.padding_mask, sentences, positions, title="Padding mask: which keys are real tokens",
            row_title="sentence", col_title="position",
            hover_texts=explain.mask_texts(batch.padding_mask, lambda b, t: f"'{batch.tokens[b][t]}', a real token",
                                           lambda b, t: "padding, weight 0 as a key")), key="sa_padding_mask")
    if use_causal_mask:
        causal = reference.causal_mask(T)
        with mask_columns[1]:
            widgets.plot(figures.mask_heatmap(
                causal, positions, positions, title="Causal mask: keys at or before the query",
                row_title="query position", col_title="key position",
                hover_texts=explain.mask_texts(causal, lambda i, j: "allowed", lambda i, j: "the key comes after the query")),
                key="sa_causal_mask")
    st.markdown(
        "**Its effect.** Each query's weights may only fall on allowed keys: padded keys get weight exactly 0, "
        "so each sentence's real part is what the sentence alone gives. Padded **queries** are masked too, as "
        "`keras.layers.MultiHeadAttention` masks the queries of an input that carries a Keras mask: a padded query "
        "attends to nothing, so its row is all 0 and its output is 0"
        + (" (the causal mask applies on top: a key after its query is 0 as well)." if use_causal_mask else ".")
    )


def padded_weights(batch, num_heads):
    """Each sentence's weights in the batch, side by side, for one head."""
    head = choose_head(num_heads)
    for b, column in enumerate(st.columns(len(batch.tokens))):
        with column:
            widgets.plot(figures.attention_heatmap(
                batch.weights[b, head], batch.tokens[b], batch.tokens[b],
                title=f"Sentence {b + 1}'s weights (head {head + 1})",
                hover_texts=explain.softmax_hover_texts(
                    batch.scaled_scores[b, head], batch.weights[b, head], batch.attention_mask[b],
                    lambda i, j, b=b: padding.why_masked(batch.padding_mask[b], i, j))),
                key=f"sa_padded_weights_{b}")


# The page's views, in the order of the pipeline's story. Only the open one is computed and
# drawn, so a slider move redraws one or two charts, not a dozen. The open view is navigation,
# not a setting: it lives in the URL, and the reset button leaves it be.
VIEWS = {
    "Attention weights": attention_weights,
    "Scores": scores,
    "Token vectors": token_vectors,
    "Q, K, V": projections,
    "One token": one_token,
    "Every head": every_head,
    "Output": output,
    "Projection weights": projection_weights,
    "Padding": padding_view,
}


def random_layer_controls():
    """The sidebar's controls of the layer with random weights."""
    units, num_heads = widgets.units_and_heads(DEFAULTS, "sa", "Units (width of Q, K, V)", "Heads")
    seed = st.slider("Seed (weights and token vectors)", 0, 99, DEFAULTS["sa_seed"], key="sa_seed", bind="query-params")
    use_scale = st.toggle("Scale scores by 1/√d", DEFAULTS["sa_scale"], key="sa_scale", bind="query-params")
    use_causal_mask = st.toggle("Causal mask (no peeking ahead)", DEFAULTS["sa_causal"], key="sa_causal", bind="query-params")
    add_positions = st.toggle("Add positional encoding", DEFAULTS["sa_positions"], key="sa_positions", bind="query-params")
    return RandomLayer(units, num_heads, use_scale, seed, use_causal_mask, add_positions)


def shapes_caption(context):
    """The line above the views: the sizes along the pipeline, from tokens to heads."""
    trace, units, D, F = context.trace, context.units, context.trace.query_head_size, context.features
    num_heads, T, Tk = trace.num_heads, len(context.query_labels), len(context.key_labels)
    if context.seeded:
        st.caption(
            f"{explain.plural(T, 'token')} → vectors of {F} features → Q, K, V of "
            f"{explain.plural(units, 'unit')} → {explain.plural(num_heads, 'head')} of {explain.plural(D, 'column')}."
        )
    else:
        st.caption(
            f"{explain.plural(T, 'query', 'queries')}" + (f" over {explain.plural(Tk, 'key')} of another sequence "
                                                          "(cross-attention)" if context.cross else "")
            + f" → vectors of {F} features (as they reached the layer) → Q, K of {explain.plural(units, 'unit')}, "
            f"V of {context.value_units} → {explain.plural(num_heads, 'head')} of {explain.plural(D, 'column')}"
            + (f" → output projection to {trace.projected_output.shape[1]} features." if trace.output_dense is not None else ".")
        )


def downloads(context):
    """Every tensor of the trace, with the settings or the trained layer it came from."""
    widgets.download_trace(
        context.trace,
        "self_attention",
        {"text": context.text, **dataclasses.asdict(context.random)} if context.seeded else
        {"weights_from": context.trained.source, "layer_call_index": context.trained.call_index,
         "query_labels": list(context.query_labels), "key_labels": list(context.key_labels)},
    )


# A fragment: a widget change reruns only this function, not the navigation and introduction.
@st.fragment
@url_notes.notes_link_changes
def explorer():
    """The settings, the sequence, the open view and the downloads."""
    with st.sidebar:
        st.header("Settings")
        weights = weight_sources.weights_from(DEFAULTS, "sa")
        if weights.random:
            layer = random_layer_controls()
        else:
            st.caption("Units, heads, scaling, masks and the token vectors are the trained layer's own, so their "
                       "controls are hidden; the random weights' come back with Weights from: Random weights.")
        DEFAULTS.reset_button()

    try:
        text, trained = weight_sources.sequence_and_layer(
            weights, f"Sequence (words and punctuation become tokens; at most {MAX_TOKENS})")
        if trained is None:
            tokens, trace = cached_traces.self_attention_trace(text, *dataclasses.astuple(layer))
            context = Context(trace, tokens, tokens, text, random=layer)
        else:
            context = Context(trained.trace, trained.query_labels, trained.key_labels, text, trained=trained)
    except InputError as error:
        widgets.show_input_error(error)
        return

    shapes_caption(context)
    view = widgets.view_picker(list(VIEWS), "sa_view")
    VIEWS[view](context)
    downloads(context)


explorer()
