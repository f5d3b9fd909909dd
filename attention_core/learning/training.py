"""Training runs that record how attention learns: `train()`, the `Recorder`, `Run`, and a
background runner for the app.

A run trains one of two models: the GRU encoder-decoder of attention_core.learning.encoder_decoder, read by
"additive" or "dot" attention, or the encoder-decoder Transformer of
attention_core.learning.transformer ("transformer"). A transformer run also records, in every frame, the
probe's every attention map (each layer's heads), and draws as "the alignment" the
cross-attention head with the best alignment score on the frame examples
(`Run.alignment_choice`).

A `Run` is plain data plus its model: the settings, `history` (one `Frame` per recorded step:
the probe example's alignment, the loss, held-out accuracy and the alignment score), and
`predict`. `train(task, ...)` trains one in the calling thread and returns it; `start(run)`
trains it in a worker thread (which never touches Streamlit), at most `MAX_CONCURRENT_RUNS` at
once server-wide, with play, pause, step and cancel checked by the recorder after every batch.

Runs are deterministic: every weight comes from the seed (seeded initializers), batches are
shuffled by a generator seeded with (seed, epoch), and no global random state is read, so the
same settings give the same run, in any thread, even while another run trains.

Shape letters: N examples, E evaluation examples, S source steps, T target steps, U units.
"""

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from attention_core.learning import encoder_decoder as seq2seq
from attention_core.learning import transformer
from attention_core.learning.encoder_decoder import Seq2SeqAttention, decoder_inputs
from attention_core.learning.saved_runs import load_encoder_decoder
from attention_core.learning.tasks import PAD_ID, START_ID
from attention_core.mechanisms.traces import trace_bahdanau
from attention_core.text.validation import InputError, whole_number
from attention_core.your_model.attention import load_keras_model

MECHANISMS = (*seq2seq.MECHANISMS, "transformer")

# The page's defaults, and train()'s: chosen so each task meets issue 9's targets on a 2-core
# machine (measured in bench/training.py).
DEFAULT_EPOCHS = 4
DEFAULT_LEARNING_RATE = 0.01
BATCH_SIZE = 64
# A frame every 2 batches: at ~20-80 ms a batch the alignment forms over 40-150 batches, so
# every 2 leaves 20-75 frames to watch it form (issue 9 asks for 30 before the score passes 90%).
RECORD_EVERY = 2
# Held-out examples decoded for every frame (the probe is one of them); the whole held-out set is
# decoded at the end of each epoch. 200 keeps a frame to a fraction of two batches' time.
FRAME_EXAMPLES = 200

# The Transformer's: issue 16's defaults (2 layers, 4 heads, 64 units). Its frames greedy-decode
# with a whole pass of the model per output step: ~55 ms for 200 examples of reverse/8 on 2 busy
# cores, against ~27 ms a batch, and ~1 s at length 32 (T passes over T steps: ~T²) against a
# batch's ~T. So it records every 5 batches per 8 output steps (reverse/8: 5, dates: 7, length
# 32: 20): on reverse/8 the alignment forms over ~60-100 batches, 12-20 frames to watch it form,
# and frames take about a third of the run's time.
DEFAULT_LAYERS = 2
DEFAULT_HEADS = 4
MAX_LAYERS = 4
MAX_HEADS = 8
TRANSFORMER_RECORD_EVERY = 5
# What a transformer run draws as "the alignment" (a frame's `alignment_choice` names the head).
TRANSFORMER_ALIGNMENT = "the cross-attention head with the best alignment score on the held-out frame examples"
# Its learning rate rises linearly from 0 over this many batches, then decays as the others'.
TRANSFORMER_WARMUP_STEPS = 50

MAX_UNITS = 256
MAX_EPOCHS = 50
# Runs that train at once in this process; more wait. Two cores: one run already uses both.
MAX_CONCURRENT_RUNS = 1
# A run whose page has not looked at it for this long was left (tab closed): it is cancelled.
# The page looks every half second while a run trains; a paused run is kept ten minutes.
ABANDONED_AFTER_SECONDS = 20
ABANDONED_WHILE_PAUSED_SECONDS = 600

