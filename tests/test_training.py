"""Training runs: a tiny run learns and records a frame per recorded step, runs are deterministic
(also two at once in two threads), the score is worked by hand, and a Control stops the loop.
(The app's background jobs: tests/test_training_jobs.py.)"""

import threading
import time

import keras
import numpy as np
import pytest

import attention_core as ac
from attention_core.learning import encoder_decoder, tasks, training

# 640 examples in batches of 32: 20 steps an epoch, a frame every 2 of them.
TINY = {"units": 16, "learning_rate": 0.02, "batch_size": 32, "record_every": 2, "frame_examples": 50}


@pytest.fixture(scope="module")
def task():
    return ac.make_task("reverse", length=4, vocab_size=5, num_examples=640, num_heldout=60)


@pytest.fixture(scope="module")
def tiny_run(task):
    return ac.train(task, epochs=3, **TINY)


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)  # polling a worker thread's progress, not a synchronization


def test_alignment_score_worked_by_hand():
    # Two output steps over three inputs. Step 0 looks hardest at input 2 (ideal: 2) -> hit;
    # step 1 at input 0 (ideal: 1) -> miss; a third step with an empty ideal row is left out.
    alignments = [[[0.1, 0.2, 0.7], [0.5, 0.4, 0.1], [0.3, 0.3, 0.4]]]
    ideals = [[[0, 0, 1], [0, 1, 0], [0, 0, 0]]]
    assert ac.alignment_score(alignments, ideals) == 0.5
    # With two ideal positions (a repeated symbol in sort), either one counts.
    assert ac.alignment_score([[[0.6, 0.1, 0.3]]], [[[1, 0, 1]]]) == 1.0


def test_a_tiny_run_lowers_the_loss_and_records_a_matrix_per_recorded_step(tiny_run, task):
    history = tiny_run.history
    assert len(history) == 1 + 3 * 20 // 2  # the untrained frame, then every 2nd of 60 steps
    assert [frame.step for frame in history] == list(range(0, 61, 2))
    assert np.isnan(history[0].loss)
    assert history[-1].loss < 0.5 * history[1].loss
    assert history[-1].accuracy > history[0].accuracy
    for frame in history:
        assert frame["alignment"].shape == (task.target_length, task.length)
        np.testing.assert_allclose(frame.alignment.sum(-1), 1.0, atol=1e-5)
    assert history[-1].epoch == 3.0 and history[10].epoch == 1.0
    assert tiny_run.status == "finished" and tiny_run.epochs_done == 3
    assert [result["epoch"] for result in tiny_run.epoch_results] == [1, 2, 3]


def test_frames_hold_what_the_model_computes(tiny_run, task):
    # The last frame's probe alignment is the trained model's greedy decoding of the probe,
    # and its scores are the frame examples' greedy decodings against the task's answers.
    outputs, alignment = tiny_run.predict(tiny_run.probe_source)
    np.testing.assert_allclose(tiny_run.history[-1].alignment, alignment, atol=1e-6)
    # The probe is the first frame example (of 50) whose symbols are all distinct.
    distinct = [len(set(source)) == len(source) for source in task.heldout_sources[:50].tolist()]
    assert np.array_equal(tiny_run.probe_source, task.heldout_sources[distinct.index(True)])
    decoded = [tiny_run.predict(source) for source in task.heldout_sources[:50]]
    right = np.array([out for out, _ in decoded]) == task.heldout_targets[:50]
    assert tiny_run.history[-1].accuracy == pytest.approx(right.mean())
    ideals = np.stack([task.ideal_alignment(s) for s in task.heldout_sources[:50]])
    assert tiny_run.history[-1].alignment_score == pytest.approx(ac.alignment_score(np.stack([a for _, a in decoded]), ideals))


