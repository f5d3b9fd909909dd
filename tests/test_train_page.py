"""The Train and watch page in AppTest: step, pause and play a tiny run, the heatmaps show what
the run recorded, the URL sets the controls, typed input and Reset behave, and a finished
run is there at once for the next visitor with the same settings."""

import functools
import json
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import attention_core as ac
from attention_core.figures import learning as learning_figures
from attention_core.figures.learning import model_view, model_view_maps
from attention_core.learning import training
from tests.test_pages import decode
from webapp import training_jobs

PAGE = Path(__file__).resolve().parents[1] / "pages" / "6_Train_and_watch.py"
# With the small tasks below: 10 steps an epoch.
TINY = {"tw_length": "4", "tw_units": "16", "tw_epochs": "2", "tw_seed": "3"}


def open_page(query=None):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params.update(query or {})
    return at.run()


def button(at, key):
    (found,) = [b for b in at.button if b.key == key]
    return found


def click(at, key):
    button(at, key).click()
    return at.run()


def wait_for_status(at, *statuses, timeout=120):
    deadline = time.monotonic() + timeout
    while at.session_state["tw_run"].status not in statuses:
        assert time.monotonic() < deadline, f"status {at.session_state['tw_run'].status}, wanted {statuses}"
        time.sleep(0.2)  # the worker thread trains; the page is polled as its fragment would be
        at.run()
    return at.run()


def heatmaps(at):
    """{chart key: z} of every heatmap on the page."""
    specs = {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}
    return {key: decode(spec["data"][0]["z"]) for key, spec in specs.items() if spec["data"][0]["type"] == "heatmap"}


def assert_clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture(autouse=True)
def small_tasks_and_an_empty_cache(monkeypatch):
    """The page's tasks with 640 examples instead of 10,000, so a run takes a second or two,
    and no finished run left over from another test."""
    monkeypatch.setattr(ac, "make_task", functools.partial(ac.make_task, num_examples=640, num_heldout=60))
    monkeypatch.setattr(training_jobs, "FINISHED_RUNS", training_jobs.FinishedRuns())
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_defaults_offer_play_and_bind_every_setting_to_the_url():
    at = open_page()
    assert_clean(at)
    assert "Press **Play**" in at.info[0].value
    assert button(at, "tw_pause").disabled and not button(at, "tw_play").disabled
    for widget in (*at.sidebar.selectbox, *at.sidebar.slider, *at.sidebar.select_slider, *at.sidebar.radio):
        assert widget.proto.query_param_key == widget.key
    assert {w.key for w in (*at.sidebar.selectbox, *at.sidebar.slider, *at.sidebar.select_slider, *at.sidebar.radio)} == {
        "tw_task", "tw_length", "tw_mechanism", "tw_units", "tw_learning_rate", "tw_epochs", "tw_seed"}


def test_the_url_sets_the_controls():
    at = open_page({"tw_task": "dates", "tw_units": "32", "tw_mechanism": "dot", "tw_learning_rate": "0.003"})
    assert_clean(at)
    assert at.selectbox(key="tw_task").value == "dates"
    assert at.slider(key="tw_length").disabled  # dates have their own length
    assert at.select_slider(key="tw_units").value == 32
    assert at.radio(key="tw_mechanism").value == "dot"
    assert at.select_slider(key="tw_learning_rate").value == 0.003


def test_step_pause_play_and_the_heatmaps_show_the_recorded_alignment():
    at = click(open_page(TINY), "tw_step")
    at = wait_for_status(at, "paused")
    run = at.session_state["tw_run"]
    assert run.epochs_done == 1
    assert_clean(at)
    shown = heatmaps(at)
    np.testing.assert_allclose(shown["tw_live_learned"], run.history[-1].alignment, atol=1e-6)
    np.testing.assert_array_equal(shown["tw_live_ideal"], run.probe_ideal)
    frame = run.history[-1]
    assert {m.label: m.value for m in at.metric} == {
        "Alignment score": f"{frame.alignment_score:.1%}", "Held-out accuracy": f"{frame.accuracy:.1%}",
        "Exact match": f"{frame.exact_match:.1%}"}
    (curves,) = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart") if chart.key == "tw_curves"]
    shown_curves = {trace["name"]: decode(trace["y"]) for trace in curves["data"]}
    np.testing.assert_allclose(shown_curves["alignment score"], [f.alignment_score for f in run.history])
    np.testing.assert_allclose(shown_curves["training loss"], [f.loss for f in run.history])  # NaN first: untrained
    assert np.array_equal(run.probe_ideal, np.eye(4)[::-1])  # reverse: the anti-diagonal
    # Paused: the replay scrubber goes back to the untrained model.
    at.select_slider(key="tw_frame").set_value(0).run()
    np.testing.assert_allclose(heatmaps(at)["tw_replay"], run.history[0].alignment, atol=1e-6)

    at = click(at, "tw_play")
    assert button(at, "tw_pause").disabled is False
    at = click(at, "tw_pause")
    at = wait_for_status(at, "paused")
    at = click(at, "tw_play")
    at = wait_for_status(at, "finished")
    assert_clean(at)
    assert run.epochs_done == 2 and button(at, "tw_play").disabled
    assert "Finished: epoch 2 of 2 done" in at.get("progress")[0].proto.text


