"""An RNN encoder-decoder that reads the source through attention at every output step.

The computation, for a source of S ids and a target of T ids (B examples):

1. `encoder_states = encoder(source_embedding(source))`, a GRU, one direction        (B, S, U)
2. `decoder_states = decoder(target_embedding(decoder_inputs))`, a GRU from zeros    (B, T, U)
3. for every output step i, `context_i, alignment_i = attention(features_i,
   decoder_states[:, i])`, pad positions masked                                      (B, T, U), (B, T, S)
   where `features_i = encoder_states`, or with coverage
   `features_i = encoder_states + coverage(read_i)`, read_i being the attention each
   position has had over steps 0..i-1                                                (B, S, U)
4. `attentional = tanh(combine([context, decoder_states]))`                          (B, T, U)
5. `logits = output(attentional)`                                                    (B, T, V)

`decoder_inputs` is the start id followed by the target less its last id (teacher forcing) in
training; `greedy_decode` feeds the model's own previous output instead.

Why this shape (measured in bench/DESIGN_CHOICES.md):
- every source symbol reaches the output only through the attention: the decoder starts from
  zeros, and the encoder runs in one direction, as in the starter code's RNNWithAttention, so
  x_j is position j's most recent input and the place to read x_j is j itself;
- it reads in the order the output visits the input (`read_backwards` for reverse), so the
  attention cannot point one step behind by finding the fed previous symbol by content;
- sort, whose order comes from content, gets coverage (Tu et al. 2016: the attention's features
  carry how much each position has been read, `Task.coverage`) and word dropout of the fed
  symbols (Bowman et al. 2016, `Task.feed_dropout`, in attention_core.learning.training).
  Coverage makes the T attention steps sequential, so the other tasks keep one batched call.

Shape letters: B batch, S source steps, T target steps, U units, V vocabulary size.
"""

import keras
from keras import ops

from attention_core.mechanisms.layers import (
    BahdanauAttention,
    check_positive_int,
    masked_softmax,
)

