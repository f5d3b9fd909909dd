"""A Keras model's attention, read from its own attention layers.

For every attention-layer call in a functional (or Sequential) model, a reader sub-model runs the
model's inputs up to the tensors that reached that call (and their Keras masks, such as
`Embedding(mask_zero=True)`'s); the layer is then called again on them with the call's own
arguments and `return_attention_scores=True`. Nothing is re-implemented: the maps are what the
layers compute. The readers are built once per model and reused, so a model that is still
training is read with its current weights.

Shape letters: B batch, Tq queries, Tk keys, F features, N heads, D head size, U = N*D.
"""

import inspect
import threading
import weakref
from dataclasses import dataclass

import keras
import numpy as np
from keras.src.backend import get_keras_mask, set_keras_mask
from keras.src.models.functional import Functional

from attention_core.inputs import InputError
from attention_core.layers import BahdanauAttention, SelfAttention
from attention_core.model_io import load_functional_model
from attention_core.traces import DenseWeights, SelfAttentionTrace, _frozen

# Checked in this order: AdditiveAttention is a subclass of Attention.
_ATTENTION_CLASSES = (
    keras.layers.MultiHeadAttention,
    keras.layers.GroupQueryAttention,
    keras.layers.AdditiveAttention,
    keras.layers.Attention,
    SelfAttention,
    BahdanauAttention,
)
ATTENTION_KINDS = tuple(cls.__name__ for cls in _ATTENTION_CLASSES)


@dataclass(frozen=True)
class AttentionCall:
    """One call of an attention layer in a model, found without running the model."""

    layer: str  # the layer's name
    kind: str  # one of ATTENTION_KINDS
    call_index: int  # its position among the model's attention calls, in model order
    num_heads: int  # N; 1 for the single-map layers
    is_self_attention: bool  # queries, keys and values all come from one tensor


@dataclass(frozen=True)
class LayerAttention:
    """The weights one attention call computed, for the first example of the batch."""

    layer: str
    kind: str
    call_index: int
    weights: np.ndarray  # (N, Tq, Tk) float32, read-only; each row sums to 1 over allowed keys


@dataclass(frozen=True)
class _Call:
    info: AttentionCall
    layer: keras.layers.Layer
    node: object  # keras.src.ops.node.Node: the call's symbolic arguments


@dataclass(frozen=True)
class _Reader:
    calls: tuple  # _Call, in model order
    model: keras.Model | None  # model inputs -> every tensor and mask the calls read; None without calls
    tensor_ids: tuple  # id() of the symbolic tensor behind each of `model`'s outputs


_READERS = weakref.WeakKeyDictionary()
_READERS_LOCK = threading.Lock()


def _kind(layer):
    return next((cls.__name__ for cls in _ATTENTION_CLASSES if isinstance(layer, cls)), None)


def _functional(model):
    """The functional graph of a functional or Sequential model; InputError for any other."""
    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise InputError(
                "This Sequential model has no input shape, so it has no graph to read. "
                "Start it with keras.Input(shape=...) and save it again."
            )
        return graph
    if isinstance(model, Functional):
        return model
    raise InputError(
        f"The model is a subclassed {type(model).__name__}, whose call() is Python code with no graph "
        "to read. Attention can be read from functional models (keras.Model(inputs, outputs)) and "
        "Sequential models."
    )


def _ordered_nodes(graph):
    """The graph's nodes from its inputs to its outputs (deepest first); calls of one depth in
    the graph's operation order."""
    position = {id(operation): index for index, operation in enumerate(graph.operations)}
    return [
        node
        for depth in sorted(graph._nodes_by_depth, reverse=True)
        for node in sorted(graph._nodes_by_depth[depth], key=lambda node: position[id(node.operation)])
    ]


def _is_self_attention(layer, node):
    if isinstance(layer, SelfAttention):
        return True
    if isinstance(layer, BahdanauAttention):
        return False
    return len({id(tensor) for tensor in node.arguments.keras_tensors if not _is_mask_argument(layer, node, tensor)}) == 1


def _is_mask_argument(layer, node, tensor):
    """Whether `tensor` is passed as a mask (explicit masks do not make a call cross-attention)."""
    bound = _bound_arguments(layer, node.arguments.args, node.arguments.kwargs)
    return any(
        name.endswith("mask") and any(value is tensor for value in keras.tree.flatten(given))
        for name, given in bound.items()
        if given is not None
    )


def _bound_arguments(layer, args, kwargs):
    return inspect.signature(layer.call).bind(*args, **kwargs).arguments


def _num_heads(layer):
    if isinstance(layer, keras.layers.GroupQueryAttention):
        return layer.num_query_heads  # its maps are per query head; key heads are shared among them
    return layer.num_heads if isinstance(layer, (keras.layers.MultiHeadAttention, SelfAttention)) else 1


def _reader(model):
    """The model's attention calls and their reader sub-model, built once per model."""
    with _READERS_LOCK:
        reader = _READERS.get(model)
        if reader is None:
            reader = _READERS[model] = _build_reader(model)
        return reader


