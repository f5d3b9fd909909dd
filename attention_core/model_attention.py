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
import math
import re
import threading
import weakref
from dataclasses import dataclass

import keras
import numpy as np
from keras.src.backend import get_keras_mask, set_keras_mask
from keras.src.models.functional import Functional

from attention_core.budget import SELF_ATTENTION_PEAK_BYTES_PER_HEAD_CELL, SELF_ATTENTION_SECONDS_PER_HEAD_CELL, ViewCost
from attention_core.inputs import MAX_TEXT_CHARS, MAX_TOKENS, InputError, _check_text, _quote, _split_entries
from attention_core.layers import BahdanauAttention, SelfAttention
from attention_core.model_io import load_functional_model
from attention_core.padding import PAD_LABEL
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


# Text and ids in, labels out: what the Your model page types and shows.

_STRING_LAYERS = (keras.layers.TextVectorization, keras.layers.StringLookup)
_WHOLE_NUMBER = re.compile(r"\d+")
INPUT_SEPARATOR = "|"


def _consumers(graph, tensor):
    """The layers the graph calls on `tensor` itself, in graph order."""
    return [node.operation for node in _ordered_nodes(graph) if any(t is tensor for t in node.arguments.keras_tensors)]


def _string_layer(graph, tensor):
    """The TextVectorization or StringLookup that reads a string input, or None."""
    return next((layer for layer in _consumers(graph, tensor) if isinstance(layer, _STRING_LAYERS)), None)


def _input_name(tensor):
    return tensor.name or "input"


def _text_input(graph, tensor, text):
    """A string input's batch of one: the whole text for TextVectorization, its words for
    StringLookup."""
    layer = _string_layer(graph, tensor)
    if layer is None:
        raise InputError(
            f"The model takes strings ({_input_name(tensor)!r}) but reads them with no TextVectorization or "
            "StringLookup layer, so this page cannot tell what to give it."
        )
    if not isinstance(text, str) or not text.strip():
        raise InputError("The text is empty. Type a sentence for the model to read.")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"The text is {len(text)} characters long; the limit is {MAX_TEXT_CHARS} characters.")
    shape = tuple(tensor.shape[1:])
    if isinstance(layer, keras.layers.TextVectorization):
        return np.array([text.strip()] if shape == () else [[text.strip()]], dtype=object)
    words = text.split()
    return _sized(np.array([words], dtype=object), shape, tensor, "words")


def _sized(batch, shape, tensor, unit):
    """`batch` (1, T) if the input takes T items (or any number); InputError otherwise."""
    count = batch.shape[1]
    if count > MAX_TOKENS:
        raise InputError(f"That is {count} {unit}; the limit is {MAX_TOKENS}.")
    if shape and shape[0] is not None and shape[0] != count:
        raise InputError(f"The model's input {_input_name(tensor)!r} takes exactly {shape[0]} {unit}; that is {count}.")
    return batch


def _ids_input(graph, tensor, text):
    """An integer input's batch of one from ids such as '3 14 15' or '3, 14, 15'."""
    shape = tuple(tensor.shape[1:])
    if "int" not in str(tensor.dtype) or len(shape) != 1:
        raise InputError(
            f"The model's input {_input_name(tensor)!r} takes {tensor.dtype} of shape {tuple(tensor.shape)}; this page "
            "gives a model token ids (integers, shape (batch, tokens)) or text (through a TextVectorization or "
            "StringLookup layer)."
        )
    subject = f"the ids for {_input_name(tensor)!r}"
    pieces = _split_entries(_check_text(text, subject))
    wrong = next((piece for piece in pieces if not _WHOLE_NUMBER.fullmatch(piece)), None)
    if wrong is not None:
        raise InputError(f"{_quote(wrong)} in {subject} is not a token id. Type whole numbers such as 3 14 15.")
    ids = _sized(np.array([[int(piece) for piece in pieces]], dtype=str(tensor.dtype)), shape, tensor, "ids")
    for layer in _consumers(graph, tensor):
        if isinstance(layer, keras.layers.Embedding) and ids.max() >= layer.input_dim:
            raise InputError(
                f"The id {ids.max()} in {subject} is past the model's vocabulary: its Embedding "
                f"{layer.name!r} takes ids from 0 to {layer.input_dim - 1}."
            )
    return ids


