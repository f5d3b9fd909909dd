"""bench/streamlit_client.py's protocol helpers and session bookkeeping, on hand-made protobufs (no server)."""

import asyncio
import base64
import json

import numpy as np
import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from bench import streamlit_client as sc

SEED_ID = "$$ID-a4ded07f013f5cb467cd815bde1c4ae0-sa_seed"
TEXT_ID = "$$ID-50ca26b5e2dbb4fc7193c05840a03b9c-sa_text"


def slider(widget_id=SEED_ID, default=(3,), **fields):
    element = Element()
    element.slider.id = widget_id
    element.slider.default.extend(default)
    for name, value in fields.items():
        field = getattr(element.slider, name)
        field.extend(value) if isinstance(value, (list, tuple)) else setattr(element.slider, name, value)
    return element


def delta(path, element, fragment_id=""):
    message = ForwardMsg()
    message.metadata.delta_path.extend(path)
    message.delta.new_element.CopyFrom(element)
    message.delta.fragment_id = fragment_id
    return message


def test_widget_key_is_the_users_key_after_the_hash():
    assert sc.widget_key(SEED_ID) == "sa_seed"
    assert sc.widget_key("$$ID-1687ebcb1668364ea8a54d76442f5772-dense_units_1") == "dense_units_1"
    assert sc.widget_key("$$ID-1687ebcb1668364ea8a54d76442f5772-None") is None
    assert sc.widget_key("plain") is None


def test_widget_states_are_what_chromium_sends():
    """As recorded from Chromium: sliders a list of numbers, select sliders, radios and segmented
    controls their labels."""
    assert list(sc.widget_state(slider()).double_array_value.data) == [3]
    assert list(sc.widget_state(slider(default=(1,), options=["1", "2", "4"])).string_array_value.data) == ["2"]
    assert list(sc.widget_state(slider(value=[7], set_value=True)).double_array_value.data) == [7]
    radio = Element()
    radio.radio.id, radio.radio.default = "$$ID-x-sa_source", 1
    radio.radio.options.extend(["A file", "The seed"])
    assert sc.widget_state(radio).string_value == "The seed"
    views = Element()
    views.button_group.id = "$$ID-x-sa_view"
    views.button_group.options.add().content = "Attention weights"
    views.button_group.options.add().content = "Scores"
    views.button_group.default.append(1)
    assert list(sc.widget_state(views).string_array_value.data) == ["Scores"]
    views.button_group.raw_values.append("Attention weights")
    views.button_group.set_value = True
    assert list(sc.widget_state(views).string_array_value.data) == ["Attention weights"]
    toggle = Element()
    toggle.checkbox.id, toggle.checkbox.default = "$$ID-x-sa_scale", True
    assert sc.widget_state(toggle).bool_value is True
    text = Element()
    text.text_area.id = TEXT_ID
    assert sc.widget_state(text) is None  # no default: the browser holds nothing
    text.text_area.default = "a b c"
    assert sc.widget_state(text).string_value == "a b c"
    button = Element()
    button.button.id = "$$ID-x-tw_play"
    assert sc.widget_state(button) is None  # a trigger, sent only when pressed
    heading = Element()
    heading.heading.body = "not a widget"
    assert sc.widget_state(heading) is None


def test_with_value_keeps_the_field():
    state = sc.widget_state(slider())
    assert list(sc.with_value(state, 9).double_array_value.data) == [9]
    assert sc.with_value(WidgetState(id=TEXT_ID, string_value="a"), "b c").string_value == "b c"
    assert state.double_array_value.data == [3]  # the original is left as it was


def test_a_press_is_the_rerun_script_a_browser_sends():
    states = [sc.with_value(sc.widget_state(slider()), 4), WidgetState(id=TEXT_ID, string_value="a b c")]
    message = BackMsg.FromString(sc.rerun_message(
        query_string="sa_seed=4", page_script_hash="fe78", widget_states=states, fragment_id="3d53",
        cached_hashes=["h1"], url="http://127.0.0.1:1/self-attention").SerializeToString())
    client_state = message.rerun_script
    assert client_state.query_string == "sa_seed=4" and client_state.page_script_hash == "fe78"
    assert client_state.fragment_id == "3d53" and not client_state.is_auto_rerun
    assert list(client_state.cached_message_hashes) == ["h1"]
    assert [w.id for w in client_state.widget_states.widgets] == [SEED_ID, TEXT_ID]
    assert client_state.widget_states.widgets[0].double_array_value.data == [4]
    assert client_state.context_info.url == "http://127.0.0.1:1/self-attention"


