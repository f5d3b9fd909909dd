"""The seed's code as the app shows it: each call() line mapped to the tensor it made."""

import ast

import numpy as np

from attention_core import RNNWithAttention, export, seed_code, trace_rnn_with_attention


def call_lines(source, class_name):
    """The statements of `class_name.call` (docstring and return left out), as source lines."""
    tree = ast.parse(source)
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
    (call,) = [node for node in cls.body if isinstance(node, ast.FunctionDef) and node.name == "call"]
    return [ast.get_source_segment(source, node) for node in call.body
            if isinstance(node, ast.Assign)]


def test_every_computing_line_of_the_seeds_call_methods_is_a_step():
    attention_lines = call_lines(seed_code.ATTENTION_CLASS, "Attention")
    rnn_lines = call_lines(seed_code.ATTENTION_CLASS + "\n" + seed_code.RNN_WITH_ATTENTION_CLASS, "RNNWithAttention")
    # RNNWithAttention.call runs the RNN, then Attention.call's lines.
    assert [step.line for step in seed_code.CALL_STEPS] == rnn_lines[:1] + attention_lines
    assert rnn_lines[1] == "context_vector, attention_weights = self.attention(rnn_output, hidden_state)"


def test_each_step_names_tensors_of_the_trace():
    trace = trace_rnn_with_attention(RNNWithAttention(3, seed=0), np.ones((4, 2)))
    tensors = export.trace_tensors(trace)
    for step in seed_code.CALL_STEPS:
        assert step.fields and set(step.fields) <= set(tensors), step.line
    # The last line's result is the model's output.
    context, weights = RNNWithAttention(3, seed=0)(np.ones((1, 4, 2), dtype="float32"))
    np.testing.assert_allclose(tensors[seed_code.CALL_STEPS[-1].fields[-1]], np.asarray(context)[0], atol=1e-6)


def test_the_seeds_simple_rnn_model_has_its_parameter_count():
    model = seed_code.simple_rnn_model(4, 32)
    assert model.count_params() == 4 * 32 + 32 * 32 + 32
    assert model.output_shape == (None, 32)
