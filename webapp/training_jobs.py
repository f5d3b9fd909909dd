"""Train and watch's runs trained in the background: play, pause, step and cancel, the server's
training slots, and the finished runs kept for the next visitor with the same settings.

A `TrainingJob` trains one `Run` in a worker thread that never calls Streamlit; it is the run's
`Control`, so the loop asks it after every batch whether to go on, and blocks in it while paused.
Pages find a run's job with `TrainingJob.of(run)`.
"""

import threading
import time
import weakref
from collections import OrderedDict

from attention_core.learning.training import Control, RunStatus

# Runs that train at once in this process; more wait. Two cores: one run already uses both.
MAX_CONCURRENT_RUNS = 1
# A run whose page has not looked at it for this long was left (tab closed): it is cancelled.
# The page looks every half second while a run trains; a paused run is kept ten minutes.
ABANDONED_AFTER_SECONDS = 20
ABANDONED_WHILE_PAUSED_SECONDS = 600


class TrainingSlots:
    """At most `limit` jobs train at once; the others wait (status WAITING) for a slot."""

    def __init__(self, limit=MAX_CONCURRENT_RUNS):
        self._semaphore = threading.Semaphore(limit)
        self._holders = set()  # ids of the jobs holding a slot
        self._lock = threading.Lock()

    def acquire(self, job):
        """Wait for a slot for `job`; False when it was cancelled or abandoned meanwhile."""
        job.run.status = RunStatus.WAITING
        while not self._semaphore.acquire(timeout=0.2):
            if job.cancelled or job.abandoned():
                return False
        with self._lock:
            self._holders.add(id(job))
        return True

    def holds(self, job):
        with self._lock:
            return id(job) in self._holders

    def release(self, job):
        with self._lock:
            self._holders.remove(id(job))
        self._semaphore.release()


class FinishedRuns:
    """The last `size` finished runs by their settings, so a shared link shows its run at once."""

    def __init__(self, size=8):
        self._runs, self._size, self._lock = OrderedDict(), size, threading.Lock()

    @staticmethod
    def key(settings):
        return tuple(sorted(settings.items()))

    def get(self, settings):
        with self._lock:
            run = self._runs.get(self.key(settings))
            if run is not None:
                self._runs.move_to_end(self.key(settings))
            return run

    def put(self, run):
        with self._lock:
            self._runs[self.key(run.settings)] = run
            while len(self._runs) > self._size:
                self._runs.popitem(last=False)


SLOTS = TrainingSlots()
FINISHED_RUNS = FinishedRuns()
_JOBS = weakref.WeakKeyDictionary()  # run -> its job
_JOBS_LOCK = threading.Lock()


def _prepare_knock_out(run):
    """Compile a Transformer run's knock-out and importance now that it stopped, so the page's
    first head pressed answers at once (Run.prepare_knock_out)."""
    if run.is_transformer:
        run.prepare_knock_out()


class TrainingJob(Control):
    """One run's training in the background, with its controls. Thread-safe."""

    def __init__(self, run, slots=None, finished_runs=None):
        self.run = run
        self._slots, self._finished_runs = slots or SLOTS, finished_runs or FINISHED_RUNS
        self._control = threading.Condition()
        self._paused = self._cancelled = False
        self._pause_after_epoch = None
        self._last_seen = None  # None: nobody watches yet, so never abandoned
        with _JOBS_LOCK:
            _JOBS[run] = self

    @staticmethod
    def of(run):
        """`run`'s job: the one made for it, else a new one (not started)."""
        with _JOBS_LOCK:
            job = _JOBS.get(run)
        return job if job is not None else TrainingJob(run)

    # ------------------------------------------------------------------ the controls

    def start(self):
        """Train the run in a daemon worker thread, once a training slot is free; returns the thread."""
        self.touch()
        self.run.status = RunStatus.WAITING
        thread = threading.Thread(target=self._train, daemon=True,
                                  name=f"train-{self.run.settings['name']}-{self.run.settings['seed']}")
        thread.start()
        return thread

    def pause(self):
        with self._control:
            self._paused = True

    def play(self):
        """Resume training (or let a waiting-to-start run start)."""
        with self._control:
            self._paused, self._pause_after_epoch = False, None
            self._wake()

    def step(self):
        """Train one more epoch, then pause."""
        with self._control:
            self._pause_after_epoch = self.run.epochs_done + 1
            self._paused = False
            self._wake()

    def cancel(self):
        with self._control:
            self._cancelled = True
            self._control.notify_all()

    def touch(self):
        """Say that a page still shows this run (see ABANDONED_AFTER_SECONDS)."""
        self._last_seen = time.monotonic()

    @property
    def cancelled(self):
        return self._cancelled

    def abandoned(self):
        if self._last_seen is None:
            return False
        limit = ABANDONED_WHILE_PAUSED_SECONDS if self._paused else ABANDONED_AFTER_SECONDS
        return time.monotonic() - self._last_seen > limit

    def _wake(self):
        # Waiting for a slot again from now, so a page polls until training resumes.
        if self.run.status == RunStatus.PAUSED:
            self.run.status = RunStatus.WAITING
        self._control.notify_all()

    # ------------------------------------------------------------------ what the loop asks (Control)

    def keep_going(self, run):
        """Block while paused (giving the training slot to others); False to stop training."""
        with self._control:
            was_paused = self._paused and not self._cancelled
            if was_paused:
                run.status = RunStatus.PAUSED
                self._slots.release(self)
        if was_paused:
            _prepare_knock_out(run)  # outside the lock: Play may come meanwhile
        with self._control:
            if was_paused:
                while self._paused and not self._cancelled and not self.abandoned():
                    self._control.wait(timeout=0.5)
            if self.abandoned():
                self._cancelled = True
            if self._cancelled:
                return False
        if was_paused:
            if not self._slots.acquire(self):
                return False
            run.status = RunStatus.TRAINING
        return True

    def epoch_ended(self, run):
        with self._control:
            if self._pause_after_epoch is not None and run.epochs_done >= self._pause_after_epoch:
                self._pause_after_epoch = None
                if run.epochs_done < run.settings["epochs"]:
                    self._paused = True

    # ------------------------------------------------------------------ the worker

    def _train(self):
        run = self.run
        try:
            if not self._slots.acquire(self):
                run.status = RunStatus.CANCELLED
                return
            run.fit(control=self)
            if run.status == RunStatus.FINISHED:
                self._finished_runs.put(run)
                _prepare_knock_out(run)
        except Exception as error:  # the worker's only report is the run itself
            run.status, run.error = RunStatus.FAILED, f"{type(error).__name__}: {error}"
        finally:
            if self._slots.holds(self):
                self._slots.release(self)
