"""bench/loadtest.py's pure parts, so `make loadtest` cannot rot between its (minutes-long) runs."""

import json
import pathlib
import urllib.parse

import pytest

from bench import loadtest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_percentile_interpolates_between_ranks():
    assert loadtest.percentile([3, 1, 2], 50) == 2
    assert loadtest.percentile([1, 2, 3, 4], 50) == 2.5
    assert loadtest.percentile(range(1, 101), 95) == pytest.approx(95.05)
    assert loadtest.percentile([7], 95) == 7
    with pytest.raises(ValueError, match="at least one value"):
        loadtest.percentile([], 50)


def test_latency_summary_in_milliseconds():
    assert loadtest.latency_summary([0.1, 0.2, 0.3, 0.4, 1.0]) == {
        "presses": 5, "p50_ms": 300.0, "p95_ms": 880.0, "max_ms": 1000.0}


def test_every_session_has_its_own_input_in_every_phase_and_a_url_that_sets_it():
    sessions = range(max(loadtest.LEVELS))
    for page, (press_key, input_key, _) in loadtest.PAGES.items():
        plans = [loadtest.session_plan(i, page, phase) for phase in range(30) for i in sessions]
        assert len({plan["input"] for plan in plans}) == len(plans)  # no input sent twice
        if page in loadtest.TEXT_PAGES:
            token_sets = [set(plan["tokens"]) for plan in plans]
            assert sum(map(len, token_sets)) == len(set().union(*token_sets))  # no token shared by two sessions
        for plan in plans:
            query = urllib.parse.parse_qs(plan["query"])
            assert plan["press_key"] == press_key and query[press_key] == [str(loadtest.press_value(plan, 0))]
            assert query[input_key] == [plan["input"]]
            if page in loadtest.TEXT_PAGES:
                assert plan["input"] == " ".join(plan["tokens"])


def test_every_press_sets_a_new_value_within_the_slider():
    plan = loadtest.session_plan(12, "self-attention")  # first seed 84
    seeds = [loadtest.press_value(plan, step) for step in range(400)]
    assert seeds[:3] == [84, 85, 86] and seeds[14:18] == [98, 99, 98, 97]
    assert min(seeds) == 0 and max(seeds) == 99 and all(a != b for a, b in zip(seeds, seeds[1:]))
    dot = loadtest.session_plan(2, "dot-product")
    assert loadtest.press_value(dot, 0) == "3, 0, -2.5" and loadtest.press_value(dot, 5) == "3, 5, -2.5"


def test_foreign_labels_are_leaks():
    tokens = ["s01cat", "s01sat"]
    assert loadtest.foreign_labels(tokens, ["'\u2068s01cat\u2069' (#1)", "'\u2068s01sat\u2069' (#2)"]) == []
    assert loadtest.foreign_labels(tokens, ["s01cat", "s02sat"]) == ["s02sat"]
    assert loadtest.foreign_labels(tokens, ["s01cat"]) == ["s01cat"]  # another session's shorter text


def test_within_budget_and_training_factor():
    assert loadtest.within_budget([600, 1600], 600, 1024)
    assert not loadtest.within_budget([600, 1625], 600, 1024)
    assert loadtest.training_factor({"p50_ms": 200}, {"p50_ms": 350}) == 1.75


def test_the_load_factor_is_the_most_sessions_p50_over_one_sessions():
    levels = {"1": {"latency": {"p50_ms": 40}}, "5": {"latency": {"p50_ms": 50}}, "20": {"latency": {"p50_ms": 120}}}
    assert loadtest.load_factor(levels) == {"fewest": 1, "sessions": 20, "factor": 3.0, "met": True}
    levels["20"]["latency"]["p50_ms"] = 121
    assert loadtest.load_factor(levels)["met"] is False


def test_cpu_is_counted_per_rerun_and_apart_for_the_clients():
    # (server CPU s, clients' CPU s, (machine busy s, machine total s)): 10 s of two cores' time.
    before, after = (5.0, 1.0, (100.0, 200.0)), (7.5, 1.5, (107.0, 210.0))
    assert loadtest.cpu_shares(before, after, reruns=50) == {
        "server_cpu_per_rerun_ms": 50.0, "server_cpu_share": 0.25, "clients_cpu_share": 0.05,
        "machine_busy_share": 0.7}
    assert loadtest.cpu_shares(before, after, reruns=0)["server_cpu_per_rerun_ms"] is None
    assert loadtest.clients_cpu_seconds() > 0


def test_hostile_visits_include_issue_11s_url():
    visits = loadtest.hostile_visits()
    path, query = visits[0][1], urllib.parse.parse_qs(visits[0][2])
    assert path == "self-attention" and query["sa_units"] == ["64"] and query["sa_heads"] == ["64"]
    assert len(query["sa_text"][0].split()) == 1024


def test_the_committed_report_is_what_markdown_makes_of_the_committed_results():
    results = json.loads((ROOT / "bench" / "loadtest.json").read_text())
    assert (ROOT / "bench" / "LOADTEST.md").read_text() == loadtest.markdown(results)


def test_the_report_says_which_pages_met_the_target():
    results = json.loads((ROOT / "bench" / "loadtest.json").read_text())
    phase = {"sessions": 1, "latency": {"presses": 9, "p50_ms": 40.0, "p95_ms": 60.0, "max_ms": 70.0},
             "exceptions": 0, "checked": 9, "values_checked": 9, "leaks": 0, "server_cpu_per_rerun_ms": 30.0,
             "server_cpu_share": 0.01, "clients_cpu_share": 0.002, "machine_busy_share": 0.1}
    crowded = {**phase, "sessions": 20, "latency": {**phase["latency"], "p50_ms": 200.0}}
    results["load"] = {"think_s": [1.0, 3.0], "seconds": 30, "warm_s": 10, "pages": {"compare": {"1": phase, "20": crowded}}}
    results["load"]["factors"] = {"compare": loadtest.load_factor(results["load"]["pages"]["compare"])}
    results["training"] = {**crowded, "trainer": "Training: epoch 3 of 10 done", "auto_reruns": 40, "factor": 1.5}
    results["rss_mb"].update(during_load_max=900.0, after_load=880.0)
    report = loadtest.markdown(results)
    assert "| compare | 20 | 200 ms | 60 ms | 70 ms | 9 | 0 | 30 ms | 1% | 0% | 10% |" in report
    assert "| compare | 40 ms (1) | 200 ms (20) | 5.00x | MISSED |" in report
    assert "think time drawn uniformly from 1-3 s" in report
    assert "0 of 27 presses' charts" in report and "Training: epoch 3 of 10 done" in report


def test_a_light_client_presses_self_attention_and_reads_attention_cores_numbers():
    """The one live check: serve.py on a free port, one session, one seed press, its chart checked."""
    import asyncio

    from bench.run import APP, server

    plan = loadtest.session_plan(3, "self-attention")

    async def press_once(base):
        learner = loadtest.Learner(base, plan, think_s=(0, 0))
        await learner.open()
        await learner.press()
        await learner.close()
        return learner

    with server(APP, "test-loadtest") as (base, _):
        learner = asyncio.run(press_once(base))
    assert learner.exceptions == 0 and len(learner.latencies) == 1
    assert learner.readings[0][0] == loadtest.press_value(plan, 1)
    assert learner.checked() == (1, 1, 0)
