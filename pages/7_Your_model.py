"""Your model: upload a Keras model (or take the example), see its attention layers and every
layer's maps per head, read from the layers themselves."""

import hashlib
from pathlib import Path

import streamlit as st

from attention_core import (
    ATTENTION_KINDS,
    head_scores,
    self_attention_stack,
    MAX_TEXT_CHARS,
    MAX_TOKENS,
    InputError,
    attention_calls,
    attention_labels,
    figures,
    model_attention,
    model_inputs_from_text,
)
from attention_core.heads import knock_out as head_masks
from attention_core.heads.output_change import output_change
from attention_core.text import explain
from attention_core.your_model.gate import MAX_MODEL_MB
from webapp import costs, heads_lab, shared_results, turns, url_notes, weight_sources, widgets

widgets.configure_page("Your model")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sentiment.keras"
DEFAULTS = widgets.Defaults(
    ym_text="the film was not good",
    ym_open=0,
    ym_scatter_x="entropy",
    ym_scatter_y="mean_distance",
)
HEADS_PER_ROW = 4  # small maps side by side; a layer with more heads takes more rows
MAX_OUTPUT_ROWS = 64  # an output of at most this many numbers is listed in full, before and after


def choose(name, data):
    """Keep a model file for this page and the others (`ym_model`) when the gate takes it;
    otherwise keep why it was refused, and the model shown before stays."""
    try:
        weight_sources.uploaded_keras_model(name, data)
    except InputError as error:
        st.session_state["ym_refused"] = (name, str(error))
        return
    st.session_state["ym_model"] = (name, data)
    st.session_state.pop("ym_refused", None)


def take_upload():
    upload = st.session_state.get("ym_upload")
    if upload is not None:
        choose(upload.name, upload.getvalue())


def take_example():
    choose(EXAMPLE.name, EXAMPLE.read_bytes())


st.title("Your model")
st.markdown(
    "Bring a Keras model of your own and see what its attention layers do with your input. Every map is "
    "the layer's own `return_attention_scores`, called again on the tensors that reached it in the model, "
    "with the model's masks (causal, padding): nothing is re-implemented."
)
upload_column, example_column = st.columns([3, 1], vertical_alignment="bottom")
upload_column.file_uploader(
    f"A .keras file (Keras 3's model.save), at most {MAX_MODEL_MB} MB", key="ym_upload", on_change=take_upload,
    max_upload_size=MAX_MODEL_MB,
    help=f"A functional or Sequential model of Keras's built-in text and sequence layers (image and audio layers "
         f"are refused) or attention_core's, with at least one "
         f"{', '.join(ATTENTION_KINDS)} layer. No Lambda layers or custom objects: the file is checked before "
         "anything in it is built, and Keras loads it in safe mode.",
)
example_column.button(
    "Use the example model", key="ym_example", on_click=take_example,
    help="A tiny Transformer that reads generated movie reviews, where 'not' flips the sentiment "
         "(scripts/make_example_model.py). Chosen, it is offered to the Self-attention and Compare pages too.",
)
if "ym_refused" in st.session_state:
    refused_name, reason = st.session_state["ym_refused"]
    widgets.show_input_error(InputError(f"{refused_name} was not opened. {reason}"))

name, data = st.session_state.get("ym_model") or (EXAMPLE.name, EXAMPLE.read_bytes())
try:
    model = weight_sources.uploaded_keras_model(name, data)
except InputError as error:
    widgets.show_input_error(error)
    st.stop()
if "ym_model" in st.session_state:
    st.caption(f"Showing **{widgets.as_text(name)}**, which the Self-attention and Compare pages offer too.")
else:
    st.caption(f"Showing the example, **{name}**, until you upload a model: it classifies reviews such as "
               "'the film was not good', reading only the first word's vector, so the attention must bring it "
               "the words that decide.")


