"""The fit-and-record loop, written once for every learner: `Run`, its `Frame`s, and `train()`.

A run trains one learner (`LEARNERS`: the GRU encoder-decoder of `encoder_decoder_learner`,
read by "additive" or "dot" attention, or the Transformer of `transformer_learner`) and records,
every few batches, a `Frame`: the probe example's alignment, the loss, held-out accuracy and the
alignment score (and a Transformer's every attention map). A `Run` is plain data plus its model:
the settings, `history`, `evaluate` and `predict`.

`train(task, ...)` trains one in the calling thread and returns it. Who trains a run elsewhere
(the app's background jobs) passes a `Control` to `Run.fit`, which the loop asks after every
batch whether to go on; it may block there, which is what pausing is.

Runs are deterministic: every weight comes from the seed (seeded initializers), batches are
shuffled by a generator seeded with (seed, epoch), and no global random state is read, so the
same settings give the same run, in any thread, even while another run trains.

Shape letters: N examples, E evaluation examples, S source steps, T target steps, U units.
"""

import enum
import threading
import time
from dataclasses import dataclass

import keras
import numpy as np

from attention_core.heads import knock_out as head_masks
from attention_core.learning.encoder_decoder import Seq2SeqAttention, decoder_inputs
from attention_core.learning.encoder_decoder_learner import EncoderDecoderLearner
from attention_core.learning.saved_runs import load_encoder_decoder
from attention_core.learning.tasks import PAD_ID, START_ID
from attention_core.learning.transformer_learner import (
    DEFAULT_HEADS,
    DEFAULT_LAYERS,
    TransformerLearner,
)
from attention_core.mechanisms.traces import frozen
from attention_core.text.validation import (
    InputError,
    whole_number,
    whole_number_in_range,
)
from attention_core.your_model.attention import load_keras_model

# Each `mechanism` a run can train, and the learner that trains it.
LEARNERS = {mechanism: learner for learner in (EncoderDecoderLearner, TransformerLearner)
            for mechanism in learner.mechanisms}
TRAINABLE_MECHANISMS = tuple(LEARNERS)

# The page's defaults, and train()'s: chosen so each task meets the training targets on a 2-core
# machine (bench/TRAINING.md).
DEFAULT_EPOCHS = 4
DEFAULT_LEARNING_RATE = 0.01
BATCH_SIZE = 64
# Held-out examples decoded for every frame (the probe is one of them); the whole held-out set is
# decoded at the end of each epoch. 200 keeps a frame to a fraction of two batches' time.
FRAME_EXAMPLES = 200
MAX_UNITS = 256
MAX_EPOCHS = 50