def test_same_settings_same_run_also_two_at_once_in_threads(tiny_run, task):
    runs = [ac.Run(task, epochs=3, **TINY) for _ in range(2)]
    threads = [threading.Thread(target=run.fit) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for run in runs:
        assert [f.loss for f in run.history][1:] == [f.loss for f in tiny_run.history][1:]
        for mine, theirs in zip(run.history, tiny_run.history):
            assert np.array_equal(mine.alignment, theirs.alignment)
        for a, b in zip(run.model.weights, tiny_run.model.weights):
            assert np.array_equal(a.numpy(), b.numpy())


def test_predict_and_the_additive_pipeline(tiny_run, task):
    source = task.encode("4031")
    outputs, alignment = tiny_run.predict(source)
    assert outputs.shape == (4,) and alignment.shape == (4, 4)
    trace = tiny_run.attention_trace(source, output_step=2)
    np.testing.assert_allclose(trace.weights[:, 0], alignment[2], atol=1e-5)
    assert trace.features_projection.shape == (4, 16)  # W1(encoder states)
    with pytest.raises(ac.InputError, match="Id 9 is not in this task's vocabulary"):
        tiny_run.predict([9, 2, 2, 2])
    with pytest.raises(ac.InputError, match="Give one source of 1 to 4 ids"):
        tiny_run.predict([2, 2, 2, 2, 2])


def test_word_dropout_blanks_a_fraction_of_the_fed_symbols_for_sort_only(task):
    sort = ac.make_task("sort", length=8, num_examples=2000, num_heldout=8)
    run = ac.Run(sort, units=8, frame_examples=8)
    targets = sort.train_sources[:1000]  # any (N, T) ids above the markers
    fed, teacher = run.fed(targets), np.asarray(encoder_decoder.decoder_inputs(targets))
    assert np.array_equal(fed, run.fed(targets))  # the seed and epoch decide which
    assert np.all(fed[:, 0] == tasks.START_ID)
    blanked = fed[:, 1:] == tasks.PAD_ID
    assert np.array_equal(fed[:, 1:][~blanked], teacher[:, 1:][~blanked])
    assert 0.28 < blanked.mean() < 0.32
    run.epochs_done = 1
    assert not np.array_equal(run.fed(targets), fed)  # other symbols in the next epoch
    reverse = ac.Run(task, units=8, frame_examples=8)
    assert np.array_equal(reverse.fed(task.train_targets), encoder_decoder.decoder_inputs(task.train_targets))


def test_the_additive_pipeline_with_coverage_matches_every_decoding_step():
    # Sort reads with coverage: a step's features hold what the earlier steps read, so the
    # pipeline's weights are the decoding's at every step, not only at the first.
    sort = ac.make_task("sort", length=4, vocab_size=5, num_examples=64, num_heldout=8)
    run = ac.Run(sort, units=8, batch_size=32, frame_examples=8)
    run.model.coverage_layer.kernel.assign(np.full((1, 8), 2.0, "float32"))  # a read position looks different
    source = sort.heldout_sources[0]
    _, alignment = run.predict(source)
    for step in range(4):
        np.testing.assert_allclose(run.attention_trace(source, step).weights[:, 0], alignment[step], atol=1e-5)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mechanism": "cosine"}, "not an attention mechanism"),
        ({"units": 0}, "at least 1"),
        ({"units": 1000}, "the limit is 256"),
        ({"epochs": 51}, "the limit is 50"),
        ({"learning_rate": 0}, "above 0"),
        ({"mechanism": "transformer", "num_layers": 0}, "The number of layers"),
        ({"mechanism": "transformer", "num_layers": 5}, "the limit is 4"),
        ({"mechanism": "transformer", "num_heads": 9}, "the limit is 8"),
        ({"mechanism": "transformer", "units": 64, "num_heads": 3}, "do not split into 3 heads"),
    ],
)
def test_bad_settings_are_input_errors(task, settings, message):
    with pytest.raises(ac.InputError, match=message):
        ac.Run(task, **settings)


def test_layers_and_heads_are_the_transformers_settings_only(task):
    assert "num_heads" not in ac.Run.settings_for(task, "additive", num_heads=2)
    settings = ac.Run.settings_for(task, "transformer", num_layers=1, num_heads=2)
    assert (settings["num_layers"], settings["num_heads"]) == (1, 2)
    with pytest.raises(ac.InputError, match="for a transformer run; this one uses additive"):
        ac.Run(task, units=8, frame_examples=8).attention(task.heldout_sources[0])


