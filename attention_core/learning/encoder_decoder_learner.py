"""The GRU encoder-decoder (`encoder_decoder.Seq2SeqAttention`) as a learner: additive (the
starter code's BahdanauAttention) or scaled dot-product attention, read at every output step.

Its one attention is the only candidate alignment. Shape letters: E examples, S source steps,
T target steps, U units.
"""

import keras
import numpy as np
import tensorflow as tf

from attention_core.learning.encoder_decoder import DECODER_ATTENTIONS, Seq2SeqAttention
from attention_core.learning.learner import Learner
from attention_core.learning.tasks import START_ID
from attention_core.mechanisms.traces import trace_bahdanau
from attention_core.text.validation import InputError

# Batches between frames: at ~20-80 ms a batch the alignment forms over 40-150 batches, so every
# 2 leaves enough frames to watch it form (bench/TRAINING.md).
RECORD_EVERY = 2


class EncoderDecoderLearner(Learner):
    mechanisms = DECODER_ATTENTIONS

    def __init__(self, task, settings, model=None):
        super().__init__(task, settings, model)
        # One compiled decoder per input shape: frames decode (E, S), predictions (1, S).
        self._greedy = tf.function(lambda source: self.model.greedy_decode(source, task.target_length))

    @classmethod
    def settings_of(cls, model, vocab_size):
        if model.vocab_size != vocab_size:
            raise InputError(f"This model was trained on {model.vocab_size} symbols; the chosen task has "
                             f"{vocab_size}. Choose the task it was trained on, or train one here.")
        return {"mechanism": model.mechanism, "units": model.units, "seed": model.seed}

    def build(self):
        task, settings = self.task, self.settings
        model = Seq2SeqAttention(len(task.vocabulary), units=settings["units"], mechanism=settings["mechanism"],
                                 start_id=START_ID, seed=settings["seed"], read_backwards=task.read_backwards,
                                 coverage=task.coverage)
        model((np.zeros((1, task.source_length), np.int32), np.zeros((1, task.target_length), np.int32)))
        return model

    @property
    def default_record_every(self):
        return RECORD_EVERY

    def learning_rate_schedule(self, total_steps):
        return keras.optimizers.schedules.CosineDecay(self.settings["learning_rate"], decay_steps=total_steps)

    def decode(self, sources):
        """(outputs (E, T), the attention (E, 1, T, S), decoder states (E, T, U))."""
        outputs, alignments, decoder_states = self._greedy(sources)
        return outputs.numpy(), alignments.numpy()[:, None], decoder_states.numpy()

    @property
    def candidate_names(self):
        return ["attention"]

    def alignment_description(self, choice):
        return f"the decoder's {self.settings['mechanism']} attention over the input"

    def attention_trace(self, padded, alignment, decoder_states, output_step):
        """The additive attention's every step (a BahdanauTrace) at `output_step` of one greedy
        decoding: `padded` the source (S,), `alignment` (T, n) over its n real positions,
        `decoder_states` (T, U). W1(features), W2(decoder state), tanh, V, softmax and context,
        computed by the trained `BahdanauAttention` itself. The features are the encoder's
        states, plus the coverage of what the earlier steps read when the model has it."""
        if self.settings["mechanism"] != "additive":
            raise InputError("The step-by-step pipeline is for additive attention; this run uses scaled dot-product.")
        encoder_states, _ = self.model.encode(padded[None])
        real = alignment.shape[1]
        read = alignment[:output_step].sum(axis=0)[None]  # (1, n): what steps 0..output_step-1 read
        features = self.model.attention_features(encoder_states[:, :real], read)
        return trace_bahdanau(self.model.attention, np.asarray(features)[0], decoder_states[output_step])
