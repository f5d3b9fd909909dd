"""Additive (Bahdanau) attention over a SimpleRNN's hidden states: the user's RNNWithAttention."""

import streamlit as st

import page_support as ps
from attention_core import InputError, figures, parse_matrix, random_sequence

MAX_STEPS, MAX_FEATURES = 64, 16
ps.configure_page("Additive attention")
DEFAULTS = ps.Defaults(
    rnn_source="random",
    rnn_steps=5,
    rnn_features=4,
    rnn_units=32,
    rnn_seed=0,
    rnn_matrix="1, 0, 0, 0\n0, 1, 0, 0\n0, 0, 1, 0\n0, 0, 0, 1\n1, 1, 1, 1",
)

st.title("Additive attention with an RNN")
st.markdown(
    "A `SimpleRNN` reads a sequence and leaves a **hidden state** after every step. The "
    "attention layer asks: given the final hidden state, how much does each step matter? "
    "It projects the steps with **W1** and the final state with **W2**, adds them, applies "
    "**tanh**, scores each step with **V**, and turns the scores into weights with a softmax "
    "over time. The **context vector** is the weighted sum of the hidden states."
)
st.code(
    "hidden_with_time_axis = tf.expand_dims(hidden, 1)\n"
    "score = tf.nn.tanh(self.W1(features) + self.W2(hidden_with_time_axis))\n"
    "attention_weights = tf.nn.softmax(self.V(score), axis=1)\n"
    "context_vector = tf.reduce_sum(attention_weights * features, axis=1)",
    language="python",
)

# A fragment: a widget change reruns only this function, not the navigation and introduction.
@st.fragment
def explorer():
    """The sequence and model settings, every step of the computation and the downloads."""
    with st.sidebar:
        st.header("Sequence")
        source = st.radio("Input", ["random", "typed"], key="rnn_source", bind="query-params",
                          format_func={"random": "Random (seeded)", "typed": "Typed matrix"}.get)
        if source == "random":
            steps = st.slider("Time steps", 1, MAX_STEPS, DEFAULTS["rnn_steps"], key="rnn_steps", bind="query-params")
            num_features = st.slider("Features per step", 1, MAX_FEATURES, DEFAULTS["rnn_features"], key="rnn_features", bind="query-params")
        st.header("Model")
        units = st.slider("Units (RNN and attention)", 1, 64, DEFAULTS["rnn_units"], key="rnn_units", bind="query-params")
        seed = st.slider("Seed (weights and random input)", 0, 99, DEFAULTS["rnn_seed"], key="rnn_seed", bind="query-params")
        DEFAULTS.reset_button()

    if source == "typed":
        matrix_text = st.text_area(
            f"Sequence: one time step per line, the same number of features on each (up to {MAX_STEPS} × {MAX_FEATURES})",
            DEFAULTS["rnn_matrix"], key="rnn_matrix", bind="query-params",
        )
        try:
            inputs = parse_matrix(matrix_text, name="inputs", max_rows=MAX_STEPS, max_cols=MAX_FEATURES)
        except InputError as error:
            ps.show_input_error(error)
            return
    else:
        inputs = random_sequence(steps, num_features, seed)

    trace = ps.rnn_attention_trace(inputs.astype("float32"), units, seed)
    attention = trace.attention
    T, F = inputs.shape
    step_labels = [f"t{t}" for t in range(T)]
    unit_labels = [f"u{u}" for u in range(units)]

    st.header("1 · The input sequence and the RNN's hidden states")
    left, right = st.columns(2)
    with left:
        ps.plot(figures.heatmap(trace.inputs, step_labels, [f"x{f}" for f in range(F)], title=f"Inputs: {T} steps × {F} features",
                                row_title="time step", col_title="feature"), key="rnn_inputs")
    with right:
        ps.plot(figures.heatmap(trace.rnn_output, step_labels, unit_labels, title=f"Hidden states h_t: {T} × {units}",
                                row_title="time step", col_title="unit"), key="rnn_states")
    st.caption("h_t = tanh(x_t·W + h_(t−1)·R + b). The last row is the final hidden state, the attention's `hidden`.")

    st.header("2 · Projections: W1(features) and W2(hidden)")
    st.markdown("The hidden state has no time axis. `expand_dims` adds one, so W2's result can be added to every step:")
    st.code(
        f"features               {(1, T, units)}   # the RNN's hidden states\n"
        f"hidden                 {(1, units)}\n"
        f"hidden_with_time_axis  {(1,) + attention.hidden_with_time_axis.shape}   # tf.expand_dims(hidden, 1)\n"
        f"W1(features)           {(1,) + attention.features_projection.shape}\n"
        f"W2(hidden_with_time)   {(1,) + attention.hidden_projection.shape}   # broadcast over the {T} steps\n"
        f"score = tanh(sum)      {(1,) + attention.score.shape}\n"
        f"V(score)               {(1,) + attention.logits.shape}\n"
        f"attention_weights      {(1,) + attention.weights.shape}   # softmax over axis 1, time\n"
        f"context_vector         {(1,) + attention.context.shape}",
        language=None,
    )
    left, right = st.columns(2)
    with left:
        ps.plot(figures.heatmap(attention.features_projection, step_labels, unit_labels, title="W1(features)",
                                row_title="time step", col_title="unit"), key="rnn_w1")
    with right:
        ps.plot(figures.heatmap(attention.hidden_projection, ["hidden"], unit_labels, title="W2(hidden_with_time_axis)",
                                col_title="unit"), key="rnn_w2")

    st.header("3 · Score, V and the softmax over time")
    ps.plot(figures.heatmap(attention.score, step_labels, unit_labels, title="score = tanh(W1(features) + W2(hidden))",
                            row_title="time step", col_title="unit"), key="rnn_score")
    left, right = st.columns(2)
    with left:
        ps.plot(figures.bar_chart(attention.logits[:, 0], step_labels, title="V(score): one number per step", value_name="logit"),
                key="rnn_logits")
    with right:
        ps.plot(figures.bar_chart(attention.weights[:, 0], step_labels, title="Attention weights (sum to 1)", value_name="weight"),
                key="rnn_weights")
    ps.plot(figures.attention_heatmap(attention.weights.T, ["final state"], step_labels, title="Attention over time"),
            key="rnn_weights_heatmap")

    st.header("4 · The context vector")
    st.markdown("Each hidden state is multiplied by its weight, and the rows are added up.")
    left, right = st.columns(2)
    with left:
        ps.plot(figures.heatmap(attention.weighted_features, step_labels, unit_labels, title="attention_weights × features",
                                row_title="time step", col_title="unit"), key="rnn_weighted")
    with right:
        ps.plot(figures.bar_chart(attention.context, unit_labels, title=f"Context vector ({units})", value_name="value"),
                key="rnn_context")

    ps.download_trace(trace, "rnn_with_attention", {"units": units, "seed": seed, "source": source})


explorer()
