"""What a user's model takes and shows: its inputs from a typed text, each input's tokens, each
attention map's axis labels, and the memory a view of its maps needs.

The companion of `model_attention` for the Your model page (and the pages that take an uploaded
model's layer): a model that reads text gets the text through its own TextVectorization or
StringLookup, and its maps are labelled with the words that layer made; any other model gets
token ids, checked against what its inputs and Embeddings take.
"""

import math
import re

import keras
import numpy as np

from attention_core.mechanisms.layers import BahdanauAttention, SelfAttention
from attention_core.mechanisms.padding import PAD_LABEL
from attention_core.text.numbers import check_text, split_entries
from attention_core.text.validation import MAX_TEXT_CHARS, MAX_TOKENS, InputError, quote
from attention_core.your_model import keras_graph
from attention_core.your_model.attention import reader_of

_STRING_LAYERS = (keras.layers.TextVectorization, keras.layers.StringLookup)
_WHOLE_NUMBER = re.compile(r"\d+")
# No integer input takes an id of more digits than the largest uint64.
_MAX_ID_DIGITS = len(str(np.iinfo(np.uint64).max))
INPUT_SEPARATOR = "|"


def _consumers(graph, tensor):
    """The layers the graph calls on `tensor` itself, in graph order."""
    return [node.operation for node in keras_graph.ordered_nodes(graph) if any(t is tensor for t in node.arguments.keras_tensors)]


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
    pieces = split_entries(check_text(text, subject))
    wrong = next((piece for piece in pieces if not _WHOLE_NUMBER.fullmatch(piece)), None)
    if wrong is not None:
        raise InputError(f"{quote(wrong)} in {subject} is not a token id. Type whole numbers such as 3 14 15.")
    _sized(np.array([pieces]), shape, tensor, "ids")
    # The largest id, compared by its digits so that no id of thousands of digits becomes a number.
    digits = max((piece.lstrip("0") or "0" for piece in pieces), key=lambda digits: (len(digits), digits))
    largest = int(digits) if len(digits) <= _MAX_ID_DIGITS else math.inf
    shown = digits if largest != math.inf else f"{quote(digits)} ({len(digits)} digits)"
    for layer in _consumers(graph, tensor):
        if isinstance(layer, keras.layers.Embedding) and largest >= layer.input_dim:
            raise InputError(
                f"The id {shown} in {subject} is past the model's vocabulary: its Embedding "
                f"{layer.name!r} takes ids from 0 to {layer.input_dim - 1}."
            )
    limit = np.iinfo(str(tensor.dtype)).max
    if largest > limit:
        raise InputError(
            f"The id {shown} in {subject} does not fit the model's input, which takes {tensor.dtype} ids: "
            f"from 0 to {limit}."
        )
    return np.array([[int(piece) for piece in pieces]], dtype=str(tensor.dtype))


def model_inputs_from_text(model, text):
    """What `model` takes, from a text: the text itself (a batch of one) when the model's only
    input is read by a TextVectorization or StringLookup layer, else token ids typed as '3 14 15'
    (commas or spaces), one group per model input separated by '|'. InputError for anything the
    model cannot take, saying what it takes."""
    graph = keras_graph.functional_graph(model)
    tensors = graph.inputs
    if len(tensors) == 1 and tensors[0].dtype == "string":
        return keras.tree.pack_sequence_as(keras_graph.inputs_struct(graph), [_text_input(graph, tensors[0], text)])
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
        keras_graph.inputs_struct(graph), [_ids_input(graph, tensor, group) for tensor, group in zip(tensors, groups)]
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
    graph = keras_graph.functional_graph(model)
    return [_input_labels(graph, tensor, value) for tensor, value in zip(graph.inputs, keras_graph.standardize_inputs(graph, inputs))]


def input_lengths(model, inputs):
    """Per model input, its length in tokens: its labels' count, else its second dimension."""
    labels = input_labels(model, inputs)
    return [len(item) if item is not None else np.shape(value)[1]
            for item, value in zip(labels, keras_graph.standardize_inputs(keras_graph.functional_graph(model), inputs))]


def _sources(tensor, inputs, memo):
    """The model inputs (by id) that a symbolic tensor is computed from."""
    if id(tensor) in inputs:
        return {id(tensor)}
    if id(tensor) not in memo:
        node = keras_graph.producing_node(tensor)
        memo[id(tensor)] = set().union(*(_sources(t, inputs, memo) for t in node.arguments.keras_tensors)) if node else set()
    return memo[id(tensor)]


def _queries_and_keys(call):
    """The symbolic tensors a call's queries and keys are read from."""
    bound = keras_graph.bound_arguments(call.layer, call.node.arguments.args, call.node.arguments.kwargs)
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
    graph = keras_graph.functional_graph(model)
    reader = reader_of(model)
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
