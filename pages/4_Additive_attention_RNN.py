"""Additive (Bahdanau) attention over a SimpleRNN's hidden states: the user's RNNWithAttention."""

import dataclasses
import functools

import streamlit as st

from attention_core import InputError, RNNAttentionTrace, figures, parse_matrix, random_sequence
from attention_core.mechanisms import starter_code
from attention_core.mechanisms.export import trace_tensors
from attention_core.text import explain
from attention_core.text.numbers import NUMBER_RULE
from webapp import cached_traces, url_notes, views, widgets

MAX_STEPS, MAX_FEATURES = 64, 16
widgets.configure_page("Additive attention")
DEFAULTS = widgets.Defaults(
    rnn_source="random",
    rnn_steps=5,
    rnn_features=4,
    rnn_units=32,
    rnn_seed=0,
    rnn_matrix="1, 0, 0, 0\n0, 1, 0, 0\n0, 0, 1, 0\n0, 0, 0, 1\n1, 1, 1, 1",
    rnn_step=1,
)
# What each step's result is, in the shape table beside the starter code's lines.
COMMENTS = {
    "inputs": "the sequence: one row of features per time step",
    "rnn_output": "the SimpleRNN's hidden state after each step: the attention's features",
    "hidden_state": "its final state: the attention's hidden",
    "attention.hidden_with_time_axis": "expand_dims adds the time axis: the data is unchanged",
    "attention.features_projection": "W1(features)",
    "attention.hidden_projection": "W2(hidden_with_time_axis), broadcast over every step",
    "attention.score": "tanh of their sum",
    "attention.logits": "V(score): one number per step",
    "attention.weights": "softmax over axis 1, time",
    "attention.weighted_features": "attention_weights * features",
    "attention.context": "summed over time: the context vector",
}

st.title("Additive attention with an RNN")
widgets.untrained_note()
st.markdown(
    "A `SimpleRNN` reads a sequence and leaves a **hidden state** after every step. The "
    "attention layer asks: given the final hidden state, how much does each step matter? "
    "It projects the steps with **W1** and the final state with **W2**, adds them, applies "
    "**tanh**, scores each step with **V**, and turns the scores into weights with a softmax "
    "over time. The **context vector** is the weighted sum of the hidden states."
)
st.subheader("The starter code")
st.markdown("The two classes this page runs, as the starter code writes them. The app's `RNNWithAttention` computes exactly "
            "this, in Keras 3; below, one view per step, each line of `call()` stands beside the tensor it computed.")
st.code(starter_code.ATTENTION_CLASS, language="python")
st.code(starter_code.RNN_WITH_ATTENTION_CLASS, language="python")


@dataclasses.dataclass(frozen=True)
class Context:
    """What every step's view reads: the model's trace on the sequence, and its units."""

    trace: RNNAttentionTrace
    units: int

    @property
    def attention(self):
        return self.trace.attention

    @functools.cached_property
    def tensors(self):
        """Every tensor of the trace by its name ("attention.score", …), as the downloads name them."""
        return trace_tensors(self.trace)

    def batched_shape(self, name):
        """Tensor `name`'s shape as the starter code's call() sees it, with its batch of 1."""
        return (1,) + self.tensors[name].shape

    @property
    def step_labels(self):
        return views.numbered("t", self.trace.inputs.shape[0])

    @property
    def unit_labels(self):
        return views.numbered("u", self.units)

    @property
    def feature_labels(self):
        return views.numbered("x", self.trace.inputs.shape[1])


def code_line(context, number):
    """Step `number` of the starter code's call(): its line, and the shape of what it computed (batch of 1)."""
    step = starter_code.CALL_STEPS[number]
    shapes = ", ".join(f"{name.split('.')[-1]} {context.batched_shape(name)}" for name in step.fields)
    st.code(step.line, language="python")
    st.caption(f"→ {shapes}")


