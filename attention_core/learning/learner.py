"""What a model type gives the fit-and-record loop (`training.Run`): a learner.

A learner builds its Keras model from a run's settings (or wraps a trained one), compiles it,
greedy-decodes held-out sources, and names the attention maps a run may draw as "the alignment"
(its candidates). The loop in `training.Run` does the rest (batches, frames, evaluation) once,
for every learner. A new model type is a new learner file registered in `training.LEARNERS`.

Shape letters: E examples, S source steps, T target steps, C candidate alignments.
"""

import abc

import keras


class Learner(abc.ABC):
    """One model type behind the small interface the loop needs.

    Attributes: task, settings (the run's, `training.Run.settings_for`), model (built here from
    the settings, or the trained one given), record_every (batches between frames by default).
    """

    #: The `mechanism` settings this learner trains.
    mechanisms: tuple = ()

    def __init__(self, task, settings, model=None):
        self.task, self.settings = task, settings
        self.model = model if model is not None else self.build()

    # ------------------------------------------------------------------ the interface

    @staticmethod
    def check_settings(settings, num_layers, num_heads):
        """`settings` with this learner's own settings added and checked; InputError for a bad one.
        The default adds none."""
        return settings

    @classmethod
    @abc.abstractmethod
    def settings_of(cls, model, vocab_size):
        """The run options (mechanism, units, seed, ...) a trained `model` was made with, for
        `Run(task, model=model, **options)`; InputError when it does not fit the vocabulary."""

    @abc.abstractmethod
    def build(self):
        """A new, built model for `self.settings` on `self.task`, its weights from the seed."""

    @property
    @abc.abstractmethod
    def default_record_every(self):
        """Batches between recorded frames when the run names none."""

    @abc.abstractmethod
    def learning_rate_schedule(self, total_steps):
        """The learning rate over `total_steps` batches (a Keras schedule)."""

    @abc.abstractmethod
    def decode(self, sources):
        """Greedy decoding of sources (E, S) int32: (outputs (E, T), candidates (E, C, T, S), maps),
        `maps` whatever `frame_extras` and `decode_one`'s callers read."""

    @property
    @abc.abstractmethod
    def candidate_names(self):
        """The C candidates' names, in `decode`'s order."""

    @abc.abstractmethod
    def alignment_description(self, choice):
        """Which attention the run draws as "the alignment" (candidate `choice`), in a sentence."""

    def frame_extras(self, outputs, maps, probe, choice, ideals):
        """What a Frame keeps beyond the probe's alignment, from `decode`'s outputs and maps of
        the frame examples and their ideal alignments (E, T, S): a dict of Frame's optional
        fields (maps, decoder_inputs, alignment_choice, head_scores). The default keeps nothing."""
        return {}

    def one_example(self, maps):
        """`decode`'s maps of a batch of one, for that one example."""
        return maps[0]

    # ------------------------------------------------------------------ shared by the learners

    def compile(self, total_steps):
        """Compile the model with Adam on `learning_rate_schedule` and the token loss. The
        optimizer's variables are made now, not in the first training step, which TensorFlow then
        traces once instead of twice."""
        self.model.compile(optimizer=keras.optimizers.Adam(self.learning_rate_schedule(total_steps)),
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        self.model.optimizer.build(self.model.trainable_variables)
