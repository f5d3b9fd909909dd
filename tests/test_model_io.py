"""Save and load: a round trip predicts the same, and every hostile or invalid file is refused
with its own message, before anything in it runs."""

import io
import json
import zipfile

import h5py
import keras
import numpy as np
import pytest
from keras.src.backend.common import global_state

import attention_core as ac
from attention_core.your_model import gate


@pytest.fixture(scope="module")
def task():
    return ac.make_task("reverse", length=4, vocab_size=5, num_examples=320, num_heldout=20)


@pytest.fixture(scope="module")
def run(task):
    return ac.train(task, units=8, epochs=1, batch_size=32, record_every=5, frame_examples=20)


@pytest.fixture(scope="module")
def saved(run):
    return ac.model_bytes(run.model)


def members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def archive(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, content in files.items():
            zipped.writestr(name, content)
    return buffer.getvalue()


def with_config(data, edit):
    """`data` with its config.json replaced by edit(config)."""
    files = members(data)
    files["config.json"] = json.dumps(edit(json.loads(files["config.json"])))
    return archive(files)


def saved_keras_model(model, tmp_path, name="model.keras"):
    path = tmp_path / name
    model.save(path)
    return path.read_bytes()


def test_save_then_load_predicts_the_same(run, saved, task, tmp_path):
    loaded = ac.load_encoder_decoder(saved, vocab_size=len(task.vocabulary))
    assert isinstance(loaded, ac.Seq2SeqAttention) and loaded.get_config()["units"] == 8
    path = tmp_path / "model.keras"
    path.write_bytes(saved)
    for model in (loaded, ac.load_encoder_decoder(str(path))):
        again = ac.Run(task, units=8, model=model)
        for source in task.heldout_sources[:10]:
            outputs, alignment = run.predict(source)
            loaded_outputs, loaded_alignment = again.predict(source)
            assert np.array_equal(outputs, loaded_outputs)
            np.testing.assert_array_equal(alignment, loaded_alignment)


def test_a_file_over_the_size_limit(tmp_path, monkeypatch):
    too_big = b"PK" + b"\0" * gate.MAX_MODEL_BYTES
    with pytest.raises(ac.InputError, match=r"The model file is 10.0 MB; the limit is 10 MB"):
        ac.load_encoder_decoder(too_big)
    path = tmp_path / "big.keras"
    path.write_bytes(too_big)
    with pytest.raises(ac.InputError, match="the limit is 10 MB"):
        ac.load_encoder_decoder(path)


def test_a_zip_that_unpacks_past_the_limit(saved, monkeypatch):
    monkeypatch.setattr(gate, "MAX_MODEL_BYTES", len(saved) + 10)  # compressed fits, unpacked does not
    files = members(saved)
    files["metadata.json"] = b" " * (len(saved) * 4)
    with pytest.raises(ac.InputError, match="unpacks to more than"):
        ac.load_encoder_decoder(archive(files))


def test_a_file_that_is_not_a_zip():
    with pytest.raises(ac.InputError, match="This is not a .keras file: a .keras file is a zip archive"):
        ac.load_encoder_decoder(b"print('hello')\n")


def test_an_h5_file(tmp_path):
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as file:
        file.attrs["keras_version"] = "3.15.1"
        file.create_dataset("model_weights/dense/kernel", data=np.ones((2, 2)))
    with pytest.raises(ac.InputError, match=r"This is an HDF5 \(.h5\) model, the older Keras format"):
        ac.load_encoder_decoder(path.read_bytes())


def test_a_model_with_a_lambda_layer_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "lambda-ran"
    inputs = keras.Input((2,))
    # The function's only reference is the path as a literal, so it would run anywhere.
    function = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x * 2)[1]")
    outputs = keras.layers.Lambda(function)(inputs)
    data = saved_keras_model(keras.Model(inputs, outputs), tmp_path)
    marker.unlink()  # building the model above called the function once
    with pytest.raises(ac.InputError, match="contains a Lambda layer: Python code stored in the file"):
        ac.load_encoder_decoder(data)
    assert not marker.exists()