STATUSES = ("ready", "waiting", "training", "paused", "finished", "cancelled", "failed")


@dataclass(frozen=True)
class Frame:
    """One recorded step of a run. Read as attributes or as `frame["alignment"]`.

    step: batches trained so far; epoch: epochs trained so far, fractional (1.5 = half way
    through the second); loss: mean training loss over the batches since the previous frame
    (NaN for the frame before any training); accuracy: greedy-decoded per-token accuracy,
    exact_match: the fraction of whole outputs right, and alignment_score (see
    `alignment_score`), on the first FRAME_EXAMPLES held-out examples; alignment: (T, S_probe)
    the probe's greedy-decoded attention weights over its real (unpadded) input; elapsed:
    seconds since training started. A transformer run's frames also hold `maps`, the probe's
    every attention map ({layer name: (heads, queries, keys)}, float16, over its padded
    source and its greedy decoder inputs: what the model view draws), `decoder_inputs`, those
    inputs' ids (T,), and `alignment_choice`, which cross-attention head the alignment is (see
    `Run.alignment_choice`).
    """

    step: int
    epoch: float
    loss: float
    accuracy: float
    exact_match: float
    alignment_score: float
    alignment: np.ndarray
    elapsed: float
    maps: dict | None = None
    decoder_inputs: np.ndarray | None = None
    alignment_choice: str | None = None

    def __getitem__(self, name):
        return getattr(self, name)


def alignment_score(alignments, ideals):
    """The fraction of output steps whose largest attention weight lies on an ideal position.

    alignments: (N, T, S) attention weights; ideals: (N, T, S) 0/1. Output steps whose ideal
    row is empty (a date's hyphens) are left out. With repeated symbols (sort), any position of
    the right symbol is ideal, so a weight split between them still counts.
    """
    alignments, ideals = np.asarray(alignments), np.asarray(ideals)
    looked_at = np.take_along_axis(ideals, alignments.argmax(-1)[..., None], axis=-1)[..., 0]  # (N, T)
    scored = ideals.any(-1)
    return float(looked_at[scored].mean())


def _accuracies(outputs, targets):
    """(per-token accuracy, exact-match rate) of (N, T) outputs against (N, T) targets."""
    right = np.asarray(outputs) == np.asarray(targets)
    return float(right.mean()), float(right.all(axis=1).mean())


def _most_distinct(task, sources):
    """The index of the source (of (E, S) ids) with the most distinct symbols, the first on a tie:
    the probe a learner watches, since an output symbol that occurs once in the input has one
    place to look (reverse's "11141232" would draw four equally right columns of 1s)."""
    return int(np.argmax([len(set(task.unpadded(source).tolist())) for source in sources]))


def _read_only(array):
    array.setflags(write=False)
    return array


def _fed_outputs(outputs):
    """The decoder's inputs (T,) int32 in greedy decoding that gave `outputs` (T,): the start
    id, then the outputs less the last."""
    return np.concatenate([[START_ID], outputs[:-1]]).astype(np.int32)


def symbol_labels(task, ids):
    """One label per id: the task's symbol, a space shown as ␣ (so a label is never blank)."""
    return [task.vocabulary[i].replace(" ", "␣") for i in ids]


def _check_setting(value, description, minimum, maximum):
    value = whole_number(value, description, minimum)
    if value > maximum:
        raise InputError(f"{description} is {value}; the limit is {maximum}.")
    return value


