"""Train and watch's encoder-decoder from a `.keras` file this app saved, through the upload
gate's checks (size, zip, class allow-list), rebuilt from its checked settings only.
"""

import numpy as np

from attention_core.learning.encoder_decoder import DECODER_ATTENTIONS, Seq2SeqAttention
from attention_core.text.validation import InputError
from attention_core.your_model import gate

_MODEL_CLASS = gate.ENCODER_DECODER_CLASS
_REGISTERED_NAME = "attention_core>Seq2SeqAttention"
# Classes a saved training configuration names. It is never deserialized (compile=False), but a
# class outside these is no file this app wrote.
_TRAINING_CLASSES = {"Adam", "CosineDecay", "SparseCategoricalCrossentropy"}
# Settings of Seq2SeqAttention.get_config(): name -> (type, lowest, highest).
_SETTINGS = {"vocab_size": (int, 1, 1000), "units": (int, 1, 256), "start_id": (int, 0, 999), "seed": (int, 0, 2**31 - 1)}
_ACCEPTED = "Upload a .keras file saved from this page (Download the trained model)."


def _written_here(item):
    return item["class_name"] == _MODEL_CLASS or item["class_name"] in _TRAINING_CLASSES


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
    if settings["mechanism"] not in DECODER_ATTENTIONS:
        raise InputError(f"The model's mechanism is {str(settings['mechanism'])[:20]!r}; it must be one of {', '.join(DECODER_ATTENTIONS)}.")
    return {key: settings[key] for key in (*_SETTINGS, "mechanism", "read_backwards", "coverage")}


def load_encoder_decoder(path_or_bytes, vocab_size=None):
    """A `Seq2SeqAttention` from a `.keras` file (a path, or its bytes), loaded safely.

    `vocab_size`, when given, is the vocabulary the model must have been trained on. Raises
    InputError, with what was wrong, for a file over gate.MAX_MODEL_BYTES, one that is not a zip, an
    `.h5` file, a `Lambda` or `TFSMLayer`, a config that switches unsafe deserialization on, a
    class this app does not write, and a model of the wrong shape. Nothing in the file runs.
    """
    members = gate.archive_members(gate.read_upload(path_or_bytes, _ACCEPTED), _ACCEPTED)
    config = gate.config_of(members, _ACCEPTED)
    gate.check_classes(config, _written_here, _ACCEPTED)
    settings = _checked_settings(config)
    if vocab_size is not None and settings["vocab_size"] != vocab_size:
        raise InputError(
            f"This model was trained on {settings['vocab_size']} symbols; the chosen task has {vocab_size}. "
            "Choose the task it was trained on, or train one here."
        )
    clean_config = {
        "module": "attention_core.learning.encoder_decoder", "class_name": _MODEL_CLASS, "registered_name": _REGISTERED_NAME,
        "config": {**settings, "name": "seq2seq_attention"},
        # Built for any batch and length before the weights are read into it.
        "build_config": {"input_shape": [[None, None], [None, None]]},
    }
    try:
        model = gate.load_checked(clean_config, members)
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
