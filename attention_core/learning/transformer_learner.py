"""The encoder-decoder Transformer (`transformer.transformer`) as a learner.

Every cross-attention head is a candidate alignment: a run draws the one with the best alignment
score on the held-out frame examples. Every frame also keeps the probe's every attention map
(each layer's heads), for the model view. Shape letters: E examples, S source steps, T target
steps, N heads.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from attention_core.heads.scores import head_scores
from attention_core.learning import transformer
from attention_core.learning.encoder_decoder import decoder_inputs
from attention_core.learning.learner import Learner
from attention_core.learning.tasks import START_ID
from attention_core.mechanisms.traces import frozen
from attention_core.text.validation import InputError, whole_number_in_range

DEFAULT_LAYERS = 2
DEFAULT_HEADS = 4
MAX_LAYERS = 4
MAX_HEADS = 8
# Frames greedy-decode with a whole pass of the model per output step (~T² for T steps, against a
# batch's ~T): a frame every 5 batches per 8 output steps keeps frames to about a third of a
# run's time and leaves enough to watch the alignment form (bench/TRAINING.md).
RECORD_EVERY_PER_8_STEPS = 5
# What a transformer run draws as "the alignment" (a frame's `alignment_choice` names the head).
ALIGNMENT = "the cross-attention head with the best alignment score on the held-out frame examples"
# The learning rate rises linearly from 0 over this many batches, then decays as the others'.
WARMUP_STEPS = 50


class TransformerLearner(Learner):
    mechanisms = ("transformer",)

    def __init__(self, task, settings, model=None):
        super().__init__(task, settings, model)
        self.attention_names = transformer.attention_layer_names(self.model)
        inspection = transformer.attention_model(self.model)
        # Compiled with XLA, as Keras compiles its training step: decoding takes half the time.
        self._greedy = tf.function(lambda source: transformer.greedy_decode(inspection, source, task.target_length,
                                                                            START_ID), jit_compile=True)

    @staticmethod
    def check_settings(settings, num_layers, num_heads):
        settings = {**settings, "num_layers": whole_number_in_range(num_layers, "The number of layers", 1, MAX_LAYERS),
                    "num_heads": whole_number_in_range(num_heads, "The number of heads", 1, MAX_HEADS)}
        if settings["units"] % settings["num_heads"]:
            raise InputError(f"{settings['units']} units do not split into {settings['num_heads']} heads of one size; "
                             "choose a number of heads that divides the units.")
        return settings

    @classmethod
    def settings_of(cls, model, vocab_size):
        return {"mechanism": "transformer", **transformer.settings_of(model, vocab_size)}

    def build(self):
        settings = self.settings
        return transformer.transformer(len(self.task.vocabulary), num_layers=settings["num_layers"],
                                       num_heads=settings["num_heads"], units=settings["units"], seed=settings["seed"])

    @property
    def default_record_every(self):
        return math.ceil(RECORD_EVERY_PER_8_STEPS * self.task.target_length / 8)

    def learning_rate_schedule(self, total_steps):
        warmup = min(WARMUP_STEPS, total_steps // 2)
        return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=total_steps - warmup,
                                                      warmup_target=self.settings["learning_rate"], warmup_steps=warmup)

    def decode(self, sources):
        """(outputs (E, T), every cross-attention head (E, C, T, S), maps {layer name: (E, N, queries, keys)})."""
        outputs, weights = self._greedy(sources)
        maps = {name: w.numpy() for name, w in zip(self.attention_names, weights)}
        cross = [maps[name] for name in self.attention_names if name.endswith("_cross_attention")]
        return outputs.numpy(), np.concatenate(cross, axis=1), maps

    @property
    def candidate_names(self):
        return [f"{name}, head {head + 1}" for name in self.attention_names if name.endswith("_cross_attention")
                for head in range(self.settings["num_heads"])]

    def alignment_description(self, choice):
        return f"{ALIGNMENT}, at the latest frame: {self.candidate_names[choice]}"

    def frame_extras(self, outputs, maps, probe, choice, ideals):
        # Every head's scores over the frame examples, the cross-attention's against the ideal alignment.
        cross_ideals = {name: ideals for name in self.attention_names if name.endswith("_cross_attention")}
        # float16 halves what a run keeps (finished runs are cached): the maps are drawn, never computed with.
        return {"head_scores": head_scores(maps, cross_ideals),
                "maps": {name: frozen(weights[probe], np.float16) for name, weights in maps.items()},
                "decoder_inputs": frozen(decoder_inputs(outputs[probe:probe + 1], START_ID)[0]),
                "alignment_choice": self.candidate_names[choice]}

    def one_example(self, maps):
        return {name: weights[0] for name, weights in maps.items()}