class Recorder(keras.callbacks.Callback):
    """Records a `Frame` every `run.record_every` batches and at the end of every epoch (so the
    last frame shows the model as trained), and obeys the run's controls.

    After every batch it stops training when the run was cancelled or abandoned, and blocks
    while the run is paused (it runs in the training thread, so blocking is what pausing is).
    """

    def __init__(self, run):
        super().__init__()
        self.run = run
        self._loss_sum_at_frame = 0.0
        self._batches_at_frame = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._loss_sum_at_frame, self._batches_at_frame = 0.0, 0

    def on_train_batch_end(self, batch, logs=None):
        run = self.run
        run.steps_done += 1
        # Keras's logs hold the running mean of the epoch's batch losses; the mean since the
        # last frame follows from two running sums.
        loss_sum = float(logs["loss"]) * (batch + 1)
        if run.steps_done % run.record_every == 0 or batch + 1 == run.steps_per_epoch:
            loss = (loss_sum - self._loss_sum_at_frame) / (batch + 1 - self._batches_at_frame)
            self._loss_sum_at_frame, self._batches_at_frame = loss_sum, batch + 1
            run._record(loss)
        if not run._wait_while_paused():
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        # Keras ends the epoch even when training stopped part-way through it.
        if not self.run.cancelled:
            self.run._end_epoch()


