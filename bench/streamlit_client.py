"""A light Streamlit client: a session driven over Streamlit's websocket protocol, without a browser.

`make loadtest` runs twenty sessions against one server on the same two cores. Twenty Chromium
renderers would eat the server's CPU; this client costs a few milliseconds of Python per rerun,
so what is measured is the server.

It speaks the protocol as Streamlit's front end does (streamlit/web/server/starlette/
starlette_websocket.py, runtime/app_session.py): a websocket on `/_stcore/stream` with the
subprotocol `streamlit`; binary `BackMsg`s out, binary `ForwardMsg`s in. The first `rerun_script`
carries the page's URL path and query string and no widget states. Each later one carries what
Chromium sends (recorded with Playwright's `framesent`): every widget on the page with its current
value, the page's script hash, the query string the server last set (`page_info_changed`, which
`bind="query-params"` widgets update), the fragment holding the widget that moved, and the hashes
of the large elements it has cached (kept while seen within the server's
`max_cached_message_age` runs), which the server then sends as `ref_hash` references
(runtime/forward_msg_cache.py). A `run_every` fragment's `auto_rerun` is answered as the browser
answers it, with a rerun of that fragment every interval.
"""

import asyncio
import base64
import json
import time

import numpy as np
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

# What Chromium reports about itself (ClientState.context_info), as recorded.
CONTEXT_INFO = {"timezone": "UTC", "timezone_offset": 0, "locale": "en-US", "is_embedded": False,
                "color_scheme": "light"}
RUN_TIMEOUT_S = 120
INTERRUPTED = ForwardMsg.FINISHED_EARLY_FOR_RERUN
# Widgets whose state the browser sends only when the user acts (a press, a chosen file or
# selection), which these sessions never do except by `click`.
NO_STATE = ("button", "download_button", "plotly_chart", "file_uploader")


# --- the protocol's pure parts (tests/test_streamlit_client.py) ----------------------------------

def widget_key(widget_id):
    """The user's key of a widget from its id (`$$ID-<hash>-<key>`), or None for a keyless widget."""
    prefix, _, rest = widget_id.partition("-")
    _, dash, key = rest.partition("-")
    return key if prefix == "$$ID" and dash and key != "None" else None


def element_id(element):
    """An element's widget id, or "" for elements that are not widgets."""
    kind = element.WhichOneof("type")
    return getattr(getattr(element, kind), "id", "") if kind else ""


def widget_state(element):
    """The state the browser holds for a widget just drawn from `element` (an Element proto).

    A widget the server set (`set_value`) holds that value, else its default; sliders send a
    list of numbers, select sliders and segmented controls their options' labels, radios and
    select boxes the chosen option's label, as Chromium does. None for elements that hold no
    state (buttons: a trigger is sent only when pressed; charts without selections; everything
    that is not a widget).
    """
    kind = element.WhichOneof("type")
    if not element_id(element) or kind in NO_STATE:
        return None
    widget = getattr(element, kind)
    state = WidgetState(id=widget.id)
    chosen = widget.set_value if hasattr(widget, "set_value") else False
    if kind == "slider":
        if widget.options:  # a select slider: its default holds option indices
            labels = list(widget.raw_value) if chosen else [widget.options[int(i)] for i in widget.default]
            state.string_array_value.data.extend(labels)
        else:
            state.double_array_value.data.extend(widget.value if chosen else widget.default)
    elif kind == "button_group":  # a segmented control: its chosen options' labels
        labels = list(widget.raw_values) if chosen else [widget.options[int(i)].content for i in widget.default]
        state.string_array_value.data.extend(labels)
    elif kind in ("radio", "selectbox"):
        if chosen and widget.HasField("raw_value"):
            state.string_value = widget.raw_value
        elif widget.HasField("default"):
            state.string_value = widget.options[widget.default]
        else:
            return None  # no option chosen: the browser sends nothing
    elif kind == "checkbox":
        state.bool_value = widget.value if chosen else widget.default
    elif kind in ("text_area", "text_input"):
        value = widget.value if chosen else widget.default
        if not (chosen or widget.HasField("default")):
            return None
        state.string_value = value
    elif kind == "number_input":
        value = widget.value if chosen else widget.default
        if widget.data_type == widget.INT:
            state.int_value = int(value)
        else:
            state.double_value = value
    else:
        raise NotImplementedError(f"Expected a widget this client can hold. Received: {kind} ({widget.id})")
    return state


def with_value(state, value):
    """A copy of `state` (a WidgetState) holding `value` in the same field, as a user's edit does."""
    moved = WidgetState(id=state.id)
    field = state.WhichOneof("value")
    if field.endswith("_array_value"):
        getattr(moved, field).data.extend(value if isinstance(value, (list, tuple)) else [value])
    else:
        setattr(moved, field, value)
    return moved