def test_a_trained_model_answers_typed_input_and_the_next_visitor_sees_the_run_at_once():
    at = wait_for_status(click(open_page(TINY), "tw_play"), "finished")
    run = at.session_state["tw_run"]
    at.text_input(key="tw_text").set_value("0123").run()
    assert_clean(at)
    outputs, alignment = run.predict(run.task.encode("0123"))
    assert f"Output: `{run.task.decode(outputs)}` · correct: `3210`" in [m.value for m in at.markdown]
    np.testing.assert_allclose(heatmaps(at)["tw_typed_learned"], alignment, atol=1e-6)
    at.selectbox(key="tw_output_step").set_value(2).run()
    trace = run.attention_trace(run.task.encode("0123"), 2)
    np.testing.assert_allclose(heatmaps(at)["tw_score"], trace.score, atol=1e-6)

    at.text_input(key="tw_text").set_value("01<b>x</b>").run()
    assert not at.exception
    assert "is not a symbol of this task" in at.error[0].value
    assert button(at, "tw_reset")  # the rest of the page still works

    # A second visitor to the same settings gets the finished run at once; Reset forgets it.
    second = open_page(TINY)
    assert second.session_state["tw_run"] is run
    assert "tw_replay" in heatmaps(second)
    second = click(second, "tw_reset")
    assert second.session_state["tw_run"] is None
    assert "Press **Play**" in second.info[0].value


def test_changing_a_setting_stops_the_run():
    at = click(open_page({**TINY, "tw_epochs": "10"}), "tw_play")
    run = at.session_state["tw_run"]
    at.slider(key="tw_seed").set_value(4).run()
    assert at.session_state["tw_run"] is None
    deadline = time.monotonic() + 60
    while run.status != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.1)  # the worker notices the cancel flag after its current batch


def test_a_transformer_steps_and_shows_every_layer_and_head_as_the_run_recorded():
    at = open_page({**TINY, "tw_mechanism": "transformer", "tw_layers": "1", "tw_heads": "2"})
    assert_clean(at)
    assert at.slider(key="tw_layers").proto.query_param_key == "tw_layers"
    assert "causal self-attention" in " ".join(c.value for c in at.caption)
    at = wait_for_status(click(at, "tw_step"), "paused")
    assert_clean(at)
    run = at.session_state["tw_run"]
    assert run.is_transformer and run.settings["num_layers"] == 1 and run.settings["num_heads"] == 2
    frame = run.history[-1]
    shown = heatmaps(at)
    np.testing.assert_allclose(shown["tw_live_learned"], frame.alignment, atol=1e-6)
    assert f"The learned alignment is **{frame.alignment_choice}**" in " ".join(c.value for c in at.caption)
    (view,) = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart") if chart.key == "tw_live_model_view"]
    (trace,) = view["data"]  # every map tiled into one heatmap
    z = decode(trace["z"])
    shown = model_view_maps(z, {name: weights.shape for name, weights in frame.maps.items()})
    assert list(shown) == ["encoder_1_self_attention", "decoder_1_self_attention", "decoder_1_cross_attention"]
    for name, weights in shown.items():
        np.testing.assert_array_equal(weights, frame.maps[name].astype(np.float32))
    assert np.isfinite(z).sum() == sum(weights.size for weights in frame.maps.values())  # the rest is blank
    # A head opened large; in the replay, the first frame's (the untrained model's).
    at.selectbox(key="tw_replay_head").set_value(("decoder_1_self_attention", 1)).run()
    at.select_slider(key="tw_frame").set_value(0).run()
    assert_clean(at)
    np.testing.assert_allclose(heatmaps(at)["tw_replay_open_head"],
                               run.history[0].maps["decoder_1_self_attention"][1].astype(np.float32))
    # Try it: the typed input's every map, the run's own.
    at.text_input(key="tw_text").set_value("0123").run()
    assert_clean(at)
    maps = run.attention(run.task.encode("0123"))
    np.testing.assert_allclose(heatmaps(at)["tw_typed_open_head"], maps["encoder_1_self_attention"][0], atol=1e-6)
    assert "tw_score" not in heatmaps(at)  # the additive pipeline is for additive runs


