"""attention_core: attention layers, traces of every intermediate tensor, input parsing and figures.

UI-free: importable from a notebook; the Streamlit pages only call it. Figure builders live in
`attention_core.figures`, exports in `attention_core.mechanisms.export`.
"""

import os

# Keep users' terminals clean. Both must be set before TensorFlow is first imported; a user's
# own setting wins.
# - TensorFlow's C++ info and warning logs (CPU feature notes) stay quiet at level 2.
# - On CPUs with AVX-512, TensorFlow turns oneDNN on and says so on stderr before any log level
#   applies; only turning oneDNN off stops it. Off, every CPU computes with TensorFlow's own
#   kernels, so the app's numbers and the tests' do not depend on which CPU runs them, at no
#   cost in speed (bench/DESIGN_CHOICES.md).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# The public names, re-exported, after the environment above is set.
# ruff: noqa: E402, F401
from attention_core import figures
from attention_core.heads.formation import FORMATION_TOLERANCE, formation_steps, score_series, strongest_head
from attention_core.heads.knock_out import head_importance, knock_out
from attention_core.heads.output_change import OutputChange, output_change
from attention_core.heads.rollout import attention_rollout, self_attention_stack
from attention_core.heads.scores import SCORE_NAMES, HeadScore, head_scores
from attention_core.learning.encoder_decoder import (
    ScaledDotProductAttention,
    Seq2SeqAttention,
)
from attention_core.learning.saved_runs import load_encoder_decoder
from attention_core.learning.tasks import TASK_NAMES, make_task
from attention_core.learning.training import Frame, Run, alignment_score, train
from attention_core.mechanisms.comparison import (
    COMPARED_MECHANISMS,
    MechanismResult,
    compare_mechanism,
    compare_mechanisms,
    compare_with_trained,
    largest_change,
    multi_head_attention_like,
    trained_mask_text,
    weights_difference,
)
from attention_core.mechanisms.layers import (
    BahdanauAttention,
    RNNWithAttention,
    SelfAttention,
    dense_network,
    masked_softmax,
    model_summary_text,
    seeded,
)
from attention_core.mechanisms.padding import (
    PAD_LABEL,
    PaddedBatchTrace,
    trace_padded_batch,
)
from attention_core.mechanisms.traces import (
    BahdanauTrace,
    DenseLayerTrace,
    DenseNetworkTrace,
    DotProductTrace,
    RNNAttentionTrace,
    SelfAttentionTrace,
    TextTrace,
    trace_bahdanau,
    trace_dense_network,
    trace_dot_product,
    trace_rnn_with_attention,
    trace_self_attention,
    trace_text,
)
from attention_core.text.numbers import check_same_length, parse_matrix, parse_vector
from attention_core.text.tokens import (
    embed_tokens,
    encode_text,
    positional_encoding,
    random_sequence,
    tokenize,
)
from attention_core.text.validation import MAX_TEXT_CHARS, MAX_TOKENS, InputError
from attention_core.your_model.attention import (
    ATTENTION_KINDS,
    AttentionCall,
    LayerAttention,
    attention_calls,
    load_keras_model,
    model_attention,
    trace_attention_call,
)
from attention_core.your_model.gate import model_bytes
from attention_core.your_model.inputs import (
    attention_labels,
    input_labels,
    model_inputs_from_text,
)
