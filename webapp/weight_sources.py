"""Where a page's weights come from: the random weights, this session's trained Transformer
(Train and watch) or the model uploaded on Your model; the "Weights from" sidebar and the
chosen layer's trace on its input.
"""

import itertools
import weakref
from dataclasses import dataclass

import streamlit as st

import attention_core as ac
from attention_core.learning import transformer
from attention_core.learning.training import RunStatus
from attention_core.text import explain
from attention_core.text.tokens import TEXT_RULE
from attention_core.text.validation import quote
from webapp import costs, session_keys
from webapp.cached_traces import result_by_name
from webapp.shared_results import within_budget
from webapp.widgets import as_text, keep_valid, untrained_note

RANDOM_SOURCE, RUN_SOURCE, MODEL_SOURCE = "Random weights", "Train and watch", "Your model"


@dataclass(frozen=True)
class TrainedLayer:
    """One MultiHeadAttention call of a trained model on one input, as the pages show it."""

    trace: ac.SelfAttentionTrace  # the call's every step (ac.trace_attention_call)
    query_labels: tuple  # Tq labels: the trace's rows
    key_labels: tuple  # Tk labels: its columns (the query's own tokens unless cross-attention)
    source: str  # where the weights come from, in a sentence
    key: tuple  # names this trace in the shared caches (hover texts)
    model: object  # the keras.Model, inputs and call index it was traced from
    inputs: object
    call_index: int


@dataclass(frozen=True)
class WeightsChoice:
    """A page's "Weights from" choice, as the sidebar drew it (`weights_from`)."""

    source: str  # RANDOM_SOURCE, RUN_SOURCE or MODEL_SOURCE
    controls: object  # the sidebar container below the choice, for a trained layer's picker and input
    defaults: dict  # the page's widget defaults
    prefix: str  # the page's widget keys' prefix

    @property
    def random(self):
        return self.source == RANDOM_SOURCE


# A number per training run, never reused in this process (an id() can be, once a run is gone): it
# names a run's traces in the shared caches, with the batches it has trained.
_RUN_NUMBERS = weakref.WeakKeyDictionary()


_NEXT_RUN_NUMBER = itertools.count()


def run_number(run):
    return _RUN_NUMBERS.setdefault(run, next(_NEXT_RUN_NUMBER))


# A run's layers are read only while its weights stand still: a run that trains (or waits to) has no
# lock around its model, so its inputs, labels and trace could come from different weights.
INSPECTABLE_STATUSES = (RunStatus.FINISHED, RunStatus.PAUSED)


def _session_transformer():
    """This session's Train and watch run when it is a Transformer, whatever its status, else None."""
    run = st.session_state.get(session_keys.TRAIN_RUN)
    return run if getattr(run, "is_transformer", False) else None


def session_transformer_run():
    """This session's Train and watch Transformer when its weights stand still (finished or
    paused, INSPECTABLE_STATUSES), else None."""
    run = _session_transformer()
    return run if run is not None and run.status in INSPECTABLE_STATUSES else None


@st.cache_resource(max_entries=4, show_spinner=False)
def uploaded_keras_model(name, data):
    """The model file uploaded on the Your model page, loaded through the one safe gate; raises
    ac.InputError for a file it refuses. Shared, never mutated."""
    return ac.load_keras_model(data)


def session_uploaded_model():
    """(file name, bytes) of the model uploaded on the Your model page in this session, else None."""
    return st.session_state.get(session_keys.UPLOADED_MODEL)


