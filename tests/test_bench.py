"""bench/run.py's and bench/report.py's pure parts (no server, no browser), so `make bench`
cannot rot between its runs: chart shapes for the floor, the bytes of a press by ForwardMsg,
and the report's tables."""

import json
import os

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.testing.v1 import AppTest

from bench import report
from bench.run import (
    FIRST_VIEW_STEPS,
    Press,
    bytes_per_press,
    chart_shape,
    floor_charts,
    json_members,
    median_steps,
    sent_bytes,
    summarize,
)


def heatmap(rows, columns):
    return {"type": "heatmap", "rows": rows, "columns": columns, "points": None}


def points(count, kind="scatter"):
    return {"type": kind, "rows": None, "columns": None, "points": count}


def test_a_lone_heatmap_keeps_its_shape_and_other_charts_count_every_point():
    assert chart_shape([heatmap(5, 32)]) == (5, 32)
    assert chart_shape([points(7, "bar")]) == (1, 7)
    assert chart_shape([points(3), points(9), points(1)]) == (1, 13)
    assert chart_shape([heatmap(2, 3), points(4)]) == (1, 10)


def test_the_floor_draws_one_heatmap_of_each_shape(monkeypatch):
    shapes = [(5, 4), (1, 83), (32, 32)]
    monkeypatch.setenv("FLOOR_CHARTS", floor_charts(shapes))
    app = AppTest.from_file(os.path.join(os.path.dirname(__file__), "..", "bench", "floor_app.py")).run()
    traces = [json.loads(chart.proto.spec)["data"] for chart in app.get("plotly_chart")]
    assert [len(data) for data in traces] == [1, 1, 1]
    # plotly sends a NumPy z as base64 with its shape: "5, 4"
    assert [tuple(int(n) for n in data[0]["z"]["shape"].split(",")) for data in traces] == shapes


def test_json_members_are_the_text_as_sent():
    text = '{ "data" : [{"text": "a}\\"b", "z": [1, 2.50]}],\n "layout": {"title": {"text": "x"}} }'
    members = json_members(text)
    assert members == {"data": '[{"text": "a}\\"b", "z": [1, 2.50]}]', "layout": '{"title": {"text": "x"}}'}
    assert json_members("{}") == {}


def test_sent_bytes_splits_a_press_into_figure_data_specs_and_the_rest():
    data = '[{"type":"heatmap","z":[[0.25,0.75]],"text":[["q × k = 0.25","q × k = 0.75"]]}]'
    spec = '{"data":' + data + ',"layout":{"title":{"text":"weights"}}}'
    chart = ForwardMsg()
    chart.delta.new_element.plotly_chart.spec = spec
    markdown = ForwardMsg()
    markdown.delta.new_element.markdown.body = "A caption"
    reference = ForwardMsg()
    reference.ref_hash = "a figure the browser already holds"
    finished = ForwardMsg()
    finished.script_finished = ForwardMsg.FINISHED_SUCCESSFULLY
    payloads = [message.SerializeToString() for message in (chart, markdown, reference, finished)]

    sent = sent_bytes(payloads)

    assert sent["figure_data"] == len(data.encode()) == len(data) + 2  # bytes, not characters: "×" is two
    assert sent["figure_specs"] == len(spec.encode())
    assert sent["received"] == sum(len(p) for p in payloads)
    assert sent["other"] == sent["received"] - sent["figure_specs"]
    assert sent_bytes(payloads[1:])["figure_data"] == 0


def test_summaries_of_presses():
    sent = [{"received": r, "figure_data": f, "figure_specs": f + 100, "other": r - f - 100}
            for r, f in [(1000, 400), (3000, 500), (2000, 600)]]
    presses = [Press(s, part["received"], part, (0,), busy, script)
               for s, part, busy, script in zip([0.3, 0.1, 0.2], sent, [90, 70, 80], [40, 20, 30])]
    summary = summarize(presses)
    assert summary["median_ms"] == pytest.approx(200) and summary["p90_ms"] == pytest.approx(200)
    assert summary["presses"] == 3 and summary["median_bytes"] == 2000
    assert summary["main_thread_ms"] == 80 and summary["script_ms"] == 30
    assert bytes_per_press(presses) == {"received": 2000, "figure_data": 500, "figure_specs": 600, "other": 1300,
                                        "ratio": 4.0}
    empty = {"received": 10, "figure_data": 0, "figure_specs": 0, "other": 10}
    assert bytes_per_press([Press(0.1, 10, empty, (), 50, 20)])["ratio"] is None


