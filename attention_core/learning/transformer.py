"""A small encoder-decoder Transformer (Vaswani et al. 2017) for Train and watch, as a functional
`keras.Model` built from Keras's own layers.

The computation, for a source of S ids and decoder inputs of T ids (B examples), E = units,
N = num_heads, L = num_layers:

1. `x = embed(source) * sqrt(E) + positions(S)`, pad ids (0) masked as keys             (B, S, E)
2. L encoder layers, each (pre-norm, residual):
   `x = x + encoder_{i}_self_attention(norm(x), norm(x))`, N heads over the source      (B, S, E)
   `x = x + feed_forward(norm(x))`                                                     (B, S, E)
   then `memory = norm(x)`                                                              (B, S, E)
3. `y = embed(decoder_inputs) * sqrt(E) + positions(T)`                                 (B, T, E)
4. L decoder layers, each (pre-norm, residual):
   `y = y + decoder_{i}_self_attention(norm(y), norm(y))`, causal: step t reads 0..t     (B, T, E)
   `y = y + decoder_{i}_cross_attention(norm(y), memory)`, reads the source, pads masked (B, T, E)
   `y = y + feed_forward(norm(y))`                                                     (B, T, E)
5. `logits = output(norm(y))`                                                           (B, T, V)

`decoder_inputs` is the start id followed by the target less its last id (teacher forcing) in
training; `greedy_decode` feeds the model's own outputs instead. Every attention layer is
`keras.layers.MultiHeadAttention`, called with `return_attention_scores=True` so that the graph
holds each layer's weights (N, queries, keys) beside its output: `attention_model` reads them,
from the same layers, without computing anything twice. The model itself outputs the logits only.

Pre-norm (the layer normalisation before each block, as in GPT-2 and nanoGPT) trains without the
learning-rate warm-up the original post-norm layout needs to stay stable. No dropout: the tasks'
data are generated afresh and the model does not over-fit them in a few epochs.

Shape letters: B batch, S source steps, T target steps, E units, N heads, V vocabulary size.
"""

import math

import keras
import numpy as np
from keras import ops

from attention_core.mechanisms.layers import check_positive_int
from attention_core.text.validation import InputError

_SERIALIZATION_PACKAGE = "attention_core"
# Sub-layers take seeds seed * _SEED_STRIDE + k, so two models' seeds never overlap.
_SEED_STRIDE = 1000
PAD_ID = 0  # attention_core.learning.tasks.PAD_ID, which this module does not import (it needs no task)


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class PositionalEncoding(keras.layers.Layer):
    """Adds the sinusoidal position signal to a sequence of vectors; no weights.

    `outputs[b, t] = inputs[b, t] + P[t]`, with `P` as `attention_core.positional_encoding`
    (column 2i is sin(t / 10000^(2i/E)), column 2i+1 its cos), computed for any length T.

    Call arguments:
        inputs: (B, T, E) float tensor.

    Returns:
        (B, T, E), the same dtype.
    """

    def call(self, inputs):
        length, dim = ops.shape(inputs)[1], inputs.shape[-1]
        positions = ops.cast(ops.arange(length), "float32")[:, None]  # (T, 1)
        pair_index = np.arange(dim) // 2  # columns 2i and 2i+1 share frequency i
        frequencies = (1.0 / np.power(10000.0, 2 * pair_index / dim)).astype(np.float32)  # (E,)
        angles = positions * frequencies[None, :]  # (T, E)
        is_even_column = np.arange(dim) % 2 == 0
        signal = ops.where(is_even_column[None, :], ops.sin(angles), ops.cos(angles))  # (T, E)
        return inputs + ops.cast(signal, inputs.dtype)[None]


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class PaddingMask(keras.layers.Layer):
    """Which key positions each query may read: the keys' ids that are not the pad id.

    Call arguments:
        inputs: `[query_ids (B, Tq), key_ids (B, Tk)]`, int; only the query's length is read.

    Returns:
        (B, Tq, Tk) bool, True where the key is a real symbol: MultiHeadAttention's
        `attention_mask`, whose False entries it sets to a large negative number before the
        softmax, so a pad gets weight 0.
    """

    def __init__(self, pad_id=PAD_ID, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = pad_id

    def call(self, inputs):
        query_ids, key_ids = inputs
        real_keys = ops.not_equal(key_ids, self.pad_id)[:, None, :]  # (B, 1, Tk)
        return ops.logical_and(real_keys, ops.ones_like(query_ids, dtype="bool")[:, :, None])  # (B, Tq, Tk)

    def compute_output_shape(self, input_shape):
        query_shape, key_shape = input_shape
        return (query_shape[0], query_shape[1], key_shape[1])

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}