# A fragment: a widget change reruns only this function, not the upload above.
@st.fragment
@url_notes.notes_link_changes
def explorer():
    """The model's attention calls, the input, every call's maps per head, and one head opened."""
    calls = attention_calls(model)
    st.subheader("Its attention layers")
    st.dataframe(
        [{"call": call.call_index, "layer": call.layer, "kind": call.kind, "heads": call.num_heads,
          "reads": "its own sequence (self-attention)" if call.is_self_attention else "another sequence (cross-attention)"}
         for call in calls],
        hide_index=True,
    )
    st.caption(":material/school: The [Self-attention](self-attention) page shows any multi-head layer's whole "
               "Q/K/V pipeline (x·W + b, the scores, the softmax, the output projection): choose **Weights from: "
               "Your model** there.")

    text = st.text_input(
        f"Input: text, or token ids such as 3 14 15 (at most {MAX_TOKENS:,} tokens, {MAX_TEXT_CHARS:,} characters)",
        DEFAULTS["ym_text"], key="ym_text", bind="query-params",
        help="Text when the model reads text (a TextVectorization or StringLookup layer); otherwise its token ids, "
             "separated by spaces or commas, and for a model of several inputs one group per input, separated by |.",
    )
    try:
        inputs = model_inputs_from_text(model, text)
        def compute():
            found = model_attention(model, inputs)
            return found, attention_labels(model, inputs, found)

        key = ("model_attention", hashlib.sha256(data).hexdigest(), text)
        attention, labels = shared_results.within_budget(key, costs.attention_cost(model, inputs), compute)
    except InputError as error:
        widgets.show_input_error(error)
        return

    st.subheader("Every layer and head")
    st.caption("A row of maps per attention call, in the order the model makes them; rows are queries (attending), "
               "columns keys (attended to). Hover for the exact weight.")
    for item, (query_labels, key_labels) in zip(attention, labels):
        heads = len(item.weights)
        st.markdown(f"**#{item.call_index} {widgets.as_text(item.layer)}** · {item.kind} · "
                    f"{heads} {'head' if heads == 1 else 'heads'}")
        for first in range(0, heads, HEADS_PER_ROW):
            for column, head in zip(st.columns(min(heads, HEADS_PER_ROW)), range(first, min(first + HEADS_PER_ROW, heads))):
                with column:
                    widgets.plot(figures.attention_heatmap(item.weights[head], query_labels, key_labels,
                                                      title=f"#{item.call_index} {item.layer}, head {head + 1}"),
                            key=f"ym_map_{item.call_index}_{head}")

    st.subheader("One head, large")
    heads = [(index, head) for index, item in enumerate(attention) for head in range(len(item.weights))]
    widgets.keep_valid("ym_open", range(len(heads)))
    opened = st.selectbox(
        "Open a head", range(len(heads)), index=DEFAULTS["ym_open"], key="ym_open", bind="query-params",
        format_func=lambda k: f"#{attention[heads[k][0]].call_index} {attention[heads[k][0]].layer}, head {heads[k][1] + 1}",
    )
    index, head = heads[opened]
    query_labels, key_labels = labels[index]
    widgets.plot(figures.attention_heatmap(attention[index].weights[head], query_labels, key_labels,
                                      title=f"Opened: #{attention[index].call_index} {attention[index].layer}, head {head + 1}"),
            key="ym_open_map")
    which_heads_matter(calls, attention, labels, inputs, text)
    with st.sidebar:
        DEFAULTS.reset_button()


def call_label(item):
    """'#call layer': an attention call's name on this page."""
    return f"#{item.call_index} {item.layer}"


def which_heads_matter(calls, attention, labels, inputs, text):
    """Every head's scores on this input, rollout across the self-attention layers, and heads knocked out."""
    st.header("Which heads matter")
    st.subheader("Every head's scores")
    by_label = {call_label(item): (item, item_labels) for item, item_labels in zip(attention, labels)}

    def open_head(label, head):
        item, (query_labels, key_labels) = by_label[label]
        return figures.attention_heatmap(item.weights[head], query_labels, key_labels, title=f"{label}, head {head + 1}")

    try:
        scores = head_scores({label: item.weights for label, (item, _) in by_label.items()})
    except InputError as error:  # e.g. a layer whose maps hold NaN
        widgets.show_input_error(error)
    else:
        heads_lab.scores_view(figures.head_records(scores), open_head, DEFAULTS, "ym",
                              note="Scores of the maps above, on your input: a layer is named by its call.")
    st.subheader("Across the self-attention layers")
    stack = self_attention_stack(attention, calls)
    if stack:
        query_labels, key_labels = by_label[call_label(stack[0])][1]
        heads_lab.rollout_pair({call_label(item): item.weights for item in stack}, query_labels, key_labels, "ym")
    else:
        st.caption("Rollout multiplies self-attention layers' maps; this model has no self-attention call.")
    knock_out_lab(inputs, text)


@st.cache_resource(max_entries=2, show_spinner=False)
def gated_model(name, data):
    """A copy of the uploaded model whose heads can be knocked out (one per model file; its gates
    are set under the Keras turn, so sessions sharing it never interleave)."""
    return head_masks.gated_copy(weight_sources.uploaded_keras_model(name, data))


def knock_out_lab(inputs, text):
    st.subheader("Knock heads out")
    try:
        gated = gated_model(name, data)
    except InputError as error:
        widgets.show_input_error(error)
        return
    layers = {layer_name: layer.num_heads for layer_name, layer in head_masks.gated_layers(gated).items()}
    heads = heads_lab.knock_out_grid(layers, "ym")

    def compute():
        head_masks.set_knocked_out(gated, heads)
        return output_change(model, gated, inputs)

    key = ("knock_out", hashlib.sha256(data).hexdigest(), text, heads)
    try:
        change = shared_results.within_budget(key, costs.knock_out_cost(model, inputs), lambda: turns.in_turn(compute))
    except InputError as error:
        widgets.show_input_error(error)
        return
    knocked = f"with {explain.plural(len(heads), 'head')} knocked out" if heads else "with every head"
    left, middle, right = st.columns(3)
    left.metric("The model's prediction", change.prediction_before, help="Its first output, for your input.")
    middle.metric(f"Its prediction {knocked}", change.prediction_after)
    right.metric("Largest change in an output", f"{change.largest_change:.4g}",
                 help="The largest absolute difference between any number of the two outputs.")
    if change.before.size <= MAX_OUTPUT_ROWS:
        st.dataframe({"output": [f"#{index}" for index in range(change.before.size)],
                      "the model": change.before.ravel(), "heads knocked out": change.after.ravel()},
                     hide_index=True, key="ym_output_change")


explorer()
