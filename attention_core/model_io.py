"""Saving a trained seq2seq model as `.keras`, and loading one a user uploads, safely.

A `.keras` file is a zip of `config.json` (what to build), `metadata.json` and
`model.weights.h5` (the numbers). Building from a config can run code: a `Lambda` layer carries
Python, a `TFSMLayer` loads a SavedModel from anywhere on disk, a function reference can call
`keras.config.enable_unsafe_deserialization`. So `load_model` reads the config itself first and
refuses anything but this app's `Seq2SeqAttention` with plain settings; Keras then loads a
config rebuilt from those checked settings only (never the file's own), with `safe_mode=True`
and without the file's training configuration. Every refusal is an `InputError` saying what was
wrong and what is accepted.
"""

import io
import json
import os
import tempfile
import zipfile

import keras
import numpy as np

from attention_core.inputs import InputError
from attention_core.seq2seq import MECHANISMS, Seq2SeqAttention

# A 256-unit model over 40 symbols saves to ~3 MB. Megabytes of 2**20 bytes, as Streamlit's
# upload limit (`max_upload_size`) counts them, so the uploader and this check agree.
MAX_MODEL_MB = 10
MAX_MODEL_BYTES = MAX_MODEL_MB * 2**20
_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MODEL_CLASS = "Seq2SeqAttention"
_REGISTERED_NAME = "attention_core>Seq2SeqAttention"
# Classes a saved training configuration names. It is never deserialized (compile=False), but a
# class outside these is no file this app wrote.
_TRAINING_CLASSES = {"Adam", "CosineDecay", "SparseCategoricalCrossentropy"}
# Settings of Seq2SeqAttention.get_config(): name -> (type, lowest, highest).
_SETTINGS = {"vocab_size": (int, 1, 1000), "units": (int, 1, 256), "start_id": (int, 0, 999), "seed": (int, 0, 2**31 - 1)}
_ACCEPTED = "Upload a .keras file saved from this page (Download the trained model)."


