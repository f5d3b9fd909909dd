"""Keras layers for the attention mechanisms the app teaches.

`BahdanauAttention` is the starter code's additive `Attention` layer (W1, W2, V), `SelfAttention` its
Query/Key/Value pipeline, `RNNWithAttention` its SimpleRNN read by additive attention, and
`dense_network` its stack of dense layers. Each attention layer has a `compute_steps` method that
returns every intermediate tensor of one forward pass; `call` returns a subset of the same dict,
so what a trace shows is exactly what the layer computed.

Shape letters: B batch, T time steps (tokens), F features, H hidden size, U units,
N heads, D = U // N head size.
"""

import functools
import json
import warnings

import keras
from keras import ops

# Keras warns about a softmax over an axis of size 1. Here that is a one-token sequence, which the
# app allows: its single weight is 1 by definition, so the warning would only alarm users.
warnings.filterwarnings("ignore", message="You are using a softmax over axis", category=UserWarning)

# Masked logits are set to this before the softmax. exp() of it underflows to exactly 0 in
# float32, whereas -inf would turn a row with no valid position into NaN.
_MASKED_LOGIT = -1e9

_SERIALIZATION_PACKAGE = "attention_core"


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Expected `{name}` to be a positive integer. Received: {name}={value!r}")
    return value


def _seeded_initializers(seed, count):
    """`count` Glorot-uniform initializers with distinct seeds derived from `seed` (or unseeded).

    A seeded Keras initializer returns the same values on every call, so sibling Dense layers
    sharing one would get identical kernels: each gets its own seed instead.
    """
    if seed is None:
        return ["glorot_uniform"] * count
    return [keras.initializers.GlorotUniform(seed=seed + i) for i in range(count)]


def _rnn_initializers(seed):
    """The SimpleRNN's kernel and recurrent-kernel initializers for `seed` (or unseeded)."""
    if seed is None:
        return "glorot_uniform", "orthogonal"
    return keras.initializers.GlorotUniform(seed=seed), keras.initializers.Orthogonal(seed=seed + 1)


# RNNWithAttention seeds its attention with seed + this, apart from the RNN's seed and seed + 1.
_ATTENTION_SEED_OFFSET = 2


def _initial_values(variables_and_initializers):
    """(variable, value) pairs: the value each variable starts from with its initializer."""
    return [
        (variable, _initial_value(keras.initializers.get(initializer), tuple(variable.shape), variable.dtype))
        for variable, initializer in variables_and_initializers
    ]


def _initial_value(initializer, shape, dtype):
    """What `initializer` gives for `shape`: kept when it gives the same every time (a seeded or
    constant initializer), since a seed's weights are drawn again on every press and Compare's
    three dot-product layers draw the same ones (~1 ms a kernel, eagerly)."""
    config = initializer.get_config()
    if config.get("seed", 0) is None:  # unseeded: new random values every call
        return initializer(shape, dtype=dtype)
    return _repeatable_value(type(initializer), json.dumps(config, sort_keys=True), shape, dtype)


@functools.lru_cache(maxsize=1024)
def _repeatable_value(initializer_class, config, shape, dtype):
    """The (immutable) tensor a seeded or constant initializer of this class and config gives."""
    return initializer_class.from_config(json.loads(config))(shape, dtype=dtype)


def _projection_weights(projections, seed):
    """Initial (variable, value) pairs of dense `projections` made with `seed`: kernels from
    `_seeded_initializers`, in order, and zero biases."""
    pairs = []
    for projection, initializer in zip(projections, _seeded_initializers(seed, len(projections))):
        pairs += [(projection.kernel, initializer), (projection.bias, "zeros")]
    return _initial_values(pairs)


