"""The same token vectors through four attention mechanisms, each checked against an oracle.

Mechanisms: dot-product (unscaled), scaled dot-product, multi-head (scaled) and additive
(Bahdanau, with every token's vector as the hidden state that queries all the others).
Each result carries its weights and how far they are from (a) the Keras layer's own `call`
and (b) an independent implementation: Keras's `MultiHeadAttention` given the same weights for
the dot-product family, the NumPy reference for additive attention.

Shape letters: T tokens, F features, U units, N heads, D head size.
"""

import functools
from dataclasses import dataclass

import keras
import numpy as np

from attention_core.mechanisms import reference
from attention_core.mechanisms.layers import BahdanauAttention, SelfAttention, seeded
from attention_core.text.validation import InputError

COMPARED_MECHANISMS = ("dot-product", "scaled dot-product", "multi-head", "additive")

# Float32 weights agree with their float64 oracle to ~1e-7; past this something is wrong.
AGREEMENT_TOLERANCE = 1e-5


@dataclass(frozen=True)
class MechanismResult:
    """One mechanism's attention on the shared tokens, with its two agreement checks."""

    name: str
    weights: np.ndarray  # (T, T) query i's weight on key j; for multi-head, the mean over heads
    head_weights: np.ndarray  # (N, T, T) per head (N = 1 except for multi-head)
    head_scores: np.ndarray  # (N, T, T) what each head's softmax read: (scaled) q·k, or additive's V(score)
    layer_max_diff: float  # max |weights shown - what the layer's call returned|
    oracle_max_diff: float  # max |weights shown - the independent implementation's|
    oracle: str  # what the independent implementation was

    def __post_init__(self):
        # The app shares one result between sessions: nobody may write to its arrays.
        for array in (self.weights, self.head_weights, self.head_scores):
            array.setflags(write=False)

    @property
    def verified(self):
        """Whether both checks agree to within AGREEMENT_TOLERANCE."""
        return max(self.layer_max_diff, self.oracle_max_diff) < AGREEMENT_TOLERANCE


def multi_head_attention_like(layer: SelfAttention, x_shape):
    """A `keras.layers.MultiHeadAttention` holding `layer`'s weights, with an identity output.

    Our column n*D + d is its (head n, column d); its output projection maps the concatenated
    heads to themselves, so its output equals ours. It always scales by 1/sqrt(D), so it is an
    oracle only for `use_scale=True`.
    """
    mha = _multi_head_attention(layer.num_heads, layer.head_size, layer.units, x_shape)
    for variable, value in _weights_like(mha, layer):
        variable.assign(value)
    return mha


def _multi_head_attention(num_heads, head_size, units, x_shape):
    """A built `keras.layers.MultiHeadAttention` of N heads of size D with a U-unit output."""
    mha = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=head_size, value_dim=head_size,
                                          output_shape=units)
    mha.build(x_shape, x_shape)
    return mha


def _weights_like(mha, layer):
    """(variable of `mha`, value) pairs giving it `layer`'s weights and an identity output (see
    `multi_head_attention_like`); read from `layer` as it computes now (e.g. under `seeded`)."""
    heads, size, units = layer.num_heads, layer.head_size, layer.units
    pairs = []
    for ours, theirs in (
        (layer.query_dense, mha.query_dense),
        (layer.key_dense, mha.key_dense),
        (layer.value_dense, mha.value_dense),
    ):
        kernel = keras.ops.convert_to_numpy(ours.kernel)
        pairs += [(theirs.kernel, kernel.reshape(kernel.shape[0], heads, size)),
                  (theirs.bias, keras.ops.convert_to_numpy(ours.bias).reshape(heads, size))]
    return pairs + [(mha.output_dense.kernel, np.eye(units, dtype="float32").reshape(heads, size, units)),
                    (mha.output_dense.bias, np.zeros(units, dtype="float32"))]