def test_a_config_that_turns_unsafe_deserialization_back_on(saved):
    def switch_on(config):
        config["compile_config"]["loss"] = {
            "module": "keras.config", "class_name": "function",
            "config": "enable_unsafe_deserialization", "registered_name": "function",
        }
        return config

    with pytest.raises(ac.InputError, match="tries to turn unsafe deserialization back on"):
        ac.load_encoder_decoder(with_config(saved, switch_on))
    with pytest.raises(ac.InputError, match="tries to turn unsafe deserialization back on"):
        ac.load_encoder_decoder(with_config(saved, lambda config: {**config, "safe_mode": False}))


def test_a_tfsm_layer_pointing_outside_the_archive(saved):
    def outside(config):
        return {
            "module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"layers": [{"module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
                                   "config": {"filepath": "/etc/evil_saved_model", "call_endpoint": "serve"}}]},
        }

    with pytest.raises(ac.InputError, match="TFSMLayer, which would load a TensorFlow SavedModel from '/etc/evil_saved_model'"):
        ac.load_encoder_decoder(with_config(saved, outside))


def test_unknown_classes(tmp_path, saved):
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ac.InputError, match="uses the class 'Sequential', which is not on this app's allow-list"):
        ac.load_encoder_decoder(saved_keras_model(plain, tmp_path))
    renamed = with_config(saved, lambda config: {**config, "class_name": "EvilLayer", "registered_name": "evil>EvilLayer"})
    with pytest.raises(ac.InputError, match="'EvilLayer', which is not on this app's allow-list"):
        ac.load_encoder_decoder(renamed)


def test_a_model_of_the_wrong_shape(saved, task):
    with pytest.raises(ac.InputError, match="trained on 7 symbols; the chosen task has 38"):
        ac.load_encoder_decoder(saved, vocab_size=38)
    wider = with_config(saved, lambda config: {**config, "config": {**config["config"], "units": 16}})
    with pytest.raises(ac.InputError, match="weights do not fit a 16-unit model over 7 symbols"):
        ac.load_encoder_decoder(wider)
    with pytest.raises(ac.InputError, match="units is 0; it must be a whole number from 1 to 256"):
        ac.load_encoder_decoder(with_config(saved, lambda config: {**config, "config": {**config["config"], "units": 0}}))
    with pytest.raises(ac.InputError, match="read_backwards is yes; it must be true or false"):
        ac.load_encoder_decoder(with_config(saved, lambda config: {**config, "config": {**config["config"], "read_backwards": "yes"}}))
    with pytest.raises(ac.InputError, match="coverage is 1; it must be true or false"):
        ac.load_encoder_decoder(with_config(saved, lambda config: {**config, "config": {**config["config"], "coverage": 1}}))
    # Coverage needs a weight this model does not have.
    with pytest.raises(ac.InputError, match="weights do not fit"):
        ac.load_encoder_decoder(with_config(saved, lambda config: {**config, "config": {**config["config"], "coverage": True}}))


def test_a_model_with_coverage_round_trips():
    sort = ac.make_task("sort", length=4, vocab_size=5, num_examples=64, num_heldout=8)
    run = ac.Run(sort, units=8, batch_size=32, frame_examples=8)
    assert run.model.coverage
    # Weights no fresh model of this seed has, so only the file can carry them.
    run.model.coverage_layer.kernel.assign(np.random.default_rng(0).normal(0, 3, (1, 8)).astype("float32"))
    loaded = ac.Run(sort, units=8, frame_examples=8, model=ac.load_encoder_decoder(ac.model_bytes(run.model)))
    for source in sort.heldout_sources:
        outputs, alignment = run.predict(source)
        loaded_outputs, loaded_alignment = loaded.predict(source)
        assert np.array_equal(outputs, loaded_outputs)
        np.testing.assert_array_equal(alignment, loaded_alignment)


