"""The pages' layers and traces, built once and shared by every session: layers by structure
(`st.cache_resource`), traces by their inputs within the shared memory budget.

Traces are shared, not copied: their arrays are read-only.
"""

import streamlit as st

import attention_core as ac
from attention_core.mechanisms import starter_code
from webapp import costs, shared_results
from webapp.shared_results import within_budget
from webapp.turns import in_turn

# Token vectors have this many features on the text pages: fixed, so moving the units slider
# changes only the projections, never the tokens' own vectors.
EMBEDDING_DIM = 16


@shared_results.MEMORY.cached
def text_trace(text, seed, add_positions):
    """TextTrace of a text (tokens, token vectors and positional encoding, each (T, EMBEDDING_DIM),
    read-only and shared); raises ac.InputError."""
    return ac.trace_text(text, EMBEDDING_DIM, seed=seed, add_positions=add_positions)


# Layers are built once per structure and run under `ac.seeded(layer, seed)`, which gives them the
# weights a layer made with that seed starts from: a seed slider move builds nothing.
@st.cache_resource(max_entries=32, show_spinner=False)
def self_attention_layer(units, num_heads, use_scale):
    """A built SelfAttention shared by every session and seed; never mutated after this."""
    layer = ac.SelfAttention(units, num_heads=num_heads, use_scale=use_scale)
    layer.build((1, None, EMBEDDING_DIM))
    return layer


# Traces are shared, not copied: their arrays are read-only, so every session can use one object,
# and a 1024-token trace (tens of MB) is not pickled and copied on every rerun.
def self_attention_trace(text, units, num_heads, use_scale, seed, use_causal_mask, add_positions):
    """(tokens as a tuple, SelfAttentionTrace) for a text; raises ac.InputError for bad text or a
    view over the memory budget.

    The trace keeps the text's TextTrace, so its downloads start from the token vectors."""
    key = ("self_attention_trace", text, units, num_heads, use_scale, seed, use_causal_mask, add_positions)
    text = text_trace(text, seed, add_positions)

    def compute():
        layer = self_attention_layer(units, num_heads, use_scale)
        with ac.seeded(layer, seed):
            return text.tokens, ac.trace_self_attention(layer, text, use_causal_mask=use_causal_mask)

    return within_budget(key, costs.self_attention_cost(len(text.tokens), num_heads, units), compute)


def padded_batch_trace(texts, units, num_heads, use_scale, seed, use_causal_mask, add_positions):
    """PaddedBatchTrace of `texts` (a tuple) padded to one batch, run by the cached layer with the
    padding mask; raises ac.InputError for bad text or a view over the memory budget."""
    key = ("padded_batch_trace", texts, units, num_heads, use_scale, seed, use_causal_mask, add_positions)
    sentences = [text_trace(text, seed, add_positions) for text in texts]

    def compute():
        layer = self_attention_layer(units, num_heads, use_scale)
        with ac.seeded(layer, seed):
            return ac.trace_padded_batch(layer, sentences, use_causal_mask=use_causal_mask)

    longest = max(len(sentence.tokens) for sentence in sentences)
    return within_budget(key, costs.self_attention_cost(longest, num_heads, units, batch=len(texts)), compute)


@st.cache_resource(max_entries=32, show_spinner=False)
def rnn_with_attention_model(units, num_features):
    """A built RNNWithAttention shared by every session and seed; never mutated after this."""
    model = ac.RNNWithAttention(units)
    model.build((1, None, num_features))
    return model


@shared_results.MEMORY.cached
def rnn_attention_trace(inputs, units, seed):
    """RNNAttentionTrace of inputs (T, F) through the cached model with `seed`'s weights."""
    model = rnn_with_attention_model(units, inputs.shape[1])
    with ac.seeded(model, seed):
        return in_turn(lambda: ac.trace_rnn_with_attention(model, inputs))


@shared_results.MEMORY.cached
def simple_rnn_summary(num_features, units):
    """Keras's summary of the starter code's stand-alone SimpleRNN model for these sizes."""
    return ac.model_summary_text(starter_code.simple_rnn_model(num_features, units))


@st.cache_resource(max_entries=32, show_spinner=False)
def dense_model(input_dim, layer_units, activation):
    """A built dense network shared by every seed (`ac.seeded`) and session, and its Keras
    summary text (the same for every seed); never mutated after this."""
    model = ac.dense_network(input_dim, list(layer_units), activation=activation)
    return model, ac.model_summary_text(model)


@shared_results.MEMORY.cached
def dense_trace(x, layer_units, activation, seed):
    """DenseNetworkTrace of one input vector x (F,) through the network made with `seed`, and its
    Keras summary text."""
    model, summary = dense_model(len(x), tuple(layer_units), activation)
    with ac.seeded(model, seed):
        return in_turn(lambda: ac.trace_dense_network(model, x)), summary


# Shared read-only, like the self-attention traces: at 1024 tokens a result holds several (T, T)
# maps per mechanism and (N, T, T) per head.
def mechanism_comparison(text, units, num_heads, seed, use_causal_mask, add_positions):
    """(tokens as a tuple, `result`) for a text: `result(name)` is mechanism `name`'s
    MechanismResult, shared. Raises ac.InputError for bad text or a comparison over the memory
    budget, before computing any mechanism.

    A comparison of under a second computes each mechanism when first asked and keeps it on its
    own, so a page sends each map before the next mechanism runs, and a change of heads runs
    multi-head only. A longer one computes all four at once, saying how long it takes."""
    trace = text_trace(text, seed, add_positions)
    cost = costs.comparison_cost(len(trace.tokens), units, num_heads)
    if cost.seconds >= 1:
        key = ("mechanism_comparison", text, units, num_heads, seed, use_causal_mask, add_positions)
        results = within_budget(key, cost, lambda: ac.compare_mechanisms(trace.inputs, units, num_heads, seed,
                                                                          use_causal_mask))
        return trace.tokens, result_by_name(results)
    shared_results.MEMORY.check(cost)

    def result(name):
        heads = num_heads if name == "multi-head" else 1  # the others are the same for any heads
        key = ("mechanism_comparison", name, text, units, heads, seed, use_causal_mask, add_positions)
        # Each reserves the comparison's peak: the largest of the four's, as measured.
        return within_budget(key, cost, lambda: ac.compare_mechanism(name, trace.inputs, units, heads, seed,
                                                                       use_causal_mask))

    return trace.tokens, result


def result_by_name(results):
    """A function from a mechanism's name to its result among `results` (MechanismResults)."""
    return {result.name: result for result in results}.__getitem__
