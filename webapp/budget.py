"""A memory budget for computed views: one byte-bounded cache shared by every session.

A view's arrays grow with heads × tokens²: 64 heads at 1024 tokens hold 0.8 GB and need 2 GB
while TensorFlow computes them, so a cache bounded by entries, or one view from a shared URL,
could take the server down. Here every computed result and every computation in progress is
counted in bytes against one limit:

    cached bytes (results kept for reuse) + reserved bytes (peaks of computations running) ≤ budget

- A computation first reserves its estimated peak. Least recently used results are dropped to
  make room; when computations in other sessions hold the rest, it waits for them to finish.
- One view may reserve at most half the budget (`view_limit_bytes`), so two can always run at
  once; a larger one is refused with `ViewTooLarge`, which says what to change.
- Sessions run in threads, so all of it is behind one lock; a result computed by one session is
  shared (read-only) with every other that asks for the same arguments, and two sessions asking
  for the same result at once compute it once.

The budget is `ATTENTION_MEMORY_BUDGET_MB` megabytes (default 1024: a replica limited to 2 GiB
idles at ~620 MB). What each view costs is estimated in `webapp.costs`.
"""

import collections
import dataclasses
import functools
import os
import sys
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from attention_core.text.validation import InputError

BUDGET_ENV = "ATTENTION_MEMORY_BUDGET_MB"
DEFAULT_BUDGET_MB = 1024
MIN_BUDGET_MB = 64  # below this not even a default view fits
MB = 2**20  # the budget counts in MiB, as Kubernetes' "2Gi" does


class ViewTooLarge(InputError):
    """A view whose computation would take more than one view's share of the memory budget."""


@dataclass(frozen=True)
class ViewCost:
    """What one view computes, the memory it needs while computing, and how long it takes."""

    description: str  # what is computed, e.g. "64 heads × 1,024² token pairs"
    peak_bytes: int  # estimated peak memory of the computation
    seconds: float  # estimated time on one core of the measured machine
    advice: Callable[[int], str]  # what to change for the view to need at most that many bytes

    @property
    def statement(self):
        """A line to show while the view computes, e.g. "Computing 8 heads × 1,024² … about 1 s"."""
        return f"Computing {self.description}: about {max(1, round(self.seconds))} s."