def rerun_message(*, query_string, page_name="", page_script_hash="", widget_states=(), fragment_id="",
                  cached_hashes=(), is_auto_rerun=False, url=""):
    """A `rerun_script` BackMsg: the page, its query string and the widget states to run it with."""
    message = BackMsg()
    client_state = message.rerun_script
    client_state.query_string = query_string
    client_state.page_name = page_name
    client_state.page_script_hash = page_script_hash
    client_state.widget_states.widgets.extend(widget_states)
    client_state.fragment_id = fragment_id
    client_state.is_auto_rerun = is_auto_rerun
    client_state.cached_message_hashes.extend(cached_hashes)
    for name, value in {**CONTEXT_INFO, "url": url}.items():
        setattr(client_state.context_info, name, value)
    return message


def typed_array(value):
    """A plotly spec's value as NumPy: its typed-array form `{dtype, bdata, shape}` decoded, a list as is."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape is not None:
            array = array.reshape([int(n) for n in str(shape).split(",")] if isinstance(shape, str) else shape)
        return array
    return np.asarray(value) if value is not None else None


def chart_reading(spec):
    """A plotly chart's first trace as a reading: its x labels and its first row of numbers.

    The same reading the browser phases take from the page's first chart (`_fullData[0]`): z's
    first row for a heatmap, else the trace's y; a gap (None) reads as NaN.
    """
    trace = json.loads(spec)["data"][0]
    z = typed_array(trace.get("z"))
    row = z[0] if z is not None else typed_array(trace.get("y"))
    x = trace.get("x")
    return {"labels": [str(label) for label in x] if isinstance(x, list) else None,
            "row": [np.nan if v is None else float(v) for v in row]}  # None: a gap in plotly


# --- a session ------------------------------------------------------------------------------------

class StreamlitClient:
    """One session on one page: opens it, presses its widgets, and keeps what the page shows.

    `elements` maps each element's delta path to (fragment id, Element) as the front end holds its
    tree; `states` holds the widgets' current values. `open`, `press` and `click` return the run's
    time, from sending its `rerun_script` to receiving its `script_finished` (all its deltas received).
    """

    def __init__(self, base, page, query=""):
        self.url = base.replace("http", "ws", 1) + "/_stcore/stream"
        self.page_url, self.page, self.query_string = f"{base}/{page}", page, query
        self.page_script_hash = ""
        self.elements, self.states, self.fragments = {}, {}, {}
        self.cache, self.max_cached_age = {}, 0  # hash -> [ForwardMsg, runs since last seen]
        self.auto_reruns = 0
        self._touched, self._run_fragments = set(), []
        self._finished = None
        self._one_run = asyncio.Lock()  # one run at a time, as one browser tab
        self._auto = {}  # fragment id -> its auto-rerun task

    async def open(self):
        """Connect and run the page as a browser's first view does; seconds until it finished."""
        self.socket = await connect(self.url, subprotocols=["streamlit"], max_size=None, open_timeout=RUN_TIMEOUT_S)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return await self._run(rerun_message(query_string=self.query_string, page_name=self.page, url=self.page_url))

    async def press(self, key, value):
        """Set widget `key` to `value` and rerun its fragment (or the page); seconds until finished."""
        widget_id = self.widget_id(key)
        self.states[widget_id] = with_value(self.states[widget_id], value)
        return await self._run(self._rerun(self.fragments.get(widget_id, "")))

    async def click(self, key):
        """Press button `key` (a trigger, sent once, as the browser does); seconds until finished."""
        widget_id = self.widget_id(key)
        return await self._run(self._rerun(self.fragments.get(widget_id, ""), WidgetState(id=widget_id,
                                                                                          trigger_value=True)))

    def widget_id(self, key):
        """The id of the widget with user key `key` on the page as drawn last."""
        for widget_id in self.fragments:
            if widget_key(widget_id) == key:
                return widget_id
        raise KeyError(f"Expected a widget with key {key!r} on {self.page}. Received: "
                       f"{sorted(filter(None, map(widget_key, self.fragments)))}")

    def value(self, key):
        """The current value of widget `key`, as a Python value (a slider's: its list of numbers)."""
        state = self.states[self.widget_id(key)]
        value = getattr(state, state.WhichOneof("value"))
        return list(value.data) if hasattr(value, "data") else value

    def charts(self):
        """The plotly specs (JSON) on the page, in the page's order."""
        return [element.plotly_chart.spec for _, (_, element) in sorted(self.elements.items())
                if element is not None and element.WhichOneof("type") == "plotly_chart"]

    def shown(self, kind):
        """The page's elements of `kind` (e.g. "exception", "progress"), in the page's order."""
        return [getattr(element, kind) for _, (_, element) in sorted(self.elements.items())
                if element is not None and element.WhichOneof("type") == kind]

    async def close(self):
        for task in self._auto.values():
            task.cancel()
        await self.socket.close()
        self._reader.cancel()

    def _rerun(self, fragment_id, *extra, is_auto_rerun=False):
        return rerun_message(query_string=self.query_string, page_script_hash=self.page_script_hash,
                             widget_states=[*self.states.values(), *extra], fragment_id=fragment_id,
                             cached_hashes=self.cache, is_auto_rerun=is_auto_rerun, url=self.page_url)

    async def _run(self, message):
        async with self._one_run:
            self._finished = asyncio.get_running_loop().create_future()
            start = time.perf_counter()
            await self.socket.send(message.SerializeToString())
            try:
                return await asyncio.wait_for(self._finished, RUN_TIMEOUT_S) - start
            finally:
                self._finished = None

    async def _read(self):
        try:
            await self._receive()
        except Exception as error:  # a run waiting for its end hears why it never comes
            if self._finished is not None and not self._finished.done():
                self._finished.set_exception(error)
            raise

    async def _receive(self):
        async for frame in self.socket:
            message = ForwardMsg.FromString(frame)
            if message.WhichOneof("type") == "ref_hash":
                cached = ForwardMsg()
                cached.CopyFrom(self.cache[message.ref_hash][0])
                cached.metadata.CopyFrom(message.metadata)
                self.cache[message.ref_hash][1] = 0
                message = cached
            elif message.metadata.cacheable:
                self.cache[message.hash] = [message, 0]
            self._handle(message)

    def _handle(self, message):
        kind = message.WhichOneof("type")
        if kind == "new_session":
            self._touched, self._run_fragments = set(), list(message.metadata.run.fragment_ids)
            self.max_cached_age = message.new_session.config.max_cached_message_age
        elif kind == "navigation":  # the page st.navigation chose: the one later runs name
            self.page_script_hash = message.navigation.page_script_hash
        elif kind == "delta":
            self._delta(tuple(message.metadata.delta_path), message.delta)
        elif kind == "page_info_changed":
            self.query_string = message.page_info_changed.query_string
        elif kind == "auto_rerun":
            self._start_auto_rerun(message.auto_rerun.fragment_id, message.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fragment_id in message.stop_auto_rerun.fragment_ids or list(self._auto):
                task = self._auto.pop(fragment_id, None)
                if task:
                    task.cancel()
        elif kind == "script_finished" and message.script_finished != INTERRUPTED:
            self._drop_stale()
            self._age_cache()
            if self._finished is not None and not self._finished.done():
                self._finished.set_result(time.perf_counter())

    def _delta(self, path, delta):
        self._touched.add(path)
        if delta.WhichOneof("type") == "new_element":
            element = delta.new_element
            self.elements[path] = (delta.fragment_id, element)
            widget_id = element_id(element)
            if widget_id:
                self.fragments[widget_id] = delta.fragment_id
            state = widget_state(element)
            if state is not None:
                chosen = getattr(getattr(element, element.WhichOneof("type")), "set_value", False)
                if chosen or state.id not in self.states:  # the browser keeps a value the user set
                    self.states[state.id] = state
        elif delta.WhichOneof("type") == "add_block":
            self.elements[path] = (delta.fragment_id, None)

    def _drop_stale(self):
        """Forget what the finished run did not draw again: the whole page after a full run, the
        fragment's own elements after a fragment's run (as the front end clears stale nodes)."""
        for path, (fragment_id, element) in list(self.elements.items()):
            if path in self._touched or (self._run_fragments and fragment_id not in self._run_fragments):
                continue
            del self.elements[path]
            widget_id = element_id(element) if element is not None else ""
            if widget_id:
                self.states.pop(widget_id, None)
                self.fragments.pop(widget_id, None)

    def _age_cache(self):
        """Count a finished run against every cached element and forget those not seen for more
        than the server's `max_cached_message_age` runs, as the front end's cache does."""
        for message_hash, entry in list(self.cache.items()):
            entry[1] += 1
            if entry[1] > self.max_cached_age:
                del self.cache[message_hash]

    def _start_auto_rerun(self, fragment_id, interval):
        async def rerun_every():
            while True:
                await asyncio.sleep(interval)
                self.auto_reruns += 1
                await self._run(self._rerun(fragment_id, is_auto_rerun=True))

        if fragment_id not in self._auto:
            self._auto[fragment_id] = asyncio.get_running_loop().create_task(rerun_every())
