"""Saving a trained model as `.keras`, and loading one a user uploads, safely: one gate.

A `.keras` file is a zip of `config.json` (what to build), `metadata.json`, `model.weights.h5`
(the numbers) and, for layers such as `TextVectorization`, `assets/`. Building from a config can
run code: a `Lambda` layer carries Python, a `TFSMLayer` loads a SavedModel from anywhere on
disk, a function reference can call `keras.config.enable_unsafe_deserialization`, a module name
is imported. So every upload passes the same checks before Keras sees it: the file's size, the
zip (members, declared and actual unpacked size, compression ratio, member count; never more
than the limit is unpacked), then the config read as JSON: no switch of safe mode, no `Lambda`
or `TFSMLayer`, and a class allow-list. Keras then loads a config rebuilt from the checked one
(without the file's training configuration) with `safe_mode=True`.

- `load_functional_model`: a functional or Sequential model of Keras's built-in layers and
  attention_core's own; its weight count is read from the config, before anything is allocated.

Every refusal is an `InputError` saying what was wrong and what is accepted. Train and watch's
encoder-decoder comes in through the same checks (`learning.saved_runs.load_encoder_decoder`).
"""

import copy
import functools
import io
import json
import math
import os
import tempfile
import zipfile

import keras

from attention_core.text.validation import InputError
from attention_core.your_model import keras_graph

# A 256-unit model over 40 symbols saves to ~3 MB. Megabytes of 2**20 bytes, as Streamlit's
# upload limit (`max_upload_size`) counts them, so the uploader and this check agree.
MAX_MODEL_MB = 10
MAX_MODEL_BYTES = MAX_MODEL_MB * 2**20
_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
# A .keras file of a few layers has under ten members (two per TextVectorization in assets/).
MAX_MEMBERS = 100
# Keras stores members uncompressed; a member packed tighter than this, past a small size, is
# a zip bomb rather than a model.
MAX_COMPRESSION_RATIO = 100
_RATIO_FROM_BYTES = 2**16
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Train and watch's encoder-decoder: a subclassed model, opened on its own page, never here.
ENCODER_DECODER_CLASS = "Seq2SeqAttention"


def model_bytes(model):
    """The `.keras` file of `model`, as bytes."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        model.save(path)
        with open(path, "rb") as file:
            return file.read()


def read_upload(path_or_bytes, accepted):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        data = bytes(path_or_bytes)
    else:
        try:
            size = os.path.getsize(path_or_bytes)
        except (OSError, TypeError) as error:
            raise InputError(f"The model file could not be opened: {error}.") from None
        if size > MAX_MODEL_BYTES:
            raise InputError(f"The model file is {size / 2**20:.1f} MB; the limit is {MAX_MODEL_MB} MB. {accepted}")
        with open(path_or_bytes, "rb") as file:
            data = file.read()
    if len(data) > MAX_MODEL_BYTES:
        raise InputError(f"The model file is {len(data) / 2**20:.1f} MB; the limit is {MAX_MODEL_MB} MB. {accepted}")
    return data


def _is_asset(name):
    """A file under assets/ named without climbing out of it (no '..', no absolute path)."""
    parts = name.split("/")
    return parts[0] == "assets" and len(parts) > 1 and "\\" not in name and not any(part in ("", ".", "..") for part in parts[1:-1])


def _unpacked(archive, info, budget, accepted):
    """A member's bytes, read in chunks and never more than `budget` of them."""
    chunks, total = [], 0
    with archive.open(info) as member:
        while chunk := member.read(2**16):
            total += len(chunk)
            if total > budget:
                raise InputError(f"The .keras file unpacks to more than {MAX_MODEL_MB} MB. {accepted}")
            chunks.append(chunk)
    return b"".join(chunks)


