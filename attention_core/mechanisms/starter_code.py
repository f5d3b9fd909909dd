"""The starter code, as the learner first read it, and which traced tensor each line made.

The starter code builds additive attention as two classes, `Attention` and `RNNWithAttention`, over a
`SimpleRNN`. `RNNWithAttention` and `BahdanauAttention` (layers.py) compute exactly what they
do, in TensorFlow's Keras 3 spelling; here is the starter code's text, so a page can show each line of
its `call()` methods beside the tensor it produced (`CALL_STEPS`, named as in the exports).
"""

from dataclasses import dataclass

import keras

from attention_core.text.explain import plural

ATTENTION_CLASS = '''\
import tensorflow as tf

class Attention(tf.keras.layers.Layer):
    """
    This class implements the attention mechanism
    """
    def __init__(self, units):
        super(Attention, self).__init__()
        self.W1 = tf.keras.layers.Dense(units)
        self.W2 = tf.keras.layers.Dense(units)
        self.V = tf.keras.layers.Dense(1)

    def call(self, features, hidden):
        """
        This function calculates the attention scores and returns the context vector
        """
        hidden_with_time_axis = tf.expand_dims(hidden, 1)
        score = tf.nn.tanh(self.W1(features) + self.W2(hidden_with_time_axis))
        attention_weights = tf.nn.softmax(self.V(score), axis=1)
        context_vector = attention_weights * features
        context_vector = tf.reduce_sum(context_vector, axis=1)

        return context_vector, attention_weights
'''

RNN_WITH_ATTENTION_CLASS = '''\
class RNNWithAttention(tf.keras.Model):
    def __init__(self, units):
        super(RNNWithAttention, self).__init__()
        self.rnn = tf.keras.layers.SimpleRNN(units, return_sequences=True, return_state=True)
        self.attention = Attention(units)

    def call(self, inputs):
        rnn_output, hidden_state = self.rnn(inputs)
        context_vector, attention_weights = self.attention(rnn_output, hidden_state)
        return context_vector, attention_weights

# Create the model with 32 hidden units
model = RNNWithAttention(units=32)

# Example input sequence: (batch_size=1, sequence_length=5, num_features=4)
input_sequence = tf.random.normal(shape=(1, 5, 4))

# Get the context vector and attention weights
context_vector, attention_weights = model(input_sequence)
'''


def simple_rnn_model_code(num_features=4, units=32):
    """The starter code's SimpleRNN model as text, for `num_features` features per step and `units`
    hidden units (the starter code's own: 4 and 32)."""
    return f'''\
import tensorflow as tf

# Define the RNN model
model = tf.keras.Sequential([
    tf.keras.layers.Input(shape=(None, {num_features})),  # Input shape: (batch_size, sequence_length, num_features)
    tf.keras.layers.SimpleRNN(units={units}),    # RNN layer with {plural(units, "hidden unit")}
])

# Print the model summary
model.summary()
'''


SIMPLE_RNN_MODEL = simple_rnn_model_code()


@dataclass(frozen=True)
class CodeStep:
    """One line of the starter code's `call()` and the tensors it produced, by their export names."""

    line: str  # the line as the starter code writes it, without indentation
    fields: tuple  # names in `export.trace_tensors(RNNAttentionTrace)`, in the order the line makes them


# Every computing line of RNNWithAttention.call, with Attention.call's lines where it calls the
# attention, in the order they run.
CALL_STEPS = (
    CodeStep("rnn_output, hidden_state = self.rnn(inputs)", ("rnn_output", "hidden_state")),
    CodeStep("hidden_with_time_axis = tf.expand_dims(hidden, 1)", ("attention.hidden_with_time_axis",)),
    CodeStep(
        "score = tf.nn.tanh(self.W1(features) + self.W2(hidden_with_time_axis))",
        ("attention.features_projection", "attention.hidden_projection", "attention.score"),
    ),
    CodeStep("attention_weights = tf.nn.softmax(self.V(score), axis=1)", ("attention.logits", "attention.weights")),
    CodeStep("context_vector = attention_weights * features", ("attention.weighted_features",)),
    CodeStep("context_vector = tf.reduce_sum(context_vector, axis=1)", ("attention.context",)),
)


def simple_rnn_model(num_features, units):
    """The starter code's `SimpleRNN` model: `Input(shape=(None, num_features))` then `SimpleRNN(units)`.

    Its parameters are the kernel (F, U), recurrent kernel (U, U) and bias (U,): F·U + U·U + U.
    Named as the starter code's first model and layer are ("sequential", "simple_rnn"), so its summary
    reads the same however many models this process made before (Keras would count up:
    "sequential_1", "simple_rnn_1", …).
    """
    return keras.Sequential(
        [keras.Input(shape=(None, num_features)), keras.layers.SimpleRNN(units=units, name="simple_rnn")],
        name="sequential",
    )
