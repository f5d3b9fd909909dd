"""The one adapter to Keras's internals: everything the library needs from Keras that Keras does
not make public, each behind a function named for what it gives.

Public Keras is used wherever it exists (`MultiHeadAttention.query_dense`, `attention_axes`, ...);
what remains is here, so a Keras upgrade that moves one of these breaks one function, and
tests/test_keras_graph.py, which checks every internal below against the pinned Keras, says which.

- a model's functional graph (`Sequential._functional`), its nodes by depth (`_nodes_by_depth`),
  its nested input structure (`_inputs_struct`) and how it lines up given inputs
  (`_standardize_inputs`);
- where a symbolic tensor came from (`_keras_history`, `Operation._inbound_nodes`), and the
  Keras masks that ride on tensors (`_keras_mask`, `get_keras_mask`, `set_keras_mask`);
- the layers nested in a layer (`_flatten_layers`);
- MultiHeadAttention's own equations and scale (`_dot_product_equation`, `_combine_equation`,
  `_inverse_sqrt_key_dim`, `_use_gate`), its mask (`_compute_attention_mask`), and the step
  between its heads' context and its output projection (`_compute_attention`, which Keras
  documents as the method to override), where `HeadGatedAttention` scales each head;
- the operation classes the functional API records (`keras.src.ops`), and the thread's list of
  variables that a StatelessScope left unallocated (`global_state`).
"""

import contextlib
import inspect

import keras
from keras.src import ops as keras_ops
from keras.src.backend import get_keras_mask, set_keras_mask
from keras.src.backend.common import global_state
from keras.src.models.functional import Functional
from keras.src.ops.operation import Operation

from attention_core.text.validation import InputError

# ------------------------------------------------------------------ a model's graph


def graph_or_none(model):
    """The functional graph of a functional or Sequential model; None for a Sequential model
    without an input shape (it has no graph yet) and for a subclassed model."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    return model if isinstance(model, Functional) else None


def functional_graph(model):
    """The functional graph of a functional or Sequential model; InputError for any other."""
    graph = graph_or_none(model)
    if graph is not None:
        return graph
    if isinstance(model, keras.Sequential):
        raise InputError(
            "This Sequential model has no input shape, so it has no graph to read. "
            "Start it with keras.Input(shape=...) and save it again."
        )
    raise InputError(
        f"The model is a subclassed {type(model).__name__}, whose call() is Python code with no graph "
        "to read. Attention can be read from functional models (keras.Model(inputs, outputs)) and "
        "Sequential models."
    )


def ordered_nodes(graph):
    """The graph's nodes from its inputs to its outputs (deepest first); calls of one depth in
    the graph's operation order. Input nodes included (`node.is_input`)."""
    position = {id(operation): index for index, operation in enumerate(graph.operations)}
    return [
        node
        for depth in sorted(graph._nodes_by_depth, reverse=True)
        for node in sorted(graph._nodes_by_depth[depth], key=lambda node: position[id(node.operation)])
    ]


def inputs_struct(graph):
    """The graph's symbolic inputs in the nesting the model was built with (a tensor, list or dict)."""
    return graph._inputs_struct


def standardize_inputs(graph, inputs):
    """`inputs` (as a user passes them to the model) as a flat list, one value per graph input."""
    return graph._standardize_inputs(inputs)


def producing_node(tensor):
    """The graph node that made symbolic `tensor`, or None for a tensor with no history."""
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history.operation._inbound_nodes[history.node_index]


def nested_layers(layer):
    """Every layer inside `layer` (itself excluded), at any depth."""
    return layer._flatten_layers(include_self=False)


def bound_arguments(layer, args, kwargs):
    """{parameter name: value} of a call `layer(*args, **kwargs)`, by its call() signature."""
    return inspect.signature(layer.call).bind(*args, **kwargs).arguments


# ------------------------------------------------------------------ Keras masks


def symbolic_mask(tensor):
    """The Keras mask a symbolic tensor carries (such as Embedding(mask_zero=True)'s), or None."""
    return getattr(tensor, "_keras_mask", None)


def mask_of(tensor):
    """The Keras mask an eager tensor carries, or None."""
    return get_keras_mask(tensor)


def attach_mask(tensor, mask):
    """Give an eager tensor the Keras mask `mask` (None removes it), as the model's run would."""
    set_keras_mask(tensor, mask)


