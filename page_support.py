"""Streamlit glue shared by the pages: defaults and reset, cached layers and traces, downloads.

The only module besides the pages that imports Streamlit. Every widget is bound to the URL
(`bind="query-params"`), so a copied address reproduces the view; `Defaults` knows each
page's default values so one button can restore them.
"""

import functools
import gc
import html
import re

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.state.query_params import _coerce_value_for_query_url

import attention_core as ac
from attention_core import export, seed_code
from attention_core.inputs import _quote

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
# (ATTENTION_MEMORY_BUDGET_MB): see attention_core/budget.py. Module code runs once per process,
# so every session shares this one. Built layers stay in st.cache_resource, bounded by count:
# their weights are a few kilobytes (at most 64 units over 16 features).
MEMORY = ac.MemoryBudget.from_environment()


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
             f"with heads × tokens²: one view may use at most {MEMORY.view_limit_bytes / ac.budget.MB:,.0f} MB of "
             f"the server's ({ac.BUDGET_ENV}), and a larger one says what fits instead.",
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
                notes.warning(as_text(f"The link's value {_quote(asked_value)} for {key} was not allowed here; "
                                      f"using {_quote(used)}."), icon=":material/link:")
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


def within_budget(key, cost, compute):
    """`compute()`'s result for `key` from the shared memory budget, refusing a view over its limit.

    Raises ac.ViewTooLarge (an InputError, so pages show it as a message) before computing
    anything when `cost` is over one view's share; a computation that takes seconds says so.
    """
    MEMORY.check(cost)
    if cost.seconds < 1 or key in MEMORY:
        return MEMORY.get_or_compute(key, compute, cost.peak_bytes)
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

    return within_budget(key, ac.self_attention_cost(len(text.tokens), num_heads, units), compute)


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
    return within_budget(key, ac.self_attention_cost(longest, num_heads, units, batch=len(texts)), compute)


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
        return ac.trace_rnn_with_attention(model, inputs)


@MEMORY.cached
def simple_rnn_summary(num_features, units):
    """Keras's summary of the seed's stand-alone SimpleRNN model for these sizes."""
    return ac.model_summary_text(seed_code.simple_rnn_model(num_features, units))


@st.cache_resource(max_entries=32, show_spinner=False)
def dense_model(input_dim, layer_units, activation, seed):
    """A built dense network shared by every session; never mutated after this."""
    return ac.dense_network(input_dim, list(layer_units), activation=activation, seed=seed)


@MEMORY.cached
def dense_trace(x, layer_units, activation, seed):
    """DenseNetworkTrace of one input vector x (F,) and the model's Keras summary text."""
    model = dense_model(len(x), tuple(layer_units), activation, seed)
    return ac.trace_dense_network(model, x), ac.model_summary_text(model)


# Shared read-only, like the self-attention traces: at 1024 tokens a result holds several (T, T)
# maps per mechanism and (N, T, T) per head.
def mechanism_comparison(text, units, num_heads, seed, use_causal_mask, add_positions):
    """(tokens as a tuple, MechanismResults) for a text; raises ac.InputError for bad text or a
    comparison over the memory budget."""
    key = ("mechanism_comparison", text, units, num_heads, seed, use_causal_mask, add_positions)
    text = text_trace(text, seed, add_positions)
    return within_budget(key, ac.comparison_cost(len(text.tokens), units, num_heads),
                         lambda: (text.tokens, ac.compare_mechanisms(text.inputs, units, num_heads, seed, use_causal_mask)))


def shared(key, compute):
    """`compute()`'s result, kept for `key` in the shared memory budget: for what a view derives
    from a cached trace (e.g. hover texts), which `key` must name with every setting it depends on."""
    return MEMORY.get_or_compute(key, compute)


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


def download_trace(trace, name, metadata):
    """An expander of buttons that download every tensor of `trace`, filled only while open.

    Closed, it is a single element, so a slider move does not redraw buttons it cannot change;
    the files themselves are built only when a button is clicked.
    """
    with st.expander("Download every tensor", icon=":material/download:", key=f"{name}_downloads",
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