def test_a_tiny_transformer_run_learns_and_repeats_itself(task):
    options = dict(TINY, mechanism="transformer", num_layers=1, num_heads=2, epochs=2)
    run, again = ac.train(task, **options), ac.train(task, **options)
    assert [frame.step for frame in run.history] == list(range(0, 41, 2))
    assert run.history[-1].loss < 0.5 * run.history[1].loss
    assert run.history[-1].accuracy > run.history[0].accuracy
    assert [f.loss for f in again.history][1:] == [f.loss for f in run.history][1:]
    for mine, theirs in zip(run.history, again.history):
        assert np.array_equal(mine.alignment, theirs.alignment) and mine.alignment_choice == theirs.alignment_choice
    # The frame's alignment is the chosen head's, the best of every cross-attention head.
    outputs, alignment = run.predict(run.probe_source)
    np.testing.assert_allclose(run.history[-1].alignment, alignment, atol=1e-6)
    layer, head = run.history[-1].alignment_choice.split(", head ")
    np.testing.assert_allclose(run.history[-1].maps[layer][int(head) - 1], alignment, atol=1e-3)  # float16
    sources = task.heldout_sources[:50]
    ideals = np.stack([task.ideal_alignment(s) for s in sources])
    maps = [run.attention(s) for s in sources]
    scores = [ac.alignment_score(np.stack([m[name][h] for m in maps]), ideals)
              for name in maps[0] if name.endswith("cross_attention") for h in range(2)]
    assert run.history[-1].alignment_score == pytest.approx(max(scores))
    assert run.evaluate(50)["alignment_score"] == pytest.approx(max(scores))


@pytest.mark.parametrize("mechanism", ["additive", "transformer"])
def test_a_saved_model_loads_into_a_run_that_answers_alike(task, mechanism):
    run = ac.Run(task, mechanism=mechanism, units=16, num_layers=1, num_heads=2, frame_examples=8)
    loaded = ac.Run.load(task, ac.model_bytes(run.model), frame_examples=8)
    assert {key: loaded.settings[key] for key in ("mechanism", "units")} == {"mechanism": mechanism, "units": 16}
    source = task.heldout_sources[0]
    for mine, theirs in zip(run.predict(source), loaded.predict(source)):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)
    dates = ac.make_task("dates", num_examples=64, num_heldout=8)
    with pytest.raises(ac.InputError, match="trained on 7 symbols; the chosen task has 38"):
        ac.Run.load(dates, ac.model_bytes(run.model))


def test_a_file_no_run_saved_is_refused_with_the_gates_message(task):
    with pytest.raises(ac.InputError, match="not a .keras file"):
        ac.Run.load(task, b"not a model")
    ids = keras.Input((None,), dtype="int32")
    vectors = keras.layers.Embedding(7, 4)(ids)
    other = keras.Model(ids, keras.layers.MultiHeadAttention(2, 2, name="attention")(vectors, vectors))
    with pytest.raises(ac.InputError, match="not a Transformer saved by Train and watch: its attention layers are attention"):
        ac.Run.load(task, ac.model_bytes(other))


def test_a_control_is_asked_after_every_batch_and_told_of_every_epoch(task):
    class StopAfter(training.Control):
        """Says go on for `batches` batches (and the epochs' starts), then stop; counts epochs."""

        def __init__(self, batches):
            self.asked, self.batches, self.epochs = 0, batches, []

        def keep_going(self, run):
            self.asked += 1
            return run.steps_done < self.batches

        def epoch_ended(self, run):
            self.epochs.append(run.epochs_done)

    control = StopAfter(batches=25)  # 20 batches an epoch: stops 5 batches into the second
    run = ac.Run(task, epochs=3, **TINY).fit(control=control)
    assert run.status == training.RunStatus.CANCELLED == "cancelled"
    assert run.steps_done == 25 and run.epochs_done == 1 and control.epochs == [1]
    assert control.asked == 2 + 25  # two epoch starts and every batch
    finished = ac.Run(task, epochs=1, **TINY).fit()
    assert finished.status == training.RunStatus.FINISHED and finished.epochs_done == 1
