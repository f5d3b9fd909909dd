"""A Keras model's attention, read from its own attention layers.

For every attention-layer call in a functional (or Sequential) model, a reader sub-model runs the
model's inputs up to the tensors that reached that call (and their Keras masks, such as
`Embedding(mask_zero=True)`'s); the layer is then called again on them with the call's own
arguments and `return_attention_scores=True`. Nothing is re-implemented: the maps are what the
layers compute. The readers are built once per model and reused, so a model that is still
training is read with its current weights.

Shape letters: B batch, Tq queries, Tk keys, F features, N heads, D head size, U = N*D.
"""

import threading
import weakref
from dataclasses import dataclass

import keras
import numpy as np

from attention_core.mechanisms.layers import BahdanauAttention, SelfAttention
from attention_core.mechanisms.traces import DenseWeights, SelfAttentionTrace, frozen
from attention_core.text.validation import InputError
from attention_core.your_model import keras_graph
from attention_core.your_model.gate import load_functional_model

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


def _is_self_attention(layer, node):
    if isinstance(layer, SelfAttention):
        return True
    if isinstance(layer, BahdanauAttention):
        return False
    return len({id(tensor) for tensor in node.arguments.keras_tensors if not _is_mask_argument(layer, node, tensor)}) == 1


def _is_mask_argument(layer, node, tensor):
    """Whether `tensor` is passed as a mask (explicit masks do not make a call cross-attention)."""
    bound = keras_graph.bound_arguments(layer, node.arguments.args, node.arguments.kwargs)
    return any(
        name.endswith("mask") and any(value is tensor for value in keras.tree.flatten(given))
        for name, given in bound.items()
        if given is not None
    )


def _num_heads(layer):
    if isinstance(layer, keras.layers.GroupQueryAttention):
        return layer.num_query_heads  # its maps are per query head; key heads are shared among them
    return layer.num_heads if isinstance(layer, (keras.layers.MultiHeadAttention, SelfAttention)) else 1


def reader_of(model):
    """The model's attention calls and their reader sub-model, built once per model."""
    with _READERS_LOCK:
        reader = _READERS.get(model)
        if reader is None:
            reader = _READERS[model] = _build_reader(model)
        return reader


def _build_reader(model):
    graph = keras_graph.functional_graph(model)
    calls = []
    for node in keras_graph.ordered_nodes(graph):
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
            mask = keras_graph.symbolic_mask(tensor)
            if mask is not None:
                tensors.setdefault(id(mask), mask)
    reader_model = keras.Model(keras_graph.inputs_struct(graph), list(tensors.values())) if calls else None
    return _Reader(tuple(calls), reader_model, tuple(tensors))


def attention_calls(model):
    """Every attention-layer call of `model`, in model order, as AttentionCall; nothing runs.

    Reads keras.layers.MultiHeadAttention, GroupQueryAttention, Attention and AdditiveAttention,
    and attention_core's SelfAttention and BahdanauAttention (ATTENTION_KINDS), called by the
    model itself: attention inside a nested model is not read. InputError for a subclassed model.
    """
    return [call.info for call in reader_of(model).calls]


def load_keras_model(path_or_bytes):
    """A user's Keras model from a `.keras` file (a path, or its bytes), through the one gate
    (`model_io.load_functional_model`), holding at least one attention layer; InputError otherwise."""
    model = load_functional_model(path_or_bytes)
    if not attention_calls(model):
        nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)
                  and any(_kind(inner) for inner in keras_graph.nested_layers(layer))]
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
        mask = keras_graph.symbolic_mask(tensor)
        keras_graph.attach_mask(values[id(tensor)], None if mask is None else values[id(mask)])
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
    reader = reader_of(model)
    if not reader.calls:
        return []
    values = _tensor_values(reader, inputs)
    return [
        LayerAttention(call.info.layer, call.info.kind, call.info.call_index, frozen(_weights_of(call, values)[0], "float32"))
        for call in reader.calls
    ]


def _kernel_weights(dense, columns):
    """An EinsumDense's kernel and bias with its head axes flattened: kernel (rows, columns), as
    (F, N, D) -> (F, N*D) for a projection, (N, D, F) -> (N*D, F) for the output's. A layer
    without a bias adds zeros."""
    kernel = keras.ops.convert_to_numpy(dense.kernel)
    bias = np.zeros(columns, "float32") if dense.bias is None else keras.ops.convert_to_numpy(dense.bias).reshape(columns)
    return DenseWeights(kernel=frozen(kernel.reshape(-1, columns)), bias=frozen(bias))


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
    if tuple(layer.attention_axes) != (1,) or keras_graph.uses_gate(layer):
        raise InputError(
            f"Layer {call.info.layer!r} attends over axes {tuple(layer.attention_axes)}"
            f"{' with a gate' if keras_graph.uses_gate(layer) else ''}; the pipeline is shown for "
            "MultiHeadAttention over one sequence axis (inputs (batch, tokens, features)), without a gate."
        )


