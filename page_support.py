"""Streamlit glue shared by the pages: defaults and reset, cached layers and traces, downloads.

The only module besides the pages that imports Streamlit. Every widget is bound to the URL
(`bind="query-params"`), so a copied address reproduces the view; `Defaults` knows each
page's default values so one button can restore them.
"""

import functools
import gc
import html
import itertools
import numbers
import re
import threading
import weakref
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.state.query_params import _coerce_value_for_query_url

import attention_core as ac
from attention_core.learning import transformer
from attention_core.mechanisms import export, starter_code
from attention_core.text import explain
from attention_core.text.validation import quote
from webapp import budget, costs

# A full garbage collection walks the few hundred thousand objects TensorFlow and Keras create at
# import: Streamlit's own after every rerun did (it is off in .streamlit/config.toml), and
# Python's still do. Freezing them once, right after the heavy imports, moves them out of the
# collector's sight. Module code runs once per process, so this does too.
gc.freeze()

# Token vectors have this many features on the text pages: fixed, so moving the units slider
# changes only the projections, never the tokens' own vectors.
EMBEDDING_DIM = 16

# Above this many numbers a trace's JSON/CSV would run to hundreds of megabytes: offer .npz.
TEXT_EXPORT_LIMIT = 2_000_000

# Every session's computed arrays, cached and in progress, counted in bytes against one limit
# (ATTENTION_MEMORY_BUDGET_MB): see webapp/budget.py. Module code runs once per process,
# so every session shares this one. Built layers stay in st.cache_resource, bounded by count:
# their weights are a few kilobytes (at most 64 units over 16 features).
MEMORY = budget.MemoryBudget.from_environment()


def configure_page(title):
    """Every page's first Streamlit call: a wide layout suits side-by-side heatmaps."""
    st.set_page_config(page_title=f"{title} · Attention, computed", page_icon=":material/search:", layout="wide")


class Defaults(dict):
    """A page's widget keys and default values, with a button that restores them all."""

    def reset_button(self):
        st.button(
            "Reset to defaults",
            key=f"{next(iter(self))}_reset",
            on_click=self._restore,
            help="Put every control on this page back to its default value.",
        )

    def _restore(self):
        for key, value in self.items():
            st.session_state[key] = value


def heads_for(units):
    """The head counts that split `units` evenly: every divisor, smallest first."""
    return [n for n in range(1, units + 1) if units % n == 0]


def nearest_option(value, options):
    """The largest of the sorted `options` at or below `value`, else the smallest."""
    return max((option for option in options if option <= value), default=options[0])


def keep_valid(key, options):
    """Move a widget's value to the nearest allowed option when another control took it away.

    E.g. 3 heads stop dividing the units when units go from 6 to 8. Must run before the widget
    is drawn; a value that arrives from the URL is checked by Streamlit itself.
    """
    if key in st.session_state and st.session_state[key] not in options:
        st.session_state[key] = nearest_option(st.session_state[key], options)


def units_and_heads(defaults, prefix, units_label, heads_label):
    """A units slider and a heads slider offering only the divisors of the units.

    Keys `{prefix}_units` and `{prefix}_heads`, defaults from `defaults`. Returns (units, heads).
    """
    units = st.slider(units_label, 1, 64, defaults[f"{prefix}_units"], key=f"{prefix}_units", bind="query-params")
    head_options = heads_for(units)
    keep_valid(f"{prefix}_heads", head_options)
    num_heads = st.select_slider(
        heads_label,
        options=head_options,
        value=nearest_option(defaults[f"{prefix}_heads"], head_options),
        key=f"{prefix}_heads",
        bind="query-params",
        help="Heads split the units evenly, so only divisors of the units are offered. A view's memory grows "
             f"with heads × tokens²: one view may use at most {MEMORY.view_limit_bytes / budget.MB:,.0f} MB of "
             f"the server's ({budget.BUDGET_ENV}), and a larger one says what fits instead.",
    )
    return units, num_heads


def caption_if_image(token_count, exact_values=""):
    """Say so when maps of `token_count`² cells are drawn as images; returns whether they are.

    `exact_values` says where the page shows the exact numbers instead, e.g. "the downloads".
    """
    as_image = token_count**2 > ac.figures.EXACT_CELL_LIMIT
    if as_image:
        st.caption(
            f"{token_count} tokens: to stay fast, each map is drawn as an image, one pixel per cell "
            "(zoom in to see single cells), and hover gives the query and key numbers"
            + (f"; {exact_values} hold the exact values." if exact_values else ".")
        )
    return as_image