DECODER_ATTENTIONS = ("additive", "dot")
_SERIALIZATION_PACKAGE = "attention_core"
# Sub-layers take seeds seed * _SEED_STRIDE + k, so two models' seeds never overlap.
_SEED_STRIDE = 16


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class ScaledDotProductAttention(keras.layers.Layer):
    """Scaled dot-product attention of one query over a sequence, with no weights of its own.

    Same call signature as `BahdanauAttention`, so the model swaps one for the other:

    1. `logits = features @ hidden / sqrt(F)`        (B, T)
    2. `attention_weights = softmax(logits)`          (B, T, 1), over time, masked steps 0
    3. `context_vector = sum(weights * features)`     (B, F)

    Call arguments:
        features: (B, T, F) float tensor. hidden: (B, F) float tensor.
        mask: optional (B, T) bool, True for valid steps.

    Returns:
        `(context_vector, attention_weights)` of shapes (B, F) and (B, T, 1).
    """

    def build(self, features_shape, hidden_shape):
        if features_shape[-1] != hidden_shape[-1]:
            raise ValueError(
                "Expected features and hidden of the same width for a dot product. "
                f"Received: features_shape={features_shape}, hidden_shape={hidden_shape}"
            )

    def compute_steps(self, features, hidden, mask=None):
        """Every intermediate tensor, as a dict named after the steps above."""
        logits = ops.einsum("btf,bf->bt", features, hidden) / ops.sqrt(ops.cast(ops.shape(features)[-1], features.dtype))
        time_mask = None if mask is None else ops.cast(mask, "bool")
        attention_weights = ops.expand_dims(masked_softmax(logits, time_mask, axis=-1), -1)  # (B, T, 1)
        context_vector = ops.sum(attention_weights * features, axis=1)  # (B, F)
        return {"logits": logits, "attention_weights": attention_weights, "context_vector": context_vector}

    def call(self, features, hidden, mask=None):
        steps = self.compute_steps(features, hidden, mask=mask)
        return steps["context_vector"], steps["attention_weights"]

    def compute_output_shape(self, features_shape, hidden_shape):
        batch, time, num_features = features_shape
        return (batch, num_features), (batch, time, 1)

    def compute_mask(self, features, hidden, mask=None):
        # The context vector has no time axis left to mask.
        return None


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class Seq2SeqAttention(keras.Model):
    """GRU encoder, GRU decoder, and attention from every decoder step to the encoder's states.

    Args:
        vocab_size: V, ids 0..V-1 shared by source and target; id 0 pads the source.
        units: U, the width of embeddings, both GRUs and the attention.
        mechanism: "additive" (`BahdanauAttention`, the starter code's W1, W2, V) or "dot" (scaled
            dot-product).
        start_id: the id that starts every decoder input.
        seed: int; every initial weight is derived from it, so a seed gives one model.
        read_backwards: whether the encoder reads the source right to left (see above; the
            task says which, `Task.read_backwards`).
        coverage: whether the attention's features carry how much each position has been
            read (see above; `Task.coverage`).

    Call arguments:
        inputs: `(source_ids (B, S), decoder_input_ids (B, T))`, int.

    Returns:
        logits (B, T, V) for each output step.
    """

    def __init__(self, vocab_size, units=64, mechanism="additive", start_id=1, seed=0, read_backwards=False,
                 coverage=False, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.units = check_positive_int("units", units)
        if mechanism not in DECODER_ATTENTIONS:
            raise ValueError(f"Expected `mechanism` to be one of {DECODER_ATTENTIONS}. Received: mechanism={mechanism!r}")
        self.mechanism, self.start_id, self.seed = mechanism, start_id, seed
        self.read_backwards, self.coverage = bool(read_backwards), bool(coverage)
        seeds = iter(range(seed * _SEED_STRIDE, (seed + 1) * _SEED_STRIDE))

        def embedding(name):
            return keras.layers.Embedding(
                vocab_size, units, embeddings_initializer=keras.initializers.RandomUniform(-0.05, 0.05, seed=next(seeds)), name=name
            )

        def gru(name):
            return keras.layers.GRU(
                units, return_sequences=True, return_state=True, name=name,
                kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
                recurrent_initializer=keras.initializers.Orthogonal(seed=next(seeds)),
            )

        self.source_embedding, self.target_embedding = embedding("source_embedding"), embedding("target_embedding")
        self.encoder, self.decoder = gru("encoder"), gru("decoder")
        self.attention = (
            BahdanauAttention(units, seed=next(seeds), name="attention")
            if mechanism == "additive" else ScaledDotProductAttention(name="attention")
        )
        self.combine = keras.layers.Dense(
            units, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)), name="combine"
        )
        self.output_layer = keras.layers.Dense(
            vocab_size, kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)), name="output"
        )
        # Last, so a model without coverage draws the same weights from a seed as before it existed.
        self.coverage_layer = keras.layers.Dense(
            units, use_bias=False, kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)), name="coverage"
        ) if self.coverage else None

    def build(self, inputs_shape):
        source_shape, target_shape = inputs_shape
        batch = source_shape[0]
        for embedding, shape in ((self.source_embedding, source_shape), (self.target_embedding, target_shape)):
            embedding.build(shape)
        self.encoder.build((batch, source_shape[1], self.units))
        self.decoder.build((batch, target_shape[1], self.units))
        self.attention.build((batch, source_shape[1], self.units), (batch, self.units))
        self.combine.build((batch, target_shape[1], 2 * self.units))
        self.output_layer.build((batch, target_shape[1], self.units))
        if self.coverage:
            self.coverage_layer.build((batch, source_shape[1], 1))

    def encode(self, source_ids):
        """(encoder_states (B, S, U), source_mask (B, S) bool, True for real symbols)."""
        source_mask = ops.not_equal(source_ids, 0)
        embedded = self.source_embedding(source_ids)
        if not self.read_backwards:
            states, _ = self.encoder(embedded, mask=source_mask)
            return states, source_mask
        # Right to left, the padding (on the right) comes first; masked, it leaves the state at
        # zeros, so every real position's state is the same whatever the padding.
        states, _ = self.encoder(ops.flip(embedded, axis=1), mask=ops.flip(source_mask, axis=1))
        return ops.flip(states, axis=1), source_mask

    def attention_features(self, encoder_states, read):
        """What the attention reads at a step (B, S, U): the encoder's states (B, S, U), plus,
        with coverage, coverage(read), read (B, S) being the attention each position has had."""
        if not self.coverage:
            return encoder_states
        return encoder_states + self.coverage_layer(ops.expand_dims(read, -1))

    def attend(self, encoder_states, source_mask, decoder_states, read=None):
        """(context (B, T, U), alignment (B, T, S), read (B, S)): the attention layer, as is,
        run once per output step. `read` (B, S), zeros by default, is the attention each
        position had before these T steps; the result adds theirs. Without coverage the T
        queries go through the layer as one batch of B*T; with it, one step after another."""
        if read is None:
            read = ops.zeros(ops.shape(source_mask), dtype=encoder_states.dtype)
        if not self.coverage:
            context, alignment = self._attend_at_once(encoder_states, source_mask, decoder_states)
            return context, alignment, read + ops.sum(alignment, axis=1)
        contexts, alignments = [], []
        for i in range(decoder_states.shape[1]):
            context, weights = self.attention(self.attention_features(encoder_states, read), decoder_states[:, i],
                                              mask=source_mask)  # (B, U), (B, S, 1)
            read = read + weights[..., 0]
            contexts.append(context)
            alignments.append(weights[..., 0])
        return ops.stack(contexts, axis=1), ops.stack(alignments, axis=1), read

    def _attend_at_once(self, encoder_states, source_mask, decoder_states):
        """(context (B, T, U), alignment (B, T, S)) for T queries that see the same features."""
        batch, source_steps = ops.shape(encoder_states)[0], ops.shape(encoder_states)[1]
        target_steps = ops.shape(decoder_states)[1]
        features = ops.repeat(encoder_states, target_steps, axis=0)  # (B*T, S, U): row b*T+i is example b
        mask = ops.repeat(source_mask, target_steps, axis=0)  # (B*T, S)
        hidden = ops.reshape(decoder_states, (-1, self.units))  # (B*T, U)
        context, weights = self.attention(features, hidden, mask=mask)  # (B*T, U), (B*T, S, 1)
        return (ops.reshape(context, (batch, target_steps, self.units)),
                ops.reshape(weights, (batch, target_steps, source_steps)))

    def readout(self, context, decoder_states):
        """Logits (B, T, V) from the context and the decoder's states (B, T, U) each."""
        return self.output_layer(self.combine(ops.concatenate([context, decoder_states], axis=-1)))

    def compute_steps(self, source_ids, decoder_input_ids):
        """Every intermediate tensor of a teacher-forced pass, named after the steps above."""
        encoder_states, source_mask = self.encode(source_ids)
        decoder_states, _ = self.decoder(self.target_embedding(decoder_input_ids))
        context, alignment, _ = self.attend(encoder_states, source_mask, decoder_states)
        return {
            "encoder_states": encoder_states,
            "source_mask": source_mask,
            "decoder_states": decoder_states,
            "context": context,
            "alignment": alignment,
            "logits": self.readout(context, decoder_states),
        }

    def call(self, inputs):
        source_ids, decoder_input_ids = inputs
        return self.compute_steps(source_ids, decoder_input_ids)["logits"]

    def greedy_decode(self, source_ids, target_steps):
        """(output ids (B, T) int32, alignment (B, T, S), decoder_states (B, T, U)): each step
        fed the argmax of the previous one, starting from the start id."""
        encoder_states, source_mask = self.encode(source_ids)
        previous = ops.full((ops.shape(source_ids)[0], 1), self.start_id, dtype="int32")
        state = ops.zeros((ops.shape(source_ids)[0], self.units))
        read = None
        outputs, alignments, states = [], [], []
        for _ in range(target_steps):
            decoder_state, state = self.decoder(self.target_embedding(previous), initial_state=state)  # (B, 1, U)
            context, alignment, read = self.attend(encoder_states, source_mask, decoder_state, read)
            previous = ops.cast(ops.argmax(self.readout(context, decoder_state), axis=-1), "int32")  # (B, 1)
            outputs.append(previous)
            alignments.append(alignment)
            states.append(decoder_state)
        return (ops.concatenate(outputs, axis=1), ops.concatenate(alignments, axis=1),
                ops.concatenate(states, axis=1))

    def get_config(self):
        return {"vocab_size": self.vocab_size, "units": self.units, "mechanism": self.mechanism,
                "start_id": self.start_id, "seed": self.seed, "read_backwards": self.read_backwards,
                "coverage": self.coverage, "name": self.name}


def decoder_inputs(target_ids, start_id=1):
    """(B, T) teacher-forcing inputs: the start id, then the targets (B, T) less their last."""
    target_ids = ops.convert_to_tensor(target_ids, dtype="int32")
    start = ops.full((ops.shape(target_ids)[0], 1), start_id, dtype="int32")
    return ops.concatenate([start, target_ids[:, :-1]], axis=1)
