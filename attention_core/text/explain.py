"""The arithmetic behind a number, written out with its values, for a learner to redo by hand.

The layers compute every number the app shows. These helpers redo one step in the open (a dot
product's terms, the softmax's exponentials and their sum) so a page can show how the layer's
number arose; the tests check that each agrees with what the layer returned. NumPy and the
standard library only, so figures and pages can use them without Keras.

Shape letters: T tokens, D vector length.
"""

from dataclasses import dataclass

import numpy as np

# Terms written out before "… (+N more)" in a one-line sum.
SUM_TERMS = 3
# Up to this many cells a map's hover writes out how each cell was computed; above it the strings
# would cost more than the map (a 64-token map: 4,096 of them on every slider move), and the
# page's own controls (the cell picker, the step-by-step tables) write out any cell instead.
HOVER_ARITHMETIC_CELLS = 32 * 32


def number(x):
    """A number as compact text: integers without ".0", others with up to 4 significant digits."""
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}"


def factor(x):
    """`number`, parenthesized when negative so "2×(-3)" reads unambiguously."""
    text = number(x)
    return f"({text})" if text.startswith("-") else text


def plural(count, noun, plural_noun=None):
    """'1 token', '3 tokens' ('1 matrix', '2 matrices' with `plural_noun`)."""
    return f"{count} {noun if count == 1 else plural_noun or noun + 's'}"


def products_text(a, b, limit=None):
    """The terms of a · b as text, "1×4 + 2×5 + 3×6": the first `limit` (all when None), then
    "… (+N more)". a, b: (D,)."""
    count = len(a) if limit is None else min(limit, len(a))
    text = " + ".join(f"{factor(x)}×{factor(y)}" for x, y in zip(a[:count], b[:count]))
    hidden = len(a) - count
    return text if hidden <= 0 else f"{text} + … (+{hidden} more)"


def weighted_sum_text(x, kernel_column, bias):
    """A dense neuron's sum written out in full: "x1×w1 + … + xF×wF + b". x, kernel_column: (F,)."""
    return f"{products_text(x, kernel_column)} + {factor(bias)}"


def _cell_texts(shape, text):
    """(R, C) object array of `text(r, c)`, or None when it has more than HOVER_ARITHMETIC_CELLS."""
    rows, cols = shape
    if rows * cols > HOVER_ARITHMETIC_CELLS:
        return None
    texts = np.empty((rows, cols), dtype=object)
    for r in range(rows):
        for c in range(cols):
            texts[r, c] = text(r, c)
    return texts


def sum_of_products_texts(left, right, results, name, bias=None):
    """Hover texts for a matrix product: cell (r, c) is "name(r, c) = a×b + … (+ bias) = result".

    left: (R, K); right: (K, C); results: (R, C) what the layer computed, left @ right (+ bias),
    never recomputed here; bias: (C,) or None; name(r, c): how the cell is named, e.g.
    "q1 · k2" (1-based, as on the axes). The first SUM_TERMS products are written out. None
    above HOVER_ARITHMETIC_CELLS cells.
    """
    left, right = np.asarray(left), np.asarray(right)

    def text(r, c):
        terms = products_text(left[r], right[:, c], SUM_TERMS)
        added = "" if bias is None else f" + {factor(bias[c])}"
        return f"{name(r, c)} = {terms}{added} = {number(results[r, c])}"

    return _cell_texts(np.shape(results), text)


def weighted_sums_text(x, kernel, bias):
    """Every unit's sum of a dense layer written out in full, one text per column of the kernel:
    "x1×w1 + … + xF×wF + b". x: (F,); kernel: (F, U); bias: (U,)."""
    return [weighted_sum_text(x, kernel[:, u], bias[u]) for u in range(np.shape(kernel)[1])]