class Run:
    """A training run: its settings, model, recorded history and controls.

    Made by `train()` (trained at once) or for `start()` (trained in the background).
    Attributes: task, settings (dict), model (Seq2SeqAttention, or the functional Transformer
    of attention_core.learning.transformer), history (list of Frame),
    epoch_results (list of dicts: the whole held-out set after each epoch, and the seconds
    since training started when that was known), epochs_done,
    steps_done, status (one of STATUSES), error (message of a failed run), probe_source
    (unpadded ids of the probe example: the held-out frame example with the most distinct
    symbols), probe_ideal (T, S_probe) 0/1, is_transformer. A transformer run also has
    attention_names (its attention layers, in model order) and reads its maps with
    `model_inputs`, `attention`, `token_labels` (the first and last at once: `inputs_and_labels`)
    and `frame_labels`; `alignment_choice` says which attention is drawn as the alignment.
    `record_every` defaults to RECORD_EVERY, or for a transformer TRANSFORMER_RECORD_EVERY per
    8 output steps.
    """

    def __init__(self, task, mechanism="additive", units=64, epochs=DEFAULT_EPOCHS,
                 learning_rate=DEFAULT_LEARNING_RATE, seed=0, batch_size=BATCH_SIZE,
                 record_every=None, frame_examples=FRAME_EXAMPLES, model=None, num_layers=DEFAULT_LAYERS,
                 num_heads=DEFAULT_HEADS):
        self.task = task
        self.settings = self.settings_for(task, mechanism, units, epochs, learning_rate, seed, batch_size,
                                          num_layers, num_heads)
        self.is_transformer = mechanism == "transformer"
        if record_every is None:
            record_every = (math.ceil(TRANSFORMER_RECORD_EVERY * task.target_length / 8) if self.is_transformer
                            else RECORD_EVERY)
        self.record_every = whole_number(record_every, "record_every", 1)
        self.batch_size = min(self.settings["batch_size"], task.num_examples)
        self.steps_per_epoch = task.num_examples // self.batch_size
        self.model = model or self._new_model(task, self.settings)
        self._compile()
        self.history, self.epoch_results = [], []
        self.epochs_done = self.steps_done = 0
        self.status, self.error = "ready", None

        frame_sources = np.asarray(task.heldout_sources[:frame_examples])  # (E, S)
        self._frame_sources, self._frame_targets = frame_sources, np.asarray(task.heldout_targets[:frame_examples])
        self._frame_ideals = np.stack([task.ideal_alignment(source) for source in frame_sources])  # (E, T, S)
        self._probe = _most_distinct(task, frame_sources)
        self.probe_source = task.unpadded(frame_sources[self._probe])
        self.probe_ideal = self._frame_ideals[self._probe][:, :len(self.probe_source)]
        # One compiled decoder per input shape: frames decode (E, S), predict (1, S).
        if self.is_transformer:
            self.attention_names = transformer.attention_layer_names(self.model)
            inspection = transformer.attention_model(self.model)
            # Compiled with XLA, as Keras compiles its training step: decoding 200 examples takes
            # 62 instead of 124 ms (reverse/8), 127 instead of 311 ms (dates).
            self._greedy = tf.function(lambda source: transformer.greedy_decode(inspection, source, task.target_length,
                                                                                START_ID), jit_compile=True)
        else:
            self._greedy = tf.function(lambda source: self.model.greedy_decode(source, task.target_length))
        # The alignment's index among `_candidate_names`; a transformer's is chosen at every frame.
        self._choice = None if self.is_transformer else 0

        self._control = threading.Condition()
        self._paused = self._cancelled = False
        self._pause_after_epoch = None
        self._last_seen = None  # None: nobody watches (train()), so never abandoned
        self._slots = None
        self._start_time = None

    @staticmethod
    def settings_for(task, mechanism="additive", units=64, epochs=DEFAULT_EPOCHS, learning_rate=DEFAULT_LEARNING_RATE,
                     seed=0, batch_size=BATCH_SIZE, num_layers=DEFAULT_LAYERS, num_heads=DEFAULT_HEADS):
        """The settings dict of a run with these arguments (what a finished run is cached by);
        InputError for a bad one. The task's own seed (its data) is `task_seed`; `seed` is the
        model's (its weights and the order of batches). `num_layers` and `num_heads` are the
        Transformer's, in its settings only."""
        if mechanism not in MECHANISMS:
            raise InputError(f"{mechanism!r} is not an attention mechanism here; choose one of {', '.join(MECHANISMS)}.")
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not 0 < learning_rate <= 1:
            raise InputError(f"The learning rate must be a number above 0 and at most 1; got {learning_rate!r}.")
        settings = {
            **{("task_seed" if key == "seed" else key): value for key, value in task.settings.items()},
            "mechanism": mechanism,
            "units": _check_setting(units, "The number of units", 1, MAX_UNITS),
            "epochs": _check_setting(epochs, "The number of epochs", 1, MAX_EPOCHS),
            "learning_rate": float(learning_rate),
            "seed": whole_number(seed, "The seed", 0),
            "batch_size": whole_number(batch_size, "The batch size", 1),
        }
        if mechanism != "transformer":
            return settings
        settings["num_layers"] = _check_setting(num_layers, "The number of layers", 1, MAX_LAYERS)
        settings["num_heads"] = _check_setting(num_heads, "The number of heads", 1, MAX_HEADS)
        if settings["units"] % settings["num_heads"]:
            raise InputError(f"{settings['units']} units do not split into {settings['num_heads']} heads of one size; "
                             "choose a number of heads that divides the units.")
        return settings

    @staticmethod
    def _new_model(task, settings):
        if settings["mechanism"] == "transformer":
            return transformer.transformer(len(task.vocabulary), num_layers=settings["num_layers"],
                                           num_heads=settings["num_heads"], units=settings["units"],
                                           seed=settings["seed"])
        model = Seq2SeqAttention(len(task.vocabulary), units=settings["units"], mechanism=settings["mechanism"],
                                 start_id=START_ID, seed=settings["seed"], read_backwards=task.read_backwards,
                                 coverage=task.coverage)
        model((np.zeros((1, task.source_length), np.int32), np.zeros((1, task.target_length), np.int32)))
        return model

    @classmethod
    def for_model(cls, task, model, **options):
        """A run of a trained model (loaded from a file this page saved) on `task`: the model
        decides the mechanism and its sizes. InputError when it does not fit the task's
        vocabulary or is no model this page trains. `options` as `Run`'s."""
        if isinstance(model, Seq2SeqAttention):
            if model.vocab_size != len(task.vocabulary):
                raise InputError(f"This model was trained on {model.vocab_size} symbols; the chosen task has "
                                 f"{len(task.vocabulary)}. Choose the task it was trained on, or train one here.")
            return cls(task, mechanism=model.mechanism, units=model.units, seed=model.seed, model=model, **options)
        return cls(task, mechanism="transformer", model=model, **transformer.settings_of(model, len(task.vocabulary)),
                   **options)

    @classmethod
    def load(cls, task, path_or_bytes, **options):
        """`for_model` of a `.keras` file (a path, or its bytes) this page saved: a GRU model
        through `load_encoder_decoder`'s checks, a Transformer through `load_keras_model`'s. InputError, from
        the general gate, for a file neither accepts; nothing in it runs."""
        try:
            model = load_encoder_decoder(path_or_bytes)
        except InputError:
            model = load_keras_model(path_or_bytes)
        return cls.for_model(task, model, **options)

    # ------------------------------------------------------------------ training

    def fit(self, callbacks=None):
        """Train the remaining epochs in this thread; returns self. Honours pause and cancel."""
        if self._start_time is None:
            self._start_time = time.perf_counter()
        if not self.history:
            self._record(float("nan"))  # the untrained model: where the replay starts
        sources, targets = np.asarray(self.task.train_sources), np.asarray(self.task.train_targets)
        recorder = Recorder(self)
        with self._control:
            self.status = "training"
        while self.epochs_done < self.settings["epochs"] and self._wait_while_paused():
            # Shuffled by this run's own generator, never global state; the remainder of
            # N / batch_size is dropped (a smaller last batch would compile a second graph).
            order = np.random.default_rng([self.settings["seed"], self.epochs_done]).permutation(len(sources))
            order = order[: self.steps_per_epoch * self.batch_size]
            self.model.fit(
                (sources[order], self._fed(targets[order])), targets[order],
                batch_size=self.batch_size, initial_epoch=self.epochs_done, epochs=self.epochs_done + 1,
                shuffle=False, verbose=0, callbacks=[recorder, *(callbacks or [])],
            )
        with self._control:
            self.status = "cancelled" if self._cancelled and self.epochs_done < self.settings["epochs"] else "finished"
        return self

    def _fed(self, targets):
        """Teacher forcing's decoder inputs (N, T) for `targets` (N, T) in this epoch. With the
        task's `feed_dropout`, that fraction of the fed symbols (never the start) is blanked to
        the pad id (word dropout, Bowman et al. 2016), so the model cannot decode a blurred
        attention by knowing the previous symbol (see attention_core.learning.encoder_decoder)."""
        fed = np.asarray(decoder_inputs(targets, START_ID))
        if self.task.feed_dropout:
            blank = np.random.default_rng([self.settings["seed"], self.epochs_done, 1]).random(fed.shape) < self.task.feed_dropout
            blank[:, 0] = False
            fed = np.where(blank, PAD_ID, fed)
        return fed

    def _compile(self):
        total_steps = self.settings["epochs"] * self.steps_per_epoch
        if self.is_transformer:
            warmup = min(TRANSFORMER_WARMUP_STEPS, total_steps // 2)
            schedule = keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps=total_steps - warmup, warmup_target=self.settings["learning_rate"], warmup_steps=warmup
            )
        else:
            schedule = keras.optimizers.schedules.CosineDecay(self.settings["learning_rate"], decay_steps=total_steps)
        self.model.compile(optimizer=keras.optimizers.Adam(schedule),
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        # Its variables made now, not in the first training step, which TensorFlow then traces once
        # instead of twice: the Transformer's 92 variables took 7.7 s to a first 3 batches, 5.3 s so.
        self.model.optimizer.build(self.model.trainable_variables)

    def _decode(self, sources):
        """Greedy decoding of sources (E, S): (outputs (E, T), candidates (E, C, T, S), maps).

        The candidates are the alignments the run may draw: the seq2seq model's one attention
        (C = 1), or every cross-attention head of a transformer, in `_candidate_names` order.
        `maps` is the transformer's {layer name: (E, heads, queries, keys)} (the seq2seq
        model's decoder states (E, T, U) otherwise)."""
        if not self.is_transformer:
            outputs, alignments, decoder_states = self._greedy(sources)
            return outputs.numpy(), alignments.numpy()[:, None], decoder_states.numpy()
        outputs, weights = self._greedy(sources)
        maps = {name: w.numpy() for name, w in zip(self.attention_names, weights)}
        cross = [maps[name] for name in self.attention_names if name.endswith("_cross_attention")]
        return outputs.numpy(), np.concatenate(cross, axis=1), maps

    @property
    def _candidate_names(self):
        if not self.is_transformer:
            return ["attention"]
        return [f"{name}, head {head + 1}" for name in self.attention_names if name.endswith("_cross_attention")
                for head in range(self.settings["num_heads"])]

    def _best_candidate(self, candidates, ideals):
        """(index, score) of the candidate (E, C, T, S) with the best alignment score, the first on a tie."""
        scores = [alignment_score(candidates[:, c], ideals) for c in range(candidates.shape[1])]
        return int(np.argmax(scores)), max(scores)

    @property
    def alignment_choice(self):
        """Which attention the run draws as "the alignment", in a sentence."""
        if not self.is_transformer:
            return f"the decoder's {self.settings['mechanism']} attention over the input"
        if self._choice is None:
            self._choose()
        return f"{TRANSFORMER_ALIGNMENT}, at the latest frame: {self._candidate_names[self._choice]}"

    def _choose(self):
        """Pick the alignment on the frame examples (a loaded model has no frame yet)."""
        _, candidates, _ = self._decode(self._frame_sources)
        self._choice, _ = self._best_candidate(candidates, self._frame_ideals)

    def _record(self, loss):
        outputs, candidates, maps = self._decode(self._frame_sources)
        accuracy, exact_match = _accuracies(outputs, self._frame_targets)
        self._choice, score = self._best_candidate(candidates, self._frame_ideals)
        probe_alignment = candidates[self._probe, self._choice][:, :len(self.probe_source)]
        probe_alignment.setflags(write=False)
        probe_maps = probe_fed = None
        if self.is_transformer:
            # float16 halves what a run keeps (finished runs are cached): the maps are drawn, never computed with.
            probe_maps = {name: _read_only(weights[self._probe].astype(np.float16)) for name, weights in maps.items()}
            probe_fed = _read_only(_fed_outputs(outputs[self._probe]))
        self.history.append(Frame(
            step=self.steps_done,
            epoch=self.steps_done / self.steps_per_epoch,
            loss=float(loss),
            accuracy=accuracy,
            exact_match=exact_match,
            alignment_score=score,
            alignment=probe_alignment,
            elapsed=time.perf_counter() - self._start_time,
            maps=probe_maps,
            decoder_inputs=probe_fed,
            alignment_choice=self._candidate_names[self._choice] if self.is_transformer else None,
        ))

    def _end_epoch(self):
        self.epochs_done += 1
        results = self.evaluate()
        self.epoch_results.append({"epoch": self.epochs_done, **results, "elapsed": time.perf_counter() - self._start_time})
        with self._control:
            if self._pause_after_epoch is not None and self.epochs_done >= self._pause_after_epoch:
                self._pause_after_epoch = None
                if self.epochs_done < self.settings["epochs"]:
                    self._paused = True

    def evaluate(self, num_examples=None):
        """Greedy decoding of the held-out set (or its first `num_examples`): a dict of
        accuracy (per token), exact_match and alignment_score (a transformer's: of the head
        `alignment_choice` names)."""
        sources = np.asarray(self.task.heldout_sources[:num_examples])
        targets = np.asarray(self.task.heldout_targets[:num_examples])
        outputs, candidates = [], []
        for start in range(0, len(sources), len(self._frame_sources)):  # the frames' compiled shape
            batch = sources[start:start + len(self._frame_sources)]
            padded = np.concatenate([batch, np.repeat(batch[:1], len(self._frame_sources) - len(batch), axis=0)])
            output, candidate, _ = self._decode(padded)
            outputs.append(output[: len(batch)])
            candidates.append(candidate[: len(batch)])
        outputs, candidates = np.concatenate(outputs), np.concatenate(candidates)
        accuracy, exact_match = _accuracies(outputs, targets)
        ideals = np.stack([self.task.ideal_alignment(source) for source in sources])
        if self._choice is None:
            self._choose()
        return {"accuracy": accuracy, "exact_match": exact_match,
                "alignment_score": alignment_score(candidates[:, self._choice], ideals)}

    # ------------------------------------------------------------------ using the model

    def _decode_one(self, source_ids):
        """Greedy decoding of one source: (outputs (T,), alignment (T, n), maps, the padded
        source (S,)), n being the real (unpadded) input length; `maps` as `_decode`'s, for
        this one example (the seq2seq model's decoder states (T, U))."""
        source_ids = np.asarray(source_ids, dtype=np.int32)
        if source_ids.ndim != 1 or not 0 < len(source_ids) <= self.task.source_length:
            raise InputError(f"Give one source of 1 to {self.task.source_length} ids; got shape {source_ids.shape}.")
        self.task.decode(source_ids)  # InputError for ids outside the vocabulary
        padded = self.task.pad(source_ids)[None]
        if self._choice is None:
            self._choose()
        outputs, candidates, maps = self._decode(padded)
        real = len(self.task.unpadded(source_ids))
        maps = {name: weights[0] for name, weights in maps.items()} if self.is_transformer else maps[0]
        return outputs[0], candidates[0, self._choice][:, :real], maps, padded[0]

    def predict(self, source_ids):
        """(output_ids (T,), alignment (T, n)) for one source of n ids, greedy-decoded; the
        alignment covers the real (unpadded) input positions (a transformer's: the head of
        `alignment_choice`)."""
        outputs, alignment, _, _ = self._decode_one(source_ids)
        return outputs, alignment

    def _check_transformer(self, what):
        if not self.is_transformer:
            raise InputError(f"{what} is for a transformer run; this one uses {self.settings['mechanism']} attention.")

    def model_inputs(self, source_ids):
        """(source (1, S), decoder_inputs (1, T)), int32: the model's inputs for one source,
        padded, with the decoder fed its own greedy outputs (the start id, then the outputs less
        the last), as decoding ran. Transformer runs only."""
        self._check_transformer("model_inputs")
        outputs, _, _, padded = self._decode_one(source_ids)
        return padded[None], _fed_outputs(outputs)[None]

    def attention(self, source_ids):
        """Every attention map of the model for one greedy-decoded source: {layer name: weights
        (heads, queries, keys)} in the model's order, each computed by that MultiHeadAttention
        layer on `model_inputs(source_ids)` (keys over the padded source). Transformer runs only."""
        self._check_transformer("The model view")
        _, _, maps, _ = self._decode_one(source_ids)
        return {name: _read_only(weights) for name, weights in maps.items()}

    def token_labels(self, source_ids):
        """(source labels (S,), decoder labels (T,)): the symbols of `model_inputs(source_ids)`,
        the keys and queries of `attention`'s maps. Transformer runs only."""
        return self.inputs_and_labels(source_ids)[1]

    def inputs_and_labels(self, source_ids):
        """(`model_inputs(source_ids)`, `token_labels(source_ids)`) from one greedy decoding, so
        the labels name the very inputs returned. Transformer runs only."""
        source, fed = self.model_inputs(source_ids)
        return (source, fed), (symbol_labels(self.task, source[0]), symbol_labels(self.task, fed[0]))

    def frame_labels(self, frame):
        """(source labels (S,), decoder labels (T,)) of the probe in a transformer run's frame:
        the keys and queries of `frame.maps`."""
        return (symbol_labels(self.task, self._frame_sources[self._probe]),
                symbol_labels(self.task, frame.decoder_inputs))

    def attention_trace(self, source_ids, output_step):
        """The additive attention's every step (a BahdanauTrace) at `output_step` of the greedy
        decoding of one source: W1(features), W2(decoder state), tanh, V, softmax and context,
        computed by the trained `BahdanauAttention` itself. The features are the encoder's
        states, plus the coverage of what the earlier steps read when the model has it.
        Padding is left out."""
        if self.settings["mechanism"] != "additive":
            raise InputError("The step-by-step pipeline is for additive attention; "
                             f"this run uses {'a Transformer' if self.is_transformer else 'scaled dot-product'}.")
        _, alignment, decoder_states, padded = self._decode_one(source_ids)
        encoder_states, _ = self.model.encode(padded[None])
        real = len(self.task.unpadded(padded))
        read = alignment[:output_step].sum(axis=0)[None]  # (1, n): what steps 0..output_step-1 read
        features = self.model.attention_features(encoder_states[:, :real], read)
        return trace_bahdanau(self.model.attention, np.asarray(features)[0], decoder_states[output_step])

    # ------------------------------------------------------------------ controls

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
            self._pause_after_epoch = self.epochs_done + 1
            self._paused = False
            self._wake()

    def _wake(self):
        # Waiting for a slot again from now, so a page polls until training resumes.
        if self.status == "paused":
            self.status = "waiting"
        self._control.notify_all()

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

    def _abandoned(self):
        if self._last_seen is None:
            return False
        limit = ABANDONED_WHILE_PAUSED_SECONDS if self._paused else ABANDONED_AFTER_SECONDS
        return time.monotonic() - self._last_seen > limit

    def _wait_while_paused(self):
        """Block while paused (giving the training slot to others); False to stop training."""
        with self._control:
            was_paused = self._paused and not self._cancelled
            if was_paused:
                self.status = "paused"
                if self._slots:
                    self._slots.release(self)
                while self._paused and not self._cancelled and not self._abandoned():
                    self._control.wait(timeout=0.5)
            if self._abandoned():
                self._cancelled = True
            if self._cancelled:
                return False
        if was_paused:
            if self._slots and not self._slots.acquire(self):
                return False
            self.status = "training"
        return True

    # ------------------------------------------------------------------ background

    def _train_in_background(self, slots, finished_runs):
        self._slots = slots
        try:
            if not slots.acquire(self):
                self.status = "cancelled"
                return
            self.status = "training"
            self.fit()
            if self.status == "finished":
                finished_runs.put(self)
        except Exception as error:  # the worker's only report is the run itself
            self.status, self.error = "failed", f"{type(error).__name__}: {error}"
        finally:
            if slots.holds(self):
                slots.release(self)


class TrainingSlots:
    """At most `limit` runs train at once; the others wait (status "waiting") for a slot."""

    def __init__(self, limit=MAX_CONCURRENT_RUNS):
        self._semaphore = threading.Semaphore(limit)
        self._holders = set()  # ids of the runs holding a slot
        self._lock = threading.Lock()

    def acquire(self, run):
        """Wait for a slot for `run`; False when it was cancelled or abandoned meanwhile."""
        run.status = "waiting"
        while not self._semaphore.acquire(timeout=0.2):
            if run.cancelled or run._abandoned():
                return False
        with self._lock:
            self._holders.add(id(run))
        return True

    def holds(self, run):
        with self._lock:
            return id(run) in self._holders

    def release(self, run):
        with self._lock:
            self._holders.remove(id(run))
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


def start(run, slots=None, finished_runs=None):
    """Train `run` in a daemon worker thread, which never calls Streamlit; returns the thread.

    The run waits for one of the server's training slots; a finished run goes into
    `finished_runs` (by default the server-wide FINISHED_RUNS).
    """
    run.touch()
    run.status = "waiting"
    thread = threading.Thread(
        target=run._train_in_background, args=(slots or SLOTS, finished_runs or FINISHED_RUNS),
        name=f"train-{run.settings['name']}-{run.settings['seed']}", daemon=True,
    )
    thread.start()
    return thread


def train(task, mechanism="additive", units=64, epochs=DEFAULT_EPOCHS, learning_rate=DEFAULT_LEARNING_RATE,
          seed=0, callbacks=None, **options):
    """Train a seq2seq model with attention on `task` in this thread; returns the `Run`.

    `mechanism` is "additive" (the seed's BahdanauAttention) or "dot" (scaled dot-product), read
    by a GRU encoder-decoder, or "transformer" (attention_core.learning.transformer); `options` are
    `Run`'s batch_size, record_every, frame_examples, and the transformer's num_layers and
    num_heads. Keras `callbacks` are passed to `fit`. The same arguments give the same run.
    """
    return Run(task, mechanism=mechanism, units=units, epochs=epochs, learning_rate=learning_rate,
               seed=seed, **options).fit(callbacks=callbacks)