def archive_members(data, accepted, assets=False):
    """{name: bytes} of the zip's members (config.json, metadata.json, model.weights.h5, and
    with `assets` files under assets/); InputError for anything else, and for a zip bomb."""
    if data.startswith(_HDF5_SIGNATURE):
        raise InputError(f"This is an HDF5 (.h5) model, the older Keras format, which is not accepted. {accepted}")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise InputError(f"This is not a .keras file: a .keras file is a zip archive, and this is not one. {accepted}")
    allowed = ", ".join(sorted(_MEMBERS)) + (" and files under assets/" if assets else "")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise InputError(f"The .keras file holds {len(infos)} files; a model has at most {MAX_MEMBERS}. {accepted}")
            unexpected = sorted(
                info.filename for info in infos if info.filename not in _MEMBERS and not (assets and _is_asset(info.filename))
            )
            if unexpected:
                raise InputError(
                    f"The .keras file holds {unexpected[0][:60]!r}, which a model file never does "
                    f"(only {allowed}). {accepted}"
                )
            if sum(info.file_size for info in infos) > MAX_MODEL_BYTES:
                raise InputError(f"The .keras file unpacks to more than {MAX_MODEL_MB} MB. {accepted}")
            for info in infos:
                if info.file_size > _RATIO_FROM_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                    raise InputError(
                        f"The .keras file's {info.filename[:60]!r} is packed {info.file_size // max(info.compress_size, 1)} "
                        f"times smaller than it unpacks (a zip bomb's trick); Keras's own files are packed at most "
                        f"{MAX_COMPRESSION_RATIO} times. {accepted}"
                    )
            members, budget = {}, MAX_MODEL_BYTES
            for info in infos:
                members[info.filename] = _unpacked(archive, info, budget, accepted)
                budget -= len(members[info.filename])
            return members
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as error:
        raise InputError(f"The .keras file is damaged ({error}). {accepted}") from None


def config_of(members, accepted):
    """The parsed config.json of a .keras file's members, which must hold the weights too."""
    if "config.json" not in members or "model.weights.h5" not in members:
        raise InputError(f"The .keras file has no config.json or no model.weights.h5. {accepted}")
    try:
        return json.loads(members["config.json"])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise InputError(f"The model's config.json is not valid JSON ({str(error)[:80]}). {accepted}") from None


def _walk(value):
    """Every dict and string inside a JSON value, depth first."""
    yield value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        yield from _walk(child)


def check_classes(config, known, accepted):
    """Refuse a switch of safe mode, Lambda, TFSMLayer and stored lambdas (anywhere, so their own
    message wins), then every class dict for which known(item) is False."""
    items = list(_walk(config))
    for item in items:
        if (isinstance(item, str) and "enable_unsafe_deserialization" in item) or (isinstance(item, dict) and "safe_mode" in item):
            raise InputError("The model's config tries to turn unsafe deserialization back on; it is refused. " + accepted)
    classes = [item for item in items if isinstance(item, dict) and "class_name" in item]
    for item in classes:
        if item["class_name"] in ("Lambda", "__lambda__"):
            raise InputError(
                "The model contains a Lambda layer: Python code stored in the file, which this app never runs. " + accepted
            )
        if item["class_name"] == "TFSMLayer":
            layer_config = item.get("config") if isinstance(item.get("config"), dict) else {}
            raise InputError(
                f"The model contains a TFSMLayer, which would load a TensorFlow SavedModel from "
                f"{str(layer_config.get('filepath', '?'))[:60]!r}, outside the .keras file; this app never loads one. " + accepted
            )
    for item in classes:
        if not known(item):
            raise InputError(f"The model uses the class {str(item['class_name'])[:40]!r}, which is not on this app's allow-list. {accepted}")


