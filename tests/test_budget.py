"""The memory budget: bytes counted, LRU eviction, reservations, thread safety, the view caps and their message."""

import math
import os
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

import attention_core as ac
from webapp import budget, costs
from webapp.budget import MB, MemoryBudget, ViewTooLarge, nbytes_of

PAGES = pathlib.Path(__file__).resolve().parent.parent / "pages"


def array(nbytes):
    return np.zeros(nbytes, dtype=np.uint8)


# --- counting bytes ---------------------------------------------------------------------------

def test_nbytes_counts_arrays_in_containers_and_dataclasses_once():
    a, b = np.zeros((10, 10), np.float32), np.zeros(7, np.float64)
    assert nbytes_of(a) == 400
    assert nbytes_of(a[2:5]) == 400  # a view holds its base's buffer
    assert nbytes_of((a, a[1:], b)) - nbytes_of(()) - 3 * 8 == 400 + 56  # a and its view counted once
    tokens, x = ac.encode_text("the cat sat", 16)
    trace = ac.trace_self_attention(ac.SelfAttention(4, num_heads=2, seed=0), x)
    arrays = [trace.inputs, trace.query, trace.key, trace.value, trace.raw_scores, trace.scaled_scores,
              trace.attention_mask, trace.weights, trace.context, trace.output,
              trace.query_dense.kernel, trace.query_dense.bias, trace.key_dense.kernel, trace.key_dense.bias,
              trace.value_dense.kernel, trace.value_dense.bias]
    assert nbytes_of(trace) >= sum(a.nbytes for a in arrays)
    assert nbytes_of(trace) < sum(a.nbytes for a in arrays) + 1000  # plus the float scale, not more


def test_budget_from_environment():
    assert budget.budget_from_environment({}) == 1024 * MB
    assert budget.budget_from_environment({"ATTENTION_MEMORY_BUDGET_MB": " 300 "}) == 300 * MB
    for bad in ("lots", "-5", "1.5", "63", "1e9"):
        with pytest.raises(ValueError, match=r"ATTENTION_MEMORY_BUDGET_MB must be a whole number of megabytes, at least 64"):
            budget.budget_from_environment({"ATTENTION_MEMORY_BUDGET_MB": bad})


# --- the cache --------------------------------------------------------------------------------

def test_cache_is_bounded_in_bytes_and_drops_the_least_recently_used():
    memory = MemoryBudget(1000, size_of=len)
    memory.get_or_compute("a", lambda: "x" * 400)
    memory.get_or_compute("b", lambda: "x" * 400)
    assert memory.get_or_compute("a", lambda: pytest.fail("recomputed a cached result")) == "x" * 400  # a is now recent
    memory.get_or_compute("c", lambda: "x" * 400)  # 1200 bytes: b, the least recently used, goes
    assert ("a" in memory, "b" in memory, "c" in memory) == (True, False, True)
    assert memory.cached_bytes == 800
    memory.get_or_compute("huge", lambda: "x" * 1001)  # larger than the whole budget: returned, never kept
    assert "huge" not in memory and memory.cached_bytes == 800


def test_a_reservation_makes_room_by_dropping_cached_results():
    memory = MemoryBudget(1000, size_of=len)
    memory.get_or_compute("a", lambda: "x" * 300)
    memory.get_or_compute("b", lambda: "x" * 300)
    seen = []
    memory.get_or_compute("c", lambda: seen.append((memory.cached_bytes, memory.reserved_bytes)) or "x", peak_bytes=500)
    assert seen == [(300, 500)]  # a went to make room for the peak; b stayed
    assert memory.reserved_bytes == 0 and "b" in memory and "a" not in memory


def test_a_failed_computation_releases_its_reservation_and_is_not_cached():
    memory = MemoryBudget(1000, size_of=len)

    def fail():
        raise ac.InputError("bad text")

    with pytest.raises(ac.InputError):
        memory.get_or_compute("k", fail, peak_bytes=500)
    assert memory.reserved_bytes == 0 and "k" not in memory
    assert memory.get_or_compute("k", lambda: "ok", peak_bytes=500) == "ok"


def test_cached_decorator_keys_on_arguments_including_arrays():
    memory = MemoryBudget(10 * MB)
    calls = []

    @memory.cached
    def total(values, scale):
        calls.append(1)
        return float(np.sum(values)) * scale

    assert total(np.array([1.0, 2.0]), 2) == 6.0
    assert total(np.array([1.0, 2.0]), 2) == 6.0
    assert total(np.array([1.0, 3.0]), 2) == 8.0
    assert total([1.0, 2.0], 3) == 9.0  # a list is keyed as a tuple
    assert len(calls) == 3 and total.__name__ == "total"