def score_hover_texts(query, key, raw_scores, scale, scaled_scores):
    """(T, T) hover texts for a score map: cell (i, j) writes out q_i · k_j and the scaling.

    query, key: (T, D) one head's columns; raw_scores, scaled_scores: (T, T) what the layer
    computed for them, before and after its scaling; scale: the factor it applied (1 when
    unscaled). Both scores are the layer's, never recomputed here, so the text matches the map to
    the last digit. Token numbers are 1-based, as on the axes. None above HOVER_ARITHMETIC_CELLS.
    """
    texts = sum_of_products_texts(query, np.transpose(key), raw_scores, lambda i, j: f"q{i + 1} · k{j + 1}")
    if texts is not None and scale != 1:
        for (i, j), text in np.ndenumerate(texts):
            texts[i, j] = f"{text} × {number(scale)} = {number(scaled_scores[i, j])}"
    return texts


def simple_rnn_texts(inputs, states, kernel, recurrent_kernel, bias):
    """Hover texts for a SimpleRNN's hidden states: cell (t, u) is
    "h_t[u] = tanh(x_t · W[:, u] + h_(t−1) · R[:, u] + b[u]) = tanh(terms + terms + b) = h", with h_0 = 0.

    inputs: (T, F); states: (T, U) what the layer computed; kernel W: (F, U); recurrent_kernel
    R: (U, U); bias b: (U,). Time steps are 1-based, as on the axes. None above HOVER_ARITHMETIC_CELLS.
    """
    def text(t, u):
        previous = states[t - 1] if t > 0 else np.zeros(np.shape(states)[1])
        return (f"h{t + 1}[u{u + 1}] = tanh(x{t + 1} · W[:, u{u + 1}] + h{t} · R[:, u{u + 1}] + b[u{u + 1}]) = "
                f"tanh({products_text(inputs[t], kernel[:, u], SUM_TERMS)} + "
                f"{products_text(previous, recurrent_kernel[:, u], SUM_TERMS)} + {factor(bias[u])}) = {number(states[t, u])}")

    return _cell_texts(np.shape(states), text)


def softmax_hover_texts(scores, weights, allowed=None, why_masked=lambda i, j: "the key comes after the query"):
    """Hover texts for a weights map: cell (i, j) is "exp(s − m) / Σ = e / Σ = weight", row i's
    softmax with its numbers (m its largest allowed score, Σ its exponentials' sum).

    scores: (R, C) what the softmax read; weights: (R, C) what the layer gave, shown as the
    result; allowed: (R, C) bool or None (a masked cell says so, with `why_masked(i, j)`, by
    default the causal mask's reason). None above HOVER_ARITHMETIC_CELLS.
    """
    if np.size(scores) > HOVER_ARITHMETIC_CELLS:
        return None
    rows = [softmax_steps(row, None if allowed is None else allowed[i]) for i, row in enumerate(scores)]

    def text(i, j):
        steps = rows[i]
        if not steps.allowed[j]:
            return f"masked ({why_masked(i, j)}): exp = 0, weight 0"
        return (f"weight = exp(s − max) / Σ = exp({number(steps.scores[j])} − {factor(steps.peak)}) / "
                f"{number(steps.total)} = {number(steps.exponentials[j])} / {number(steps.total)} = "
                f"{number(weights[i, j])}")

    return _cell_texts(np.shape(scores), text)


def mask_texts(allowed, allowed_text, why_masked):
    """(R, C) hover texts for a mask: `allowed_text(r, c)` where allowed (R, C) is True, else
    "masked: " and `why_masked(r, c)`. None above HOVER_ARITHMETIC_CELLS."""
    return _cell_texts(np.shape(allowed), lambda r, c: allowed_text(r, c) if allowed[r][c] else f"masked: {why_masked(r, c)}")


def tanh_of_sum_texts(first, second, results, names=("a", "b")):
    """Hover texts for tanh(first + second), cell by cell: "tanh(a + b) = tanh(0.1 + (-0.2)) = -0.0997".

    first: (R, C); second: (R, C) or (1, C), broadcast over rows; results: (R, C) the layer's;
    names: how the two terms are called. None above HOVER_ARITHMETIC_CELLS.
    """
    second = np.broadcast_to(second, np.shape(first))
    label = f"tanh({names[0]} + {names[1]})"
    return _cell_texts(np.shape(results), lambda r, c: (
        f"{label} = tanh({number(first[r, c])} + {factor(second[r, c])}) = {number(results[r, c])}"))