class RunStatus(enum.StrEnum):
    """Where a run is. The loop sets TRAINING, FINISHED and CANCELLED (stopped early); whoever
    trains it in the background sets WAITING (for a training slot), PAUSED and FAILED."""

    READY = "ready"
    WAITING = "waiting"
    TRAINING = "training"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Control:
    """What the loop asks whoever trains a run. This one never pauses nor stops: `train()`'s."""

    def keep_going(self, run):
        """Before each epoch and after every batch: whether to train on. May block (a pause)."""
        return True

    def epoch_ended(self, run):
        """After each epoch has been evaluated."""


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
    inputs' ids (T,), `alignment_choice`, which cross-attention head the alignment is (see
    `Run.alignment_choice`), and `head_scores`, every head's HeadScore over the frame examples
    (attention_core.heads.scores; the cross-attention's agreement is with the ideal alignment).
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
    head_scores: tuple | None = None

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


def symbol_labels(task, ids):
    """One label per id: the task's symbol, a space shown as ␣ (so a label is never blank)."""
    return [task.vocabulary[i].replace(" ", "␣") for i in ids]


class Recorder(keras.callbacks.Callback):
    """Records a `Frame` every `run.record_every` batches and at the end of every epoch (so the
    last frame shows the model as trained), and asks the run's control after every batch
    whether to train on."""

    def __init__(self, run, control):
        super().__init__()
        self.run, self.control = run, control
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
            run.record(loss)
        if not self.control.keep_going(run):
            self.model.stop_training = True
            run.stopped_early = True


class Run:
    """A training run: its settings, learner and model, and recorded history.

    Attributes: task, settings (dict), learner (one of LEARNERS), model (its Keras model),
    history (list of Frame), epoch_results (list of dicts: the whole held-out set after each
    epoch, and the seconds since training started), epochs_done, steps_done, status (a
    RunStatus), error (message of a failed run), probe_source (unpadded ids of the probe
    example: the held-out frame example with the most distinct symbols), probe_ideal
    (T, S_probe) 0/1, is_transformer. A transformer run also reads its maps with
    `model_inputs`, `attention`, `token_labels` (the first and last at once: `inputs_and_labels`)
    and `frame_labels`; `alignment_choice` says which attention is drawn as the alignment.
    `record_every` defaults to the learner's.
    """

    def __init__(self, task, mechanism="additive", units=64, epochs=DEFAULT_EPOCHS,
                 learning_rate=DEFAULT_LEARNING_RATE, seed=0, batch_size=BATCH_SIZE,
                 record_every=None, frame_examples=FRAME_EXAMPLES, model=None, num_layers=DEFAULT_LAYERS,
                 num_heads=DEFAULT_HEADS):
        self.task = task
        self.settings = self.settings_for(task, mechanism, units, epochs, learning_rate, seed, batch_size,
                                          num_layers, num_heads)
        self.learner = LEARNERS[mechanism](task, self.settings, model)
        self.model = self.learner.model
        self.is_transformer = isinstance(self.learner, TransformerLearner)
        self.record_every = whole_number(self.learner.default_record_every if record_every is None else record_every,
                                         "record_every", 1)
        self.batch_size = min(self.settings["batch_size"], task.num_examples)
        self.steps_per_epoch = task.num_examples // self.batch_size
        self.learner.compile(self.settings["epochs"] * self.steps_per_epoch)
        self.history, self.epoch_results = [], []
        self.epochs_done = self.steps_done = 0
        self.status, self.error = RunStatus.READY, None
        self.stopped_early = False

        frame_sources = np.asarray(task.heldout_sources[:frame_examples])  # (E, S)
        self._frame_sources, self._frame_targets = frame_sources, np.asarray(task.heldout_targets[:frame_examples])
        self._frame_ideals = np.stack([task.ideal_alignment(source) for source in frame_sources])  # (E, T, S)
        self._probe = _most_distinct(task, frame_sources)
        self.probe_source = task.unpadded(frame_sources[self._probe])
        self.probe_ideal = self._frame_ideals[self._probe][:, :len(self.probe_source)]
        # The alignment's index among the learner's candidates, chosen at every frame.
        self._choice = None
        self._start_time = None
        # A gated copy of a transformer's model for knock-outs, and the step its weights are from;
        # whether prepare_knock_out compiled its decoder and importance; one caller at a time sets its gates.
        self._gated, self._gated_at = None, None
        self._knock_out_prepared = False
        self._knock_out_lock = threading.Lock()

    @staticmethod
    def settings_for(task, mechanism="additive", units=64, epochs=DEFAULT_EPOCHS, learning_rate=DEFAULT_LEARNING_RATE,
                     seed=0, batch_size=BATCH_SIZE, num_layers=DEFAULT_LAYERS, num_heads=DEFAULT_HEADS):
        """The settings dict of a run with these arguments (what a finished run is cached by);
        InputError for a bad one. The task's own seed (its data) is `task_seed`; `seed` is the
        model's (its weights and the order of batches). `num_layers` and `num_heads` are the
        Transformer's, in its settings only."""
        if mechanism not in LEARNERS:
            raise InputError(f"{mechanism!r} is not an attention mechanism here; "
                             f"choose one of {', '.join(TRAINABLE_MECHANISMS)}.")
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not 0 < learning_rate <= 1:
            raise InputError(f"The learning rate must be a number above 0 and at most 1; got {learning_rate!r}.")
        settings = {
            **{("task_seed" if key == "seed" else key): value for key, value in task.settings.items()},
            "mechanism": mechanism,
            "units": whole_number_in_range(units, "The number of units", 1, MAX_UNITS),
            "epochs": whole_number_in_range(epochs, "The number of epochs", 1, MAX_EPOCHS),
            "learning_rate": float(learning_rate),
            "seed": whole_number(seed, "The seed", 0),
            "batch_size": whole_number(batch_size, "The batch size", 1),
        }
        return LEARNERS[mechanism].check_settings(settings, num_layers, num_heads)

    @classmethod
    def for_model(cls, task, model, **options):
        """A run of a trained model (loaded from a file this page saved) on `task`: the model
        decides the mechanism and its sizes. InputError when it does not fit the task's
        vocabulary or is no model this page trains. `options` as `Run`'s."""
        learner = EncoderDecoderLearner if isinstance(model, Seq2SeqAttention) else TransformerLearner
        return cls(task, model=model, **learner.settings_of(model, len(task.vocabulary)), **options)

    @classmethod
    def load(cls, task, path_or_bytes, **options):
        """`for_model` of a `.keras` file (a path, or its bytes) this page saved: a GRU model
        through `load_encoder_decoder`'s checks, a Transformer through `load_keras_model`'s.
        InputError, from the general gate, for a file neither accepts; nothing in it runs."""
        try:
            model = load_encoder_decoder(path_or_bytes)
        except InputError:
            model = load_keras_model(path_or_bytes)
        return cls.for_model(task, model, **options)

    # ------------------------------------------------------------------ the loop

    def fit(self, callbacks=None, control=None):
        """Train the remaining epochs in this thread; returns self. `control` (a Control) is asked
        before each epoch and after every batch whether to go on; Keras `callbacks` go to `fit`."""
        control = control or Control()
        if self._start_time is None:
            self._start_time = time.perf_counter()
        if not self.history:
            self.record(float("nan"))  # the untrained model: where the replay starts
        sources, targets = np.asarray(self.task.train_sources), np.asarray(self.task.train_targets)
        recorder = Recorder(self, control)
        self.status, self.stopped_early = RunStatus.TRAINING, False
        while self.epochs_done < self.settings["epochs"] and not self.stopped_early:
            if not control.keep_going(self):
                self.stopped_early = True
                break
            # Shuffled by this run's own generator, never global state; the remainder of
            # N / batch_size is dropped (a smaller last batch would compile a second graph).
            order = np.random.default_rng([self.settings["seed"], self.epochs_done]).permutation(len(sources))
            order = order[: self.steps_per_epoch * self.batch_size]
            self.model.fit(
                (sources[order], self.fed(targets[order])), targets[order],
                batch_size=self.batch_size, initial_epoch=self.epochs_done, epochs=self.epochs_done + 1,
                shuffle=False, verbose=0, callbacks=[recorder, *(callbacks or [])],
            )
            if not self.stopped_early:  # Keras ends the epoch even when training stopped part-way through it
                self._end_epoch()
                control.epoch_ended(self)
        done = self.epochs_done >= self.settings["epochs"]
        self.status = RunStatus.FINISHED if done or not self.stopped_early else RunStatus.CANCELLED
        return self

    def fed(self, targets):
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

    def _best_candidate(self, candidates, ideals):
        """(index, score) of the candidate (E, C, T, S) with the best alignment score, the first on a tie."""
        scores = [alignment_score(candidates[:, c], ideals) for c in range(candidates.shape[1])]
        return int(np.argmax(scores)), max(scores)

    @property
    def alignment_choice(self):
        """Which attention the run draws as "the alignment", in a sentence."""
        return self.learner.alignment_description(self._chosen())

    def _chosen(self):
        """The alignment's candidate index, picked on the frame examples if no frame picked it
        yet (a loaded model)."""
        if self._choice is None:
            _, candidates, _ = self.learner.decode(self._frame_sources)
            self._choice, _ = self._best_candidate(candidates, self._frame_ideals)
        return self._choice

    def record(self, loss):
        """Append a Frame of the model as it is now, with `loss` the mean training loss since
        the last one."""
        outputs, candidates, maps = self.learner.decode(self._frame_sources)
        accuracy, exact_match = _accuracies(outputs, self._frame_targets)
        self._choice, score = self._best_candidate(candidates, self._frame_ideals)
        probe_alignment = candidates[self._probe, self._choice][:, :len(self.probe_source)]
        probe_alignment.setflags(write=False)
        self.history.append(Frame(
            step=self.steps_done,
            epoch=self.steps_done / self.steps_per_epoch,
            loss=float(loss),
            accuracy=accuracy,
            exact_match=exact_match,
            alignment_score=score,
            alignment=probe_alignment,
            elapsed=time.perf_counter() - self._start_time,
            **self.learner.frame_extras(outputs, maps, self._probe, self._choice, self._frame_ideals),
        ))

    def _end_epoch(self):
        self.epochs_done += 1
        results = self.evaluate()
        self.epoch_results.append({"epoch": self.epochs_done, **results, "elapsed": time.perf_counter() - self._start_time})

    def evaluate(self, num_examples=None, knock_out=()):
        """Greedy decoding of the held-out set (or its first `num_examples`): a dict of
        accuracy (per token), exact_match, alignment_score (a transformer's: of the head
        `alignment_choice` names) and loss (teacher-forced mean token cross-entropy).

        `knock_out`: (layer name, head) pairs of a transformer run, heads from 0, whose context
        vectors are zeroed before their output projection (attention_core.heads.knock_out);
        nothing knocked out gives exactly the unmasked metrics. InputError for a bad head, or
        for a run with no heads. The first knock-out compiles the gated copy's decoder (seconds)
        unless `prepare_knock_out` did."""
        if knock_out:
            with self._knock_out_lock:
                return self._evaluate(self._knocked_out(knock_out), num_examples)
        return self._evaluate(self.learner, num_examples)

    def _evaluate(self, learner, num_examples):
        """`evaluate`'s metrics of `learner` (the run's, or its gated copy's) on the held-out set."""
        sources = np.asarray(self.task.heldout_sources[:num_examples])
        targets = np.asarray(self.task.heldout_targets[:num_examples])
        outputs, candidates, losses = [], [], []
        size = len(self._frame_sources)  # the frames' compiled shape
        for start in range(0, len(sources), size):
            batch, batch_targets = sources[start:start + size], targets[start:start + size]
            padded = np.concatenate([batch, np.repeat(batch[:1], size - len(batch), axis=0)])
            output, candidate, _ = learner.decode(padded)
            outputs.append(output[: len(batch)])
            candidates.append(candidate[: len(batch)])
            losses.append(self._token_losses(learner.model, batch, batch_targets))
        outputs, candidates = np.concatenate(outputs), np.concatenate(candidates)
        accuracy, exact_match = _accuracies(outputs, targets)
        ideals = np.stack([self.task.ideal_alignment(source) for source in sources])
        return {"accuracy": accuracy, "exact_match": exact_match,
                "alignment_score": alignment_score(candidates[:, self._chosen()], ideals),
                "loss": float(np.concatenate(losses).mean())}

    def _token_losses(self, model, sources, targets):
        """Teacher-forced cross-entropy (N, T) of `model` on sources (N, S) and targets (N, T)."""
        logits = model((sources, np.asarray(decoder_inputs(targets, START_ID))), training=False)
        if isinstance(logits, (list, tuple)):
            logits = logits[0]
        return keras.ops.convert_to_numpy(
            keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True))

    def _knocked_out(self, heads):
        """A learner of this run's model with `heads` knocked out: a gated copy of the model,
        made once and given the run's weights whenever it has trained since, so its compiled
        decoder is reused."""
        if not self.is_transformer:
            raise InputError(f"Knocking heads out is for a transformer run; this one uses {self.settings['mechanism']} "
                             "attention, one map with no heads.")
        if self._gated is None:
            self._gated = TransformerLearner(self.task, self.settings, head_masks.gated_copy(self.model))
        elif self._gated_at != self.steps_done:
            head_masks.copy_weights(self.model, self._gated.model)
        self._gated_at = self.steps_done
        head_masks.set_knocked_out(self._gated.model, heads)
        return self._gated

    def prepare_knock_out(self):
        """Make knocking heads out quick, ahead of the first request: build the gated copy of a
        transformer run's model (or give it the run's current weights), evaluate it once on one
        example (which compiles its greedy decoder for the frames' batch, the shape `evaluate`
        pads to, and picks the alignment's head if no frame did) and trace `head_importance`'s
        backward pass, so that `evaluate(knock_out=...)` and `head_importance` after it take no
        compile time. Seconds the first time (bench/HEADS.md); after that, only a copy of the
        weights when the run has trained since. For when a run pauses or finishes; returns
        self. InputError for a run with no heads."""
        with self._knock_out_lock:
            learner = self._knocked_out(())
            if not self._knock_out_prepared:
                self._evaluate(learner, 1)
                self._head_importance(len(self._frame_sources))
                self._knock_out_prepared = True
        return self

    def head_importance(self, num_examples=None):
        """{layer name: (N,) importance} of a transformer run's heads on the held-out set (or its
        first `num_examples`): the mean over examples of |∂ loss / ∂ head gate| at gate 1
        (Michel et al. 2019; attention_core.heads.knock_out.head_importance). The first call
        traces the backward pass (about a second) unless `prepare_knock_out` did."""
        with self._knock_out_lock:
            return self._head_importance(num_examples)

    def _head_importance(self, num_examples):
        gated = self._knocked_out(()).model
        sources = np.asarray(self.task.heldout_sources[:num_examples])
        targets = np.asarray(self.task.heldout_targets[:num_examples])
        return head_masks.head_importance(gated, (sources, np.asarray(decoder_inputs(targets, START_ID))), targets)

    # ------------------------------------------------------------------ using the model

    def decode_one(self, source_ids):
        """Greedy decoding of one source: (outputs (T,), alignment (T, n), maps, the padded
        source (S,)), n being the real (unpadded) input length; `maps` as the learner's
        `decode` gives them, for this one example."""
        source_ids = np.asarray(source_ids, dtype=np.int32)
        if source_ids.ndim != 1 or not 0 < len(source_ids) <= self.task.source_length:
            raise InputError(f"Give one source of 1 to {self.task.source_length} ids; got shape {source_ids.shape}.")
        self.task.decode(source_ids)  # InputError for ids outside the vocabulary
        padded = self.task.pad(source_ids)[None]
        choice = self._chosen()
        outputs, candidates, maps = self.learner.decode(padded)
        real = len(self.task.unpadded(source_ids))
        return outputs[0], candidates[0, choice][:, :real], self.learner.one_example(maps), padded[0]

    def predict(self, source_ids):
        """(output_ids (T,), alignment (T, n)) for one source of n ids, greedy-decoded; the
        alignment covers the real (unpadded) input positions (a transformer's: the head of
        `alignment_choice`)."""
        outputs, alignment, _, _ = self.decode_one(source_ids)
        return outputs, alignment

    def _check_transformer(self, what):
        if not self.is_transformer:
            raise InputError(f"{what} is for a transformer run; this one uses {self.settings['mechanism']} attention.")

    def model_inputs(self, source_ids):
        """(source (1, S), decoder_inputs (1, T)), int32: the model's inputs for one source,
        padded, with the decoder fed its own greedy outputs (the start id, then the outputs less
        the last), as decoding ran. Transformer runs only."""
        self._check_transformer("model_inputs")
        outputs, _, _, padded = self.decode_one(source_ids)
        return padded[None], np.asarray(decoder_inputs(outputs[None], START_ID))

    def attention(self, source_ids):
        """Every attention map of the model for one greedy-decoded source: {layer name: weights
        (heads, queries, keys)} in the model's order, each computed by that MultiHeadAttention
        layer on `model_inputs(source_ids)` (keys over the padded source). Transformer runs only."""
        self._check_transformer("The model view")
        _, _, maps, _ = self.decode_one(source_ids)
        return {name: frozen(weights) for name, weights in maps.items()}

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
        decoding of one source (see EncoderDecoderLearner.attention_trace). Padding is left out."""
        if self.is_transformer:
            raise InputError("The step-by-step pipeline is for additive attention; this run uses a Transformer.")
        _, alignment, decoder_states, padded = self.decode_one(source_ids)
        return self.learner.attention_trace(padded, alignment, decoder_states, output_step)


def train(task, mechanism="additive", units=64, epochs=DEFAULT_EPOCHS, learning_rate=DEFAULT_LEARNING_RATE,
          seed=0, callbacks=None, **options):
    """Train a seq2seq model with attention on `task` in this thread; returns the `Run`.

    `mechanism` is "additive" (the starter code's BahdanauAttention) or "dot" (scaled
    dot-product), read by a GRU encoder-decoder, or "transformer" (attention_core.learning.
    transformer); `options` are `Run`'s batch_size, record_every, frame_examples, and the
    transformer's num_layers and num_heads. Keras `callbacks` are passed to `fit`. The same
    arguments give the same run.
    """
    return Run(task, mechanism=mechanism, units=units, epochs=epochs, learning_rate=learning_rate,
               seed=seed, **options).fit(callbacks=callbacks)
