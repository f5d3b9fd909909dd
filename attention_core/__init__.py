"""attention_core: attention layers, traces of every intermediate tensor, input parsing and figures.

UI-free: importable from a notebook; the Streamlit pages only call it. Figure builders live in
`attention_core.figures`, exports in `attention_core.export`.
"""

import os

# Keep users' terminals clean. Both must be set before TensorFlow is first imported; a user's
# own setting wins.
# - TensorFlow's C++ info and warning logs (CPU feature notes) stay quiet at level 2.
# - On CPUs with AVX-512, TensorFlow turns oneDNN on and says so on stderr before any log level
#   applies; only turning oneDNN off stops it. Measured on a 2-core EPYC with AVX-512 (oneDNN
#   on / off): self-attention traces at 16 and 128 tokens 2.8 / 1.9 ms and 3.8 / 2.5 ms, at 1024
#   tokens 30 / 32-42 ms; a seed-slider press on the self-attention page, in Chromium, at 16,
#   128, 512 and 1024 tokens 115 / 112, 228 / 213, 221 / 235 and 293 / 253 ms: within noise.
#   Off, every CPU computes with TensorFlow's own kernels, so the app's numbers and the tests'
#   do not depend on which CPU runs them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from attention_core import figures  # noqa: E402
from attention_core.budget import (  # noqa: E402
    BUDGET_ENV,
    MemoryBudget,
    ViewCost,
    ViewTooLarge,
    comparison_cost,
    self_attention_cost,
)
from attention_core.comparison import (  # noqa: E402
    MECHANISMS,
    MechanismResult,
    compare_mechanism,
    compare_mechanisms,
    compare_with_trained,
    multi_head_attention_like,
    trained_mask_text,
    weights_difference,
)
from attention_core.inputs import (  # noqa: E402
    MAX_TEXT_CHARS,
    MAX_TOKENS,
    InputError,
    check_same_length,
    embed_tokens,
    encode_text,
    parse_matrix,
    parse_vector,
    positional_encoding,
    random_sequence,
    tokenize,
)
from attention_core.layers import (  # noqa: E402
    BahdanauAttention,
    RNNWithAttention,
    SelfAttention,
    dense_network,
    masked_softmax,
    model_summary_text,
    seeded,
)
from attention_core.model_io import load_model, model_bytes  # noqa: E402
from attention_core.model_attention import (  # noqa: E402
    ATTENTION_KINDS,
    AttentionCall,
    LayerAttention,
    attention_calls,
    load_keras_model,
    model_attention,
    trace_attention_call,
)
from attention_core.model_inputs import attention_cost, attention_labels, input_labels, model_inputs_from_text  # noqa: E402
from attention_core.padding import PAD_LABEL, PaddedBatchTrace, trace_padded_batch  # noqa: E402
from attention_core.seq2seq import ScaledDotProductAttention, Seq2SeqAttention  # noqa: E402
from attention_core.tasks import TASK_NAMES, make_task  # noqa: E402
from attention_core.training import Frame, Run, alignment_score, train  # noqa: E402
from attention_core.traces import (  # noqa: E402
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