def pills(at, key):
    (found,) = [group for group in at.get("button_group") if group.key == key]
    return found


def chart_specs(at):
    """{chart key: plotly spec} of every chart on the page."""
    return {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def test_which_heads_matter_knocks_heads_out_scores_them_and_shows_them_forming(monkeypatch):
    at = open_page({**TINY, "tw_mechanism": "transformer", "tw_layers": "1", "tw_heads": "2"})
    at = wait_for_status(click(at, "tw_step"), "paused")
    assert_clean(at)
    # The live model view is built once a frame, not on every redraw.
    titles = []
    monkeypatch.setattr(learning_figures, "model_view", lambda maps, labels, title: titles.append(title)
                        or model_view(maps, labels, title=title))
    at.run()
    at.run()
    step = at.session_state["tw_run"].history[-1].step
    assert titles.count("Model view of your input") == 2  # typed input: its maps are new each run
    assert f"Model view, step {step}" not in titles and f"Model view at step {step}" not in titles
    run = at.session_state["tw_run"]
    frame = run.history[-1]
    # Nothing knocked out: the run's own held-out metrics, with no change shown.
    baseline = run.evaluate(training.FRAME_EXAMPLES)
    metrics = {m.label: m for m in at.metric[3:]}
    assert metrics["Held-out accuracy"].value == f"{baseline['accuracy']:.1%}"
    assert metrics["Held-out loss"].value == f"{baseline['loss']:.4f}"
    # The cross-attention's head 2 knocked out: the metrics run.evaluate gives, and the change.
    pills(at, "tw_knock_out_2_of_2").set_value([1])
    at.run()
    assert_clean(at)
    knocked = run.evaluate(training.FRAME_EXAMPLES, knock_out=[("decoder_1_cross_attention", 1)])
    metrics = {m.label: m for m in at.metric[3:]}
    assert metrics["Held-out loss"].value == f"{knocked['loss']:.4f}"
    assert metrics["Held-out loss"].proto.delta == f"{knocked['loss'] - baseline['loss']:.4f}"
    assert knocked["loss"] != baseline["loss"]
    # Every head of every layer: an InputError; the rest of the page stays.
    for key in ("tw_knock_out_0_of_2", "tw_knock_out_1_of_2", "tw_knock_out_2_of_2"):
        pills(at, key).set_value([0, 1])
        at.run()
    assert not at.exception
    assert "keep at least one head" in " ".join(error.value for error in at.error)
    assert {"tw_scatter", "tw_formation", "tw_replay_rollout"} <= set(chart_specs(at))
    # Scores: the frame's, with the run's importance.
    (table,) = [frame_.value.to_dict("list") for frame_ in at.dataframe]
    assert table["head"] == [1, 2] * 3
    np.testing.assert_allclose(table["entropy"], [score.entropy for score in frame.head_scores])
    importance = run.head_importance(training.FRAME_EXAMPLES)
    np.testing.assert_allclose(table["importance"], np.concatenate(list(importance.values())), rtol=1e-4)
    # Forming: each head's agreement over the frames; rollout of the encoder at the replay's frame.
    formation = chart_specs(at)["tw_formation"]
    lines = [trace for trace in formation["data"] if trace["mode"] == "lines"]
    assert [line["name"] for line in lines] == ["decoder_1_cross_attention, head 1", "decoder_1_cross_attention, head 2"]
    np.testing.assert_allclose(decode(lines[0]["y"]), [f.head_scores[4].ideal_agreement for f in run.history])
    np.testing.assert_allclose(heatmaps(at)["tw_replay_rollout"],
                               ac.attention_rollout([frame.maps["encoder_1_self_attention"]]), atol=1e-6)
    assert formation["layout"]["shapes"][0]["x0"] == frame.step  # the replay's step, the last at first
    at.select_slider(key="tw_frame").set_value(0).run()
    assert chart_specs(at)["tw_formation"]["layout"]["shapes"][0]["x0"] == 0
