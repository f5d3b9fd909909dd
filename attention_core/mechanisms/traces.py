"""Run a layer once on one sequence and keep every intermediate tensor as read-only NumPy arrays.

Each trace is a frozen dataclass with one field per step of the layer's pipeline. The fields are
the tensors the layer's own `compute_steps` returned (batch axis dropped), never a recomputation,
so a page that shows a trace shows what Keras computed. Each trace also holds the weights the
layer computed with (read inside the caller's `seeded` scope, so the seed's), so that a trace, or
a file exported from it, is enough to redo every step.

Shape letters: T time steps (tokens), F features, H hidden size, U units, N heads, D head size.
"""

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from attention_core.mechanisms.layers import (
    BahdanauAttention,
    RNNWithAttention,
    SelfAttention,
)
from attention_core.text.tokens import encode_text, positional_encoding


def frozen(tensor, dtype=None):
    """A read-only NumPy copy of a tensor, so a cached trace cannot be altered by its viewers."""
    array = np.array(keras.ops.convert_to_numpy(tensor), dtype=dtype)
    array.setflags(write=False)
    return array


def _only_item(tensor):
    """The only item of a batch of one, as a read-only NumPy copy.

    Converted first, then indexed: indexing a TensorFlow tensor runs a slice op eagerly (~1 ms
    each here, measured), indexing the NumPy array is a view.
    """
    return frozen(keras.ops.convert_to_numpy(tensor)[0])


def _unbatched(steps, names):
    """Drop the batch axis of a batch of one from the named tensors of `compute_steps`."""
    return {name: _only_item(steps[name]) for name in names}


def _as_batch(array, rank, name):
    """A float32 batch of one from a (…)-shaped array of the given unbatched rank."""
    array = np.asarray(array, dtype="float32")
    if array.ndim != rank:
        raise ValueError(f"Expected `{name}` with {rank} axes. Received: {name}.shape={array.shape}")
    return array[None]


def _ensure_built(layer, *inputs):
    """Build `layer` for these inputs if needed; `compute_steps` bypasses Keras's auto-build."""
    if not layer.built:
        layer.build(*(tuple(i.shape) for i in inputs))


@dataclass(frozen=True)
class DenseWeights:
    """One dense projection's weights: y = x @ kernel + bias, as Keras computes it."""

    kernel: np.ndarray  # (inputs, units)
    bias: np.ndarray  # (units,)


def dense_weights(layer):
    """The weights `layer` computes with now: inside a `seeded` scope, the seed's."""
    return DenseWeights(kernel=frozen(layer.kernel.value), bias=frozen(layer.bias.value))


@dataclass(frozen=True)
class TextTrace:
    """A text as the text pages' layers read it: its tokens, their vectors, and the positions.

    The layer's input is `inputs`: token_vectors, plus positional_encoding when add_positions.
    The positional encoding is kept either way, so a page can show what it would add.
    """

    tokens: tuple  # T strings
    token_vectors: np.ndarray  # (T, F) a seeded hash per token (`inputs.embed_tokens`), not learned
    positional_encoding: np.ndarray  # (T, F) sinusoidal (`inputs.positional_encoding`)
    add_positions: bool

    @property
    def inputs(self):
        """(T, F) float32: what the layer reads."""
        return self.token_vectors + self.positional_encoding if self.add_positions else self.token_vectors


def trace_text(text, dim, seed=0, add_positions=True):
    """TextTrace of `text` with vectors of `dim` features; raises InputError for bad text."""
    tokens, token_vectors = encode_text(text, dim, seed=seed, add_positions=False)
    return TextTrace(
        tokens=tuple(tokens),
        token_vectors=frozen(token_vectors),
        positional_encoding=frozen(positional_encoding(len(tokens), dim)),
        add_positions=bool(add_positions),
    )