def load_checked(config, members):
    """Keras's own load of a .keras file rebuilt from a checked config and the file's other
    members, with safe_mode=True and without any training configuration."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", json.dumps(config))
            archive.writestr("metadata.json", members.get("metadata.json", b"{}"))
            for name, content in members.items():
                if name not in ("config.json", "metadata.json"):
                    archive.writestr(name, content)
        return keras.saving.load_model(path, compile=False, safe_mode=True)


_KERAS_ACCEPTED = (
    "Upload a .keras file (Keras 3's model.save) of a functional or Sequential model built from Keras's "
    "built-in text and sequence layers (core, attention, normalization, dropout and noise, merging, reshaping, "
    "1D pooling and convolution, recurrent, text preprocessing and activation layers) or attention_core's, "
    f"with at least one attention layer, at most {MAX_MODEL_MB} MB."
)
# The built-in layers a text or sequence attention model needs, by family. Others (image, audio,
# 2D/3D, augmentation layers, wrappers of outside code such as Lambda or TFSMLayer) are refused:
# some allocate from their config alone (MelSpectrogram(fft_length=2**20)), which no check of
# the layers' output shapes sees.
_ALLOWED_LAYERS = {
    # core
    "Dense", "EinsumDense", "Embedding", "Identity", "Masking", "InputLayer", "Activation", "Rescaling",
    # attention
    "MultiHeadAttention", "GroupQueryAttention", "Attention", "AdditiveAttention",
    # normalization
    "LayerNormalization", "BatchNormalization", "RMSNormalization", "UnitNormalization", "GroupNormalization",
    # regularization
    "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    # merging
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    # reshaping
    "Reshape", "Flatten", "Permute", "RepeatVector", "Cropping1D", "ZeroPadding1D", "UpSampling1D",
    # pooling and convolution over a sequence
    "AveragePooling1D", "MaxPooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Conv1D",
    # recurrent
    "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "RNN", "Bidirectional",
    "TimeDistributed",
    # text preprocessing
    "TextVectorization", "StringLookup", "IntegerLookup", "Hashing", "CategoryEncoding",
    # activations
    "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
}
# Operations that call functions given to them: a function in a file is never accepted anyway.
_CALLBACK_OPS = {"Map", "Scan", "AssociativeScan", "Cond", "WhileLoop", "ForiLoop", "Switch", "VectorizedMap", "CustomGradient"}
# What the functional API writes for its tensors and for arguments such as x[:, 0].
_GRAPH_ENTRIES = {"Functional", "Sequential", "DTypePolicy", "FloatDTypePolicy", "__keras_tensor__", "__slice__", "__ellipsis__", "__tuple__"}
_ACTIVATION_MODULES = {"keras.activations", "keras.src.activations.activations"}
# Config keys that name a file on the server instead of holding their values.
_PATH_KEYS = ("vocabulary", "idf_weights", "filepath")


@functools.cache
def _builtin_classes():
    """Names of the allowed built-in layers that this Keras has, Keras's initializers,
    regularizers, constraints and the operations the functional API records (x + y, x[:, 0],
    ...), less the operations that call functions."""
    layers = {name for name in _ALLOWED_LAYERS if isinstance(getattr(keras.layers, name, None), type)}
    names = {
        name
        for namespace in (keras.initializers, keras.regularizers, keras.constraints)
        for name, value in vars(namespace).items()
        if isinstance(value, type)
    }
    operations = set(keras_graph.recorded_operation_classes())
    return frozenset(layers | names | (operations - _CALLBACK_OPS) | _GRAPH_ENTRIES)


def _own_classes():
    """attention_core's registered classes, as Keras names them: 'attention_core>Name'."""
    return {name for name in keras.saving.get_custom_objects() if name.startswith("attention_core>")}


def _known_builtin(item):
    """Whether a class entry of a config names an allowed class, from where Keras keeps it."""
    name, module, registered = item.get("class_name"), item.get("module"), item.get("registered_name")
    if isinstance(registered, str) and registered.startswith("attention_core>"):
        return registered in _own_classes() and isinstance(module, str) and module.startswith("attention_core.")
    from_keras = module is None or (isinstance(module, str) and (module == "keras" or module.startswith("keras.")))
    if not isinstance(name, str) or not from_keras or registered not in (None, name):
        return False
    if name == "function":
        return module in _ACTIVATION_MODULES and isinstance(item.get("config"), str) and callable(getattr(keras.activations, item["config"], None))
    return name in _builtin_classes()


def _check_functional(config):
    """Refuse a file path where a value belongs, and any model but a functional or Sequential one."""
    for item in _walk(config):
        for key in _PATH_KEYS:
            if isinstance(item, dict) and isinstance(item.get(key), str):
                raise InputError(
                    f"The model's {key} is a path on the server ({item[key][:60]!r}); a saved model keeps its "
                    f"{key} inside the .keras file. {_KERAS_ACCEPTED}"
                )
    name = config.get("class_name") if isinstance(config, dict) else type(config).__name__
    if name == ENCODER_DECODER_CLASS:
        raise InputError(
            "This is a sequence-to-sequence model from Train and watch (a subclassed model, with no graph to read "
            "here): open it on Train and watch, under Load a trained model. Its Transformer models open here."
        )
    if name not in ("Functional", "Sequential"):
        raise InputError(f"The file holds a {str(name)[:40]!r} model, not a functional or Sequential one. {_KERAS_ACCEPTED}")