def _source_radio(defaults, prefix):
    """The sidebar's "Weights from" control (key `{prefix}_source`): random weights, this session's
    trained Transformer, or the uploaded model, each offered only when it exists, with a line
    saying how to get those that do not. Returns the chosen source."""
    run, upload, any_run = session_transformer_run(), session_uploaded_model(), _session_transformer()
    options = [RANDOM_SOURCE] + [RUN_SOURCE] * (run is not None) + [MODEL_SOURCE] * (upload is not None)
    source = st.radio("Weights from", options, index=options.index(defaults[f"{prefix}_source"]),
                      key=f"{prefix}_source", bind="query-params",
                      help="Random weights drawn with the seed below, or a MultiHeadAttention layer of a trained model.")
    if run is None and any_run is not None and any_run.status in (RunStatus.WAITING, RunStatus.TRAINING):
        st.caption(f"A trained layer: this session's Transformer is {any_run.status} on "
                   "[Train and watch](train-and-watch); pause it there (or let it finish) to inspect its layers "
                   "here, as its weights change while it trains.")
    elif run is None:
        st.caption("A trained layer: train a Transformer on [Train and watch](train-and-watch) "
                   "(Mechanism: transformer) and it is offered here.")
    if upload is None:
        st.caption("Your own model: upload a .keras file on [Your model](your-model) (or take its example) and "
                   "its layers are offered here.")
    return source


def _model_input_box(defaults, prefix):
    """The uploaded model's input box (key `{prefix}_input`); its default is the example model's
    sentence, as on the Your model page."""
    return st.text_area("Your model's input: text when the model holds a TextVectorization or StringLookup, else "
                        "token ids such as 3 14 15 (one group per model input, split by |)",
                        defaults[f"{prefix}_input"], key=f"{prefix}_input", bind="query-params")


def _multi_head_calls(model, self_attention_only):
    calls = [call for call in ac.attention_calls(model) if call.kind == "MultiHeadAttention"
             and (call.is_self_attention or not self_attention_only)]
    if not calls:
        raise ac.InputError("This model has no MultiHeadAttention layer" + (" that attends over one sequence"
                            if self_attention_only else "") + ": the pipeline is shown for those. "
                            "Its other attention maps are on the Your model page.")
    return calls


def _pick_layer(prefix, calls):
    """The layer picker (key `{prefix}_layer`, a call index): the model's multi-head calls."""
    by_index = {call.call_index: call for call in calls}
    keep_valid(f"{prefix}_layer", list(by_index))
    index = st.selectbox("Layer", list(by_index), key=f"{prefix}_layer", bind="query-params",
                         format_func=lambda i: f"{by_index[i].layer} ({by_index[i].num_heads} heads)",
                         help="The model's MultiHeadAttention calls, in model order.")
    return by_index[index]


def _run_input(defaults, prefix, run):
    """(source ids, how they were chosen): a held-out example of the run's task, or typed symbols."""
    task = run.task
    count = min(len(task.heldout_sources), 100)
    example = st.slider("Held-out example", 1, count, min(defaults[f"{prefix}_example"], count),
                        key=f"{prefix}_example", bind="query-params",
                        help="An input the model never trained on, from the task's held-out set.")
    typed = st.text_input(f"Or type an input ({task.length} symbols of {task.symbols[0]}…{task.symbols[-1]})"
                          if task.name != "dates" else "Or type a date", defaults[f"{prefix}_symbols"],
                          key=f"{prefix}_symbols", bind="query-params")
    if typed.strip():
        return task.encode(typed), f"the typed input {quote(typed)}"
    return task.unpadded(task.heldout_sources[example - 1]), f"held-out example {example}"


def _model_labels(model, model_inputs, call):
    """(query labels, key labels) of an uploaded model's call: the tokens of the input each axis
    is computed from (ac.attention_labels), else positions."""
    attention = ac.model_attention(model, model_inputs)
    return ac.attention_labels(model, model_inputs, attention)[call.call_index]