def model_bytes(model):
    """The `.keras` file of `model`, as bytes."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        model.save(path)
        with open(path, "rb") as file:
            return file.read()


def _read(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        data = bytes(path_or_bytes)
    else:
        try:
            size = os.path.getsize(path_or_bytes)
        except (OSError, TypeError) as error:
            raise InputError(f"The model file could not be opened: {error}.") from None
        if size > MAX_MODEL_BYTES:
            raise InputError(f"The model file is {size / 2**20:.1f} MB; the limit is {MAX_MODEL_MB} MB. {_ACCEPTED}")
        with open(path_or_bytes, "rb") as file:
            data = file.read()
    if len(data) > MAX_MODEL_BYTES:
        raise InputError(f"The model file is {len(data) / 2**20:.1f} MB; the limit is {MAX_MODEL_MB} MB. {_ACCEPTED}")
    return data


def _archive_members(data):
    """{name: bytes} of the zip's three expected members; InputError for anything else."""
    if data.startswith(_HDF5_SIGNATURE):
        raise InputError(f"This is an HDF5 (.h5) model, the older Keras format, which is not accepted. {_ACCEPTED}")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise InputError(f"This is not a .keras file: a .keras file is a zip archive, and this is not one. {_ACCEPTED}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            unexpected = sorted(info.filename for info in infos if info.filename not in _MEMBERS)
            if unexpected:
                raise InputError(
                    f"The .keras file holds {unexpected[0]!r}, which a model saved here never does "
                    f"(only {', '.join(sorted(_MEMBERS))}). {_ACCEPTED}"
                )
            if sum(info.file_size for info in infos) > MAX_MODEL_BYTES:
                raise InputError(f"The .keras file unpacks to more than {MAX_MODEL_MB} MB. {_ACCEPTED}")
            return {info.filename: archive.read(info) for info in infos}
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise InputError(f"The .keras file is damaged ({error}). {_ACCEPTED}") from None


def _walk(value):
    """Every dict and string inside a JSON value, depth first."""
    yield value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        yield from _walk(child)


def _check_classes(config):
    """Refuse a switch of safe mode, Lambda and TFSMLayer (anywhere, so their own message wins),
    then every class this app does not write."""
    items = list(_walk(config))
    for item in items:
        if (isinstance(item, str) and "enable_unsafe_deserialization" in item) or (isinstance(item, dict) and "safe_mode" in item):
            raise InputError("The model's config tries to turn unsafe deserialization back on; it is refused. " + _ACCEPTED)
    classes = [item for item in items if isinstance(item, dict) and "class_name" in item]
    for item in classes:
        if item["class_name"] == "Lambda":
            raise InputError(
                "The model contains a Lambda layer: Python code stored in the file, which this app never runs. " + _ACCEPTED
            )
        if item["class_name"] == "TFSMLayer":
            layer_config = item.get("config") if isinstance(item.get("config"), dict) else {}
            raise InputError(
                f"The model contains a TFSMLayer, which would load a TensorFlow SavedModel from "
                f"{str(layer_config.get('filepath', '?'))[:60]!r}, outside the .keras file; this app never loads one. " + _ACCEPTED
            )
    for item in classes:
        name = item["class_name"]
        if name != _MODEL_CLASS and name not in _TRAINING_CLASSES:
            raise InputError(f"The model uses the class {str(name)[:40]!r}, which this app does not know. {_ACCEPTED}")


def _checked_settings(config):
    """The Seq2SeqAttention settings of a parsed config.json, each checked; InputError otherwise."""
    if not isinstance(config, dict) or config.get("class_name") != _MODEL_CLASS or config.get("registered_name") != _REGISTERED_NAME:
        found = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise InputError(f"The file holds a {str(found)[:40]!r} model, not this app's sequence-to-sequence model. {_ACCEPTED}")
    settings = config.get("config")
    expected = set(_SETTINGS) | {"mechanism", "read_backwards", "coverage", "name"}
    if not isinstance(settings, dict) or set(settings) != expected:
        raise InputError(f"The model's settings are not the ones this app saves ({', '.join(sorted(expected))}). {_ACCEPTED}")
    for key, (kind, lowest, highest) in _SETTINGS.items():
        value = settings[key]
        if type(value) is not kind or not lowest <= value <= highest:
            raise InputError(f"The model's {key} is {str(value)[:20]}; it must be a whole number from {lowest} to {highest}.")
    for key in ("read_backwards", "coverage"):
        if type(settings[key]) is not bool:
            raise InputError(f"The model's {key} is {str(settings[key])[:20]}; it must be true or false.")
    if settings["mechanism"] not in MECHANISMS:
        raise InputError(f"The model's mechanism is {str(settings['mechanism'])[:20]!r}; it must be one of {', '.join(MECHANISMS)}.")
    return {key: settings[key] for key in (*_SETTINGS, "mechanism", "read_backwards", "coverage")}


def load_model(path_or_bytes, vocab_size=None):
    """A `Seq2SeqAttention` from a `.keras` file (a path, or its bytes), loaded safely.

    `vocab_size`, when given, is the vocabulary the model must have been trained on. Raises
    InputError, with what was wrong, for a file over MAX_MODEL_BYTES, one that is not a zip, an
    `.h5` file, a `Lambda` or `TFSMLayer`, a config that switches unsafe deserialization on, a
    class this app does not write, and a model of the wrong shape. Nothing in the file runs.
    """
    members = _archive_members(_read(path_or_bytes))
    if "config.json" not in members or "model.weights.h5" not in members:
        raise InputError(f"The .keras file has no config.json or no model.weights.h5. {_ACCEPTED}")
    try:
        config = json.loads(members["config.json"])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"The model's config.json is not valid JSON ({error}). {_ACCEPTED}") from None
    _check_classes(config)
    settings = _checked_settings(config)
    if vocab_size is not None and settings["vocab_size"] != vocab_size:
        raise InputError(
            f"This model was trained on {settings['vocab_size']} symbols; the chosen task has {vocab_size}. "
            "Choose the task it was trained on, or train one here."
        )
    clean_config = {
        "module": "attention_core.seq2seq", "class_name": _MODEL_CLASS, "registered_name": _REGISTERED_NAME,
        "config": {**settings, "name": "seq2seq_attention"},
        # Built for any batch and length before the weights are read into it.
        "build_config": {"input_shape": [[None, None], [None, None]]},
    }
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", json.dumps(clean_config))
            archive.writestr("metadata.json", members.get("metadata.json", b"{}"))
            archive.writestr("model.weights.h5", members["model.weights.h5"])
        try:
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
            _build(model)
        except Exception as error:  # whatever Keras or h5py make of bad weights
            raise InputError(
                f"The model's weights do not fit a {settings['units']}-unit model over {settings['vocab_size']} symbols "
                f"({type(error).__name__}). {_ACCEPTED}"
            ) from None
    if not isinstance(model, Seq2SeqAttention) or not model.built:
        raise InputError(f"The file did not give a built sequence-to-sequence model. {_ACCEPTED}")
    return model


def _build(model):
    """Run the loaded model once on a source and a target of one step each."""
    model((np.zeros((1, 1), np.int32), np.zeros((1, 1), np.int32)))