def _build_reader(model):
    graph = _functional(model)
    calls = []
    for node in _ordered_nodes(graph):
        layer = node.operation
        kind = _kind(layer)
        if kind is None:
            continue
        info = AttentionCall(layer.name, kind, len(calls), _num_heads(layer), _is_self_attention(layer, node))
        calls.append(_Call(info, layer, node))
    tensors = {}
    for call in calls:
        for tensor in call.node.arguments.keras_tensors:
            tensors.setdefault(id(tensor), tensor)
            mask = getattr(tensor, "_keras_mask", None)
            if mask is not None:
                tensors.setdefault(id(mask), mask)
    reader_model = keras.Model(graph._inputs_struct, list(tensors.values())) if calls else None
    return _Reader(tuple(calls), reader_model, tuple(tensors))


def attention_calls(model):
    """Every attention-layer call of `model`, in model order, as AttentionCall; nothing runs.

    Reads keras.layers.MultiHeadAttention, GroupQueryAttention, Attention and AdditiveAttention,
    and attention_core's SelfAttention and BahdanauAttention (ATTENTION_KINDS), called by the
    model itself: attention inside a nested model is not read. InputError for a subclassed model.
    """
    return [call.info for call in _reader(model).calls]


def load_keras_model(path_or_bytes):
    """A user's Keras model from a `.keras` file (a path, or its bytes), through the one gate
    (`model_io.load_functional_model`), holding at least one attention layer; InputError otherwise."""
    model = load_functional_model(path_or_bytes)
    if not attention_calls(model):
        nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)
                  and any(_kind(inner) for inner in layer._flatten_layers(include_self=False))]
        where = (f" Its attention is inside the nested model {nested[0]!r}, whose calls this page does not read: "
                 "build the model with its layers at the top level.") if nested else ""
        raise InputError(
            f"The model has no attention layer, so there is no attention to show.{where} Models with "
            f"{', '.join(ATTENTION_KINDS)} layers are accepted."
        )
    return model


def _tensor_values(reader, inputs):
    """{id of a symbolic tensor: its value} for every tensor the calls read, from one run."""
    try:
        values = reader.model(inputs, training=False)
    except (ValueError, TypeError, KeyError) as error:
        message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise InputError(f"The model could not run on these inputs: {message}") from None
    except Exception as error:  # TensorFlow's own errors, e.g. an id past an Embedding's input_dim
        message = getattr(error, "message", str(error)).splitlines()[0][:200]
        raise InputError(f"The model could not run on these inputs ({type(error).__name__}: {message}).") from None
    return dict(zip(reader.tensor_ids, keras.tree.flatten(values)))


def _call_arguments(call, values):
    """The call's (args, kwargs) with the values that reached it, each carrying the Keras mask it
    carried in the model, so the layer's __call__ applies the masks as the model does."""
    for tensor in call.node.arguments.keras_tensors:
        mask = getattr(tensor, "_keras_mask", None)
        set_keras_mask(values[id(tensor)], None if mask is None else values[id(mask)])
    return call.node.arguments.fill_in(values)


def _weights_of(call, values):
    """The call's weights for the whole batch, as (B, N, Tq, Tk) NumPy."""
    args, kwargs = _call_arguments(call, values)
    if isinstance(call.layer, BahdanauAttention):
        _, weights = call.layer(*args, **kwargs)  # (B, T, 1): one query, the hidden state
        return np.swapaxes(keras.ops.convert_to_numpy(weights), 1, 2)[:, None]  # (B, 1, 1, T)
    _, weights = call.layer(*args, **{**kwargs, "return_attention_scores": True})
    weights = keras.ops.convert_to_numpy(weights)
    return weights if weights.ndim == 4 else weights[:, None]  # Attention's (B, Tq, Tk) is one head


def model_attention(model, inputs):
    """Every attention call's weights on `inputs`, in model order: a list of LayerAttention.

    `inputs` is what `model` takes (an array, a list or a dict of them); the weights are the first
    example's. InputError for a subclassed model or inputs the model cannot run.
    """
    reader = _reader(model)
    if not reader.calls:
        return []
    values = _tensor_values(reader, inputs)
    return [
        LayerAttention(call.info.layer, call.info.kind, call.info.call_index, _frozen(_weights_of(call, values)[0], "float32"))
        for call in reader.calls
    ]


def _kernel_weights(dense, columns):
    """An EinsumDense's kernel and bias with its head axes flattened: kernel (rows, columns), as
    (F, N, D) -> (F, N*D) for a projection, (N, D, F) -> (N*D, F) for the output's. A layer
    without a bias adds zeros."""
    kernel = keras.ops.convert_to_numpy(dense.kernel)
    bias = np.zeros(columns, "float32") if dense.bias is None else keras.ops.convert_to_numpy(dense.bias).reshape(columns)
    return DenseWeights(kernel=_frozen(kernel.reshape(-1, columns)), bias=_frozen(bias))


def _first(tensor):
    """The first example of a batch, as (T, …) NumPy."""
    return keras.ops.convert_to_numpy(tensor)[0]