def hidden_states(context):
    """Step 1: the starter code's SimpleRNN and its summary, then the inputs beside the hidden states."""
    trace, (T, F), units = context.trace, context.trace.inputs.shape, context.units
    st.header("The SimpleRNN, as the starter code builds it")
    st.markdown(f"The starter code's stand-alone `SimpleRNN` model, here with {explain.plural(F, 'feature')} per step "
                f"and {explain.plural(units, 'unit')}, and what `model.summary()` prints for it. Its weights are the "
                "kernel (features × units), the recurrent kernel (units × units) and the bias (units).")
    st.code(starter_code.simple_rnn_model_code(F, units), language="python")
    widgets.show_model_summary(cached_traces.simple_rnn_summary(F, units))

    st.header("1 · The RNN's hidden states")
    code_line(context, 0)
    left, right = st.columns(2)
    with left:
        widgets.plot(figures.heatmap(trace.inputs, context.step_labels, context.feature_labels,
                                     title=f"Inputs: {explain.plural(T, 'step')} × {explain.plural(F, 'feature')}",
                                     row_title="time step", col_title="feature"), key="rnn_inputs")
    with right:
        widgets.plot(figures.heatmap(trace.rnn_output, context.step_labels, context.unit_labels,
                                     title=f"Hidden states h_t: {T} × {units}", row_title="time step", col_title="unit",
                                     hover_texts=explain.simple_rnn_texts(trace.inputs, trace.rnn_output, trace.rnn.kernel,
                                                                          trace.rnn.recurrent_kernel, trace.rnn.bias)),
                     key="rnn_states")
    st.caption("h_t = tanh(x_t·W + h_(t−1)·R + b), starting from h_0 = 0 (hover a cell for its sums written out); W, R "
               "and b are on The weights view. The last row is the final hidden state, the attention's `hidden`.")


def projections(context):
    """Step 2: W1 of every hidden state, W2 of the final one, and the score, tanh of their sum."""
    attention, step_labels, unit_labels = context.attention, context.step_labels, context.unit_labels
    st.header("2 · Projections: W1(features) and W2(hidden)")
    st.markdown("In `Attention.call`, `features` is `rnn_output` and `hidden` is `hidden_state`. The hidden state has "
                "no time axis: `expand_dims` adds one, so W2's result can be added to every step.")
    code_line(context, 1)
    code_line(context, 2)
    left, right = st.columns(2)
    w1_hover = explain.sum_of_products_texts(
        attention.features, attention.W1.kernel, attention.features_projection,
        lambda t, u: f"h{t + 1} · W1[:, u{u + 1}] + b1[u{u + 1}]", bias=attention.W1.bias)
    w2_hover = explain.sum_of_products_texts(
        attention.hidden_with_time_axis, attention.W2.kernel, attention.hidden_projection,
        lambda _, u: f"hidden · W2[:, u{u + 1}] + b2[u{u + 1}]", bias=attention.W2.bias)
    with left:
        widgets.plot(figures.heatmap(attention.features_projection, step_labels, unit_labels, title="W1(features)",
                                     row_title="time step", col_title="unit", hover_texts=w1_hover), key="rnn_w1")
    with right:
        widgets.plot(figures.heatmap(attention.hidden_projection, ["hidden"], unit_labels, title="W2(hidden_with_time_axis)",
                                     col_title="unit", hover_texts=w2_hover), key="rnn_w2")
    widgets.plot(figures.heatmap(attention.score, step_labels, unit_labels, title="score = tanh(W1(features) + W2(hidden))",
                                 row_title="time step", col_title="unit",
                                 hover_texts=explain.tanh_of_sum_texts(attention.features_projection, attention.hidden_projection,
                                                                       attention.score, names=("W1", "W2"))),
                 key="rnn_score")
    st.caption("Hover a cell for its sum written out (up to 32 × 32 cells); the V and softmax view writes out "
               "every unit's for one time step.")


