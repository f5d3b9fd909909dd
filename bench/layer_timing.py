"""In-process measurements for `make bench`: layer forward times and heatmap payload sizes."""

import statistics
import time

import keras
import numpy as np
import plotly.io
import tensorflow as tf

import attention_core as ac

RUNS = 200  # timed calls per configuration, after warm-up
WARM_UP_RUNS = 10  # first calls build kernels and, compiled, trace the function
SHAPES = ((128, 64, 4), (512, 64, 4))  # (tokens, units, heads)


def _seconds(function, args):
    start = time.perf_counter()
    keras.ops.convert_to_numpy(keras.tree.flatten(function(*args))[0])
    return time.perf_counter() - start


def _pair(ours, theirs, args_ours, args_theirs):
    """Median forward seconds of two callables, eager and under tf.function, and their ratios.

    Calls alternate, ours then theirs, so the machine's drift during a measurement (±30% on
    this shared machine) falls on both alike.
    """
    result = {}
    # autograph=False: the callables are plain layer calls; there is no Python control flow to convert.
    for mode, wrap in (("eager", lambda f: f), ("compiled", lambda f: tf.function(f, autograph=False))):
        ours_mode, theirs_mode = wrap(ours), wrap(theirs)
        for _ in range(WARM_UP_RUNS):
            _seconds(ours_mode, args_ours), _seconds(theirs_mode, args_theirs)
        times = [(_seconds(ours_mode, args_ours), _seconds(theirs_mode, args_theirs)) for _ in range(RUNS)]
        ours_s, theirs_s = (statistics.median(column) for column in zip(*times))
        result[mode] = {"ours_ms": ours_s * 1000, "keras_ms": theirs_s * 1000, "ratio": ours_s / theirs_s}
    return result


def additive_attention_like(bahdanau, features_shape):
    """Keras's built-ins doing BahdanauAttention's computation with its weights.

    Dense W1 and W2 project features and hidden state; AdditiveAttention's learned `scale` is
    V's kernel, and sum(scale * tanh(q + k)) is V(score) without V's bias, which the softmax
    cancels. Returns a callable (features, hidden) -> context (B, 1, F).
    """
    batch, time, _ = features_shape
    w1, w2 = keras.layers.Dense(bahdanau.units), keras.layers.Dense(bahdanau.units)
    w1.build(features_shape)
    w2.build((batch, 1, bahdanau.W2.kernel.shape[0]))
    w1.set_weights(bahdanau.W1.get_weights())
    w2.set_weights(bahdanau.W2.get_weights())
    additive = keras.layers.AdditiveAttention()
    additive.build([(batch, 1, bahdanau.units), features_shape, (batch, time, bahdanau.units)])
    additive.scale.assign(bahdanau.V.kernel[:, 0])
    return lambda features, hidden: additive([w2(hidden[:, None]), features, w1(features)])


def measure():
    """SelfAttention against MultiHeadAttention (same weights, identity output projection),
    BahdanauAttention against AdditiveAttention and Attention on the same shapes, and against
    the built-ins computing exactly what it computes (Dense projections + AdditiveAttention)."""
    results = {}
    rng = np.random.default_rng(0)
    for tokens, units, heads in SHAPES:
        x = rng.standard_normal((1, tokens, units)).astype("float32")
        ours = ac.SelfAttention(units, num_heads=heads, seed=0)
        ours.build(x.shape)
        mha = ac.multi_head_attention_like(ours, x.shape)
        results[f"SelfAttention vs MultiHeadAttention, T={tokens}, U={units}, N={heads}"] = _pair(
            lambda x: ours(x), lambda x: mha(x, x), (x,), (x,)
        )
        hidden = x[:, -1]
        bahdanau = ac.BahdanauAttention(units, seed=0)
        bahdanau.build(x.shape, hidden.shape)
        for name, builtin in (("AdditiveAttention", keras.layers.AdditiveAttention()),
                              ("Attention", keras.layers.Attention())):
            results[f"BahdanauAttention vs {name}, T={tokens}, U={units}"] = _pair(
                lambda f, h: bahdanau(f, h), lambda q, v: builtin([q, v]),
                (x, hidden), (hidden[:, None], x),
            )
        same_math = additive_attention_like(bahdanau, x.shape)
        np.testing.assert_allclose(same_math(x, hidden)[:, 0], bahdanau(x, hidden)[0], atol=1e-5)
        results[f"BahdanauAttention vs Dense W1, W2 + AdditiveAttention (same computation), T={tokens}, U={units}"] = _pair(
            lambda f, h: bahdanau(f, h), same_math, (x, hidden), (x, hidden),
        )
    return results


def heatmap_payloads(token_counts):
    """Bytes of the attention heatmap's figure JSON, as st.plotly_chart sends it, per length."""
    payloads = {}
    layer = ac.SelfAttention(8, num_heads=2, seed=0)
    for tokens in token_counts:
        words, x = ac.encode_text(" ".join(f"w{i}" for i in range(tokens)), 16, seed=0)
        trace = ac.trace_self_attention(layer, x)
        figure = ac.figures.attention_heatmap(trace.weights[0], words, words)
        payloads[str(tokens)] = len(plotly.io.to_json(figure, validate=False))
    return payloads
