"""Dense layers: y = f(Wx + b), the building block of W1, W2, V and the Q/K/V projections."""

import streamlit as st

import page_support as ps
from attention_core import InputError, figures, parse_vector

ACTIVATIONS = ["relu", "sigmoid", "tanh", "linear"]
MAX_FEATURES = 8
ps.configure_page("Dense layers")
DEFAULTS = ps.Defaults(
    dense_x="1, 2, 3, 4",
    dense_units_1=3,
    dense_units_2=2,
    dense_activation="relu",
    dense_seed=0,
)

st.title("Dense layers")
st.markdown(
    "A dense (fully connected) layer connects every input to every neuron. It computes a "
    "weighted sum of its inputs plus a bias, then an activation function:"
)
st.latex(r"y = f(Wx + b)")
st.markdown(
    "In Keras, `tf.keras.layers.Dense(units=3, activation='relu')`. In the attention layers, "
    "`W1`, `W2`, `V` and the query/key/value projections are dense layers **without** an "
    "activation: only the linear part Wx + b."
)

# A fragment: a widget change reruns only this function, not the navigation and introduction.
@st.fragment
def explorer():
    """The network's settings, its input, every layer's numbers and the downloads."""
    with st.sidebar:
        st.header("Network")
        units_1 = st.slider("Units in dense layer 1", 1, 8, DEFAULTS["dense_units_1"], key="dense_units_1", bind="query-params")
        units_2 = st.slider("Units in dense layer 2", 1, 8, DEFAULTS["dense_units_2"], key="dense_units_2", bind="query-params")
        activation = st.selectbox("Activation f", ACTIVATIONS, ACTIVATIONS.index(DEFAULTS["dense_activation"]), key="dense_activation", bind="query-params")
        seed = st.slider("Seed (initial weights)", 0, 99, DEFAULTS["dense_seed"], key="dense_seed", bind="query-params")
        DEFAULTS.reset_button()

    x_text = st.text_input(
        f"Input x (its length is the number of input features, 1 to {MAX_FEATURES})",
        DEFAULTS["dense_x"],
        key="dense_x",
        bind="query-params",
    )
    st.caption("Two classic shapes: x of 4 numbers with 3 and 2 units (4 → 3 → 2), or x of 3 numbers with 4 and 2 units (3 → 4 → 2).")
    try:
        x = parse_vector(x_text, name="x", max_length=MAX_FEATURES)
    except InputError as error:
        ps.show_input_error(error)
        return

    trace, summary = ps.dense_trace(tuple(x), (units_1, units_2), activation, seed)
    st.subheader(f"{len(x)} → {units_1} → {units_2}: {trace.param_count} parameters")
    ps.plot(figures.dense_network_figure([layer.kernel for layer in trace.layers]), key="dense_network")

    for number, layer in enumerate(trace.layers, start=1):
        inputs = trace.inputs if number == 1 else trace.layers[number - 2].output
        st.header(f"Dense layer {number}: {layer.kernel.shape[0]} inputs → {layer.kernel.shape[1]} units")
        left, right = st.columns([3, 2])
        with left:
            ps.plot(
                figures.heatmap(layer.kernel, [f"in {i + 1}" for i in range(layer.kernel.shape[0])],
                                [f"N{number}_{j + 1}" for j in range(layer.kernel.shape[1])],
                                title=f"W{number}: {layer.kernel.shape[0]} × {layer.kernel.shape[1]}",
                                row_title="input", col_title="neuron", value_name="weight"),
                key=f"dense_kernel_{number}",
            )
        with right:
            st.dataframe(
                {
                    "neuron": [f"N{number}_{j + 1}" for j in range(layer.kernel.shape[1])],
                    "b": layer.bias,
                    "Wx + b": layer.pre_activation,
                    f"{layer.activation}(Wx + b)": layer.output,
                },
                hide_index=True,
            )
            st.caption(f"Input to this layer: {', '.join(f'{v:.4g}' for v in inputs)}")
        st.caption(f"{layer.kernel.size} weights + {layer.bias.size} biases = {layer.param_count} parameters.")

    st.header("Keras's summary")
    st.code(summary, language=None)
    ps.download_trace(trace, "dense_network", {"x": x_text, "units": [units_1, units_2], "activation": activation, "seed": seed})


explorer()
