"""NumPy versions of each formula, written to read like the equations: the tests' oracle.

Independent of Keras on purpose: the layers are checked against these, given the same weights.
Float64 throughout. Shape letters: T time steps (tokens), F features, H hidden size, U units,
N heads, D head size. No batch axis: one sequence at a time.
"""

import numpy as np


def dot_product(a, b):
    """The starter code's dot product: multiply matching entries, then add them up."""
    return sum(a[i] * b[i] for i in range(len(a)))


def softmax(logits, axis=-1, mask=None):
    """exp(logits) / sum(exp(logits)) along `axis`; mask False positions (and all-masked rows) get 0."""
    logits = np.asarray(logits, dtype=np.float64)
    if mask is not None:
        logits = np.where(mask, logits, -np.inf)
    peak = np.max(logits, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    exp = np.exp(logits - peak)
    total = np.sum(exp, axis=axis, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)


def dense(x, kernel, bias, activation=None):
    """y = activation(x W + b) for x (..., F), kernel W (F, U), bias b (U,)."""
    z = x @ kernel + bias
    return z if activation is None else activation(z)


def simple_rnn(inputs, kernel, recurrent_kernel, bias):
    """h_t = tanh(x_t W + h_{t-1} R + b) from h_{-1} = 0; returns all h_t (T, U)."""
    hidden = np.zeros(kernel.shape[1])
    states = []
    for x_t in inputs:
        hidden = np.tanh(x_t @ kernel + hidden @ recurrent_kernel + bias)
        states.append(hidden)
    return np.stack(states)


def bahdanau_attention(features, hidden, W1, b1, W2, b2, V, bv, mask=None):
    """Additive attention of features (T, F) for hidden (H,); returns (context (F,), weights (T,)).

    score_t = tanh(W1 f_t + W2 h);  logit_t = V score_t;  weights = softmax over t;
    context = sum_t weights_t f_t.
    """
    score = np.tanh(features @ W1 + b1 + (hidden @ W2 + b2))  # (T, U)
    logits = (score @ V + bv)[:, 0]  # (T,)
    weights = softmax(logits, mask=mask)
    return weights @ features, weights


def self_attention(x, Wq, bq, Wk, bk, Wv, bv, num_heads, use_scale=True, allowed=None, key_inputs=None):
    """Multi-head self-attention of x (T, F); returns (output (T, U), weights (N, T, T)).

    Per head n, with Q_n, K_n, V_n the columns [n*D, (n+1)*D) of x Wq + bq, x Wk + bk, x Wv + bv:
    weights_n = softmax(Q_n K_n^T / sqrt(D)) over keys (where `allowed` (T, T) is True),
    context_n = weights_n V_n; output = [context_0 | context_1 | ...]. With `key_inputs` (Tk, F),
    keys and values come from that sequence (cross-attention): weights (N, T, Tk).
    """
    source = x if key_inputs is None else key_inputs
    Q, K, V = x @ Wq + bq, source @ Wk + bk, source @ Wv + bv  # (T, U), (Tk, U), (Tk, U)
    head_size, value_size = Q.shape[1] // num_heads, V.shape[1] // num_heads  # equal unless Wv is wider
    contexts, all_weights = [], []
    for n in range(num_heads):
        cols = slice(n * head_size, (n + 1) * head_size)
        scores = Q[:, cols] @ K[:, cols].T  # (T, T)
        if use_scale:
            scores = scores / np.sqrt(head_size)
        weights = softmax(scores, axis=-1, mask=allowed)
        contexts.append(weights @ V[:, n * value_size : (n + 1) * value_size])
        all_weights.append(weights)
    return np.concatenate(contexts, axis=1), np.stack(all_weights)


def causal_mask(tokens):
    """(T, T) bool: query i may attend to keys 0..i."""
    return np.tril(np.ones((tokens, tokens), dtype=bool))