def test_typed_arrays_decode_with_their_shape():
    z = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    encoded = {"dtype": "f4", "bdata": base64.b64encode(z.tobytes()).decode(), "shape": "2, 3"}
    np.testing.assert_array_equal(sc.typed_array(encoded), z)
    np.testing.assert_array_equal(sc.typed_array({**encoded, "shape": [3, 2]}), z.reshape(3, 2))
    np.testing.assert_array_equal(sc.typed_array([1, 2]), [1, 2])
    assert sc.typed_array(None) is None
    spec = json.dumps({"data": [{"type": "heatmap", "x": ["a", "b", "c"], "z": encoded}], "layout": {}})
    reading = sc.chart_reading(spec)
    assert reading["labels"] == ["a", "b", "c"] and reading["row"] == pytest.approx(z[0].tolist())
    bars = sc.chart_reading(json.dumps({"data": [{"type": "bar", "x": ["1×4"], "y": [4.0]}]}))
    assert bars == {"labels": ["1×4"], "row": [4.0]}


class Frames:
    """A socket that hands the client these ForwardMsgs, then ends."""

    def __init__(self, messages):
        self.frames = [message.SerializeToString() for message in messages]

    def __aiter__(self):
        return self._frames()

    async def _frames(self):
        for frame in self.frames:
            yield frame


def run_of(*messages, fragment_ids=()):
    started, finished = ForwardMsg(), ForwardMsg()
    started.new_session.page_script_hash = "main"
    started.new_session.config.max_cached_message_age = 2
    started.metadata.run.fragment_ids.extend(fragment_ids)
    finished.script_finished = (ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY if fragment_ids
                                else ForwardMsg.FINISHED_SUCCESSFULLY)
    return [started, *messages, finished]


def received(client, messages):
    client.socket = Frames(messages)
    asyncio.run(client._receive())


def test_a_session_finds_a_widgets_id_and_fragment_and_forgets_what_a_run_no_longer_draws():
    client = sc.StreamlitClient("http://127.0.0.1:1", "self-attention")
    navigation, chart, text = ForwardMsg(), Element(), Element()
    navigation.navigation.page_script_hash = "fe78"
    chart.plotly_chart.spec = '{"data": []}'
    text.text_area.id, text.text_area.default = TEXT_ID, "a b"
    received(client, run_of(navigation, delta([0, 0], text), delta([0, 1, 0], slider(), "frag"),
                            delta([0, 1, 1], chart, "frag"), delta([0, 1, 2], slider("$$ID-y-sa_head"), "frag")))
    assert client.page_script_hash == "fe78"
    assert client.widget_id("sa_seed") == SEED_ID and client.fragments[SEED_ID] == "frag"
    assert client.value("sa_seed") == [3] and client.value("sa_text") == "a b"
    assert client.charts() == ['{"data": []}']
    with pytest.raises(KeyError, match="sa_units"):
        client.widget_id("sa_units")
    # The fragment's run redraws the slider (the browser keeps the value the user set) and the
    # chart, but not the head slider; the text outside the fragment stays.
    client.states[SEED_ID] = sc.with_value(client.states[SEED_ID], 4)
    received(client, run_of(delta([0, 1, 0], slider(default=(3,)), "frag"), delta([0, 1, 1], chart, "frag"),
                            fragment_ids=["frag"]))
    assert client.value("sa_seed") == [4] and client.value("sa_text") == "a b"
    with pytest.raises(KeyError):
        client.widget_id("sa_head")


def test_cached_elements_come_back_by_reference():
    client = sc.StreamlitClient("http://127.0.0.1:1", "self-attention")
    chart = Element()
    chart.plotly_chart.spec = '{"data": [1]}'
    full = delta([0, 0], chart)
    full.hash, full.metadata.cacheable = "h1", True
    received(client, run_of(full))
    assert list(client.cache) == ["h1"]
    reference = ForwardMsg(ref_hash="h1")
    reference.metadata.delta_path.extend([0, 0])
    client.elements.clear()
    received(client, run_of(reference))
    assert client.charts() == ['{"data": [1]}']
    received(client, run_of())
    assert list(client.cache) == ["h1"]  # unseen for one run: kept
    received(client, run_of())
    assert list(client.cache) == []  # unseen for more than max_cached_message_age (2) runs: forgotten