def untrained_note():
    """The line every page with random weights starts with: what its weights are, and where
    attention that learned is shown. A Markdown link, not st.page_link, which needs the
    navigation that a page run on its own (AppTest.from_file) does not have."""
    st.caption(
        ":material/casino: **Untrained: random weights from the seed**, so the patterns here show how "
        "attention computes, not what it learns. For learned attention, see "
        "[Train and watch](train-and-watch)."
    )


# Keras's summary draws its table with box characters, which join only when the lines are as tall
# as the font's own line box: st.code's taller lines left gaps between them.
_SUMMARY_STYLE = (
    "font-family: 'Source Code Pro', 'DejaVu Sans Mono', monospace; font-size: 13px; line-height: normal; "
    "background: #f8f9fb; padding: 12px 16px; border-radius: 8px; overflow-x: auto; white-space: pre; margin: 0"
)


def show_model_summary(summary):
    """Keras's `model.summary()` text in a monospace block whose box characters join up."""
    st.html(f'<pre class="keras-summary" style="{_SUMMARY_STYLE}">{html.escape(summary)}</pre>')


# Every ASCII punctuation character: a backslash before one makes Markdown show it as typed.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def as_text(message):
    """`message` escaped for Streamlit's Markdown, so what a user typed in it (`**1**`, `$x$`,
    `<b>`) shows as typed."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", message)


def table(columns):
    """`columns` ({header: cells}, equal lengths) as a Markdown table, every header and cell
    shown as typed on one line; numbers (NumPy's too) as `explain.number` writes them (4
    significant digits), anything else as `str` gives it.

    For a few rows a press redraws: Chromium redraws it in ~2 ms of its main thread, st.dataframe
    in ~10 ms (measured on a bare page, each press)."""
    def cell(value):
        is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        text = explain.number(value) if is_number else str(value)
        return as_text(" ".join(text.splitlines()))

    headers = list(columns)
    lines = ["| " + " | ".join(map(cell, headers)) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in zip(*columns.values(), strict=True)]
    st.markdown("\n".join(lines))


def show_input_error(error):
    """Show bad input as an error box, as text: st.error renders Markdown, and the message
    quotes what the user typed."""
    st.error(as_text(str(error)), icon=":material/error:")


def _url_form(key):
    """The value of the URL-bound widget `key` as Streamlit writes it in the URL ("8", "true",
    "Typed matrix"), or None when no such widget was drawn.

    Streamlit keeps no public record of it: this asks the widget's own serializer, as its URL
    binding does (tests/test_url_fuzzing.py fails if these internals move).
    """
    state = get_script_run_ctx().session_state._state
    widget_id = state.get_widget_id_from_key(key)
    metadata = state.get_widget_metadata(widget_id) if widget_id is not None else None
    if metadata is None or metadata.bind != "query-params" or key not in st.session_state:
        return None
    form = _coerce_value_for_query_url(metadata.serializer(st.session_state[key]), metadata.value_type)
    return form if isinstance(form, str) else ", ".join(form)  # a slider's value is a list of one


def notes_link_changes(function):
    """Decorate the function that draws a page's controls: on the page's first run in a session,
    a note above them says which of the link's values were not allowed and what is used instead.

    Streamlit drops a URL value its widget cannot take (units=999, an unknown option) or clamps it
    (units=12.7 becomes 12), silently. The note compares the link's values before the controls
    are drawn with the URL after. Only the first run: later, the URL changes because the user
    moves controls. A value that is only dropped because it equals the default is no change.
    """
    checked = f"{function.__code__.co_filename}:{function.__qualname__}"

    @functools.wraps(function)
    def draw(*args, **kwargs):
        first_run = checked not in st.session_state.setdefault("_link_checked", set())
        asked = {key: st.query_params.get_all(key) for key in st.query_params} if first_run else {}
        notes = st.container()
        result = function(*args, **kwargs)
        st.session_state["_link_checked"].add(checked)
        for key, values in asked.items():
            if key in st.query_params and st.query_params.get_all(key) == values:
                continue  # kept as the link had it
            asked_value = values[-1] if values else ""  # `?units=` holds no value: an empty one
            used = _url_form(key)
            if used is not None and asked_value.lower() != used.lower():
                notes.warning(as_text(f"The link's value {quote(asked_value)} for {key} was not allowed here; "
                                      f"using {quote(used)}."), icon=":material/link:")
        return result

    return draw


@MEMORY.cached
def text_trace(text, seed, add_positions):
    """TextTrace of a text (tokens, token vectors and positional encoding, each (T, EMBEDDING_DIM),
    read-only and shared); raises ac.InputError."""
    return ac.trace_text(text, EMBEDDING_DIM, seed=seed, add_positions=add_positions)


# Layers are built once per structure and run under `ac.seeded(layer, seed)`, which gives them the
# weights a layer made with that seed starts from: a seed slider move builds nothing.
@st.cache_resource(max_entries=32, show_spinner=False)
def self_attention_layer(units, num_heads, use_scale):
    """A built SelfAttention shared by every session and seed; never mutated after this."""
    layer = ac.SelfAttention(units, num_heads=num_heads, use_scale=use_scale)
    layer.build((1, None, EMBEDDING_DIM))
    return layer


# Keras computations for the pages run one at a time. Eager TensorFlow lets go of the GIL around each
# of the hundreds of small ops a trace makes and takes it back after: sessions computing at once
# queued for the GIL op by op (Compare under 20 sessions: a press's p50 0.65 s, against 0.09 s alone,
# measured), where in turn each runs at full speed. Train and watch's training thread does not take it.
_KERAS_TURN = threading.RLock()  # re-entrant: a turn may hold a nested one


def in_turn(compute):
    """`compute()` (Keras work that waits on no budget entry another session computes), run in its turn."""
    with _KERAS_TURN:
        return compute()


def within_budget(key, cost, compute):
    """`compute()`'s result for `key` from the shared memory budget, refusing a view over its limit.

    Raises budget.ViewTooLarge (an InputError, so pages show it as a message) before computing
    anything when `cost` is over one view's share; a computation that takes seconds says so.
    Under a second, `compute` runs `in_turn`, so it must not wait on the budget itself; longer ones
    run beside the turns, so a view of seconds never holds every other session's press up.
    """
    MEMORY.check(cost)
    if cost.seconds < 1 or key in MEMORY:
        return MEMORY.get_or_compute(key, lambda: in_turn(compute), cost.peak_bytes)
    with st.spinner(cost.statement, show_time=True):
        return MEMORY.get_or_compute(key, compute, cost.peak_bytes)


# Traces are shared, not copied: their arrays are read-only, so every session can use one object,
# and a 1024-token trace (tens of MB) is not pickled and copied on every rerun.
def self_attention_trace(text, units, num_heads, use_scale, seed, use_causal_mask, add_positions):
    """(tokens as a tuple, SelfAttentionTrace) for a text; raises ac.InputError for bad text or a
    view over the memory budget.

    The trace keeps the text's TextTrace, so its downloads start from the token vectors."""
    key = ("self_attention_trace", text, units, num_heads, use_scale, seed, use_causal_mask, add_positions)
    text = text_trace(text, seed, add_positions)

    def compute():
        layer = self_attention_layer(units, num_heads, use_scale)
        with ac.seeded(layer, seed):
            return text.tokens, ac.trace_self_attention(layer, text, use_causal_mask=use_causal_mask)

    return within_budget(key, costs.self_attention_cost(len(text.tokens), num_heads, units), compute)


