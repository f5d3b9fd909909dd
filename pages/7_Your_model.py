"""Your model: upload a Keras model (or take the example), see its attention layers and every
layer's maps per head, read from the layers themselves."""

import hashlib
from pathlib import Path

import streamlit as st

from attention_core import (
    ATTENTION_KINDS,
    MAX_TEXT_CHARS,
    MAX_TOKENS,
    InputError,
    attention_calls,
    attention_labels,
    figures,
    model_attention,
    model_inputs_from_text,
)
from attention_core.your_model.gate import MAX_MODEL_MB
from webapp import costs, shared_results, url_notes, weight_sources, widgets

widgets.configure_page("Your model")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sentiment.keras"
DEFAULTS = widgets.Defaults(
    ym_text="the film was not good",
    ym_open=0,
)
HEADS_PER_ROW = 4  # small maps side by side; a layer with more heads takes more rows


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
    with st.sidebar:
        DEFAULTS.reset_button()


explorer()