def test_median_steps_skip_a_step_a_run_lacks():
    runs = [{step: 100.0 * i for step in FIRST_VIEW_STEPS} for i in (1, 2, 3)]
    runs[1]["plotly_chunk_ms"] = None
    steps = median_steps(runs)
    assert steps["html_end_ms"] == 200 and steps["plotly_chunk_ms"] is None


MACHINE = {"date": "2026-12-04", "cpu": "cpu", "cores": 2, "memory_gb": 4, "os": "Linux", "python": "3.11",
           "tensorflow": "2", "streamlit": "1.67.0", "chromium": "Chromium"}


def page_result(median_ms, floor_ms, received, figure_data):
    side = {"median_ms": median_ms, "p90_ms": median_ms * 1.2, "presses": 6, "median_bytes": received,
            "main_thread_ms": median_ms * 0.9, "script_ms": median_ms * 0.4}
    return {"page": side, "floor": {**side, "median_ms": floor_ms, "p90_ms": floor_ms, "main_thread_ms": floor_ms * 0.7,
                                    "script_ms": floor_ms * 0.2}, "charts": 3,
            "charts_redrawn": 2, "cells": 95, "floor_charts": "1x83,4x3", "ratio": median_ms / floor_ms,
            "bytes": {"received": received, "figure_data": figure_data, "figure_specs": figure_data + 50,
                      "other": received - figure_data - 50, "ratio": received / figure_data if figure_data else None},
            "floor_bytes": {"received": 1000, "figure_data": 100, "figure_specs": 150, "other": 850, "ratio": 10.0}}


def test_the_report_has_a_target_row_and_a_table_row_for_every_page():
    results = {"machine": MACHINE, "pages": {"Dense layers": page_result(105, 100, 3000, 2000),
                                             "Dot product": page_result(150, 100, 9000, 0)}}
    rows = {what: (measured, ok) for what, measured, _, ok in report.targets(results)}
    assert rows["Press on Dense layers / its floor"] == ("1.05×", True)
    assert rows["Press on Dot product / its floor"] == ("1.50×", False)
    assert rows["Bytes per press on Dense layers / its figure data"] == ("1.50×", True)
    assert rows["Bytes per press on Dot product / its figure data"] == ("no figure data sent", False)
    text = report.markdown(results)
    assert "| Dense layers | 2 / 3 | 95 | 105 ms | 100 ms | 1.05× | 126 ms | 100 ms | 94 ms / 70 ms | 42 ms / 20 ms | 6 |" in text
    assert "| Dense layers | 3,000 | 2,000 | 2,050 | 950 | 1.50× | 10.00× |" in text
    assert "## Interaction latency" not in text and "## First view" not in text  # parts not run


def test_the_report_breaks_the_first_view_down_against_the_floor():
    steps = {step: 100.0 * (i + 1) for i, step in enumerate(FIRST_VIEW_STEPS)}
    results = {
        "machine": MACHINE,
        "first_view_s": {"runs": [1.9, 2.1], "median": 2.0, "floor_runs": [1.8, 1.9], "floor_median": 1.85},
        "first_view_steps": {"app": {**steps, "chart_visible_ms": 1900.0},
                             "floor": {**steps, "plotly_chunk_ms": None, "chart_visible_ms": 1800.0},
                             "plotly_chunk": {"app": "PlotlyChart.js", "floor": None}},
        "memory": {"after_start_mb": 300, "after_first_view_mb": 320, "after_soak_mb": 330, "soak_presses": 10,
                   "growth_mb": 10},
    }
    rows = {what: (measured, ok) for what, measured, _, ok in report.targets(results)}
    assert rows["First view on a started server (median)"] == ("1.90 s", True)
    assert rows["First view / the floor's"] == ("1.06× (1.90 s against 1.80 s)", False)
    text = report.markdown(results)
    assert "| Plotly chart's script chunk loaded | 500 ms | – |" in text
    assert "| First chart visible | 1900 ms | 1800 ms |" in text
    assert "**First view" in text  # the missed row's explanation