def nbytes_of(value, _seen=None):
    """Bytes a cached value holds: its NumPy arrays' buffers, text, and containers' items.

    Recurses through tuples, lists, dicts and dataclasses; an object reached twice counts once.
    Other objects count their `sys.getsizeof`.
    """
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        # A view's buffer belongs to its base, which is counted where it is reached.
        return value.nbytes if value.base is None else nbytes_of(value.base, seen)
    if isinstance(value, (str, bytes)):
        return sys.getsizeof(value)
    if isinstance(value, (tuple, list)):
        return sys.getsizeof(value) + sum(nbytes_of(item, seen) for item in value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(nbytes_of(k, seen) + nbytes_of(v, seen) for k, v in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes_of(getattr(value, field.name), seen) for field in dataclasses.fields(value))
    return sys.getsizeof(value)


def budget_from_environment(environ=os.environ):
    """The memory budget in bytes from ATTENTION_MEMORY_BUDGET_MB (whole megabytes), else the default."""
    text = environ.get(BUDGET_ENV, "").strip()
    if not text:
        return DEFAULT_BUDGET_MB * MB
    if not text.isdecimal() or int(text) < MIN_BUDGET_MB:
        raise ValueError(f"{BUDGET_ENV} must be a whole number of megabytes, at least {MIN_BUDGET_MB}; "
                         f"received {text!r}. Unset it for the default, {DEFAULT_BUDGET_MB}.")
    return int(text) * MB


class MemoryBudget:
    """An LRU cache of computed results bounded in bytes, which also meters computations in progress.

    Thread-safe. Results are shared between callers, so they must never be mutated (the traces'
    arrays are read-only).
    """

    def __init__(self, limit_bytes, size_of=nbytes_of):
        if limit_bytes <= 0:
            raise ValueError(f"Expected a positive budget. Received: limit_bytes={limit_bytes}")
        self.limit_bytes = int(limit_bytes)
        self.view_limit_bytes = self.limit_bytes // 2
        self._size_of = size_of
        self._entries = collections.OrderedDict()  # key -> (value, bytes), least recently used first
        self._cached_bytes = 0
        self._reserved_bytes = 0
        self._pending = set()  # keys being computed
        self._lock = threading.Condition()

    @classmethod
    def from_environment(cls, environ=os.environ):
        return cls(budget_from_environment(environ))

    @property
    def cached_bytes(self):
        return self._cached_bytes

    @property
    def reserved_bytes(self):
        return self._reserved_bytes

    def __len__(self):
        return len(self._entries)

    def __contains__(self, key):
        with self._lock:
            return key in self._entries

    def check(self, cost):
        """Raise ViewTooLarge when `cost` needs more than one view may; says the limit and what to change."""
        if cost.peak_bytes > self.view_limit_bytes:
            raise ViewTooLarge(
                f"This view is too large for the server: {cost.description} need about "
                f"{cost.peak_bytes / MB:,.0f} MB while they are computed, and one view may use at most "
                f"{self.view_limit_bytes / MB:,.0f} MB (half the server's memory budget of "
                f"{self.limit_bytes / MB:,.0f} MB, set by {BUDGET_ENV}). {cost.advice(self.view_limit_bytes)}"
            )

    def get_or_compute(self, key, compute, peak_bytes=0):
        """The cached result for `key`, else `compute()`'s, kept while the budget allows.

        `peak_bytes` is reserved while `compute` runs; it must be at most `view_limit_bytes`
        (call `check` first). Computations nested inside another's must pass 0: the outer one's
        reservation covers them, and a nested reservation could wait on the outer one forever.
        """
        if peak_bytes > self.view_limit_bytes:
            raise ValueError(f"Expected peak_bytes of at most {self.view_limit_bytes}. Received: {peak_bytes}")
        with self._lock:
            while True:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key][0]
                if key not in self._pending:
                    self._evict_until(self.limit_bytes - self._reserved_bytes - peak_bytes)
                    if self._cached_bytes + self._reserved_bytes + peak_bytes <= self.limit_bytes:
                        break
                # Another session is computing this key, or holds the memory this needs: wait.
                self._lock.wait()
            self._pending.add(key)
            self._reserved_bytes += peak_bytes
        try:
            value = compute()
            size = self._size_of(value)
        except BaseException:
            with self._lock:
                self._release(key, peak_bytes)
            raise
        # Kept in the same step as the release, so a session waiting for this key finds it.
        with self._lock:
            self._release(key, peak_bytes)
            self._keep(key, value, size)
        return value

    def cached(self, function):
        """Decorate a function of hashable arguments (NumPy arrays allowed) to cache it here, reserving nothing."""

        @functools.wraps(function)
        def wrapper(*args):
            return self.get_or_compute((function.__qualname__, *map(_hashable, args)), lambda: function(*args))

        return wrapper

    def _release(self, key, peak_bytes):
        """End a computation (the lock held): its key and reservation go, and waiters look again."""
        self._pending.discard(key)
        self._reserved_bytes -= peak_bytes
        self._lock.notify_all()

    def _keep(self, key, value, size):
        """Cache a result (the lock held) unless it cannot fit beside the reservations even alone."""
        if size > self.limit_bytes - self._reserved_bytes:
            return
        self._entries[key] = (value, size)
        self._cached_bytes += size
        self._evict_until(self.limit_bytes - self._reserved_bytes)

    def _evict_until(self, allowed_cached_bytes):
        """Drop least recently used results until the cache holds at most `allowed_cached_bytes`."""
        while self._entries and self._cached_bytes > allowed_cached_bytes:
            _, (_, size) = self._entries.popitem(last=False)
            self._cached_bytes -= size


def _hashable(argument):
    """A cache key part for an argument: arrays by dtype, shape and bytes, lists as tuples."""
    if isinstance(argument, np.ndarray):
        return ("ndarray", argument.dtype.str, argument.shape, argument.tobytes())
    if isinstance(argument, list):
        return tuple(map(_hashable, argument))
    return argument