def test_other_members_and_damaged_files(saved):
    with pytest.raises(ac.InputError, match="holds '../evil.py', which a model file never does"):
        ac.load_encoder_decoder(archive({**members(saved), "../evil.py": "import os"}))
    with pytest.raises(ac.InputError, match="config.json is not valid JSON"):
        ac.load_encoder_decoder(archive({**members(saved), "config.json": "{"}))
    files = members(saved)
    files["model.weights.h5"] = b"not hdf5"
    with pytest.raises(ac.InputError, match="weights do not fit"):
        ac.load_encoder_decoder(archive(files))


# The gate for users' own models: load_keras_model (and gate.load_functional_model).


@pytest.fixture(scope="module")
def attention_model():
    """A small functional model: ids -> Embedding(mask_zero) -> MultiHeadAttention + residual
    (an Add the functional API records) -> LayerNormalization -> x[:, 0] -> Dense(softmax)."""
    ids = keras.Input((None,), dtype="int32", name="ids")
    vectors = keras.layers.Embedding(20, 8, mask_zero=True)(ids)
    attended = keras.layers.MultiHeadAttention(2, 4, name="attention")(vectors, vectors)
    normed = keras.layers.LayerNormalization()(vectors + attended)
    outputs = keras.layers.Dense(3, activation="softmax")(normed[:, 0])
    model = keras.Model(ids, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


@pytest.fixture(scope="module")
def attention_file(attention_model, tmp_path_factory):
    return saved_keras_model(attention_model, tmp_path_factory.mktemp("attention"))


IDS = np.array([[3, 4, 5, 0]], dtype="int32")


def test_a_users_model_loads_and_reads_the_same(attention_model, attention_file, tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(attention_file)
    for loaded in (ac.load_keras_model(attention_file), ac.load_keras_model(str(path))):
        assert ac.attention_calls(loaded) == ac.attention_calls(attention_model)
        np.testing.assert_array_equal(loaded.predict(IDS, verbose=0), attention_model.predict(IDS, verbose=0))
        np.testing.assert_array_equal(
            ac.model_attention(loaded, IDS)[0].weights, ac.model_attention(attention_model, IDS)[0].weights
        )


def test_a_text_model_with_its_vocabulary_in_assets(tmp_path):
    texts = keras.Input((1,), dtype="string")
    vectorize = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=5)
    vectorize.adapt(["a good film", "not a bad film"])
    vectors = keras.layers.Embedding(20, 4, mask_zero=True)(vectorize(texts))
    model = keras.Model(texts, keras.layers.Attention()([vectors, vectors]))
    data = saved_keras_model(model, tmp_path)
    assert any(name.startswith("assets/") for name in members(data))
    loaded = ac.load_keras_model(data)
    text = np.array([["not a good film"]])
    np.testing.assert_array_equal(ac.model_attention(loaded, text)[0].weights, ac.model_attention(model, text)[0].weights)
    escaping = archive({**members(data), "assets/../../evil.txt": "x"})
    with pytest.raises(ac.InputError, match=r"holds 'assets/../../evil.txt', which a model file never does \(only config.json, metadata.json, model.weights.h5 and files under assets/\)"):
        ac.load_keras_model(escaping)


def test_zip_bombs_are_refused_before_they_unpack(attention_file, monkeypatch):
    files = members(attention_file)
    # Declared: the members say they unpack past the limit.
    monkeypatch.setattr(gate, "MAX_MODEL_BYTES", len(attention_file) + 10)
    with pytest.raises(ac.InputError, match="unpacks to more than 10 MB"):
        ac.load_keras_model(archive({**files, "metadata.json": b" " * len(attention_file)}))
    monkeypatch.undo()
    # Packed a thousand times smaller than it unpacks.
    with pytest.raises(ac.InputError, match=r"'assets/zeros' is packed \d+ times smaller than it unpacks \(a zip bomb's trick\)"):
        ac.load_keras_model(archive({**files, "assets/zeros": b"\0" * 2**21}))
    # Many members.
    many = {**files, **{f"assets/{index}.txt": "x" for index in range(gate.MAX_MEMBERS)}}
    with pytest.raises(ac.InputError, match=r"holds 103 files; a model has at most 100"):
        ac.load_keras_model(archive(many))
    # Headers that understate the size: zipfile stops at the declared size and the file is refused.
    data = bytearray(archive({**files, "assets/zeros": b"\0" * 2**21}))
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        at = data.rfind(signature) if signature == b"PK\x01\x02" else data.find(signature, data.find(b"assets/zeros") - 40)
        data[at + offset : at + offset + 4] = (100).to_bytes(4, "little")
    with pytest.raises(ac.InputError, match="The .keras file is damaged"):
        ac.load_keras_model(bytes(data))


def test_not_keras_files_and_sizes(attention_file):
    with pytest.raises(ac.InputError, match="This is not a .keras file"):
        ac.load_keras_model(b"\x7fELF not a model")
    with pytest.raises(ac.InputError, match=r"HDF5 \(.h5\) model"):
        ac.load_keras_model(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ac.InputError, match="the limit is 10 MB"):
        ac.load_keras_model(b"PK" + b"\0" * gate.MAX_MODEL_BYTES)
    with pytest.raises(ac.InputError, match="config.json is not valid JSON"):
        ac.load_keras_model(archive({**members(attention_file), "config.json": "{"}))


def test_code_in_a_users_model_is_refused_and_never_runs(tmp_path, attention_file):
    marker = tmp_path / "lambda-ran"
    inputs = keras.Input((None,), dtype="int32")
    function = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")
    vectors = keras.layers.Embedding(5, 4)(keras.layers.Lambda(function)(inputs))
    data = saved_keras_model(keras.Model(inputs, keras.layers.MultiHeadAttention(1, 2)(vectors, vectors)), tmp_path)
    marker.unlink()
    with pytest.raises(ac.InputError, match="contains a Lambda layer: Python code stored in the file"):
        ac.load_keras_model(data)
    assert not marker.exists()

    def dense_config(config):
        return next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")

    def edit_dense(change):
        def edit(config):
            change(dense_config(config))
            return config
        return with_config(attention_file, edit)

    calls_os_system = {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"}
    with pytest.raises(ac.InputError, match="uses the class 'function', which is not on this app's allow-list"):
        ac.load_keras_model(edit_dense(lambda layer: layer["config"].update({"activation": calls_os_system})))
    unsafe = {"module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization"}
    with pytest.raises(ac.InputError, match="tries to turn unsafe deserialization back on"):
        ac.load_keras_model(edit_dense(lambda layer: layer["config"].update({"activation": unsafe})))
    # A built-in class name whose module Keras would import; a custom object; a denied layer.
    with pytest.raises(ac.InputError, match="uses the class 'Dense', which is not on this app's allow-list"):
        ac.load_keras_model(edit_dense(lambda layer: layer.update({"module": "antigravity"})))
    with pytest.raises(ac.InputError, match="uses the class 'MyAttention', which is not on this app's allow-list"):
        ac.load_keras_model(edit_dense(lambda layer: layer.update({"class_name": "MyAttention", "registered_name": "mine>MyAttention"})))
    with pytest.raises(ac.InputError, match="uses the class 'TorchModuleWrapper'"):
        ac.load_keras_model(edit_dense(lambda layer: layer.update({"class_name": "TorchModuleWrapper"})))
    with pytest.raises(ac.InputError, match="TFSMLayer, which would load a TensorFlow SavedModel from '/etc/saved'"):
        ac.load_keras_model(edit_dense(lambda layer: layer.update({"class_name": "TFSMLayer", "config": {"filepath": "/etc/saved"}})))
    with pytest.raises(ac.InputError, match="The model's vocabulary is a path on the server \\('/etc/passwd'\\)"):
        ac.load_keras_model(edit_dense(lambda layer: layer["config"].update({"vocabulary": "/etc/passwd"})))


def test_models_that_are_not_accepted(attention_file, saved, tmp_path):
    with pytest.raises(ac.InputError, match="sequence-to-sequence model from Train and watch .* open it on Train and watch"):
        ac.load_keras_model(saved)
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ac.InputError, match="The model has no attention layer, so there is no attention to show"):
        ac.load_keras_model(saved_keras_model(plain, tmp_path))
    a_layer = with_config(attention_file, lambda config: config["config"]["layers"][-1])  # the Dense layer alone
    with pytest.raises(ac.InputError, match="holds a 'Dense' model, not a functional or Sequential one"):
        ac.load_keras_model(a_layer)
    subclassed = with_config(attention_file, lambda config: {**config, "class_name": "MyModel", "registered_name": "mine>MyModel"})
    with pytest.raises(ac.InputError, match="uses the class 'MyModel', which is not on this app's allow-list"):
        ac.load_keras_model(subclassed)


def test_a_model_too_large_or_that_does_not_build_is_refused_before_allocating(attention_file):
    def wider(units):
        def edit(config):
            dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
            dense["config"]["units"] = units
            return config
        return with_config(attention_file, edit)

    # Dense(10**9) on 8 features: (8 + 1) x 10**9 weights, 36 GB in float32, counted and never
    # allocated; plus the embedding's 20 x 8, the attention's 4 x (8 x 8 + 8) and the norm's 2 x 8.
    # This thread's list of variables a StatelessScope initializes on exit, with one waiting.
    waiting = keras.Variable(np.zeros(2, "float32"))
    global_state.set_global_attribute("uninitialized_variables", [waiting])
    with pytest.raises(ac.InputError, match="declares 9,000,000,464 weights, more than a file of 10 MB can hold"):
        ac.load_keras_model(wider(10**9))
    # None of the counted variables is left for a later scope to allocate; the one waiting stays.
    left = global_state.get_global_attribute("uninitialized_variables")
    global_state.set_global_attribute("uninitialized_variables", [])
    assert len(left) == 1 and left[0] is waiting
    with pytest.raises(ac.InputError, match="could not be built from its config and weights"):
        ac.load_keras_model(wider(5))


def test_a_model_whose_tensors_blow_up_is_refused_by_their_shapes(tmp_path):
    ids = keras.Input((None,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(5, 4)(ids))  # (B, 4)
    repeated = keras.layers.RepeatVector(10**7, name="repeat")(pooled)  # (B, 10**7, 4): 160 MB a sentence
    model = keras.Model(ids, keras.layers.MultiHeadAttention(1, 2)(repeated, repeated))
    with pytest.raises(ac.InputError, match=r"layer 'repeat' makes a tensor of 40,000,000 values \(shape \(1, 10000000, 4\)\) "
                                            r"from an input of 16 tokens; the limit is 16,777,216"):
        ac.load_keras_model(saved_keras_model(model, tmp_path))


def test_a_built_in_layer_off_the_allow_list_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    # MelSpectrogram(fft_length=2**20, num_mel_bins=2**10) allocates about 2 GB from its config
    # alone, with outputs small enough for the shape check: saved small, then made so in the file.
    ids = keras.Input((8,), dtype="int32")
    samples = keras.layers.Reshape((32,))(keras.layers.Embedding(5, 4)(ids))
    spectrogram = keras.layers.MelSpectrogram(fft_length=8, sequence_stride=2, num_mel_bins=4, name="mel")(samples)
    data = saved_keras_model(keras.Model(ids, keras.layers.MultiHeadAttention(1, 2)(spectrogram, spectrogram)), tmp_path)

    def huge(config):
        mel = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "MelSpectrogram")
        mel["config"].update(fft_length=2**20, num_mel_bins=2**10)
        return config

    def never(*args, **kwargs):
        raise AssertionError("the refused model was built")

    monkeypatch.setattr(keras.saving, "deserialize_keras_object", never)
    monkeypatch.setattr(keras.saving, "load_model", never)
    for file in (data, with_config(data, huge)):
        with pytest.raises(ac.InputError, match=r"uses the class 'MelSpectrogram', which is not on this app's allow-list\. "
                                                r"Upload .* built-in text and sequence layers \(core, attention, "):
            ac.load_keras_model(file)
