"""Dense layers: y = f(Wx + b), the building block of W1, W2, V and the Q/K/V projections."""

import streamlit as st

from attention_core import InputError, figures, parse_vector
from attention_core.mechanisms.checks import check_float32_range
from attention_core.text import explain
from attention_core.text.numbers import NUMBER_RULE
from webapp import cached_traces, url_notes, widgets

ACTIVATIONS = ["relu", "sigmoid", "tanh", "linear"]
# How the weight matrix is laid out: as Keras stores it, or as the starter code's formula writes it.
LAYOUTS = {
    "keras": "Keras: y = f(x·W + b), W is inputs × units",
    "seed": "The starter code: y = f(Wx + b), W is units × inputs",
}
MAX_FEATURES = 8
widgets.configure_page("Dense layers")
DEFAULTS = widgets.Defaults(
    dense_x="1, 2, 3, 4",
    dense_units_1=3,
    dense_units_2=2,
    dense_activation="relu",
    dense_seed=0,
    dense_layout="keras",
)

st.title("Dense layers")
widgets.untrained_note()
st.markdown(
    "A dense (fully connected) layer connects every input to every neuron. Each neuron takes a "
    "weighted sum of the inputs, adds its bias, and applies an activation function f. The starter "
    "code writes it with the weight matrix on the left, one **row** per neuron:"
)
st.latex(r"y = f(Wx + b), \qquad W:\ \text{units} \times \text{inputs}")
st.markdown(
    "Keras stores the same numbers the other way round: `Dense`'s `kernel` has one **column** per "
    "neuron, shape inputs × units, and a row of inputs x multiplies it from the left:"
)
st.latex(r"y = f(x\,W_{\text{Keras}} + b), \qquad W_{\text{Keras}}:\ \text{inputs} \times \text{units}, \qquad W = W_{\text{Keras}}^{\top}")
st.markdown(
    "Both give the same numbers: neuron j's sum is x₁·w₁ⱼ + x₂·w₂ⱼ + … + bⱼ either way. In the "
    "attention layers, `W1`, `W2`, `V` and the query/key/value projections are dense layers "
    "**without** an activation: only the linear part."
)

# A fragment: a widget change reruns only this function, not the navigation and introduction.
@st.fragment
@url_notes.notes_link_changes
def explorer():
    """The network's settings, its input, every layer's numbers and the downloads."""
    with st.sidebar:
        st.header("Network")
        units_1 = st.slider("Units in dense layer 1", 1, 8, DEFAULTS["dense_units_1"], key="dense_units_1", bind="query-params")
        units_2 = st.slider("Units in dense layer 2", 1, 8, DEFAULTS["dense_units_2"], key="dense_units_2", bind="query-params")
        activation = st.selectbox("Activation f", ACTIVATIONS, ACTIVATIONS.index(DEFAULTS["dense_activation"]), key="dense_activation", bind="query-params")
        seed = st.slider("Seed (initial weights)", 0, 99, DEFAULTS["dense_seed"], key="dense_seed", bind="query-params")
        layout = st.radio("Show W as", list(LAYOUTS), key="dense_layout", bind="query-params", format_func=LAYOUTS.get,
                          help="The same weights either way: the starter code's W is Keras's kernel transposed.")
        DEFAULTS.reset_button()

    x_text = st.text_input(
        f"Input x (its length is the number of input features, 1 to {MAX_FEATURES})",
        DEFAULTS["dense_x"],
        key="dense_x",
        bind="query-params",
        help=NUMBER_RULE,
    )
    st.caption("Two classic shapes: x of 4 numbers with 3 and 2 units (4 → 3 → 2), or x of 3 numbers with 4 and 2 units (3 → 4 → 2).")
    try:
        x = parse_vector(x_text, name="x", max_length=MAX_FEATURES)
        trace, summary = cached_traces.dense_trace(tuple(x), (units_1, units_2), activation, seed)
        check_float32_range(trace, "Type smaller numbers in x: each weighted sum multiplies them by the weights and adds them up.")
    except InputError as error:
        widgets.show_input_error(error)
        return

    st.subheader(f"{len(x)} → {units_1} → {units_2}: {trace.param_count} parameters")
    widgets.plot(figures.dense_network_figure([layer.kernel for layer in trace.layers]), key="dense_network")

    input_names = [f"x{i + 1}" for i in range(len(x))]
    for number, layer in enumerate(trace.layers, start=1):
        inputs = trace.inputs if number == 1 else trace.layers[number - 2].output
        neuron_names = [f"N{number}_{j + 1}" for j in range(layer.kernel.shape[1])]
        n_in, n_out = layer.kernel.shape
        st.header(f"Dense layer {number}: {explain.plural(n_in, 'input')} → {explain.plural(n_out, 'unit')}")
        if layout == "keras":
            matrix, rows, columns = layer.kernel, (input_names, "input"), (neuron_names, "neuron")
            title = f"W{number} = Keras's kernel: {n_in} × {n_out} (inputs × units)"
            formula = rf"y_{number} = \mathrm{{{layer.activation}}}(x\,W_{number} + b_{number}):\quad (1 \times {n_in})\,({n_in} \times {n_out}) + ({n_out}) \to ({n_out})"
        else:
            matrix, rows, columns = layer.kernel.T, (neuron_names, "neuron"), (input_names, "input")
            title = f"W{number} = kernelᵀ, the starter code's W: {n_out} × {n_in} (units × inputs)"
            formula = rf"y_{number} = \mathrm{{{layer.activation}}}(W_{number}\,x + b_{number}):\quad ({n_out} \times {n_in})\,({n_in} \times 1) + ({n_out} \times 1) \to ({n_out} \times 1)"
        left, right = st.columns(2)
        with left:
            widgets.plot(
                figures.heatmap(matrix, rows[0], columns[0], title=title, row_title=rows[1], col_title=columns[1],
                                value_name="weight"),
                key=f"dense_kernel_{number}",
            )
        with right:
            st.latex(formula)
            st.caption(f"Input to this layer: {', '.join(f'{name} = {v:.4g}' for name, v in zip(input_names, inputs))}")
        linear = "x·W + b" if layout == "keras" else "Wx + b"
        widgets.table({
            "neuron": neuron_names,
            "b": layer.bias,
            "weighted sum, written out": explain.weighted_sums_text(inputs, layer.kernel, layer.bias),
            linear: layer.pre_activation,
            f"{layer.activation}({linear})": layer.output,
        })
        st.caption(
            f"{explain.plural(layer.kernel.size, 'weight')} + {explain.plural(layer.bias.size, 'bias', 'biases')} "
            f"= {explain.plural(layer.param_count, 'parameter')}."
        )
        input_names = neuron_names

    st.header("Keras's summary")
    st.markdown("`model.summary()`, as the starter code prints it: each layer's output shape and its weights + biases.")
    widgets.show_model_summary(summary)
    widgets.download_trace(trace, "dense_network", {"x": x_text, "units": [units_1, units_2], "activation": activation, "seed": seed})


explorer()