def v_and_softmax(context):
    """Step 3: V's logit for each step, the softmax over time worked out, then one step's sums (one_time_step)."""
    attention, step_labels = context.attention, context.step_labels
    logit_hover = explain.sum_of_products_texts(attention.score, attention.V.kernel, attention.logits,
                                                lambda t, _: f"score{t + 1} · V + bV", bias=attention.V.bias)
    weight_hover = explain.softmax_hover_texts(attention.logits.T, attention.weights.T)
    st.header("3 · V and the softmax over time")
    code_line(context, 3)
    left, right = st.columns(2)
    with left:
        widgets.plot(figures.bar_chart(attention.logits[:, 0], step_labels, title="V(score): one number per step", value_name="logit",
                                       hover_texts=None if logit_hover is None else logit_hover[:, 0]),
                     key="rnn_logits")
    with right:
        widgets.plot(figures.bar_chart(attention.weights[:, 0], step_labels, title="Attention weights (sum to 1)", value_name="weight",
                                       hover_texts=None if weight_hover is None else weight_hover[0]),
                     key="rnn_weights")
    softmax = explain.softmax_steps(attention.logits[:, 0])
    st.markdown(f"The softmax, step by step: subtract the largest logit m = {softmax.peak:.6g}, take exp, add them "
                f"up (Σ = {softmax.total:.6g}), divide each by Σ.")
    st.dataframe(
        {"step": step_labels, "logit s": softmax.scores, "s − m": softmax.shifted, "exp(s − m)": softmax.exponentials,
         "exp ÷ Σ": softmax.weights, "weight (the layer's)": attention.weights[:, 0]},
        hide_index=True, key="rnn_softmax_steps",
    )
    widgets.plot(figures.attention_heatmap(attention.weights.T, ["final state"], step_labels, title="Attention over time",
                                           hover_texts=weight_hover),
                 key="rnn_weights_heatmap")
    one_time_step(context)


def one_time_step(context):
    """One time step picked, every unit's W1, W2 and tanh sums and its V sum written out."""
    attention, T = context.attention, context.trace.inputs.shape[0]
    st.subheader("One time step, written out")
    widgets.keep_valid("rnn_step", list(range(1, T + 1)))
    t = st.selectbox("Time step", range(1, T + 1), index=0, key="rnn_step", bind="query-params",
                     format_func=lambda step: f"t{step}") - 1
    st.markdown(f"Each unit's sums for step t{t + 1}, every term written out: W1 reads the step's hidden state "
                f"h{t + 1}, W2 the final one, and their sum goes through tanh. V then sums the "
                f"{explain.plural(context.units, 'unit')} of the score.")
    features, hidden = attention.features[t], attention.hidden_with_time_axis[0]
    st.dataframe(
        {"unit": context.unit_labels,
         f"h{t + 1} · W1[:, u] + b1[u]": explain.weighted_sums_text(features, attention.W1.kernel, attention.W1.bias),
         "W1(features)": attention.features_projection[t],
         "hidden · W2[:, u] + b2[u]": explain.weighted_sums_text(hidden, attention.W2.kernel, attention.W2.bias),
         "W2(hidden)": attention.hidden_projection[0],
         "score = tanh(W1 + W2)": attention.score[t]},
        hide_index=True, key="rnn_step_sums",
    )
    st.code(f"V(score{t + 1}) = score{t + 1} · V + bV = "
            f"{explain.weighted_sum_text(attention.score[t], attention.V.kernel[:, 0], attention.V.bias[0])} = "
            f"{explain.number(attention.logits[t, 0])}", language=None)


def context_vector(context):
    """Step 4: each hidden state times its weight, and their sum over time, the context vector."""
    attention, unit_labels = context.attention, context.unit_labels
    st.header("4 · The context vector")
    st.markdown("Each hidden state is multiplied by its weight, and the rows are added up. Hover a cell or bar "
                "for its product or sum written out.")
    code_line(context, 4)
    code_line(context, 5)
    left, right = st.columns(2)
    with left:
        widgets.plot(figures.heatmap(attention.weighted_features, context.step_labels, unit_labels,
                                     title="attention_weights × features", row_title="time step", col_title="unit",
                                     hover_texts=explain.elementwise_texts(attention.weights, attention.features,
                                                                           attention.weighted_features, "×")),
                     key="rnn_weighted")
    with right:
        context_hover = explain.sum_of_products_texts(attention.weights.T, attention.features, attention.context[None],
                                                      lambda _, u: f"Σ_t w_t × h_t[u{u + 1}]")
        widgets.plot(figures.bar_chart(attention.context, unit_labels, title=f"Context vector ({context.units})",
                                       value_name="value", hover_texts=None if context_hover is None else context_hover[0]),
                     key="rnn_context")


