"""A learner's check: from each page's downloaded file alone, redo every step with NumPy.

Each page's trace is made as the page makes it (webapp.cached_traces' builders, the page's
default settings and a few others), exported as the download buttons export it, read back the
way a learner would (json, csv, np.load), and every tensor in it is recomputed from the file's
inputs and weights with NumPy: nothing from attention_core's layers, only the file.
"""

import csv
import io
import json
from collections import defaultdict

import numpy as np
import pytest

import attention_core as ac  # first: it quiets TensorFlow before anything loads it
from webapp import cached_traces
from attention_core.mechanisms.export import trace_to_csv, trace_to_json, trace_to_npz

# float32 layers against float64 NumPy.
ATOL = 2e-5


# --------------------------------------------------------------------------- reading a file back


def read_json(data):
    """{tensor: array}, and each setting as `metadata.<name>` (as the CSV and .npz name them)."""
    payload = json.loads(data)
    settings = {f"metadata.{name}": np.asarray(value) for name, value in payload["metadata"].items()}
    return {**{name: np.asarray(tensor["values"]) for name, tensor in payload["tensors"].items()}, **settings}


def _csv_value(text):
    if text in ("True", "False"):
        return text == "True"
    try:
        return float(text)
    except ValueError:
        return text  # a text field, e.g. an activation's name


def read_csv(data):
    """{tensor: array} from the long CSV: each row is one value at its indices."""
    rows = list(csv.reader(io.StringIO(data)))
    cells = defaultdict(dict)
    for name, *indices, value in rows[1:]:
        index = tuple(int(i) for i in indices if i != "")
        cells[name][index] = _csv_value(value)
    arrays = {}
    for name, values in cells.items():
        shape = tuple(max(index[axis] for index in values) + 1 for axis in range(len(next(iter(values)))))
        array = np.empty(shape, dtype=object)
        for index, value in values.items():
            array[index] = value
        arrays[name] = array if isinstance(array.flat[0], str) else array.astype(type(array.flat[0]))
    return arrays


def read_npz(data):
    with np.load(io.BytesIO(data)) as arrays:  # allow_pickle stays off: text fields are plain strings
        return {name: arrays[name] for name in arrays.files}


FORMATS = {
    "json": lambda trace, settings: read_json(trace_to_json(trace, settings)),
    "csv": lambda trace, settings: read_csv(trace_to_csv(trace, settings)),
    "npz": lambda trace, settings: read_npz(trace_to_npz(trace, settings)),
}


def close(file, name, recomputed):
    np.testing.assert_allclose(np.asarray(file[name], dtype=np.float64), recomputed, atol=ATOL, err_msg=name)


def softmax(scores, allowed=None, axis=-1):
    scores = np.where(allowed, scores, -np.inf) if allowed is not None else scores
    exp = np.exp(scores - scores.max(axis=axis, keepdims=True))
    return exp / exp.sum(axis=axis, keepdims=True)


# --------------------------------------------------------------------------- recomputations, file only


def recompute_self_attention(f):
    """The inputs from the token vectors and positional encoding; Q, K, V from them and Wq/Wk/Wv;
    each head's scores (scaled as the file's settings say), weights, context; the output."""
    assert str(f["metadata.indexing"]).startswith("Arrays index from 0")
    tokens = [str(token) for token in f["text.tokens"]]
    assert tokens == ac.tokenize(str(f["metadata.text"])) and len(tokens) == len(f["text.token_vectors"])
    add_positions = bool(f["text.add_positions"])
    assert add_positions == bool(f["metadata.add_positions"])
    x = f["text.token_vectors"] + (f["text.positional_encoding"] if add_positions else 0)
    close(f, "inputs", x)
    projections = {}
    for name in ("query", "key", "value"):
        projections[name] = x @ f[f"{name}_dense.kernel"] + f[f"{name}_dense.bias"]
        close(f, name, projections[name])
    heads = int(f["metadata.num_heads"])
    assert f["raw_scores"].shape[0] == heads and projections["query"].shape[1] == int(f["metadata.units"])
    size = projections["query"].shape[1] // heads
    scale = 1 / np.sqrt(size) if bool(f["metadata.use_scale"]) else 1.0
    assert float(f["scale"]) == pytest.approx(scale)
    allowed = np.tril(np.ones((len(tokens),) * 2, dtype=bool)) if bool(f["metadata.use_causal_mask"]) else True
    np.testing.assert_array_equal(f["attention_mask"].astype(bool), np.broadcast_to(allowed, f["attention_mask"].shape))
    contexts = []
    for h in range(heads):
        q, k, v = (projections[name][:, h * size:(h + 1) * size] for name in ("query", "key", "value"))
        raw = q @ k.T
        weights = softmax(raw * scale, allowed)
        contexts.append(weights @ v)
        for name, value in (("raw_scores", raw), ("scaled_scores", raw * scale), ("weights", weights),
                            ("context", contexts[-1])):
            np.testing.assert_allclose(f[name][h], value, atol=ATOL, err_msg=f"{name}, head {h + 1}")
    close(f, "output", np.concatenate(contexts, axis=1))


