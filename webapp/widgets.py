"""The pages' shared widgets and display helpers: page set-up, defaults with a reset button,
units and heads sliders, the view picker, charts, tables, downloads, and messages shown as text.

Every control is bound to the URL (`bind="query-params"`), so a copied address reproduces the view;
what only opens or closes (a chart's download popover) is not.
"""

import functools
import html
import numbers
import re

import streamlit as st

import attention_core as ac
from attention_core.mechanisms import export
from attention_core.text import explain
from webapp import budget, figure_downloads, shared_results

# Above this many numbers a trace's JSON/CSV would run to hundreds of megabytes: offer .npz.
TEXT_EXPORT_LIMIT = 2_000_000


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
             f"with heads × tokens²: one view may use at most {shared_results.MEMORY.view_limit_bytes / budget.MB:,.0f} MB of "
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


def view_picker(views, key):
    """The page's open view, one of `views`: a segmented control (key `key`) bound to the URL,
    with one view always chosen. The caller computes and draws only the open view.

    Not st.tabs: on every rerun the browser re-renders tabs' headers and walks the open panel's
    DOM for focusable children (a chart's SVG included), about 25 ms of its main thread a press
    on the self-attention page, which this control does not cost (measured in Chromium).
    """
    return st.segmented_control("View", views, default=views[0], required=True, key=key, bind="query-params",
                                label_visibility="collapsed")


def plot(figure, key, select_points=False):
    """Show a figure full-width, downloadable as PNG (the chart's own toolbar), SVG and PDF
    (`key`.svg and `key`.pdf, made by webapp.figure_downloads in the server's Chromium). With
    `select_points`, a click on a point selects it and reruns the page; returns the points
    selected (plotly's point dicts, each with its `customdata`), else None.

    With Streamlit's chart theme off: the figures carry their own look, and the theme's
    automargin has plotly measure every axis's labels on each redraw (with it, a slider move on
    the self-attention page took 328 ms a press against 285 ms without, measured at 16 tokens).

    SVG and PDF sit in a popover filled only while open, so a slider move adds one element a
    chart; each file is made only when its button is clicked.
    """
    selection = {"on_select": "rerun", "selection_mode": "points"} if select_points else {}
    event = st.plotly_chart(
        figure,
        key=key,
        theme=None,
        config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": key}},
        **selection,
    )
    _downloads(figure, key)
    return event.selection.points if select_points else None


def _downloads(figure, key):
    """The SVG and PDF popover of the chart `key`."""
    with st.popover("SVG, PDF", icon=":material/download:", type="tertiary", key=f"{key}_svg_pdf",
                    on_change="rerun", help="Download this chart as SVG or PDF; PNG is in the chart's toolbar.") as menu:
        if not menu.open:
            return
        if missing := figure_downloads.missing_browser():
            st.warning(as_text(missing), icon=":material/warning:")
            return
        if failure := figure_downloads.last_failure():
            st.caption(as_text(failure))
        for column, (fmt, mime) in zip(st.columns(2), figure_downloads.FORMATS.items()):
            column.download_button(
                fmt.upper(),
                data=functools.partial(figure_downloads.figure_bytes, figure, fmt),
                file_name=f"{key}.{fmt}",
                mime=mime,
                key=f"{key}_{fmt}",
                on_click="ignore",
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