# Built layers shared by every seed and every session: building one (its variables) cost more than
# the rest of a comparison (~35 ms of ~80, measured), and a built layer computes any seed's weights
# under `seeded`, or any weights under a StatelessScope, without changing.
@functools.lru_cache(maxsize=64)
def _shared_layer(name, units, num_heads, num_features):
    """The built layer for mechanism `name` of COMPARED_MECHANISMS (or the MultiHeadAttention oracle,
    "oracle") with `num_heads` heads (1 but for multi-head) over F = `num_features`; never mutated."""
    if name == "additive":
        layer = BahdanauAttention(units)
        layer.build((None, None, num_features), (None, num_features))
    elif name == "oracle":
        layer = _multi_head_attention(num_heads, units // num_heads, units, (None, None, num_features))
    else:
        layer = SelfAttention(units, num_heads=num_heads, use_scale=name != "dot-product")
        layer.build((None, None, num_features))
    return layer


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def _allowed(tokens, padding_mask, use_causal_mask, masks_queries=True):
    """(T, T) bool: query i may attend to key j (j a real token, i too when `masks_queries`, and
    j ≤ i with the causal mask), as SelfAttention and MultiHeadAttention combine them; None when
    nothing is masked. Without `masks_queries` the padding mask hides keys only (every row alike),
    as a model's own attention mask may (the app's Transformer's PaddingMask)."""
    allowed = None
    if padding_mask is not None:
        queries = padding_mask if masks_queries else np.ones_like(padding_mask)
        allowed = queries[:, None] & padding_mask[None, :]
    if use_causal_mask:
        causal = reference.causal_mask(tokens)
        allowed = causal if allowed is None else allowed & causal
    return allowed


def _dot_product_result(name, layer, oracle, x, use_causal_mask, padding_mask=None, masks_queries=True):
    """Run a SelfAttention on x (1, T, F), with an optional padding mask (T,) bool of real tokens
    (of the keys only, without `masks_queries`); check it against its own call and an oracle: the
    built MultiHeadAttention `oracle` when the layer scales, else the NumPy reference."""
    tokens = x.shape[1]
    padding = _allowed(tokens, padding_mask, False, masks_queries)  # (T, T) or None
    # A padding mask of queries and keys is the layer's Keras mask; of keys only, its attention mask.
    arguments = {"use_causal_mask": use_causal_mask}
    if padding is not None:
        arguments.update({"mask": padding_mask[None]} if masks_queries else {"attention_mask": padding[None]})
    steps = layer.compute_steps(x, **arguments)
    head_weights = keras.ops.convert_to_numpy(steps["attention_weights"])[0]  # (N, T, T)
    _, called = layer(x, **arguments, return_attention_scores=True)
    allowed = _allowed(tokens, padding_mask, use_causal_mask, masks_queries)
    if layer.use_scale:
        padding = None if padding is None else padding[None]
        # Its weights set in a scope of their own, so the shared layer itself never changes.
        with keras.StatelessScope(state_mapping=_weights_like(oracle, layer)):
            _, oracle = oracle(x, x, attention_mask=padding, use_causal_mask=use_causal_mask, return_attention_scores=True)
        oracle, oracle_name = keras.ops.convert_to_numpy(oracle)[0], "keras.layers.MultiHeadAttention"
    else:
        weights = [keras.ops.convert_to_numpy(w).astype(np.float64) for w in layer.weights]
        _, oracle = reference.self_attention(
            x[0].astype(np.float64), *weights, layer.num_heads, layer.use_scale, allowed
        )
        oracle_name = "NumPy reference"
    return MechanismResult(
        name=name,
        weights=head_weights.mean(axis=0),
        head_weights=head_weights,
        head_scores=keras.ops.convert_to_numpy(steps["scaled_scores"])[0],
        layer_max_diff=_max_diff(head_weights, keras.ops.convert_to_numpy(called)[0]),
        oracle_max_diff=_max_diff(head_weights, oracle),
        oracle=oracle_name,
    )


def _additive_result(layer, x, use_causal_mask, padding_mask=None, masks_queries=True):
    """Additive attention with each token as the query: a batch of T, one per query token."""
    tokens = x.shape[1]
    features = np.repeat(x, tokens, axis=0)  # (T, T, F): every query sees all tokens
    hidden = x[0]  # (T, F): query i's own vector is its hidden state
    mask = _allowed(tokens, padding_mask, use_causal_mask, masks_queries)  # (T, T): row i is query i's mask
    steps = layer.compute_steps(features, hidden, mask=mask)
    weights = keras.ops.convert_to_numpy(steps["attention_weights"])[..., 0]  # (T, T)
    _, called = layer(features, hidden, mask=mask)
    W1, b1, W2, b2, V, bv = (keras.ops.convert_to_numpy(w).astype(np.float64) for w in layer.weights)
    oracle = np.stack(
        [
            reference.bahdanau_attention(
                x[0].astype(np.float64), hidden[i].astype(np.float64), W1, b1, W2, b2, V, bv,
                mask=None if mask is None else mask[i],
            )[1]
            for i in range(tokens)
        ]
    )
    return MechanismResult(
        name="additive",
        weights=weights,
        head_weights=weights[None],
        head_scores=keras.ops.convert_to_numpy(steps["logits"])[None, ..., 0],  # (1, T, T)
        layer_max_diff=_max_diff(weights, keras.ops.convert_to_numpy(called)[..., 0]),
        oracle_max_diff=_max_diff(weights, oracle),
        oracle="NumPy reference",
    )


def compare_mechanisms(x, units, num_heads, seed, use_causal_mask=False):
    """Run x (T, F) through every mechanism in COMPARED_MECHANISMS; returns a tuple of MechanismResult.

    All share `units` and `seed`, so the dot-product family starts from the same Q, K and V.
    """
    return tuple(compare_mechanism(name, x, units, num_heads, seed, use_causal_mask) for name in COMPARED_MECHANISMS)


def compare_mechanism(name, x, units, num_heads, seed, use_causal_mask=False, padding_mask=None, masks_queries=True):
    """Mechanism `name` of COMPARED_MECHANISMS (`num_heads` heads for multi-head, else 1) with `seed`'s
    weights on x (T, F), masked as `_allowed` says; a MechanismResult, as in compare_mechanisms."""
    x = np.asarray(x, dtype="float32")[None]  # (1, T, F)
    heads = num_heads if name == "multi-head" else 1
    layer = _shared_layer(name, units, heads, x.shape[-1])
    # Fetched (built, the first time) outside any scope: built inside one, its variables would
    # hold no value outside it.
    oracle = _shared_layer("oracle", units, heads, x.shape[-1]) if name in ("scaled dot-product", "multi-head") else None
    with seeded(layer, seed):  # as if made with `seed`
        if name == "additive":
            return _additive_result(layer, x, use_causal_mask, padding_mask, masks_queries)
        return _dot_product_result(name, layer, oracle, x, use_causal_mask, padding_mask, masks_queries)


def _padding_and_causal(allowed):
    """(padding_mask (T,) or None, use_causal_mask, masks_queries) whose combination (`_allowed`)
    is `allowed` (T, T), the mask a trained layer applied: a padding mask of queries and keys, or
    of keys only (every row alike), and/or the causal mask; InputError for a mask of another form
    (the untrained mechanisms take those only)."""
    tokens = allowed.shape[0]
    real = allowed.any(axis=0)  # the keys some query reads (with the causal mask, its own query)
    padding_mask = None if real.all() else real
    for masks_queries in (True, False):
        for use_causal_mask in (False, True):
            rebuilt = _allowed(tokens, padding_mask, use_causal_mask, masks_queries)
            if np.array_equal(allowed, np.ones_like(allowed) if rebuilt is None else rebuilt):
                return padding_mask, use_causal_mask, masks_queries
    raise InputError("This layer's mask is neither a padding mask nor a causal one, so the other mechanisms "
                     "cannot be given the same mask: pick another layer.")


def trained_mask_text(allowed):
    """What the mask `allowed` (T, T) a trained layer applied does, in words, for the page (the
    other mechanisms are given the same in `compare_with_trained`); InputError as there."""
    padding_mask, use_causal_mask, masks_queries = _padding_and_causal(np.asarray(allowed, bool))
    parts = []
    if padding_mask is not None:
        parts.append("padded keys weigh 0 and a padded query's row is all 0" if masks_queries else
                     "padded keys weigh 0, and every query keeps its row, a padded one too (the mask pads keys only)")
    if use_causal_mask:
        parts.append("a key after its query weighs 0 (the causal mask)")
    return "; ".join(parts) or "none: every query reads every key"


def compare_with_trained(trace, called_weights, units, seed):
    """A trained MultiHeadAttention layer beside the other mechanisms on the vectors that reached it.

    "multi-head" is the trained layer: its trace (`model_attention.trace_attention_call`) of a
    self-attention call, checked against `called_weights` (N, T, T), the weights the layer
    returned when called again on the same tensors (`model_attention.model_attention`), and
    against the NumPy reference given its trained weights. The others run with `seed`'s weights
    and `units` on the layer's inputs (T, F) with the mask the layer applied, so the maps differ
    by mechanism and by training, not by input. Returns MechanismResults in COMPARED_MECHANISMS' order.
    """
    if trace.key_inputs is not None:
        raise InputError("This layer's keys come from another sequence (cross-attention); Compare runs every "
                         "mechanism on one sequence. Open it on the Self-attention page.")
    padding_mask, use_causal_mask, masks_queries = _padding_and_causal(trace.attention_mask)
    others = [compare_mechanism(name, trace.inputs, units, 1, seed, use_causal_mask, padding_mask, masks_queries)
              for name in COMPARED_MECHANISMS if name != "multi-head"]
    dense = [trace.query_dense, trace.key_dense, trace.value_dense]
    weights = [np.asarray(array, np.float64) for d in dense for array in (d.kernel, d.bias)]
    _, oracle = reference.self_attention(trace.inputs.astype(np.float64), *weights, trace.num_heads, True,
                                         trace.attention_mask)
    trained = MechanismResult(
        name="multi-head",
        weights=trace.weights.mean(axis=0),
        head_weights=trace.weights,
        head_scores=trace.scaled_scores,
        layer_max_diff=_max_diff(trace.weights, called_weights),
        oracle_max_diff=_max_diff(trace.weights, oracle),
        oracle="NumPy reference",
    )
    by_name = {result.name: result for result in (*others, trained)}
    return tuple(by_name[name] for name in COMPARED_MECHANISMS)


def weights_difference(results, first, second):
    """(T, T) weights of mechanism `first` minus those of `second`, from compare_mechanisms."""
    by_name = {result.name: result for result in results}
    return by_name[first].weights - by_name[second].weights


def largest_change(difference):
    """The largest |difference| of any cell of a `weights_difference` (T, T), as a float."""
    return float(abs(difference).max())