@dataclass(frozen=True)
class SelfAttentionTrace:
    """Every step of `SelfAttention` on one sequence of T tokens, or of a multi-head layer of a
    model (`model_attention.trace_attention_call`), where the keys and values may come from
    another sequence of Tk tokens (cross-attention; T = Tk otherwise) and an output projection
    follows the heads."""

    inputs: np.ndarray  # (T, F)
    query: np.ndarray  # (T, U)
    key: np.ndarray  # (Tk, U)
    value: np.ndarray  # (Tk, U)
    raw_scores: np.ndarray  # (N, T, Tk) query i · key j, per head
    scaled_scores: np.ndarray  # (N, T, Tk) raw_scores / sqrt(D), or equal when unscaled
    attention_mask: np.ndarray  # (T, Tk) bool, True where query i may attend to key j
    weights: np.ndarray  # (N, T, Tk) softmax over keys; each allowed row sums to 1
    context: np.ndarray  # (N, T, D) weights @ value vectors, per head
    output: np.ndarray  # (T, U) the heads' contexts side by side
    scale: float  # the factor applied to raw_scores
    query_dense: DenseWeights  # Wq (F, U) and bq (U,): query = inputs @ Wq + bq
    key_dense: DenseWeights  # Wk, bk: key = key_inputs @ Wk + bk
    value_dense: DenseWeights  # Wv, bv: value = key_inputs @ Wv + bv
    text: TextTrace | None = None  # where `inputs` came from, when they came from a text
    key_inputs: np.ndarray | None = None  # (Tk, F) where keys and values come from; None: `inputs`
    output_dense: DenseWeights | None = None  # Wo (U, F_out), bo (F_out,); None: no projection
    projected_output: np.ndarray | None = None  # (T, F_out) output @ Wo + bo, as the layer returned it

    @property
    def num_heads(self):
        return self.weights.shape[0]

    @property
    def head_size(self):
        return self.context.shape[-1]

    @property
    def query_head_size(self):
        """D of the queries and keys: the width U / N of one head's columns of `query` (T, U) and
        `key` (Tk, U); a model's values may be wider (`head_size`)."""
        return self.query.shape[1] // self.num_heads

    @property
    def is_masked(self):
        """Whether `attention_mask` (T, Tk) hides any cell: a causal mask, padding or a model's own."""
        return not self.attention_mask.all()

    def head_columns(self, projection, head):
        """Head `head`'s slice (T, D) of a (T, U) projection: columns [head*D, (head+1)*D), with
        D = U / N of that projection (a model's keys may be narrower than its values)."""
        size = projection.shape[1] // self.num_heads
        return projection[:, head * size : (head + 1) * size]


def trace_self_attention(layer: SelfAttention, x, mask=None, use_causal_mask=False):
    """Run `layer` on one sequence x (T, F), or on a TextTrace's inputs (kept in the trace's
    `text`, so its exports start from the token vectors); optional mask (T,) bool of real tokens."""
    text = x if isinstance(x, TextTrace) else None
    x = _as_batch(x if text is None else text.inputs, 2, "x")
    _ensure_built(layer, x)
    batch_mask = None if mask is None else np.asarray(mask, dtype=bool)[None]
    steps = layer.compute_steps(x, mask=batch_mask, use_causal_mask=use_causal_mask)
    if steps["attention_mask"] is None:
        allowed = frozen(np.ones((x.shape[1], x.shape[1]), dtype=bool))
    else:
        allowed = _only_item(steps["attention_mask"])[0]
    return SelfAttentionTrace(
        inputs=frozen(x[0]),
        **_unbatched(
            steps,
            ["query", "key", "value", "raw_scores", "scaled_scores", "output"],
        ),
        context=frozen(np.moveaxis(_only_item(steps["context"]), 1, 0)),  # (T, N, D) -> (N, T, D)
        attention_mask=allowed,
        weights=_only_item(steps["attention_weights"]),
        scale=1.0 / np.sqrt(layer.head_size) if layer.use_scale else 1.0,
        query_dense=dense_weights(layer.query_dense),
        key_dense=dense_weights(layer.key_dense),
        value_dense=dense_weights(layer.value_dense),
        text=text,
    )


@dataclass(frozen=True)
class BahdanauTrace:
    """Every step of `BahdanauAttention` for one sequence of T steps and one hidden state."""

    features: np.ndarray  # (T, F)
    hidden: np.ndarray  # (H,)
    hidden_with_time_axis: np.ndarray  # (1, H): expand_dims(hidden, 1) without the batch axis
    features_projection: np.ndarray  # (T, U) W1(features)
    hidden_projection: np.ndarray  # (1, U) W2(hidden_with_time_axis), broadcast over T
    score: np.ndarray  # (T, U) tanh(features_projection + hidden_projection)
    logits: np.ndarray  # (T, 1) V(score)
    weights: np.ndarray  # (T, 1) softmax over time
    weighted_features: np.ndarray  # (T, F) weights * features
    context: np.ndarray  # (F,) sum of weighted_features over time
    W1: DenseWeights  # kernel (F, U), bias (U,)
    W2: DenseWeights  # kernel (H, U), bias (U,)
    V: DenseWeights  # kernel (U, 1), bias (1,)


def _bahdanau_trace(steps, layer):
    return BahdanauTrace(
        **_unbatched(
            steps,
            [
                "features",
                "hidden",
                "hidden_with_time_axis",
                "features_projection",
                "hidden_projection",
                "score",
                "logits",
                "weighted_features",
            ],
        ),
        weights=_only_item(steps["attention_weights"]),
        context=_only_item(steps["context_vector"]),
        W1=dense_weights(layer.W1),
        W2=dense_weights(layer.W2),
        V=dense_weights(layer.V),
    )


