"""attention_core: attention layers, traces of every intermediate tensor, input parsing and figures.

UI-free: importable from a notebook; the Streamlit pages only call it. Figure builders live in
`attention_core.figures`, exports in `attention_core.export`.
"""

import os

# Keep users' terminals clean: TensorFlow's C++ start-up logs (CPU feature notes, oneDNN) are
# info-level. Must be set before TensorFlow is first imported; a user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from attention_core import figures  # noqa: E402
from attention_core.comparison import (  # noqa: E402
    MECHANISMS,
    MechanismResult,
    compare_mechanisms,
    multi_head_attention_like,
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
from attention_core.traces import (  # noqa: E402
    BahdanauTrace,
    DenseLayerTrace,
    DenseNetworkTrace,
    DotProductTrace,
    RNNAttentionTrace,
    SelfAttentionTrace,
    trace_bahdanau,
    trace_dense_network,
    trace_dot_product,
    trace_rnn_with_attention,
    trace_self_attention,
)