def padded_batch_trace(texts, units, num_heads, use_scale, seed, use_causal_mask, add_positions):
    """PaddedBatchTrace of `texts` (a tuple) padded to one batch, run by the cached layer with the
    padding mask; raises ac.InputError for bad text or a view over the memory budget."""
    key = ("padded_batch_trace", texts, units, num_heads, use_scale, seed, use_causal_mask, add_positions)
    sentences = [text_trace(text, seed, add_positions) for text in texts]

    def compute():
        layer = self_attention_layer(units, num_heads, use_scale)
        with ac.seeded(layer, seed):
            return ac.trace_padded_batch(layer, sentences, use_causal_mask=use_causal_mask)

    longest = max(len(sentence.tokens) for sentence in sentences)
    return within_budget(key, costs.self_attention_cost(longest, num_heads, units, batch=len(texts)), compute)


@st.cache_resource(max_entries=32, show_spinner=False)
def rnn_with_attention_model(units, num_features):
    """A built RNNWithAttention shared by every session and seed; never mutated after this."""
    model = ac.RNNWithAttention(units)
    model.build((1, None, num_features))
    return model


@MEMORY.cached
def rnn_attention_trace(inputs, units, seed):
    """RNNAttentionTrace of inputs (T, F) through the cached model with `seed`'s weights."""
    model = rnn_with_attention_model(units, inputs.shape[1])
    with ac.seeded(model, seed):
        return in_turn(lambda: ac.trace_rnn_with_attention(model, inputs))