def trace_attention_call(model, inputs, call_index):
    """The SelfAttentionTrace of the model's MultiHeadAttention call `call_index` on `inputs`.

    Every step is computed by the layer's own sub-layers on the tensors that reached it (first
    example of the batch): Q, K, V = x @ W + b by `query_dense`, `key_dense`, `value_dense`
    (kernels (F, N, D) shown as (F, N*D), head n in columns [n*D, (n+1)*D)); raw scores Q_n·K_n
    with the layer's einsum; scaled scores with the query multiplied by 1/sqrt(D), as the layer
    scales; the weights the layer itself returns with return_attention_scores=True; context and
    the output projection by `output_dense`. InputError for any other call.
    """
    reader = reader_of(model)
    if not 0 <= call_index < len(reader.calls):
        raise InputError(f"The model has {len(reader.calls)} attention calls (0 to {len(reader.calls) - 1}); {call_index} is none of them.")
    call = reader.calls[call_index]
    _check_traceable(call)
    layer = call.layer
    args, kwargs = _call_arguments(call, _tensor_values(reader, inputs))
    bound = keras_graph.bound_arguments(layer, args, kwargs)
    query, value, key = bound["query"], bound["value"], bound.get("key")
    if key is not None and key is not value:
        raise InputError(f"Layer {call.info.layer!r} takes its keys and values from two different tensors; the pipeline shows keys and values from one sequence.")
    # Read before the call: MultiHeadAttention clears its inputs' Keras masks.
    masks = {
        "query_mask": keras_graph.mask_of(query),
        "value_mask": bound.get("value_mask") if bound.get("value_mask") is not None else keras_graph.mask_of(value),
        "key_mask": bound.get("key_mask") if bound.get("key_mask") is not None or key is None else keras_graph.mask_of(key),
    }
    projected, weights = layer(*args, **{**kwargs, "return_attention_scores": True})
    allowed = keras_graph.attention_mask(
        layer, query, value, **masks, attention_mask=bound.get("attention_mask"), use_causal_mask=bool(bound.get("use_causal_mask"))
    )
    query_heads = layer.query_dense(query)  # (B, Tq, N, D)
    key_heads = layer.key_dense(value)  # (B, Tk, N, D)
    value_heads = layer.value_dense(value)  # (B, Tk, N, Dv)
    raw_scores = keras.ops.einsum(keras_graph.score_equation(layer), key_heads, query_heads)  # (B, N, Tq, Tk)
    scaled_query = keras.ops.multiply(query_heads, keras.ops.cast(keras_graph.query_scale(layer), query_heads.dtype))
    scaled_scores = keras.ops.einsum(keras_graph.score_equation(layer), key_heads, scaled_query)  # (B, N, Tq, Tk)
    context = keras.ops.einsum(keras_graph.combine_equation(layer), weights, value_heads)  # (B, Tq, N, Dv)
    num_heads, key_dim, value_dim = layer.num_heads, layer.key_dim, layer.value_dim or layer.key_dim
    tokens, keys = query.shape[1], value.shape[1]
    mask = np.ones((tokens, keys), bool) if allowed is None else np.broadcast_to(_first(keras.ops.cast(allowed, "bool")), (tokens, keys))
    self_attention = value is query
    return SelfAttentionTrace(
        inputs=frozen(_first(query)),
        query=frozen(_first(query_heads).reshape(tokens, num_heads * key_dim)),
        key=frozen(_first(key_heads).reshape(keys, num_heads * key_dim)),
        value=frozen(_first(value_heads).reshape(keys, num_heads * value_dim)),
        raw_scores=frozen(_first(raw_scores)),
        scaled_scores=frozen(_first(scaled_scores)),
        attention_mask=frozen(mask),
        weights=frozen(_first(weights)),
        context=frozen(np.moveaxis(_first(context), 1, 0)),  # (Tq, N, Dv) -> (N, Tq, Dv)
        output=frozen(_first(context).reshape(tokens, num_heads * value_dim)),
        scale=keras_graph.query_scale(layer),
        query_dense=_kernel_weights(layer.query_dense, num_heads * key_dim),
        key_dense=_kernel_weights(layer.key_dense, num_heads * key_dim),
        value_dense=_kernel_weights(layer.value_dense, num_heads * value_dim),
        key_inputs=None if self_attention else frozen(_first(value)),
        output_dense=_kernel_weights(layer.output_dense, layer.output_dense.kernel.shape[-1]),
        projected_output=frozen(_first(projected)),
    )