def transformer(vocab_size, num_layers=2, num_heads=4, units=64, seed=0, name="transformer"):
    """A functional encoder-decoder Transformer (see the module docstring); untrained.

    Args:
        vocab_size: V, ids 0..V-1 shared by source and target; id 0 pads the source.
        num_layers: L, encoder layers and decoder layers (as many of each).
        num_heads: N heads in every attention layer; `units` must be a multiple of it.
        units: E, the width of embeddings and of every layer's output; each head reads
            E / N of it. The feed-forward blocks are 2E wide.
        seed: int; every initial weight is derived from it, so a seed gives one model.

    Returns:
        keras.Model with inputs `[source_ids (B, S), decoder_input_ids (B, T)]` (int32, any
        lengths) and output logits (B, T, V).
    """
    for argument, value in (("vocab_size", vocab_size), ("num_layers", num_layers), ("num_heads", num_heads),
                            ("units", units)):
        check_positive_int(argument, value)
    if units % num_heads:
        raise ValueError(f"Expected `units` to be a multiple of `num_heads`. Received: units={units}, num_heads={num_heads}")
    seeds = iter(range(seed * _SEED_STRIDE, (seed + 1) * _SEED_STRIDE))

    def glorot():
        return keras.initializers.GlorotUniform(seed=next(seeds))

    def dense(width, layer_name, activation=None):
        return keras.layers.Dense(width, activation=activation, kernel_initializer=glorot(), name=layer_name)

    def attention_block(x, layer_name, memory=None, **mask_arguments):
        """`x + attention(norm(x), keys and values)` (B, Tq, E): the keys and values are
        norm(x) (self-attention) or `memory` (cross-attention). The layer also returns its
        weights (B, N, Tq, Tk), kept in the graph for `attention_model`."""
        # Its query, key, value and output kernels are drawn in `_reseed` after the build.
        layer = keras.layers.MultiHeadAttention(num_heads, units // num_heads, name=layer_name)
        query = norm(x, f"{layer_name}_norm")
        update, _ = layer(query, query if memory is None else memory, return_attention_scores=True, **mask_arguments)
        return add(x, update, f"{layer_name}_residual")

    def embed(ids, layer_name):
        vectors = keras.layers.Embedding(vocab_size, units, name=layer_name, embeddings_initializer=(
            keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(units), seed=next(seeds))))(ids)
        # Scaled so that tokens and the position signal (entries in [-1, 1]) are of one size.
        scaled = keras.layers.Rescaling(math.sqrt(units), name=f"{layer_name}_scale")(vectors)
        return PositionalEncoding(name=f"{layer_name}_positions")(scaled)

    def norm(x, layer_name):
        return keras.layers.LayerNormalization(epsilon=1e-6, name=layer_name)(x)

    def add(x, update, layer_name):
        return keras.layers.Add(name=layer_name)([x, update])

    def feed_forward(x, prefix):
        hidden = dense(2 * units, f"{prefix}_feed_forward_hidden", activation="relu")(norm(x, f"{prefix}_feed_forward_norm"))
        return add(x, dense(units, f"{prefix}_feed_forward_output")(hidden), f"{prefix}_feed_forward_residual")

    source = keras.Input((None,), dtype="int32", name="source_ids")
    decoder_input = keras.Input((None,), dtype="int32", name="decoder_input_ids")
    source_mask = PaddingMask(name="source_padding_mask")([source, source])  # (B, S, S)
    cross_mask = PaddingMask(name="cross_padding_mask")([decoder_input, source])  # (B, T, S)

    x = embed(source, "source_embedding")  # (B, S, E)
    for i in range(1, num_layers + 1):
        x = attention_block(x, f"encoder_{i}_self_attention", attention_mask=source_mask)  # (B, S, E)
        x = feed_forward(x, f"encoder_{i}")
    memory = norm(x, "encoder_output_norm")  # (B, S, E)

    y = embed(decoder_input, "target_embedding")  # (B, T, E)
    for i in range(1, num_layers + 1):
        y = attention_block(y, f"decoder_{i}_self_attention", use_causal_mask=True)  # (B, T, E)
        y = attention_block(y, f"decoder_{i}_cross_attention", memory, attention_mask=cross_mask)  # (B, T, E)
        y = feed_forward(y, f"decoder_{i}")
    logits = dense(vocab_size, "output")(norm(y, "decoder_output_norm"))  # (B, T, V)
    model = keras.Model([source, decoder_input], logits, name=name)
    _reseed(model, seeds)
    return model


