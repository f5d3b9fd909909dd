"""The process's computed results: one memory budget shared by every session (see webapp.budget),
and the function that computes a view within it.
"""

import gc

import streamlit as st

from webapp import budget
from webapp.turns import in_turn

# A full garbage collection walks the few hundred thousand objects TensorFlow and Keras create at
# import: Streamlit's own after every rerun did (it is off in .streamlit/config.toml), and
# Python's still do. Freezing them once, right after the heavy imports, moves them out of the
# collector's sight. Module code runs once per process, so this does too.
gc.freeze()


# Every session's computed arrays, cached and in progress, counted in bytes against one limit
# (ATTENTION_MEMORY_BUDGET_MB): see webapp.budget. Module code runs once per process,
# so every session shares this one. Built layers stay in st.cache_resource, bounded by count:
# their weights are a few kilobytes (at most 64 units over 16 features).
MEMORY = budget.MemoryBudget.from_environment()


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


def shared(key, compute):
    """`compute()`'s result, kept for `key` in the shared memory budget: for what a view derives
    from a cached trace (e.g. hover texts), which `key` must name with every setting it depends on."""
    return MEMORY.get_or_compute(key, compute)
