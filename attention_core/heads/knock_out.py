"""Heads knocked out of a model, and how much each head matters.

A head is knocked out by zeroing its context vectors (its softmax-weighted values, (B, T, Dv))
before the output projection W_o; every other weight and head is unchanged. A model's
MultiHeadAttention layers become `HeadGatedAttention` layers in a copy (`gated_copy`), whose
per-head gates (N,) are 1 (the original's outputs exactly) or 0 (knocked out).

Importance by gradient (Michel et al. 2019): for every head, the absolute gradient of an
example's loss with respect to the head's gate, held at 1, averaged over the examples. Every
example's gradient comes from one compiled backward pass: each example gets its own row of gates
(E, N) (keras_graph.per_example_gates), whose gradient of the summed loss is that example's.

Heads count from 0 here, as arrays do; the pages count them from 1.
"""

import weakref

import keras
import numpy as np
import tensorflow as tf

from attention_core.text.validation import InputError
from attention_core.your_model import keras_graph
from attention_core.your_model.keras_graph import HeadGatedAttention

# {gated copy: its example_gate_gradients}, dropped with the copy.
_GRADIENTS = weakref.WeakKeyDictionary()


def _multi_head_layers(model):
    """The model's own MultiHeadAttention layers (top level, in model order)."""
    return [layer for layer in keras_graph.functional_graph(model).layers
            if isinstance(layer, keras.layers.MultiHeadAttention)]


def gated_copy(model):
    """A copy of a functional or Sequential `model` whose every MultiHeadAttention layer is a
    HeadGatedAttention with its gates at 1, every other weight the original's. InputError for a
    model with no MultiHeadAttention layer, whose attention cannot be masked head by head."""
    layers = _multi_head_layers(model)
    if not layers:
        raise InputError("This model has no MultiHeadAttention layer, so no head can be knocked out: heads are "
                         "masked in MultiHeadAttention layers (a Transformer's, or your model's).")
    names = {layer.name for layer in layers}

    def clone(layer):
        kind = HeadGatedAttention if layer.name in names else type(layer)
        return kind.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy_weights(model, copy)
    return copy


def copy_weights(model, gated):
    """Give `gated` (a `gated_copy` of `model`) `model`'s current weights; its gates stay as set."""
    for layer in keras_graph.functional_graph(model).layers:
        if not layer.weights:  # an unnamed Input is renamed in the copy, and holds nothing to copy
            continue
        target = gated.get_layer(layer.name)
        variables = [variable for variable in target.weights if variable is not getattr(target, "head_gate", None)]
        for variable, value in zip(variables, layer.weights, strict=True):
            variable.assign(value)


def gated_layers(gated):
    """{layer name: HeadGatedAttention} of a gated copy, in model order."""
    return {layer.name: layer for layer in keras_graph.functional_graph(gated).layers
            if isinstance(layer, HeadGatedAttention)}


def check_heads(layers, heads):
    """`heads` as a sorted tuple of (layer name, head), each checked against `layers`
    ({name: layer with num_heads}); InputError for an unknown layer, a head out of range, or
    every head at once."""
    checked = set()
    for item in heads:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InputError(f"Name each head as (layer name, head); got {str(item)[:40]!r}.")
        name, head = item
        if name not in layers:
            raise InputError(f"There is no MultiHeadAttention layer named {str(name)[:40]!r}; "
                             f"the layers are {', '.join(layers)}.")
        count = layers[name].num_heads
        if isinstance(head, bool) or not isinstance(head, (int, np.integer)) or not 0 <= head < count:
            raise InputError(f"Layer {name!r} has heads 0 to {count - 1}; {str(head)[:20]} is none of them.")
        checked.add((name, int(head)))
    if len(checked) == sum(layer.num_heads for layer in layers.values()):
        raise InputError("Knocking out every head leaves no attention at all; keep at least one head.")
    return tuple(sorted(checked, key=lambda pair: (list(layers).index(pair[0]), pair[1])))


def set_knocked_out(gated, heads):
    """Set a gated copy's gates: 0 for `heads` ((layer name, head) pairs, checked), 1 for the rest."""
    layers = gated_layers(gated)
    knocked = check_heads(layers, heads)
    for name, layer in layers.items():
        gate = np.ones(layer.num_heads, dtype="float32")
        gate[[head for layer_name, head in knocked if layer_name == name]] = 0.0
        layer.head_gate.assign(gate)
    return knocked


def knock_out(model, heads):
    """A copy of `model` with `heads` ((layer name, head) pairs, heads from 0) knocked out: their
    context vectors zeroed before the output projection, every other weight the original's.
    Knocking out nothing gives the original's outputs exactly. InputError for an unknown layer,
    a head out of range, every head at once, or a model with no MultiHeadAttention layer."""
    gated = gated_copy(model)
    set_knocked_out(gated, heads)
    return gated


def example_gate_gradients(gated):
    """The per-example gradients of a gated copy as a tf.function, made once per copy and reused:
    a function of (inputs, targets (E, T) ids) giving, for each HeadGatedAttention layer in
    model order, (E, N) ∂ loss_e / ∂ gate[h], loss_e example e's mean token cross-entropy of
    `gated`'s logits (E, T, V), the gates where `head_gate` holds them when it runs.

    One backward pass gives every example's gradient: each example gets a gate row of its own
    (keras_graph.per_example_gates, (E, N) copies of `head_gate`), and since examples do not
    meet in inference, the gradient of the summed loss with respect to row e is example e's."""
    if gated in _GRADIENTS:
        return _GRADIENTS[gated]
    layers = list(gated_layers(gated).values())
    model = weakref.ref(gated)  # not the copy itself, which would keep its own entry alive

    @tf.function
    def gradients(inputs, targets):
        examples = tf.shape(targets)[0]
        gates = [tf.broadcast_to(tf.cast(layer.head_gate.value, tf.float32)[None], (examples, layer.num_heads))
                 for layer in layers]  # each (E, N)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(gates)
            with keras_graph.per_example_gates(dict(zip(layers, gates, strict=True))):
                logits = model()(inputs, training=False)
            if isinstance(logits, (list, tuple)):
                logits = logits[0]
            losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)  # (E, T)
            total = tf.reduce_sum(tf.reduce_mean(losses, axis=-1))  # Σ_e loss_e
        # each (E, N): row e is ∂ loss_e / ∂ gate (0 for a layer the logits do not reach)
        return tape.gradient(total, gates, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    _GRADIENTS[gated] = gradients
    return gradients


def head_importance(gated, inputs, targets):
    """{layer name: (N,) importance}: for each head, the mean over examples of |∂ loss / ∂ gate|,
    the loss an example's mean token cross-entropy of `gated`'s logits (E, T, V) on `inputs`
    against `targets` (E, T) ids, the gates held where they are (1 for Michel et al.'s score).
    Each example's gradient is taken apart before the absolute value (not the mean gradient's);
    all of them in one compiled backward pass (`example_gate_gradients`), traced on the first
    call for a gated copy and reused after."""
    layers = gated_layers(gated)
    inputs, targets = tf.nest.map_structure(tf.convert_to_tensor, (inputs, targets))
    # Traced with the number of examples left open, so one trace serves every E.
    any_count = tf.nest.map_structure(lambda tensor: tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype),
                                      (inputs, targets))
    gradients = example_gate_gradients(gated).get_concrete_function(*any_count)(inputs, targets)
    return {name: np.abs(gradient.numpy()).mean(axis=0) for name, gradient in zip(layers, gradients, strict=True)}