def _weight_count(config):
    """How many weights the config's model has, read by building it with its variables left
    unallocated (a Keras StatelessScope that does not initialize them)."""
    with keras_graph.unallocated_variables():
        # A copy: Keras's deserialization takes entries out of the dict it is given.
        model = keras.saving.deserialize_keras_object(copy.deepcopy(config), safe_mode=True)
        return sum(math.prod(variable.shape) for variable in model.weights)


# The loaded model's shapes are followed from an input of this many tokens (nothing is computed),
PROBE_TOKENS = 16
# and no tensor may hold more values there (64 MB of float32): a layer that multiplies its input's
# size by a number in the config (RepeatVector(10**9), UpSampling1D(10**6)) would exhaust memory.
MAX_PROBE_VALUES = 2**24


def _check_tensor_sizes(model):
    """Refuse a model one of whose layers makes a tensor over MAX_PROBE_VALUES from a
    PROBE_TOKENS-token input, read from Keras's output specs alone."""
    graph = keras_graph.graph_or_none(model)
    if graph is None:
        return  # a Sequential model without an input shape: no graph to follow (nor to read)
    nodes = [node for node in keras_graph.ordered_nodes(graph) if not node.is_input]
    tensors = [(node.operation.name, tensor) for node in nodes for tensor in node.outputs]
    probe = keras.Model(keras_graph.inputs_struct(graph), [tensor for _, tensor in tensors])
    inputs = keras.tree.map_structure(
        lambda tensor: keras.KerasTensor((1, *(PROBE_TOKENS if size is None else size for size in tensor.shape[1:])),
                                         dtype=tensor.dtype),
        keras_graph.inputs_struct(graph),
    )
    for (layer, _), spec in zip(tensors, keras.tree.flatten(probe.compute_output_spec(inputs))):
        values = math.prod(PROBE_TOKENS if size is None else size for size in spec.shape)
        if values > MAX_PROBE_VALUES:
            raise InputError(
                f"The model's layer {layer[:40]!r} makes a tensor of {values:,} values (shape {tuple(spec.shape)}) "
                f"from an input of {PROBE_TOKENS} tokens; the limit is {MAX_PROBE_VALUES:,}, so that a model "
                f"cannot exhaust the server's memory. {_KERAS_ACCEPTED}"
            )


def load_functional_model(path_or_bytes):
    """A functional or Sequential Keras model from a `.keras` file (a path, or its bytes), loaded
    through the gate (see the module's docstring).

    Accepts Keras's built-in layers, initializers, regularizers, constraints, Keras's own
    activations and the operations the functional API records, and attention_core's registered
    classes; refuses Lambda, TFSMLayer and the other layers that run code or load files, stored
    functions, file paths in a config, models with more weights than a file under the limit can
    hold, models Keras cannot build from their config and weights, and models whose tensors grow
    past MAX_PROBE_VALUES from a short input. InputError for each.
    """
    members = archive_members(read_upload(path_or_bytes, _KERAS_ACCEPTED), _KERAS_ACCEPTED, assets=True)
    config = config_of(members, _KERAS_ACCEPTED)
    if not isinstance(config, dict):
        raise InputError(f"The model's config.json holds a {type(config).__name__}, not a model. {_KERAS_ACCEPTED}")
    # Never deserialized (compile=False), so never checked: dropped from what Keras reads.
    config = {key: value for key, value in config.items() if key != "compile_config"}
    check_classes(config, _known_builtin, _KERAS_ACCEPTED)
    _check_functional(config)
    try:
        count = _weight_count(config)
        if count > MAX_MODEL_BYTES:
            raise InputError(
                f"The model declares {count:,} weights, more than a file of {MAX_MODEL_MB} MB can hold "
                f"({MAX_MODEL_BYTES:,} at one byte each). {_KERAS_ACCEPTED}"
            )
        model = load_checked(config, members)
        _check_tensor_sizes(model)
    except InputError:
        raise
    except Exception as error:  # whatever Keras or h5py make of a config or weights that do not fit
        message = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
        raise InputError(f"The model could not be built from its config and weights ({type(error).__name__}: {message}). {_KERAS_ACCEPTED}") from None
    return model
