"""The one adapter to Keras's internals (attention_core.your_model.keras_graph): one test per
internal it reads, against the pinned Keras, so an upgrade that moves one says which."""

import keras
import numpy as np
import pytest

import attention_core as ac
from attention_core.your_model import keras_graph

TOKENS, FEATURES, HEADS, KEY_DIM = 5, 8, 2, 4


@pytest.fixture(scope="module")
def model():
    """ids (B, T) -> Embedding(mask_zero) -> MultiHeadAttention over itself -> Dense."""
    ids = keras.Input((TOKENS,), dtype="int32", name="ids")
    x = keras.layers.Embedding(10, FEATURES, mask_zero=True, name="embed")(ids)
    attended = keras.layers.MultiHeadAttention(HEADS, KEY_DIM, name="mha")(x, x)
    return keras.Model(ids, keras.layers.Dense(3, name="out")(attended))


IDS = np.array([[3, 1, 4, 0, 0]], "int32")


def test_a_sequential_models_graph_and_none_without_an_input_shape():
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert keras_graph.functional_graph(sequential).outputs  # Sequential._functional
    shapeless = keras.Sequential([keras.layers.Dense(2)])
    assert keras_graph.graph_or_none(shapeless) is None
    with pytest.raises(ac.InputError, match="no input shape"):
        keras_graph.functional_graph(shapeless)


def test_a_subclassed_model_has_no_graph():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ac.InputError, match="subclassed Subclassed"):
        keras_graph.functional_graph(Subclassed())


def test_nodes_from_the_inputs_on(model):
    # Functional._nodes_by_depth
    operations = [node.operation.name for node in keras_graph.ordered_nodes(model)]
    assert operations == ["ids", "embed", "mha", "out"]


def test_inputs_struct_and_standardized_inputs(model):
    # Functional._inputs_struct, Functional._standardize_inputs
    assert keras_graph.inputs_struct(model) is model.inputs[0]
    [standardized] = keras_graph.standardize_inputs(model, IDS)
    np.testing.assert_array_equal(standardized, IDS)


def test_the_node_that_made_a_tensor(model):
    # KerasTensor._keras_history, Operation._inbound_nodes
    node = keras_graph.producing_node(model.outputs[0])
    assert node.operation.name == "out"
    assert keras_graph.producing_node(keras.ops.ones((1,))) is None


def test_nested_layers():
    # Layer._flatten_layers
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="inner_dense")], name="inner")
    x = keras.Input((4,))
    outer = keras.Model(x, inner(x))
    assert "inner_dense" in [layer.name for layer in keras_graph.nested_layers(outer)]


def test_bound_arguments_of_a_call(model):
    node = [node for node in keras_graph.ordered_nodes(model) if node.operation.name == "mha"][0]
    bound = keras_graph.bound_arguments(node.operation, node.arguments.args, node.arguments.kwargs)
    assert bound["query"] is bound["value"]


def test_symbolic_and_eager_masks(model):
    # KerasTensor._keras_mask; keras.src.backend.get_keras_mask / set_keras_mask
    embedded = model.get_layer("embed").output
    assert keras_graph.symbolic_mask(embedded) is not None
    value = keras.ops.ones((1, TOKENS, FEATURES))
    mask = keras.ops.convert_to_tensor(np.array([[True, True, False, False, False]]))
    keras_graph.attach_mask(value, mask)
    np.testing.assert_array_equal(keras_graph.mask_of(value), mask)
    keras_graph.attach_mask(value, None)
    assert keras_graph.mask_of(value) is None


def test_multi_head_attentions_mask_equations_and_scale(model):
    # MultiHeadAttention._compute_attention_mask, _dot_product_equation, _combine_equation,
    # _inverse_sqrt_key_dim, _use_gate
    layer = model.get_layer("mha")
    query = keras.ops.ones((1, TOKENS, FEATURES))
    padding = keras.ops.convert_to_tensor(np.array([[True, True, True, False, False]]))
    allowed = keras_graph.attention_mask(layer, query, query, query_mask=None, value_mask=padding, key_mask=None,
                                         attention_mask=None, use_causal_mask=True)
    expected = np.tril(np.ones((TOKENS, TOKENS), bool)) & np.array([True, True, True, False, False])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(allowed)[0], expected)
    queries = np.random.default_rng(0).normal(size=(1, TOKENS, HEADS, KEY_DIM)).astype("float32")
    keys = np.random.default_rng(1).normal(size=(1, TOKENS, HEADS, KEY_DIM)).astype("float32")
    scores = keras.ops.einsum(keras_graph.score_equation(layer), keys, queries)  # (B, N, Tq, Tk)
    np.testing.assert_allclose(scores, np.einsum("bqnd,bknd->bnqk", queries, keys), rtol=1e-5, atol=1e-6)
    weights = np.full((1, HEADS, TOKENS, TOKENS), 1 / TOKENS, "float32")
    context = keras.ops.einsum(keras_graph.combine_equation(layer), weights, keys)  # (B, Tq, N, Dv)
    np.testing.assert_allclose(context, np.einsum("bnqk,bknd->bqnd", weights, keys), rtol=1e-5, atol=1e-6)
    assert keras_graph.query_scale(layer) == pytest.approx(1 / np.sqrt(KEY_DIM))
    assert keras_graph.uses_gate(layer) is False


def test_the_operations_the_functional_api_records():
    # keras.src.ops and its Operation class
    operations = keras_graph.recorded_operation_classes()
    assert {"Add", "GetItem", "Matmul"} <= set(operations)


def test_variables_built_unallocated_are_not_left_pending():
    # keras.src.backend.common.global_state's "uninitialized_variables"
    from keras.src.backend.common import global_state

    before = global_state.get_global_attribute("uninitialized_variables")
    before = None if before is None else list(before)
    with keras_graph.unallocated_variables():
        layer = keras.layers.Dense(3)
        layer.build((None, 2))
        assert [variable.shape for variable in layer.weights] == [(2, 3), (3,)]
    after = global_state.get_global_attribute("uninitialized_variables")
    assert (None if after is None else list(after)) == before