def test_peaks_over_one_views_share_are_refused():
    memory = MemoryBudget(1000)
    assert memory.view_limit_bytes == 500
    with pytest.raises(ValueError, match="at most 500"):
        memory.get_or_compute("k", lambda: None, peak_bytes=501)


# --- threads ----------------------------------------------------------------------------------

def test_concurrent_sessions_asking_for_one_result_compute_it_once():
    def slow_size(value):  # a slow count must not open a window in which waiters recompute
        time.sleep(0.05)
        return nbytes_of(value)

    memory = MemoryBudget(10 * MB, size_of=slow_size)
    calls, results = [], []
    start = threading.Barrier(8)

    def compute():
        calls.append(1)
        time.sleep(0.05)
        return array(1000)

    def session():
        start.wait()
        results.append(memory.get_or_compute("shared", compute, peak_bytes=MB))

    threads = [threading.Thread(target=session) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert all(result is results[0] for result in results)


def test_concurrent_computations_never_hold_more_than_the_budget():
    """Many threads with random keys and peaks: cached + reserved bytes stay within the limit."""
    limit = 10_000
    memory = MemoryBudget(limit)
    over, running, most_running = [], [], [0]
    lock = threading.Lock()

    def compute(size):
        with lock:
            running.append(size)
            most_running[0] = max(most_running[0], len(running))
            if memory.cached_bytes + memory.reserved_bytes > limit:
                over.append((memory.cached_bytes, memory.reserved_bytes))
        time.sleep(0.002)
        with lock:
            running.remove(size)
        return array(size)

    def session(seed):
        rng = np.random.default_rng(seed)
        for _ in range(60):
            size = int(rng.integers(100, limit // 2))
            key = int(rng.integers(0, 12))
            value = memory.get_or_compute((key, size), lambda: compute(size), peak_bytes=size)
            assert value.nbytes == size

    threads = [threading.Thread(target=session, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert over == []
    assert most_running[0] >= 2  # the threads did overlap, so the bound was tested
    assert memory.reserved_bytes == 0
    assert memory.cached_bytes == sum(size for _, size in memory._entries.values()) <= limit


# --- the views' costs and the cap message -----------------------------------------------------

def test_self_attention_cost_hand_worked():
    cost = costs.self_attention_cost(1024, 64, 64)
    assert cost.peak_bytes == 33 * 64 * 1024**2  # 2112 MiB
    assert cost.description == "64 heads × 1,024² token pairs"
    # 512 MiB fit 15 heads at 1024 tokens; 8 is the largest that divides 64 units.
    assert cost.advice(512 * MB) == ("To fit, use at most 8 heads at 1,024 tokens with 64 units, "
                                     f"or use at most {math.isqrt(512 * MB // (33 * 64)):,} tokens with 64 heads.")
    assert costs.self_attention_cost(16, 1, 8).statement == "Computing 1 head × 16² token pairs: about 1 s."


def test_a_knock_out_costs_two_runs_of_the_model():
    model = ac.load_keras_model(PAGES.parent / "examples" / "sentiment.keras")
    inputs = ac.model_inputs_from_text(model, "the film was not good")
    read, knock = costs.attention_cost(model, inputs), costs.knock_out_cost(model, inputs)
    assert (knock.peak_bytes, knock.seconds) == (2 * read.peak_bytes, 2 * read.seconds)
    assert knock.description == f"the model twice, {read.description}"
    assert knock.advice(MB) == read.advice(MB)


def test_check_says_the_limit_the_knob_and_what_to_change():
    memory = MemoryBudget(1024 * MB)
    memory.check(costs.self_attention_cost(1024, 8, 64))  # 264 MiB: fits
    with pytest.raises(ViewTooLarge) as raised:
        memory.check(costs.self_attention_cost(1024, 64, 64))
    message = str(raised.value)
    assert isinstance(raised.value, ac.InputError)  # pages show it as they show bad input
    for part in ("2,112 MB", "at most 512 MB", "1,024 MB", "ATTENTION_MEMORY_BUDGET_MB", "at most 8 heads"):
        assert part in message


@settings(max_examples=200, deadline=None)
@given(tokens=st.integers(1, 1024), units=st.integers(1, 64), data=st.data(),
       limit_mb=st.sampled_from([64, 256, 512, 2048]))
def test_the_advice_fits_and_is_the_most_that_fits(tokens, units, data, limit_mb):
    """What the message advises fits within the limit, and one more token or head would not."""
    num_heads = data.draw(st.sampled_from([n for n in range(1, units + 1) if units % n == 0]))
    limit = limit_mb * MB
    advice = costs.self_attention_cost(tokens, num_heads, units).advice(limit)
    most_tokens = int(advice.rsplit("at most ", 1)[1].split(" tokens")[0].replace(",", ""))
    if most_tokens:
        assert costs.self_attention_cost(most_tokens, num_heads, units).peak_bytes <= limit
    assert costs.self_attention_cost(most_tokens + 1, num_heads, units).peak_bytes > limit
    if "heads at" in advice:
        most_heads = int(advice.split("at most ", 1)[1].split(" heads")[0])
        assert units % most_heads == 0
        assert costs.self_attention_cost(tokens, most_heads, units).peak_bytes <= limit
    compare_advice = costs.comparison_cost(tokens, units, num_heads).advice(limit)
    most_tokens = int(compare_advice.rsplit("at most ", 1)[1].split(" tokens")[0].replace(",", ""))
    assert costs.comparison_cost(most_tokens, units, num_heads).peak_bytes <= limit
    assert costs.comparison_cost(most_tokens + 1, units, num_heads).peak_bytes > limit


def test_a_traces_kept_bytes_are_below_its_estimated_peak():
    """The estimate is a peak: it must exceed what the finished trace keeps (3 float32 maps a head-cell)."""
    tokens, x = ac.encode_text(" ".join(f"w{i}" for i in range(64)), 16)
    trace = ac.trace_self_attention(ac.SelfAttention(8, num_heads=4, seed=0), x)
    assert 3 * 4 * 4 * 64**2 < nbytes_of(trace) < costs.self_attention_cost(64, 4, 8).peak_bytes


LONG_TEXT = " ".join(f"w{i}" for i in range(1024))


@pytest.mark.parametrize("page, params, advice", [
    ("3_Self_attention.py", {"sa_units": "64", "sa_heads": "64", "sa_text": LONG_TEXT},
     "use at most 8 heads at 1\\,024 tokens with 64 units"),
    ("5_Compare.py", {"cmp_units": "64", "cmp_heads": "64", "cmp_text": LONG_TEXT},
     "use at most 8 units and 8 heads at 1\\,024 tokens"),
])
def test_a_view_over_the_budget_shows_the_limit_and_computes_nothing(page, params, advice):
    """Issue 11's URL (64 heads × 1024 tokens) gets a message, not 2 GB of arrays."""
    from webapp import shared_results, turns

    before = shared_results.MEMORY.cached_bytes, len(shared_results.MEMORY)
    app = AppTest.from_file(str(PAGES / page), default_timeout=60)
    app.query_params.update(params)
    app.run()
    assert not app.exception
    [error] = app.error
    assert "too large for the server" in error.value and "ATTENTION\\_MEMORY\\_BUDGET\\_MB" in error.value
    assert "at most 512 MB" in error.value and advice in error.value
    assert len(app.get("plotly_chart")) == 0
    assert shared_results.MEMORY.cached_bytes - before[0] < MB  # only the text's token vectors were kept


def test_a_mistyped_budget_stops_the_server_at_start_with_what_is_allowed():
    root = PAGES.parent
    result = subprocess.run([sys.executable, "serve.py", "--server.port", "1"], cwd=root, capture_output=True, text=True,
                            env={**os.environ, "ATTENTION_MEMORY_BUDGET_MB": "2GB"}, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "serve.py: ATTENTION_MEMORY_BUDGET_MB must be a whole number of megabytes, at least 64; "
        "received '2GB'. Unset it for the default, 1024.")


def test_the_heads_control_states_one_views_memory_limit():
    app = AppTest.from_file(str(PAGES / "3_Self_attention.py"), default_timeout=60)
    app.run()
    [heads] = [slider for slider in app.select_slider if slider.key == "sa_heads"]
    assert "one view may use at most 512 MB of the server's (ATTENTION_MEMORY_BUDGET_MB)" in heads.help


def test_the_pages_keras_computations_take_turns():
    # Eager TensorFlow releases the GIL on every op, so sessions computing at once slowed each
    # other op by op; webapp.turns runs them one at a time (a nested turn is the same turn).
    from webapp import shared_results, turns

    inside, overlaps = [], []

    def compute():
        overlaps.append(len(inside))
        inside.append(1)
        time.sleep(0.05)
        turns.in_turn(lambda: None)  # nested: must not wait on itself
        inside.pop()

    threads = [threading.Thread(target=turns.in_turn, args=(compute,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert overlaps == [0, 0, 0, 0]