def _check_traceable(call):
    layer = call.layer
    if not isinstance(layer, keras.layers.MultiHeadAttention):
        raise InputError(
            f"Layer {call.info.layer!r} is a {call.info.kind}; only multi-head layers "
            "(keras.layers.MultiHeadAttention) show the Q/K/V pipeline. Its map is on the Your model page."
        )
    if tuple(layer._attention_axes) != (1,) or getattr(layer, "_use_gate", False):
        raise InputError(
            f"Layer {call.info.layer!r} attends over axes {tuple(layer._attention_axes)}"
            f"{' with a gate' if getattr(layer, '_use_gate', False) else ''}; the pipeline is shown for "
            "MultiHeadAttention over one sequence axis (inputs (batch, tokens, features)), without a gate."
        )


def trace_attention_call(model, inputs, call_index):
    """The SelfAttentionTrace of the model's MultiHeadAttention call `call_index` on `inputs`.

    Every step is computed by the layer's own sub-layers on the tensors that reached it (first
    example of the batch): Q, K, V = x @ W + b by `_query_dense`, `_key_dense`, `_value_dense`
    (kernels (F, N, D) shown as (F, N*D), head n in columns [n*D, (n+1)*D)); raw scores Q_n·K_n
    with the layer's einsum; scaled scores with the query multiplied by 1/sqrt(D), as the layer
    scales; the weights the layer itself returns with return_attention_scores=True; context and
    the output projection by `_output_dense`. InputError for any other call.
    """
    reader = _reader(model)
    if not 0 <= call_index < len(reader.calls):
        raise InputError(f"The model has {len(reader.calls)} attention calls (0 to {len(reader.calls) - 1}); {call_index} is none of them.")
    call = reader.calls[call_index]
    _check_traceable(call)
    layer = call.layer
    args, kwargs = _call_arguments(call, _tensor_values(reader, inputs))
    bound = _bound_arguments(layer, args, kwargs)
    query, value, key = bound["query"], bound["value"], bound.get("key")
    if key is not None and key is not value:
        raise InputError(f"Layer {call.info.layer!r} takes its keys and values from two different tensors; the pipeline shows keys and values from one sequence.")
    # Read before the call: MultiHeadAttention clears its inputs' Keras masks.
    masks = {
        "query_mask": get_keras_mask(query),
        "value_mask": bound.get("value_mask") if bound.get("value_mask") is not None else get_keras_mask(value),
        "key_mask": bound.get("key_mask") if bound.get("key_mask") is not None or key is None else get_keras_mask(key),
    }
    projected, weights = layer(*args, **{**kwargs, "return_attention_scores": True})
    allowed = layer._compute_attention_mask(
        query, value, **masks, attention_mask=bound.get("attention_mask"), use_causal_mask=bool(bound.get("use_causal_mask"))
    )
    query_heads = layer._query_dense(query)  # (B, Tq, N, D)
    key_heads = layer._key_dense(value)  # (B, Tk, N, D)
    value_heads = layer._value_dense(value)  # (B, Tk, N, Dv)
    raw_scores = keras.ops.einsum(layer._dot_product_equation, key_heads, query_heads)  # (B, N, Tq, Tk)
    scaled_query = keras.ops.multiply(query_heads, keras.ops.cast(layer._inverse_sqrt_key_dim, query_heads.dtype))
    scaled_scores = keras.ops.einsum(layer._dot_product_equation, key_heads, scaled_query)  # (B, N, Tq, Tk)
    context = keras.ops.einsum(layer._combine_equation, weights, value_heads)  # (B, Tq, N, Dv)
    num_heads, key_dim, value_dim = layer.num_heads, layer.key_dim, layer.value_dim or layer.key_dim
    tokens, keys = query.shape[1], value.shape[1]
    mask = np.ones((tokens, keys), bool) if allowed is None else np.broadcast_to(_first(keras.ops.cast(allowed, "bool")), (tokens, keys))
    self_attention = value is query
    return SelfAttentionTrace(
        inputs=_frozen(_first(query)),
        query=_frozen(_first(query_heads).reshape(tokens, num_heads * key_dim)),
        key=_frozen(_first(key_heads).reshape(keys, num_heads * key_dim)),
        value=_frozen(_first(value_heads).reshape(keys, num_heads * value_dim)),
        raw_scores=_frozen(_first(raw_scores)),
        scaled_scores=_frozen(_first(scaled_scores)),
        attention_mask=_frozen(mask),
        weights=_frozen(_first(weights)),
        context=_frozen(np.moveaxis(_first(context), 1, 0)),  # (Tq, N, Dv) -> (N, Tq, Dv)
        output=_frozen(_first(context).reshape(tokens, num_heads * value_dim)),
        scale=float(layer._inverse_sqrt_key_dim),
        query_dense=_kernel_weights(layer._query_dense, num_heads * key_dim),
        key_dense=_kernel_weights(layer._key_dense, num_heads * key_dim),
        value_dense=_kernel_weights(layer._value_dense, num_heads * value_dim),
        key_inputs=None if self_attention else _frozen(_first(value)),
        output_dense=_kernel_weights(layer._output_dense, layer._output_dense.kernel.shape[-1]),
        projected_output=_frozen(_first(projected)),
    )