@MEMORY.cached
def simple_rnn_summary(num_features, units):
    """Keras's summary of the seed's stand-alone SimpleRNN model for these sizes."""
    return ac.model_summary_text(starter_code.simple_rnn_model(num_features, units))


@st.cache_resource(max_entries=32, show_spinner=False)
def dense_model(input_dim, layer_units, activation):
    """A built dense network shared by every seed (`ac.seeded`) and session, and its Keras
    summary text (the same for every seed); never mutated after this."""
    model = ac.dense_network(input_dim, list(layer_units), activation=activation)
    return model, ac.model_summary_text(model)


@MEMORY.cached
def dense_trace(x, layer_units, activation, seed):
    """DenseNetworkTrace of one input vector x (F,) through the network made with `seed`, and its
    Keras summary text."""
    model, summary = dense_model(len(x), tuple(layer_units), activation)
    with ac.seeded(model, seed):
        return in_turn(lambda: ac.trace_dense_network(model, x)), summary


# Shared read-only, like the self-attention traces: at 1024 tokens a result holds several (T, T)
# maps per mechanism and (N, T, T) per head.
def mechanism_comparison(text, units, num_heads, seed, use_causal_mask, add_positions):
    """(tokens as a tuple, `result`) for a text: `result(name)` is mechanism `name`'s
    MechanismResult, shared. Raises ac.InputError for bad text or a comparison over the memory
    budget, before computing any mechanism.

    A comparison of under a second computes each mechanism when first asked and keeps it on its
    own, so a page sends each map before the next mechanism runs, and a change of heads runs
    multi-head only. A longer one computes all four at once, saying how long it takes."""
    trace = text_trace(text, seed, add_positions)
    cost = costs.comparison_cost(len(trace.tokens), units, num_heads)
    if cost.seconds >= 1:
        key = ("mechanism_comparison", text, units, num_heads, seed, use_causal_mask, add_positions)
        results = within_budget(key, cost, lambda: ac.compare_mechanisms(trace.inputs, units, num_heads, seed,
                                                                          use_causal_mask))
        return trace.tokens, result_by_name(results)
    MEMORY.check(cost)

    def result(name):
        heads = num_heads if name == "multi-head" else 1  # the others are the same for any heads
        key = ("mechanism_comparison", name, text, units, heads, seed, use_causal_mask, add_positions)
        # Each reserves the comparison's peak: the largest of the four's, as measured.
        return within_budget(key, cost, lambda: ac.compare_mechanism(name, trace.inputs, units, heads, seed,
                                                                       use_causal_mask))

    return trace.tokens, result


def result_by_name(results):
    """A function from a mechanism's name to its result among `results` (MechanismResults)."""
    return {result.name: result for result in results}.__getitem__


def shared(key, compute):
    """`compute()`'s result, kept for `key` in the shared memory budget: for what a view derives
    from a cached trace (e.g. hover texts), which `key` must name with every setting it depends on."""
    return MEMORY.get_or_compute(key, compute)


def view_picker(views, key):
    """The page's open view, one of `views`: a segmented control (key `key`) bound to the URL,
    with one view always chosen. The caller computes and draws only the open view.

    Not st.tabs: on every rerun the browser re-renders tabs' headers and walks the open panel's
    DOM for focusable children (a chart's SVG included), about 25 ms of its main thread a press
    on the self-attention page, which this control does not cost (measured in Chromium).
    """
    return st.segmented_control("View", views, default=views[0], required=True, key=key, bind="query-params",
                                label_visibility="collapsed")


def plot(figure, key):
    """Show a figure full-width; the chart's own toolbar downloads it as PNG.

    With Streamlit's chart theme off: the figures carry their own look, and the theme's
    automargin has plotly measure every axis's labels on each redraw (with it, a slider move on
    the self-attention page took 328 ms a press against 285 ms without, measured at 16 tokens).
    """
    st.plotly_chart(
        figure,
        key=key,
        theme=None,
        config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": key}},
    )


