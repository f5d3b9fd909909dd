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


def test_every_session_has_its_own_tokens_and_a_url_that_sets_them():
    plans = [loadtest.session_plan(i) for i in range(loadtest.SESSIONS)]
    token_sets = [set(plan["tokens"]) for plan in plans if plan["tokens"]]
    assert sum(map(len, token_sets)) == len(set().union(*token_sets))  # no token shared by two sessions
    assert {plan["page"] for plan in plans} == set(loadtest.PAGES)
    for plan in plans:
        query = urllib.parse.parse_qs(plan["query"])
        seed_key, text_key, _ = loadtest.PAGES[plan["page"]]
        assert query[seed_key] == [str(plan["seed"])]
        if text_key:
            assert query[text_key] == [" ".join(plan["tokens"])]


def test_foreign_labels_are_leaks():
    tokens = ["s01cat", "s01sat"]
    assert loadtest.foreign_labels(tokens, ["'\u2068s01cat\u2069' (#1)", "'\u2068s01sat\u2069' (#2)"]) == []
    assert loadtest.foreign_labels(tokens, ["s01cat", "s02sat"]) == ["s02sat"]
    assert loadtest.foreign_labels(tokens, ["s01cat"]) == ["s01cat"]  # another session's shorter text


def test_within_budget_and_training_factor():
    assert loadtest.within_budget([600, 1600], 600, 1024)
    assert not loadtest.within_budget([600, 1625], 600, 1024)
    assert loadtest.training_factor({"p50_ms": 200}, {"p50_ms": 350}) == 1.75


def test_hostile_visits_include_issue_11s_url():
    visits = loadtest.hostile_visits()
    path, query = visits[0][1], urllib.parse.parse_qs(visits[0][2])
    assert path == "self-attention" and query["sa_units"] == ["64"] and query["sa_heads"] == ["64"]
    assert len(query["sa_text"][0].split()) == 1024


def test_the_committed_report_is_what_markdown_makes_of_the_committed_results():
    results = json.loads((ROOT / "bench" / "loadtest.json").read_text())
    assert (ROOT / "bench" / "LOADTEST.md").read_text() == loadtest.markdown(results)