def _trained_layer(defaults, prefix, source, text, controls, self_attention_only=False):
    """The chosen source's layer on its input, drawing the layer picker and (for a run) the input
    controls in `controls` (a sidebar container); `text` is what the page's sequence box holds
    (an uploaded model's input). Raises ac.InputError for a model or input that cannot be shown."""
    if source == RUN_SOURCE:
        run = session_transformer_run()
        if run is None:  # it was played again since the sidebar offered it
            raise ac.InputError("This session's Transformer is training again on Train and watch: pause it there "
                                "(or let it finish) to inspect its layers, as its weights change while it trains.")
        model = run.model
        with controls:
            call = _pick_layer(prefix, _multi_head_calls(model, self_attention_only))
            source_ids, chosen = _run_input(defaults, prefix, run)
        # One greedy decoding gives both the inputs and their labels.
        model_inputs, labels = run.inputs_and_labels(source_ids)
        query_labels, key_labels = transformer.query_and_key_labels(call.layer, *(tuple(l) for l in labels))
        settings = run.settings
        described = (f"layer {call.layer} of this session's Transformer from Train and watch ({settings['name']}, "
                     f"length {settings['length']}, after {explain.plural(run.epochs_done, 'epoch')} and "
                     f"{explain.plural(run.steps_done, 'batch', 'batches')}), on {chosen}")
        key = ("run", run_number(run), run.steps_done, tuple(source_ids), call.call_index)
    else:
        name, data = session_uploaded_model()
        model = uploaded_keras_model(name, data)
        with controls:
            call = _pick_layer(prefix, _multi_head_calls(model, self_attention_only))
        model_inputs = ac.model_inputs_from_text(model, text)
        described = f"layer {call.layer} of your model {quote(name)}, on the input typed above"
        key = ("model", name, hash(data), text, call.call_index)
    # Within the memory budget, as the random weights' traces: an uploaded model may read up to MAX_TOKENS.
    cost = costs.attention_cost(model, model_inputs)
    trace = within_budget(("trained trace", *key), cost,
                          lambda: ac.trace_attention_call(model, model_inputs, call.call_index))
    if source == MODEL_SOURCE:
        query_labels, key_labels = within_budget(("trained labels", *key), cost,
                                                 lambda: _model_labels(model, model_inputs, call))
    return TrainedLayer(trace, query_labels, key_labels, described, key, model, model_inputs, call.call_index)


def _trained_note(trained):
    """The line a page with trained weights starts with, where the untrained note stands: exactly
    where its weights come from."""
    st.caption(f":material/school: **Trained weights:** {as_text(trained.source)}.")


def weights_from(defaults, prefix):
    """The sidebar's "Weights from" control (key `{prefix}_source`) and, below it, a place for the
    trained layer's controls; draw it in the sidebar, before the page's own settings. Returns the
    WeightsChoice that `sequence_and_layer` reads."""
    source = _source_radio(defaults, prefix)
    return WeightsChoice(source, st.container(), defaults, prefix)


def sequence_and_layer(choice, text_label, self_attention_only=False):
    """The page's top: the note saying where the weights come from, the sequence's box (labelled
    `text_label`, key `{prefix}_text`, for random weights; an uploaded model's input box), and the
    trained layer on that input, its picker and a run's input drawn in `choice.controls`. Returns
    (text, TrainedLayer), the layer None for random weights. Raises ac.InputError for a model or
    input that cannot be shown."""
    defaults, prefix = choice.defaults, choice.prefix
    note = st.container()  # where the weights come from, first, once it is known
    text = defaults[f"{prefix}_text"]
    if choice.random:
        text = st.text_area(text_label, text, key=f"{prefix}_text", bind="query-params", help=TEXT_RULE)
        with note:
            untrained_note()
        return text, None
    if choice.source == MODEL_SOURCE:  # a run's input is its task's symbols, picked in the sidebar
        text = _model_input_box(defaults, prefix)
    trained = _trained_layer(defaults, prefix, choice.source, text, choice.controls, self_attention_only)
    with note:
        _trained_note(trained)
    return text, trained


def trained_comparison(trained, units, seed):
    """The four mechanisms beside a trained layer (ac.compare_with_trained), shared, as a function
    of a mechanism's name, as `mechanism_comparison` gives them; the layer's own call, read again
    by ac.model_attention, is what its map is checked against."""
    def compute():
        called = ac.model_attention(trained.model, trained.inputs)[trained.call_index].weights
        return ac.compare_with_trained(trained.trace, called, units, seed)

    tokens = len(trained.query_labels)
    results = within_budget(("trained comparison", *trained.key, units, seed),
                            costs.comparison_cost(tokens, units, trained.trace.num_heads), compute)
    return result_by_name(results)