def elementwise_texts(first, second, results, operator):
    """Hover texts "a op b = result" for each cell: first, second (R, C) (or broadcastable to it),
    results (R, C) what was computed, `operator` e.g. "×" or "−". None above HOVER_ARITHMETIC_CELLS."""
    first, second = (np.broadcast_to(a, np.shape(results)) for a in (first, second))
    return _cell_texts(np.shape(results), lambda r, c: (
        f"{number(first[r, c])} {operator} {factor(second[r, c])} = {number(results[r, c])}"))


def context_hover_texts(weights, value, output):
    """Hover texts for the heads' contexts side by side: cell (t, u), in head h's columns, is
    "Σ_j w_tj × v_j[u]" with head h's weights for token t and the values' column u.

    weights: (N, T, T); value: (T, U) all heads' value columns; output: (T, U) what the layer
    returned. None above HOVER_ARITHMETIC_CELLS.
    """
    size = np.shape(value)[1] // len(weights)
    return _cell_texts(np.shape(output), lambda t, u: (
        f"head {u // size + 1}: Σ weight × v[u{u + 1}] = "
        f"{products_text(weights[u // size][t], np.asarray(value)[:, u], SUM_TERMS)} = {number(output[t, u])}"))


def positional_encoding_texts(encoding):
    """Hover texts for the positional encoding (T, F): cell (pos, f) is its formula with the
    numbers, "sin(2 / 10000^(4/16)) = 0.1987", pos = token number − 1 and 2i the even column at
    or before f (0-based, as in the formula). None above HOVER_ARITHMETIC_CELLS."""
    dim = np.shape(encoding)[1]
    return _cell_texts(np.shape(encoding), lambda pos, f: (
        f"{'sin' if f % 2 == 0 else 'cos'}({pos} / 10000^({f - f % 2}/{dim})) = {number(encoding[pos, f])}"))


def mean_texts(parts, results):
    """Hover texts for a mean over the first axis: "mean of 2 heads = (a + b) / 2 = m".

    parts: (N, R, C); results: (R, C) what was computed. None above HOVER_ARITHMETIC_CELLS."""
    count = len(parts)

    def text(r, c):
        terms = [number(part[r, c]) for part in parts[:SUM_TERMS]]
        more = f" + … (+{count - SUM_TERMS} more)" if count > SUM_TERMS else ""
        return f"mean of {plural(count, 'head')} = ({' + '.join(terms)}{more}) / {count} = {number(results[r, c])}"

    return _cell_texts(np.shape(results), text)


@dataclass(frozen=True)
class SoftmaxSteps:
    """One row's softmax done in the open: weight_j = exp(s_j − max s) / Σ exp(s − max s)."""

    scores: np.ndarray  # (T,) the scores the softmax read
    allowed: np.ndarray  # (T,) bool: False where a mask sets the score to −10⁹, weight 0
    peak: float  # the largest allowed score, subtracted so no exp() overflows
    shifted: np.ndarray  # (T,) scores − peak (masked: NaN, never used)
    exponentials: np.ndarray  # (T,) exp(shifted); 0 where masked
    total: float  # their sum
    weights: np.ndarray  # (T,) exponentials / total


def softmax_steps(scores, allowed=None):
    """The steps of a softmax over one row of `scores` (T,), float64; `allowed` (T,) bool or None.

    A row with nothing allowed has all-zero weights, as the layers give it.
    """
    scores = np.asarray(scores, dtype=np.float64)
    allowed = np.ones(scores.shape, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    peak = float(scores[allowed].max()) if allowed.any() else 0.0
    shifted = np.where(allowed, scores - peak, np.nan)
    exponentials = np.where(allowed, np.exp(np.where(allowed, shifted, 0.0)), 0.0)
    total = float(exponentials.sum())
    weights = exponentials / total if total > 0 else np.zeros_like(exponentials)
    return SoftmaxSteps(scores, allowed, peak, shifted, exponentials, total, weights)


def aligned_rows(rows, gap=2):
    """Rows of text cells as lines whose columns line up (each cell padded to its column's
    widest), for a monospace block; trailing spaces dropped."""
    widths = [max(len(row[c]) for row in rows if c < len(row)) for c in range(max(map(len, rows)))]
    return [(" " * gap).join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
