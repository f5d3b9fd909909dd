"""The starter code as the app shows it: each call() line mapped to the tensor it made."""

import ast

import numpy as np

from attention_core import (
    RNNWithAttention,
    model_summary_text,
    trace_rnn_with_attention,
)
from attention_core.mechanisms import export, starter_code


def call_lines(source, class_name):
    """The statements of `class_name.call` (docstring and return left out), as source lines."""
    tree = ast.parse(source)
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
    (call,) = [node for node in cls.body if isinstance(node, ast.FunctionDef) and node.name == "call"]
    return [ast.get_source_segment(source, node) for node in call.body
            if isinstance(node, ast.Assign)]


def test_every_computing_line_of_the_seeds_call_methods_is_a_step():
    attention_lines = call_lines(starter_code.ATTENTION_CLASS, "Attention")
    rnn_lines = call_lines(starter_code.ATTENTION_CLASS + "\n" + starter_code.RNN_WITH_ATTENTION_CLASS, "RNNWithAttention")
    # RNNWithAttention.call runs the RNN, then Attention.call's lines.
    assert [step.line for step in starter_code.CALL_STEPS] == rnn_lines[:1] + attention_lines
    assert rnn_lines[1] == "context_vector, attention_weights = self.attention(rnn_output, hidden_state)"


# What each operation in the seed's call() lines makes, by the name of the trace field holding it:
# written here from the seed's text, independently of CALL_STEPS. None: an operation whose result
# is no field of its own (W1's + W2's sum lives only inside the tanh).
OPERATION_FIELDS = {
    "self.rnn": ("rnn_output", "hidden_state"),
    "tf.expand_dims": ("attention.hidden_with_time_axis",),
    "self.W1": ("attention.features_projection",),
    "self.W2": ("attention.hidden_projection",),
    "+": None,
    "tf.nn.tanh": ("attention.score",),
    "self.V": ("attention.logits",),
    "tf.nn.softmax": ("attention.weights",),
    "*": ("attention.weighted_features",),
    "tf.reduce_sum": ("attention.context",),
}


def operations_in_evaluation_order(line):
    """The calls and arithmetic of one line of Python, innermost first, left to right: the order Python runs them."""
    found = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            visit(child)
        if isinstance(node, ast.Call):
            found.append(ast.unparse(node.func))
        elif isinstance(node, ast.BinOp):
            found.append({ast.Add: "+", ast.Mult: "*"}[type(node.op)])

    visit(ast.parse(line).body[0].value)
    return found


def test_each_steps_fields_are_in_the_order_the_line_makes_them():
    for step in starter_code.CALL_STEPS:
        made = [field for op in operations_in_evaluation_order(step.line) for field in OPERATION_FIELDS[op] or ()]
        assert tuple(made) == step.fields, step.line
    # And the steps together run in the order the trace records its fields.
    trace = trace_rnn_with_attention(RNNWithAttention(3, seed=0), np.ones((4, 2)))
    recorded = [name for name in export.trace_tensors(trace)
                if name in {field for step in starter_code.CALL_STEPS for field in step.fields}]
    assert [field for step in starter_code.CALL_STEPS for field in step.fields] == recorded


def test_the_seeds_simple_rnn_code_takes_the_pages_sizes():
    assert starter_code.simple_rnn_model_code() == starter_code.SIMPLE_RNN_MODEL
    assert "Input(shape=(None, 4))" in starter_code.SIMPLE_RNN_MODEL and "SimpleRNN(units=32)" in starter_code.SIMPLE_RNN_MODEL
    code = starter_code.simple_rnn_model_code(2, 1)
    assert "Input(shape=(None, 2))" in code and "SimpleRNN(units=1)," in code and "# RNN layer with 1 hidden unit\n" in code
    ast.parse(code)  # still Python


def test_the_simple_rnn_models_summary_is_the_same_each_time():
    """Named as the seed's first model and layer are: Keras would number a second one "sequential_1"."""
    first = model_summary_text(starter_code.simple_rnn_model(4, 32))
    assert first == model_summary_text(starter_code.simple_rnn_model(4, 32))
    assert first.startswith('Model: "sequential"') and "simple_rnn (SimpleRNN)" in first


def test_each_step_names_tensors_of_the_trace():
    trace = trace_rnn_with_attention(RNNWithAttention(3, seed=0), np.ones((4, 2)))
    tensors = export.trace_tensors(trace)
    for step in starter_code.CALL_STEPS:
        assert step.fields and set(step.fields) <= set(tensors), step.line
    # The last line's result is the model's output.
    context, weights = RNNWithAttention(3, seed=0)(np.ones((1, 4, 2), dtype="float32"))
    np.testing.assert_allclose(tensors[starter_code.CALL_STEPS[-1].fields[-1]], np.asarray(context)[0], atol=1e-6)


def test_the_seeds_simple_rnn_model_has_its_parameter_count():
    model = starter_code.simple_rnn_model(4, 32)
    assert model.count_params() == 4 * 32 + 32 * 32 + 32
    assert model.output_shape == (None, 32)