def model_inputs_from_text(model, text):
    """What `model` takes, from a text: the text itself (a batch of one) when the model's only
    input is read by a TextVectorization or StringLookup layer, else token ids typed as '3 14 15'
    (commas or spaces), one group per model input separated by '|'. InputError for anything the
    model cannot take, saying what it takes."""
    graph = _functional(model)
    tensors = graph.inputs
    if len(tensors) == 1 and tensors[0].dtype == "string":
        return keras.tree.pack_sequence_as(graph._inputs_struct, [_text_input(graph, tensors[0], text)])
    if not isinstance(text, str):
        raise InputError(f"The ids must be typed as text, not {type(text).__name__}.")
    groups = text.split(INPUT_SEPARATOR)
    if len(groups) != len(tensors):
        names = ", ".join(repr(_input_name(tensor)) for tensor in tensors)
        raise InputError(
            f"The model takes {len(tensors)} inputs ({names}); give each one's ids, separated by "
            f"{INPUT_SEPARATOR!r}, e.g. {' | '.join(['3 4 5'] * len(tensors))}."
        )
    return keras.tree.pack_sequence_as(
        graph._inputs_struct, [_ids_input(graph, tensor, group) for tensor, group in zip(tensors, groups)]
    )


def _input_labels(graph, tensor, value):
    """The labels of one input's first example: its tokens as the model reads them (through its
    TextVectorization or StringLookup), or its ids; None for any other input."""
    layer = _string_layer(graph, tensor) if tensor.dtype == "string" else None
    if layer is not None:
        vocabulary = layer.get_vocabulary()
        ids = keras.ops.convert_to_numpy(layer(value))[0].reshape(-1)
        return tuple(vocabulary[i] or PAD_LABEL for i in ids)
    array = np.asarray(value)
    return tuple(str(i) for i in array[0]) if array.ndim == 2 and array.dtype.kind in "iu" else None


def input_labels(model, inputs):
    """Per model input, the labels of its first example (see `_input_labels`), or None."""
    graph = _functional(model)
    return [_input_labels(graph, tensor, value) for tensor, value in zip(graph.inputs, graph._standardize_inputs(inputs))]


def attention_cost(model, inputs):
    """The ViewCost of `model_attention(model, inputs)`'s maps: every call's heads over the
    longest input's tokens squared, at self-attention's measured bytes and seconds per cell."""
    labels = input_labels(model, inputs)
    tokens = max(len(item) if item is not None else np.shape(value)[1]
                 for item, value in zip(labels, _functional(model)._standardize_inputs(inputs)))
    heads = sum(call.num_heads for call in attention_calls(model))
    cells = heads * tokens**2

    def advice(limit):
        return f"To fit, give the model at most {math.isqrt(limit // (SELF_ATTENTION_PEAK_BYTES_PER_HEAD_CELL * heads)):,} tokens."

    return ViewCost(
        description=f"{heads} {'head' if heads == 1 else 'heads'} × {tokens:,}² token pairs",
        peak_bytes=SELF_ATTENTION_PEAK_BYTES_PER_HEAD_CELL * cells,
        seconds=SELF_ATTENTION_SECONDS_PER_HEAD_CELL * cells,
        advice=advice,
    )


def _sources(tensor, inputs, memo):
    """The model inputs (by id) that a symbolic tensor is computed from."""
    if id(tensor) in inputs:
        return {id(tensor)}
    if id(tensor) not in memo:
        history = getattr(tensor, "_keras_history", None)
        node = None if history is None else history.operation._inbound_nodes[history.node_index]
        memo[id(tensor)] = set().union(*(_sources(t, inputs, memo) for t in node.arguments.keras_tensors)) if node else set()
    return memo[id(tensor)]


def _queries_and_keys(call):
    """The symbolic tensors a call's queries and keys are read from."""
    bound = _bound_arguments(call.layer, call.node.arguments.args, call.node.arguments.kwargs)
    if isinstance(call.layer, (keras.layers.MultiHeadAttention, keras.layers.GroupQueryAttention)):
        return bound["query"], bound["value"]
    if isinstance(call.layer, SelfAttention):
        return bound["x"], bound["x"]
    if isinstance(call.layer, BahdanauAttention):
        return bound["hidden"], bound["features"]
    return bound["inputs"][0], bound["inputs"][1]


def attention_labels(model, inputs, attention):
    """(query labels, key labels) for each LayerAttention of `model_attention(model, inputs)`.

    An axis is labelled with the tokens of the one model input it is computed from and as long
    as (text through its TextVectorization, with PAD_LABEL for padding, or ids); otherwise with
    positions 0, 1, ... (e.g. a decoder layer reading both inputs of one length, or features).
    """
    graph = _functional(model)
    reader = _reader(model)
    labels_by_input = {id(tensor): labels for tensor, labels in zip(graph.inputs, input_labels(model, inputs))}
    memo = {}

    def axis_labels(tensor, length):
        matches = [
            labels for source in _sources(tensor, labels_by_input, memo)
            if (labels := labels_by_input[source]) is not None and len(labels) == length
        ]
        return matches[0] if len(matches) == 1 else tuple(str(position) for position in range(length))

    labels = []
    for item in attention:
        queries, keys = _queries_and_keys(reader.calls[item.call_index])
        labels.append((axis_labels(queries, item.weights.shape[1]), axis_labels(keys, item.weights.shape[2])))
    return labels