def every_shape(context):
    """The shape of every tensor in the order the model computes them, each with what it is."""
    st.header("Every shape, in order")
    rows = [["# tensor", "shape", "# what it is"]] + [
        [name.split(".")[-1], str(context.batched_shape(name)), f"# {comment}"] for name, comment in COMMENTS.items()
    ]
    st.code("\n".join(explain.aligned_rows(rows)), language=None)


def the_weights(context):
    """Every kernel as a map, V as bars and the biases in a table."""
    trace, attention, unit_labels = context.trace, context.attention, context.unit_labels
    st.header("The weights")
    st.markdown("What the model computed with, for this seed: kernels start as seeded random numbers (Glorot-uniform; "
                "the recurrent kernel orthogonal), biases as zeros. Nothing is trained. Each Dense computes x·kernel + "
                "bias with the kernel as inputs × units, as Keras stores it; the downloads hold every weight.")
    kernels = [
        ("SimpleRNN kernel W", trace.rnn.kernel, context.feature_labels, "feature", "rnn_kernel"),
        ("SimpleRNN recurrent kernel R", trace.rnn.recurrent_kernel, unit_labels, "unit (previous state)", "rnn_recurrent"),
        ("W1 kernel", attention.W1.kernel, unit_labels, "unit of features", "rnn_W1_kernel"),
        ("W2 kernel", attention.W2.kernel, unit_labels, "unit of hidden", "rnn_W2_kernel"),
    ]
    for column, (name, kernel, rows_labels, row_title, key) in views.two_to_a_row(kernels):
        with column:
            widgets.plot(figures.heatmap(kernel, rows_labels, unit_labels, title=f"{name}: {kernel.shape[0]} × {kernel.shape[1]}",
                                         row_title=row_title, col_title="unit", value_name="weight"), key=key)
    widgets.plot(figures.bar_chart(attention.V.kernel[:, 0], unit_labels,
                                   title=f"V kernel: {context.units} × 1 (bias {attention.V.bias[0]:.4g})",
                                   value_name="weight"), key="rnn_V_kernel")
    st.dataframe({"unit": unit_labels, "SimpleRNN bias b": trace.rnn.bias, "W1 bias": attention.W1.bias,
                  "W2 bias": attention.W2.bias}, hide_index=True, key="rnn_biases")


# The page's steps, each a view: a press computes and sends only the open one's charts and hover texts.
VIEWS = {
    "1 · Hidden states": hidden_states,
    "2 · W1 and W2": projections,
    "3 · V and softmax": v_and_softmax,
    "4 · Context vector": context_vector,
    "Every shape": every_shape,
    "The weights": the_weights,
}


# A fragment: a widget change reruns only this function, not the navigation and introduction.
@st.fragment
@url_notes.notes_link_changes
def explorer():
    """The sequence and model settings, the open step and the downloads."""
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
            DEFAULTS["rnn_matrix"], key="rnn_matrix", bind="query-params", help=NUMBER_RULE,
        )
        try:
            inputs = parse_matrix(matrix_text, name="inputs", max_rows=MAX_STEPS, max_cols=MAX_FEATURES)
        except InputError as error:
            widgets.show_input_error(error)
            return
    else:
        inputs = random_sequence(steps, num_features, seed)

    trace = cached_traces.rnn_attention_trace(inputs.astype("float32"), units, seed)
    view = widgets.view_picker(list(VIEWS), "rnn_view")
    VIEWS[view](Context(trace, units))
    widgets.download_trace(trace, "rnn_with_attention", {"units": units, "seed": seed, "source": source})


explorer()