def _reseed(model, seeds):
    """Give every attention layer's query, key, value and output kernels their own seeds.

    MultiHeadAttention hands each of its four projections a copy of its one kernel initializer;
    a seeded initializer returns the same values on every call, so all four would start equal
    (query = key makes every head's scores x·W·Wᵀ·xᵀ, symmetric). Each is drawn afresh here from
    Keras's default Glorot-uniform with a seed of its own.
    """
    for name in attention_layer_names(model):
        layer = model.get_layer(name)
        for projection in (layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense):
            kernel = projection.kernel
            kernel.assign(keras.initializers.GlorotUniform(seed=next(seeds))(kernel.shape, dtype=kernel.dtype))


def attention_layer_names(model):
    """The names of the model's MultiHeadAttention layers, in the order the model calls them."""
    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.MultiHeadAttention)]


def attention_names(num_layers):
    """The attention layers' names of a `num_layers` model, in the order it calls them."""
    encoder = [f"encoder_{i}_self_attention" for i in range(1, num_layers + 1)]
    decoder = [f"decoder_{i}_{kind}_attention" for i in range(1, num_layers + 1) for kind in ("self", "cross")]
    return encoder + decoder


def settings_of(model, vocab_size):
    """{"num_layers", "num_heads", "units"} of a model `transformer()` built, for a task of
    `vocab_size` symbols; InputError when it is another model or was trained on another task."""
    names = attention_layer_names(model)
    num_layers = sum(name.startswith("encoder_") for name in names)
    if not names or names != attention_names(num_layers) or len(model.inputs) != 2:
        raise InputError("This model is not a Transformer saved by Train and watch: its attention layers are "
                         f"{', '.join(names[:6]) or 'none'}; such a model has encoder_1_self_attention, "
                         "decoder_1_self_attention, decoder_1_cross_attention, ... and two inputs (source and decoder ids).")
    symbols = model.outputs[0].shape[-1]
    if symbols != vocab_size:
        raise InputError(f"This model was trained on {symbols} symbols; the chosen task has {vocab_size}. "
                         "Choose the task it was trained on, or train one here.")
    first = model.get_layer(names[0])
    return {"num_layers": num_layers, "num_heads": first.num_heads, "units": first.num_heads * first.key_dim}


def encoder_maps(maps):
    """The encoder's self-attention maps of `maps` ({layer name: (N, S, S)}), first layer first:
    what attention rollout multiplies."""
    return {name: weights for name, weights in maps.items() if name.startswith("encoder_")}


def query_and_key_labels(layer_name, source_labels, decoder_labels):
    """(query labels, key labels) of an attention layer, by its name: an encoder layer reads the
    source over the source, a decoder layer its own inputs over its inputs (self-attention) or
    over the source (cross-attention)."""
    if layer_name.startswith("encoder_"):
        return source_labels, source_labels
    return decoder_labels, decoder_labels if layer_name.endswith("_self_attention") else source_labels


def attention_model(model):
    """A functional model sharing `model`'s layers, with outputs `[logits (B, T, V), *weights]`,
    one attention-weights tensor (B, N, queries, keys) per attention layer, in
    `attention_layer_names` order: what each layer computed in this very pass."""
    weights = [model.get_layer(name).output[1] for name in attention_layer_names(model)]
    return keras.Model(model.inputs, [model.outputs[0], *weights], name=f"{model.name}_attention")


def greedy_decode(attention_model_, source_ids, target_steps, start_id):
    """(output ids (B, T) int32, [weights (B, N, queries, keys), ...]): each step fed the argmax
    of the step before, from the start id; the weights are those of the last pass, whose
    decoder inputs are the start id and the outputs less the last. The causal mask makes step
    t's logits independent of the inputs after t, so that pass gives every step's output and
    attention as decoding computed them. The steps are one loop (`ops.fori_loop`), so a
    compiled decoder is compiled once whatever T (1.7 s instead of 4.6 s unrolled at T = 8,
    4 s instead of 21 s at T = 32, on 2 cores)."""
    batch = ops.shape(source_ids)[0]
    positions = ops.arange(target_steps)[None, :]  # (1, T)

    def feed_next(t, fed):  # fed (B, T): only 0..t matter at step t
        logits = attention_model_([source_ids, fed])[0]  # (B, T, V)
        next_ids = ops.cast(ops.argmax(ops.take(logits, t, axis=1), axis=-1), "int32")  # (B,)
        return ops.where(positions == t + 1, next_ids[:, None], fed)

    fed = ops.fori_loop(0, target_steps - 1, feed_next, ops.full((batch, target_steps), start_id, dtype="int32"))
    logits, *weights = attention_model_([source_ids, fed])
    return ops.cast(ops.argmax(logits, axis=-1), "int32"), weights
