"""Exports of traces: JSON, CSV and npz hold exactly the trace's numbers."""

import csv
import io
import json

import numpy as np

from attention_core import (
    RNNWithAttention,
    SelfAttention,
    dense_network,
    trace_dense_network,
    trace_dot_product,
    trace_rnn_with_attention,
    trace_self_attention,
)
from attention_core.mechanisms.export import (
    INDEXING,
    number_count,
    trace_tensors,
    trace_to_csv,
    trace_to_json,
    trace_to_npz,
)
from attention_core.mechanisms.traces import trace_text


def test_json_holds_every_tensor_with_its_shape():
    trace = trace_rnn_with_attention(RNNWithAttention(3, seed=0), np.ones((4, 2)))
    payload = json.loads(trace_to_json(trace, {"seed": 0}))
    assert payload["metadata"] == {"indexing": INDEXING, "seed": 0}
    weights = payload["tensors"]["attention.weights"]
    assert weights["shape"] == [4, 1]
    np.testing.assert_array_equal(weights["values"], trace.attention.weights)
    assert set(payload["tensors"]) == set(trace_tensors(trace))


def test_csv_is_long_format_with_one_row_per_number():
    trace = trace_dot_product([1, 2, 3], [4, 5, 6])
    rows = list(csv.reader(io.StringIO(trace_to_csv(trace))))
    assert rows[0] == ["tensor", "i0", "value"]
    assert ["products", "2", "18.0"] in rows
    assert ["total", "", "32.0"] in rows
    assert rows[-1] == ["metadata.indexing", "", INDEXING]
    assert len(rows) - 2 == number_count(trace) == 3 + 3 + 3 + 1


def test_every_format_keeps_the_text_fields():
    trace = trace_dense_network(dense_network(2, [2], seed=0), [1.0, 2.0])
    rows = list(csv.reader(io.StringIO(trace_to_csv(trace))))
    assert ["layers.0.activation", "", "", "relu"] in rows
    assert ["layers.0.name", "", "", "dense_1"] in rows
    assert len(rows) - 2 == number_count(trace) + 2 == 2 + 4 + 2 + 2 + 2 + 2  # and the indexing note
    with np.load(io.BytesIO(trace_to_npz(trace))) as arrays:  # no pickle needed for text
        assert str(arrays["layers.0.activation"]) == "relu"
    assert json.loads(trace_to_json(trace))["tensors"]["layers.0.activation"]["values"] == "relu"


def test_every_format_holds_the_weights():
    trace = trace_rnn_with_attention(RNNWithAttention(3, seed=2), np.ones((4, 2)))
    names = {"rnn.kernel", "rnn.recurrent_kernel", "rnn.bias"} | {
        f"attention.{w}.{part}" for w in ("W1", "W2", "V") for part in ("kernel", "bias")
    }
    tensors = json.loads(trace_to_json(trace))["tensors"]
    assert names <= set(tensors)
    np.testing.assert_array_equal(tensors["rnn.recurrent_kernel"]["values"], trace.rnn.recurrent_kernel)
    assert tensors["attention.V.kernel"]["shape"] == [3, 1]
    with np.load(io.BytesIO(trace_to_npz(trace))) as arrays:
        assert names <= set(arrays.files)
        np.testing.assert_array_equal(arrays["attention.W2.kernel"], trace.attention.W2.kernel)
    csv_names = {row[0] for row in csv.reader(io.StringIO(trace_to_csv(trace)))}
    assert names <= csv_names


def test_npz_round_trips_exactly():
    trace = trace_rnn_with_attention(RNNWithAttention(3, seed=1), np.arange(8.0).reshape(4, 2))
    with np.load(io.BytesIO(trace_to_npz(trace))) as arrays:
        np.testing.assert_array_equal(arrays["attention.context"], trace.attention.context)
        np.testing.assert_array_equal(arrays["rnn_output"], trace.rnn_output)


def test_every_format_holds_the_settings_and_says_it_indexes_from_0():
    trace = trace_dot_product([1, 2], [3, 4])
    settings = {"tokens": ["the", "cat"], "units": [3, 2], "use_scale": False, "seed": 7}
    assert json.loads(trace_to_json(trace, settings))["metadata"] == {"indexing": INDEXING, **settings}
    rows = list(csv.reader(io.StringIO(trace_to_csv(trace, settings))))
    assert ["metadata.tokens", "1", "cat"] in rows and ["metadata.units", "0", "3"] in rows
    assert ["metadata.use_scale", "", "False"] in rows and ["metadata.seed", "", "7"] in rows
    with np.load(io.BytesIO(trace_to_npz(trace, settings))) as arrays:
        assert arrays["metadata.tokens"].tolist() == ["the", "cat"]
        assert arrays["metadata.use_scale"].item() is False and arrays["metadata.seed"] == 7
        assert str(arrays["metadata.indexing"]).startswith("Arrays index from 0")


def test_a_text_self_attention_trace_exports_its_tokens_token_vectors_and_positions():
    text = trace_text("the cat sat", 4, seed=1, add_positions=True)
    trace = trace_self_attention(SelfAttention(4, num_heads=2, seed=0), text)
    assert trace.text is text
    np.testing.assert_array_equal(trace.inputs, text.token_vectors + text.positional_encoding)
    with np.load(io.BytesIO(trace_to_npz(trace))) as arrays:
        assert arrays["text.tokens"].tolist() == ["the", "cat", "sat"]
        np.testing.assert_array_equal(arrays["text.token_vectors"], text.token_vectors)
        np.testing.assert_array_equal(arrays["text.positional_encoding"], text.positional_encoding)
        assert arrays["text.add_positions"].item() is True
    # A trace of a bare array has no text: nothing of it reaches the file.
    bare = trace_self_attention(SelfAttention(4, num_heads=2, seed=0), text.inputs)
    assert bare.text is None and not [name for name in trace_tensors(bare) if name.startswith("text")]
    np.testing.assert_array_equal(bare.output, trace.output)