def seeded(layer, seed):
    """A scope in which the built `layer` computes exactly as if it had been made with `seed`.

    The layer's variables stay as they are: inside a `keras.StatelessScope`, which holds per
    thread, it reads the seeded initial values instead. So one built layer serves every seed,
    for every session at once, where making and building a layer per seed cost ~20 ms
    (measured). `layer` is a built `SelfAttention`, `BahdanauAttention` or `RNNWithAttention`,
    or a `dense_network`, whose Dense layers get the weights `dense_network(..., seed=seed)` gives.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"Expected `seed` to be an integer. Received: seed={seed!r}")
    if not layer.built:
        raise ValueError(
            f"Expected a built layer, whose variables exist. Received: {layer.name}, not built yet"
        )
    if isinstance(layer, keras.Sequential):
        return keras.StatelessScope(state_mapping=_projection_weights(layer.layers, seed))
    return keras.StatelessScope(state_mapping=layer.seeded_weights(seed))


def masked_softmax(logits, mask, axis):
    """Softmax of `logits` over `axis`, where positions with `mask` False get weight exactly 0.

    `mask` is None (nothing masked) or a bool tensor broadcastable to `logits`. A slice with no
    valid position gets all-zero weights rather than softmax's uniform guess over padding,
    as Keras's own `Softmax` layer does.
    """
    if mask is None:
        return ops.softmax(logits, axis=axis)
    logits = ops.where(mask, logits, _MASKED_LOGIT)
    return ops.where(mask, ops.softmax(logits, axis=axis), 0.0)


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class BahdanauAttention(keras.layers.Layer):
    """Additive (Bahdanau) attention: how much each time step of `features` matters to `hidden`.

    This is the starter code's `Attention` layer, with its attribute names. The computation:

    1. `features_projection = W1(features)`                       (B, T, U)
    2. `hidden_with_time_axis = expand_dims(hidden, 1)`           (B, 1, H)
    3. `hidden_projection = W2(hidden_with_time_axis)`            (B, 1, U)
    4. `score = tanh(features_projection + hidden_projection)`    (B, T, U), W2's term broadcast over T
    5. `logits = V(score)`                                        (B, T, 1)
    6. `attention_weights = softmax(logits, axis=1)`              (B, T, 1), over time
    7. `weighted_features = attention_weights * features`         (B, T, F)
    8. `context_vector = sum(weighted_features, axis=1)`          (B, F)

    Args:
        units: positive int U, the width of W1 and W2.
        seed: optional int making the initial kernels reproducible.

    Call arguments:
        features: (B, T, F) float tensor, e.g. an RNN's hidden states over time.
        hidden: (B, H) float tensor, e.g. the RNN's final state.
        mask: optional (B, T) bool tensor, True for valid time steps. Masked steps get
            weight exactly 0; a sequence with no valid step gets a zero context vector.

    Returns:
        `(context_vector, attention_weights)` of shapes (B, F) and (B, T, 1).
    """

    def __init__(self, units, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.seed = seed
        w1_init, w2_init, v_init = _seeded_initializers(seed, 3)
        # Sublayers are created here so the starter code's names exist at once; their weights in build().
        self.W1 = keras.layers.Dense(units, kernel_initializer=w1_init, name="W1")
        self.W2 = keras.layers.Dense(units, kernel_initializer=w2_init, name="W2")
        self.V = keras.layers.Dense(1, kernel_initializer=v_init, name="V")

    def build(self, features_shape, hidden_shape):
        if len(features_shape) != 3 or len(hidden_shape) != 2:
            raise ValueError(
                "Expected features of shape (batch, time, features) and hidden of shape "
                f"(batch, hidden). Received: features_shape={features_shape}, "
                f"hidden_shape={hidden_shape}"
            )
        self.W1.build(features_shape)
        self.W2.build((hidden_shape[0], 1, hidden_shape[1]))
        self.V.build((features_shape[0], features_shape[1], self.units))

    def compute_steps(self, features, hidden, mask=None):
        """Every intermediate tensor of one forward pass, as a dict named after the steps above."""
        hidden_with_time_axis = ops.expand_dims(hidden, 1)  # (B, 1, H)
        features_projection = self.W1(features)  # (B, T, U)
        hidden_projection = self.W2(hidden_with_time_axis)  # (B, 1, U)
        score = ops.tanh(features_projection + hidden_projection)  # (B, T, U)
        logits = self.V(score)  # (B, T, 1)
        # The softmax over time runs on the last axis of (B, T): over axis 1 of (B, T, 1),
        # TensorFlow transposes there and back, 5x slower eagerly (1.55 vs 0.29 ms, measured).
        time_mask = None if mask is None else ops.cast(mask, "bool")
        attention_weights = masked_softmax(ops.squeeze(logits, -1), time_mask, axis=-1)  # (B, T)
        attention_weights = ops.expand_dims(attention_weights, -1)  # (B, T, 1)
        weighted_features = attention_weights * features  # (B, T, F)
        context_vector = ops.sum(weighted_features, axis=1)  # (B, F)
        return {
            "features": features,
            "hidden": hidden,
            "hidden_with_time_axis": hidden_with_time_axis,
            "features_projection": features_projection,
            "hidden_projection": hidden_projection,
            "score": score,
            "logits": logits,
            "attention_weights": attention_weights,
            "weighted_features": weighted_features,
            "context_vector": context_vector,
        }

    def call(self, features, hidden, mask=None):
        steps = self.compute_steps(features, hidden, mask=mask)
        return steps["context_vector"], steps["attention_weights"]

    def seeded_weights(self, seed):
        """(variable, value) pairs: the weights this built layer starts from when made with `seed`."""
        return _projection_weights((self.W1, self.W2, self.V), seed)

    def compute_output_shape(self, features_shape, hidden_shape):
        batch, time, num_features = features_shape
        return (batch, num_features), (batch, time, 1)

    def compute_mask(self, features, hidden, mask=None):
        # The context vector has no time axis left to mask.
        return None

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class SelfAttention(keras.layers.Layer):
    """Dot-product self-attention of a sequence with itself: the starter code's Query/Key/Value pipeline.

    The computation, for each head n (columns [n*D, (n+1)*D) of the projections):

    1. `query, key, value = query_dense(x), key_dense(x), value_dense(x)`  (B, T, U) each
    2. `raw_scores = Q_n @ K_n^T`: query i against key j                     (B, N, T, T)
    3. `scaled_scores = raw_scores / sqrt(D)` when `use_scale`, else equal   (B, N, T, T)
    4. `attention_weights = softmax(scaled_scores)` over keys, masked keys 0  (B, N, T, T)
    5. `context = attention_weights @ V_n`: weighted sum of value vectors    (B, T, N, D)
    6. `output` = the heads' contexts concatenated                            (B, T, U)

    Heads are (B, T, N, D) reshapes of the projections, contracted with einsum as
    `keras.layers.MultiHeadAttention` does.

    There is no output projection, so `output` is exactly the context vectors.

    Args:
        units: positive int U, the width of the query, key and value projections.
        num_heads: positive int N that divides `units`.
        use_scale: whether to divide scores by sqrt(D) before the softmax.
        seed: optional int making the initial kernels reproducible.

    Call arguments:
        x: (B, T, F) float tensor, the sequence.
        mask: optional (B, T) bool padding mask, True for real tokens. As in
            `keras.layers.MultiHeadAttention`, it masks both queries and keys: a padded
            query attends to nothing and its output is 0.
        use_causal_mask: if True, token i attends only to tokens 0..i.
        attention_mask: optional (B, T, T) bool, True where query i may attend to key j, as
            `keras.layers.MultiHeadAttention`'s (e.g. padded keys only, every query kept);
            combined with `mask` and the causal mask.
        return_attention_scores: if True, also return the attention weights.

    Returns:
        `output` (B, T, U), or `(output, attention_weights)` with weights (B, N, T, T).
    """

    def __init__(self, units, num_heads=1, use_scale=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.num_heads = check_positive_int("num_heads", num_heads)
        if units % num_heads:
            raise ValueError(
                "Expected `units` to be divisible by `num_heads`, so every head gets "
                f"units // num_heads columns. Received: units={units}, num_heads={num_heads}"
            )
        self.use_scale = bool(use_scale)
        self.seed = seed
        self.head_size = units // num_heads
        # The output keeps the token axis, so a padding mask passes through to later layers.
        self.supports_masking = True
        # Each projection is Dense(units) applied at every token: kernel (F, U), bias (U,),
        # y = xW + b. Written as an EinsumDense, as MultiHeadAttention projects, it is one
        # broadcast matmul; a Dense on a 3-D input goes through tf.tensordot, whose eager
        # dispatch costs more than the arithmetic (2.4 vs 1.4 ms at 128 tokens, measured).
        self.query_dense, self.key_dense, self.value_dense = (
            keras.layers.EinsumDense(
                "btf,fu->btu", output_shape=(None, units), bias_axes="u", kernel_initializer=init, name=name
            )
            for init, name in zip(_seeded_initializers(seed, 3), ("query", "key", "value"))
        )

    def build(self, x_shape):
        if len(x_shape) != 3:
            raise ValueError(
                "Expected x of shape (batch, tokens, features). "
                f"Received: x_shape={x_shape}"
            )
        for dense in (self.query_dense, self.key_dense, self.value_dense):
            dense.build(x_shape)

    def _split_heads(self, projection):
        """(B, T, U) -> (B, T, N, D): head n takes columns [n*D, (n+1)*D)."""
        return ops.reshape(projection, (-1, ops.shape(projection)[1], self.num_heads, self.head_size))

    def _attention_mask(self, mask, tokens, use_causal_mask, attention_mask=None):
        """Which key each query may attend to: bool (B or 1, 1, T, T), or None for all."""
        allowed = None if attention_mask is None else ops.cast(attention_mask, "bool")  # (B, T, T)
        if mask is not None:
            mask = ops.cast(mask, "bool")
            padding = ops.expand_dims(mask, -1) & ops.expand_dims(mask, -2)  # (B, T, T)
            allowed = padding if allowed is None else allowed & padding
        if use_causal_mask:
            positions = ops.arange(tokens)
            causal = ops.expand_dims(positions, -1) >= ops.expand_dims(positions, 0)  # (T, T)
            causal = ops.expand_dims(causal, 0)  # (1, T, T)
            allowed = causal if allowed is None else allowed & causal
        return None if allowed is None else ops.expand_dims(allowed, 1)  # broadcast over heads

    def compute_steps(self, x, mask=None, use_causal_mask=False, attention_mask=None):
        """Every intermediate tensor of one forward pass, as a dict named after the steps above.

        `attention_mask` is the bool (B or 1, 1, T, T) mask that was applied, or None.
        """
        query, key, value = (
            dense(x) for dense in (self.query_dense, self.key_dense, self.value_dense)
        )  # (B, T, U) each
        query_heads, key_heads, value_heads = (
            self._split_heads(t) for t in (query, key, value)
        )  # (B, T, N, D) each
        raw_scores = ops.einsum("bqnd,bknd->bnqk", query_heads, key_heads)  # (B, N, T, T)
        # (B, N, T, T); unscaled, the very tensor of the raw scores.
        scaled_scores = raw_scores * (1.0 / self.head_size**0.5) if self.use_scale else raw_scores
        attention_mask = self._attention_mask(mask, ops.shape(x)[1], use_causal_mask, attention_mask)
        attention_weights = masked_softmax(scaled_scores, attention_mask, axis=-1)  # (B, N, T, T)
        context = ops.einsum("bnqk,bknd->bqnd", attention_weights, value_heads)  # (B, T, N, D)
        output = ops.reshape(context, (-1, ops.shape(x)[1], self.units))  # (B, T, U)
        return {
            "query": query,
            "key": key,
            "value": value,
            "raw_scores": raw_scores,
            "scaled_scores": scaled_scores,
            "attention_mask": attention_mask,
            "attention_weights": attention_weights,
            "context": context,
            "output": output,
        }

    def call(self, x, mask=None, use_causal_mask=False, attention_mask=None, return_attention_scores=False):
        steps = self.compute_steps(x, mask=mask, use_causal_mask=use_causal_mask, attention_mask=attention_mask)
        if return_attention_scores:
            return steps["output"], steps["attention_weights"]
        return steps["output"]

    def seeded_weights(self, seed):
        """(variable, value) pairs: the weights this built layer starts from when made with `seed`."""
        return _projection_weights((self.query_dense, self.key_dense, self.value_dense), seed)

    def compute_output_shape(self, x_shape):
        return (x_shape[0], x_shape[1], self.units)

    def compute_output_spec(self, x, mask=None, use_causal_mask=False, attention_mask=None,
                            return_attention_scores=False):
        # Overridden, as MultiHeadAttention does, so a symbolic call returns the weights too.
        output = keras.KerasTensor(self.compute_output_shape(x.shape), dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        batch, tokens = x.shape[0], x.shape[1]
        weights = keras.KerasTensor((batch, self.num_heads, tokens, tokens), dtype=self.compute_dtype)
        return output, weights

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_heads": self.num_heads,
                "use_scale": self.use_scale,
                "seed": self.seed,
            }
        )
        return config


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class RNNWithAttention(keras.Model):
    """The starter code's model: a SimpleRNN's hidden states read by additive attention.

    1. `rnn_output, hidden_state = rnn(inputs)`   (B, T, U) and (B, U)
    2. `context_vector, attention_weights = attention(rnn_output, hidden_state)`
                                                  (B, U) and (B, T, 1)

    Args:
        units: positive int U, the RNN's hidden size and the attention's width.
        seed: optional int making the initial weights reproducible.

    Call arguments:
        inputs: (B, T, F) float tensor, a sequence of feature vectors.

    Returns:
        `(context_vector, attention_weights)` of shapes (B, U) and (B, T, 1).
    """

    def __init__(self, units, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.seed = seed
        kernel_init, recurrent_init = _rnn_initializers(seed)
        self.rnn = keras.layers.SimpleRNN(
            units,
            return_sequences=True,
            return_state=True,
            kernel_initializer=kernel_init,
            recurrent_initializer=recurrent_init,
            name="rnn",
        )
        attention_seed = None if seed is None else seed + _ATTENTION_SEED_OFFSET
        self.attention = BahdanauAttention(units, seed=attention_seed, name="attention")

    def build(self, inputs_shape):
        self.rnn.build(inputs_shape)
        batch, time = inputs_shape[0], inputs_shape[1]
        self.attention.build((batch, time, self.units), (batch, self.units))

    def compute_steps(self, inputs):
        """The RNN's outputs and the attention's steps (see `BahdanauAttention.compute_steps`)."""
        rnn_output, hidden_state = self.rnn(inputs)  # (B, T, U), (B, U)
        steps = self.attention.compute_steps(rnn_output, hidden_state)
        return {"inputs": inputs, "rnn_output": rnn_output, "hidden_state": hidden_state, **steps}

    def call(self, inputs):
        steps = self.compute_steps(inputs)
        return steps["context_vector"], steps["attention_weights"]

    def seeded_weights(self, seed):
        """(variable, value) pairs: the weights this built model starts from when made with `seed`."""
        cell = self.rnn.cell
        kernel_init, recurrent_init = _rnn_initializers(seed)
        rnn_weights = _initial_values(
            [(cell.kernel, kernel_init), (cell.recurrent_kernel, recurrent_init), (cell.bias, "zeros")]
        )
        return rnn_weights + self.attention.seeded_weights(seed + _ATTENTION_SEED_OFFSET)

    def get_config(self):
        return {"units": self.units, "seed": self.seed, "name": self.name}


def dense_network(input_dim, layer_units, activation="relu", seed=None):
    """The starter code's fully connected network: `Input(input_dim)` then one `Dense` per entry.

    Each layer computes y = activation(x @ W + b), W of shape (inputs, units); the starter code's
    4 -> 3 -> 2 example is `dense_network(4, [3, 2])`, with 4*3+3 + 3*2+2 = 23 parameters.
    """
    check_positive_int("input_dim", input_dim)
    for units in layer_units:
        check_positive_int("units", units)
    initializers = _seeded_initializers(seed, len(layer_units))
    return keras.Sequential(
        [keras.Input(shape=(input_dim,))]
        + [
            keras.layers.Dense(units, activation=activation, kernel_initializer=init, name=f"dense_{i + 1}")
            for i, (units, init) in enumerate(zip(layer_units, initializers))
        ],
        name="sequential",  # as the starter code's first model is called; Keras would count up per model
    )


def model_summary_text(model):
    """Keras's own `model.summary()` table, as plain text."""
    lines = []
    model.summary(print_fn=lambda line, line_break=True: lines.append(line))
    return "\n".join(lines)