def trace_bahdanau(layer: BahdanauAttention, features, hidden, mask=None):
    """Run `layer` on features (T, F) and hidden (H,); optional mask (T,) bool of valid steps."""
    features = _as_batch(features, 2, "features")
    hidden = _as_batch(hidden, 1, "hidden")
    _ensure_built(layer, features, hidden)
    batch_mask = None if mask is None else np.asarray(mask, dtype=bool)[None]
    return _bahdanau_trace(layer.compute_steps(features, hidden, mask=batch_mask), layer)


@dataclass(frozen=True)
class SimpleRNNWeights:
    """A SimpleRNN's weights: h_t = tanh(x_t @ kernel + h_(t-1) @ recurrent_kernel + bias), h_(-1) = 0."""

    kernel: np.ndarray  # (F, U)
    recurrent_kernel: np.ndarray  # (U, U)
    bias: np.ndarray  # (U,)


@dataclass(frozen=True)
class RNNAttentionTrace:
    """Every step of `RNNWithAttention` on one sequence of T input vectors."""

    inputs: np.ndarray  # (T, F)
    rnn_output: np.ndarray  # (T, U) the SimpleRNN's hidden state after each step
    hidden_state: np.ndarray  # (U,) its final state, the attention's `hidden`
    attention: BahdanauTrace  # features = rnn_output, hidden = hidden_state
    rnn: SimpleRNNWeights


def trace_rnn_with_attention(model: RNNWithAttention, inputs):
    """Run `model` on one sequence inputs (T, F)."""
    inputs = _as_batch(inputs, 2, "inputs")
    _ensure_built(model, inputs)
    steps = model.compute_steps(inputs)
    cell = model.rnn.cell
    return RNNAttentionTrace(
        **_unbatched(steps, ["inputs", "rnn_output", "hidden_state"]),
        attention=_bahdanau_trace(steps, model.attention),
        rnn=SimpleRNNWeights(
            kernel=frozen(cell.kernel.value),
            recurrent_kernel=frozen(cell.recurrent_kernel.value),
            bias=frozen(cell.bias.value),
        ),
    )


@dataclass(frozen=True)
class DenseLayerTrace:
    """One `Dense` layer applied to one input vector: y = activation(x @ W + b)."""

    name: str
    activation: str
    kernel: np.ndarray  # (inputs, units) W
    bias: np.ndarray  # (units,) b
    pre_activation: np.ndarray  # (units,) x @ W + b
    output: np.ndarray  # (units,) activation(pre_activation), as the layer returned it

    @property
    def param_count(self):
        return self.kernel.size + self.bias.size


@dataclass(frozen=True)
class DenseNetworkTrace:
    """A stack of dense layers applied to one input vector x (F,)."""

    inputs: np.ndarray  # (F,)
    layers: tuple  # DenseLayerTrace per layer, in order

    @property
    def param_count(self):
        return sum(layer.param_count for layer in self.layers)


def trace_dense_network(model: keras.Sequential, x):
    """Run a `dense_network` layer by layer on one input vector x (F,)."""
    activations = _as_batch(x, 1, "x")
    layer_traces = []
    for layer in model.layers:
        # Dense fuses x @ W + b with its activation; the sum is rebuilt from the layer's own
        # weights, and the output is the layer's real return value.
        pre_activation = ops.matmul(activations, layer.kernel) + layer.bias
        activations = layer(activations)
        layer_traces.append(
            DenseLayerTrace(
                name=layer.name,
                activation=keras.activations.serialize(layer.activation),
                kernel=frozen(layer.kernel),
                bias=frozen(layer.bias),
                pre_activation=_only_item(pre_activation),
                output=_only_item(activations),
            )
        )
    return DenseNetworkTrace(inputs=frozen(x, dtype="float32"), layers=tuple(layer_traces))


@dataclass(frozen=True)
class DotProductTrace:
    """The starter code's dot product of two vectors: element-wise products, then their sum."""

    a: np.ndarray  # (D,)
    b: np.ndarray  # (D,)
    products: np.ndarray  # (D,) a[i] * b[i]
    total: float  # sum of products


def trace_dot_product(a, b):
    """a · b for two vectors (D,) of equal length, computed by Keras in float64."""
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"Expected two vectors of equal length. Received: {a.shape} and {b.shape}")
    products = ops.multiply(a, b)
    return DotProductTrace(
        a=frozen(a), b=frozen(b), products=frozen(products), total=float(ops.sum(products))
    )