def recompute_rnn(f):
    """The SimpleRNN's states from its kernels, then each line of the seed's Attention.call."""
    kernel, recurrent, bias = f["rnn.kernel"], f["rnn.recurrent_kernel"], f["rnn.bias"]
    state, states = np.zeros(kernel.shape[1]), []
    for x_t in f["inputs"]:
        state = np.tanh(x_t @ kernel + state @ recurrent + bias)
        states.append(state)
    features, hidden = np.stack(states), states[-1]
    close(f, "rnn_output", features)
    close(f, "hidden_state", hidden)
    close(f, "attention.features", features)
    close(f, "attention.hidden", hidden)
    hidden_with_time_axis = hidden[None]  # tf.expand_dims(hidden, 1), batch axis dropped
    close(f, "attention.hidden_with_time_axis", hidden_with_time_axis)
    features_projection = features @ f["attention.W1.kernel"] + f["attention.W1.bias"]
    hidden_projection = hidden_with_time_axis @ f["attention.W2.kernel"] + f["attention.W2.bias"]
    close(f, "attention.features_projection", features_projection)
    close(f, "attention.hidden_projection", hidden_projection)
    score = np.tanh(features_projection + hidden_projection)
    close(f, "attention.score", score)
    logits = score @ f["attention.V.kernel"] + f["attention.V.bias"]
    close(f, "attention.logits", logits)
    weights = softmax(logits, axis=0)
    close(f, "attention.weights", weights)
    close(f, "attention.weighted_features", weights * features)
    close(f, "attention.context", (weights * features).sum(axis=0))


ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0), "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh,
               "linear": lambda z: z}


def recompute_dense(f):
    """Each layer's x·W + b and activation, chained, with the activation named in the file."""
    activations = f["inputs"].astype(np.float64)
    layer = 0
    while f"layers.{layer}.kernel" in f:
        pre = activations @ f[f"layers.{layer}.kernel"] + f[f"layers.{layer}.bias"]
        close(f, f"layers.{layer}.pre_activation", pre)
        activations = ACTIVATIONS[str(f[f"layers.{layer}.activation"])](pre)
        close(f, f"layers.{layer}.output", activations)
        layer += 1
    assert layer == 2


def recompute_dot_product(f):
    close(f, "products", f["a"] * f["b"])
    close(f, "total", (f["a"] * f["b"]).sum())


# --------------------------------------------------------------------------- the pages' traces


SELF_ATTENTION_DEFAULTS = {"text": "The cat sat on the mat because it was tired.", "units": 8, "num_heads": 2,
                           "use_scale": True, "seed": 0, "use_causal_mask": False, "add_positions": True}


def self_attention_file(**settings):
    """The self-attention page's trace and the settings its downloads record."""
    s = {**SELF_ATTENTION_DEFAULTS, **settings}
    trace = cached_traces.self_attention_trace(s["text"], s["units"], s["num_heads"], s["use_scale"], s["seed"],
                                    s["use_causal_mask"], s["add_positions"])[1]
    return trace, s


PAGE_FILES = {
    "self-attention, defaults": lambda: self_attention_file(),
    "self-attention, causal, 4 heads": lambda: self_attention_file(use_causal_mask=True, num_heads=4, seed=7),
    "self-attention, unscaled": lambda: self_attention_file(use_scale=False, units=4, num_heads=1),
    "self-attention, unscaled, no positions, 2 heads": lambda: self_attention_file(
        use_scale=False, add_positions=False, seed=3),
    "rnn, defaults": lambda: (cached_traces.rnn_attention_trace(ac.random_sequence(5, 4, 0), 32, 0), {"units": 32, "seed": 0}),
    "rnn, typed": lambda: (cached_traces.rnn_attention_trace(np.array([[1, 2, 3], [-4, 5, 0.5]], dtype="float32"), 8, 3), {}),
    "dense, defaults": lambda: (cached_traces.dense_trace((1.0, 2.0, 3.0, 4.0), (3, 2), "relu", 0)[0], {}),
    "dense, tanh": lambda: (cached_traces.dense_trace((3.0, -1.0, 2.0), (4, 2), "tanh", 5)[0], {}),
    "dot product": lambda: (ac.trace_dot_product([1, 2, 3], [4, 5, 6]), {}),
}
RECOMPUTE = {"self-attention": recompute_self_attention, "rnn": recompute_rnn, "dense": recompute_dense,
             "dot product": recompute_dot_product}


@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("case", PAGE_FILES)
def test_every_step_recomputes_from_the_downloaded_file_alone(case, file_format):
    file = FORMATS[file_format](*PAGE_FILES[case]())
    RECOMPUTE[case.split(",")[0]](file)


@pytest.mark.parametrize(("name", "change"), [
    ("key_dense.kernel", lambda a: a + np.eye(*a.shape) * 0.01),
    ("text.positional_encoding", lambda a: a + 0.01),
    ("metadata.use_scale", lambda a: np.asarray(not bool(a))),
])
def test_a_wrong_number_or_setting_in_the_file_is_caught(name, change):
    """The recomputation really depends on the file's weights, inputs and settings: one change fails it."""
    file = read_npz(trace_to_npz(*self_attention_file()))
    recompute_self_attention(file)
    file[name] = change(file[name])
    with pytest.raises(AssertionError):
        recompute_self_attention(file)