# ------------------------------------------------------------------ MultiHeadAttention


def attention_mask(layer, query, value, *, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
    """The boolean mask (B, Tq, Tk) a MultiHeadAttention layer applies, from its inputs' masks,
    an explicit mask and the causal flag, as the layer combines them; None where nothing is masked."""
    return layer._compute_attention_mask(
        query, value, query_mask=query_mask, value_mask=value_mask, key_mask=key_mask,
        attention_mask=attention_mask, use_causal_mask=use_causal_mask,
    )


def score_equation(layer):
    """The einsum equation with which the layer multiplies keys (B, Tk, N, D) and queries
    (B, Tq, N, D) into scores (B, N, Tq, Tk)."""
    return layer._dot_product_equation


def combine_equation(layer):
    """The einsum equation with which the layer multiplies weights (B, N, Tq, Tk) and values
    (B, Tk, N, Dv) into context (B, Tq, N, Dv)."""
    return layer._combine_equation


def query_scale(layer):
    """The factor the layer multiplies its queries by before the scores: 1/sqrt(D)."""
    return float(layer._inverse_sqrt_key_dim)


def uses_gate(layer):
    """Whether a MultiHeadAttention layer gates its context (Keras's `use_gate`)."""
    return bool(getattr(layer, "_use_gate", False))


@keras.saving.register_keras_serializable(package="attention_core")
class HeadGatedAttention(keras.layers.MultiHeadAttention):
    """MultiHeadAttention whose heads' context vectors (B, Tq, N, Dv) are multiplied by a gate
    (N,) before the output projection W_o; a gate of 0 knocks a head out, and the gradient of a
    loss with respect to the gate, held at 1, says how much a head matters.

    Its variables are MultiHeadAttention's, in the same order, then `head_gate` (N,),
    non-trainable, all ones: with the gate at 1 it computes exactly what MultiHeadAttention does.

    Inside `per_example_gates`, a gate (B, N) given there, one row per example, is used instead
    of `head_gate`: the gradient of a summed loss with respect to it is each example's own
    gradient with respect to its gate, in one backward pass.
    """

    # (B, N) while per_example_gates is in effect, else None: `head_gate` for every example.
    _example_gate = None

    def build(self, query_shape, value_shape, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        self.head_gate = self.add_weight(shape=(self.num_heads,), initializer="ones", trainable=False,
                                         name="head_gate")

    def _compute_attention(self, *args, **kwargs):
        context, scores = super()._compute_attention(*args, **kwargs)  # context (B, Tq, N, Dv)
        if self._example_gate is None:
            gate = keras.ops.cast(self.head_gate, context.dtype)[:, None]  # (N, 1): broadcast over Dv
        else:
            gate = keras.ops.cast(self._example_gate, context.dtype)  # (B, N)
            # (B, 1, ..., 1, N, 1): broadcast over the query axes (Tq) and over Dv
            gate = keras.ops.reshape(gate, (-1, *[1] * (len(context.shape) - 3), self.num_heads, 1))
        return context * gate, scores


@contextlib.contextmanager
def per_example_gates(gates):
    """Within the block, each HeadGatedAttention in `gates` ({layer: gate (B, N)}, B the batch
    the layer is called on) multiplies example b's head h by gate[b, h] in place of its
    `head_gate`; afterwards every layer reads `head_gate` again."""
    try:
        for layer, gate in gates.items():
            layer._example_gate = gate
        yield
    finally:
        for layer in gates:
            layer.__dict__.pop("_example_gate", None)


# ------------------------------------------------------------------ what a saved model may hold


def recorded_operation_classes():
    """{name: class} of every operation the functional API can record (x + y, x[:, 0], ...)."""
    modules = (keras_ops.numpy, keras_ops.nn, keras_ops.math, keras_ops.core, keras_ops.linalg, keras_ops.image)
    return {
        name: value
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, Operation)
    }


@contextlib.contextmanager
def unallocated_variables():
    """A StatelessScope that builds variables without allocating them; afterwards they are
    dropped from the thread's pending list, so no later scope allocates them."""
    # Keras appends a deferred variable to this thread's list in place: keep a copy to restore.
    pending = global_state.get_global_attribute("uninitialized_variables")
    pending = None if pending is None else list(pending)
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)
