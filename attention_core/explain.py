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
# Up to this many cells a score map's hover writes out each cell's dot product; above it the
# strings would cost more than the map (a 64-token map: 4,096 of them on every slider move), and
# the page's cell picker writes out any cell instead.
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


def score_hover_texts(query, key, raw_scores, scale, scaled_scores):
    """(T, T) hover texts for a score map: cell (i, j) writes out q_i · k_j and the scaling.

    query, key: (T, D) one head's columns; raw_scores, scaled_scores: (T, T) what the layer
    computed for them, before and after its scaling; scale: the factor it applied (1 when
    unscaled). Both scores are the layer's, never recomputed here, so the text matches the map to
    the last digit. Token numbers are 1-based, as on the axes.
    """
    tokens = len(query)
    texts = np.empty((tokens, tokens), dtype=object)
    scaled = "" if scale == 1 else f" × {number(scale)}"
    for i in range(tokens):
        for j in range(tokens):
            raw = raw_scores[i, j]
            result = f" = {number(raw)}" if scale == 1 else f" = {number(raw)}{scaled} = {number(scaled_scores[i, j])}"
            texts[i, j] = (
                f"q{i + 1} · k{j + 1} = {products_text(query[i], key[j], SUM_TERMS)}{result}"
            )
    return texts


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