def download_trace(trace, name, metadata, label="Download every tensor"):
    """An expander (titled `label`) of buttons that download every tensor of `trace`, filled only while open.

    Closed, it is a single element, so a slider move does not redraw buttons it cannot change;
    the files themselves are built only when a button is clicked.
    """
    with st.expander(label, icon=":material/download:", key=f"{name}_downloads",
                     on_change="rerun") as box:
        if not box.open:
            return
        st.caption(export.INDEXING)
        formats = [("NumPy .npz", "npz", "application/octet-stream", lambda: export.trace_to_npz(trace, metadata))]
        if export.number_count(trace) <= TEXT_EXPORT_LIMIT:
            formats = [
                ("JSON", "json", "application/json", lambda: export.trace_to_json(trace, metadata)),
                ("CSV", "csv", "text/csv", lambda: export.trace_to_csv(trace, metadata)),
                *formats,
            ]
        else:
            st.caption(
                f"This view holds {export.number_count(trace):,} numbers: too many for JSON or CSV "
                "to be useful, so it downloads as NumPy's .npz."
            )
        for column, (label, extension, mime, data) in zip(st.columns(3), formats):
            column.download_button(
                f"Tensors as {label}",
                data=data,
                file_name=f"{name}.{extension}",
                mime=mime,
                key=f"{name}_{extension}",
                on_click="ignore",
            )


# --------------------------------------------------------------------------- weights from a trained layer

SEED_SOURCE, RUN_SOURCE, MODEL_SOURCE = "The seed", "Train and watch", "Your model"


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


# A number per training run, never reused in this process (an id() can be, once a run is gone): it
# names a run's traces in the shared caches, with the batches it has trained.
_RUN_NUMBERS = weakref.WeakKeyDictionary()
_NEXT_RUN_NUMBER = itertools.count()


def _run_number(run):
    return _RUN_NUMBERS.setdefault(run, next(_NEXT_RUN_NUMBER))


# A run's layers are read only while its weights stand still: a run that trains (or waits to) has no
# lock around its model, so its inputs, labels and trace could come from different weights.
INSPECTABLE_STATUSES = ("finished", "paused")


def _session_transformer():
    """This session's Train and watch run when it is a Transformer, whatever its status, else None."""
    run = st.session_state.get("tw_run")
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
    return st.session_state.get("ym_model")


def weight_source(defaults, prefix):
    """The sidebar's "Weights from" control (key `{prefix}_source`): the seed, this session's
    trained Transformer, or the uploaded model, each offered only when it exists, with a line
    saying how to get those that do not. Returns the chosen source."""
    run, upload, any_run = session_transformer_run(), session_uploaded_model(), _session_transformer()
    options = [SEED_SOURCE] + [RUN_SOURCE] * (run is not None) + [MODEL_SOURCE] * (upload is not None)
    source = st.radio("Weights from", options, index=options.index(defaults[f"{prefix}_source"]),
                      key=f"{prefix}_source", bind="query-params",
                      help="The seed's random weights, or a MultiHeadAttention layer of a trained model.")
    if run is None and any_run is not None and any_run.status in ("waiting", "training"):
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


def model_input_box(defaults, prefix):
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


def trained_layer(defaults, prefix, source, text, controls, self_attention_only=False):
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
        key = ("run", _run_number(run), run.steps_done, tuple(source_ids), call.call_index)
    else:
        name, data = session_uploaded_model()
        model = uploaded_keras_model(name, data)
        with controls:
            call = _pick_layer(prefix, _multi_head_calls(model, self_attention_only))
        model_inputs = ac.model_inputs_from_text(model, text)
        described = f"layer {call.layer} of your model {quote(name)}, on the input typed above"
        key = ("model", name, hash(data), text, call.call_index)
    # Within the memory budget, as the seed's traces: an uploaded model may read up to MAX_TOKENS.
    cost = costs.attention_cost(model, model_inputs)
    trace = within_budget(("trained trace", *key), cost,
                          lambda: ac.trace_attention_call(model, model_inputs, call.call_index))
    if source == MODEL_SOURCE:
        query_labels, key_labels = within_budget(("trained labels", *key), cost,
                                                 lambda: _model_labels(model, model_inputs, call))
    return TrainedLayer(trace, query_labels, key_labels, described, key, model, model_inputs, call.call_index)


def trained_note(trained):
    """The line a page with trained weights starts with, where the untrained note stands: exactly
    where its weights come from."""
    st.caption(f":material/school: **Trained weights:** {as_text(trained.source)}.")


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
