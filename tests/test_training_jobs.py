"""The app's background training jobs (webapp.training_jobs): a job obeys pause, step, cancel,
the server-wide cap of training slots and an abandoned page."""

import time

import pytest

import attention_core as ac
from webapp import training_jobs
from webapp.training_jobs import TrainingJob

# 640 examples in batches of 32: 20 steps an epoch, a frame every 2 of them.
TINY = {"units": 16, "learning_rate": 0.02, "batch_size": 32, "record_every": 2, "frame_examples": 50}


@pytest.fixture(scope="module")
def task():
    return ac.make_task("reverse", length=4, vocab_size=5, num_examples=640, num_heldout=60)


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)  # polling a worker thread's progress, not a synchronization


def test_step_trains_one_epoch_then_pauses_and_play_finishes(task):
    slots, finished = training_jobs.TrainingSlots(1), training_jobs.FinishedRuns()
    run = ac.Run(task, epochs=2, **TINY)
    job = TrainingJob(run, slots, finished)
    job.step()
    job.start()
    wait_for(lambda: run.status == "paused")
    assert run.epochs_done == 1 and run.history[-1].epoch == 1.0
    assert finished.get(run.settings) is None
    other = ac.Run(task, **TINY)
    assert slots.acquire(TrainingJob(other))  # a paused run leaves its slot to others
    job.play()
    time.sleep(0.3)
    assert run.status == "waiting"  # until that slot comes back
    slots.release(TrainingJob.of(other))
    wait_for(lambda: run.status == "finished")
    assert run.epochs_done == 2 and finished.get(run.settings) is run


def test_past_the_cap_a_run_waits_and_cancel_stops_it(task):
    slots, finished = training_jobs.TrainingSlots(1), training_jobs.FinishedRuns()
    first, second = ac.Run(task, epochs=50, **TINY), ac.Run(task, epochs=50, **TINY)
    TrainingJob(first, slots, finished).start()
    wait_for(lambda: first.status == "training" and len(first.history) > 1)
    TrainingJob(second, slots, finished).start()
    time.sleep(0.3)
    assert second.status == "waiting" and second.history == []
    TrainingJob.of(first).cancel()
    wait_for(lambda: first.status == "cancelled")
    wait_for(lambda: second.status == "training")
    TrainingJob.of(second).cancel()
    wait_for(lambda: second.status == "cancelled")
    assert first.epochs_done < 50 and finished.get(first.settings) is None


def test_a_run_nobody_watches_is_cancelled(task, monkeypatch):
    monkeypatch.setattr(training_jobs, "ABANDONED_AFTER_SECONDS", 0.5)
    run = ac.Run(task, epochs=50, **TINY)
    TrainingJob(run, training_jobs.TrainingSlots(1), training_jobs.FinishedRuns()).start()
    wait_for(lambda: run.status == "cancelled")
    assert run.epochs_done < 50
