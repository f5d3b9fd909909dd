"""What knocking heads out does to a model's answer for one input: its output before and after,
and its prediction read from each.

A model's output is read as the first of its outputs, for the first example of the batch: an
array (..., C) whose last axis is what it predicts per position (C classes, or C values).
"""

from dataclasses import dataclass

import keras
import numpy as np

PROBABILITY_TOLERANCE = 1e-3  # a last axis of non-negatives summing to 1 within this is a softmax
MAX_POSITIONS_READ = 8  # a sequence's predictions read in words, the first ones


@dataclass(frozen=True)
class OutputChange:
    """before, after: the first output of the original and the knocked-out model for the first
    example, (..., C) float64; largest_change: max |after - before|; prediction_before and
    prediction_after: each read by `prediction`."""

    before: np.ndarray
    after: np.ndarray
    largest_change: float
    prediction_before: str
    prediction_after: str


def first_output(model, inputs):
    """`model`'s first output on `inputs`, for the first example: (..., C) float64."""
    outputs = model(inputs, training=False)
    if isinstance(outputs, dict):
        outputs = next(iter(outputs.values()))
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    return np.asarray(keras.ops.convert_to_numpy(outputs), dtype=np.float64)[0]


def _is_distribution(values):
    """Whether every row of the last axis is non-negative and sums to 1: a softmax's output."""
    return values.shape[-1] > 1 and values.min() >= 0 and np.allclose(values.sum(-1), 1.0, atol=PROBABILITY_TOLERANCE)


def prediction(output):
    """What `output` (..., C) predicts, in words: for a softmax, the likeliest class (from 0, as
    Keras numbers them) and its probability; for other C > 1, the class of the largest value;
    for C = 1, the value. A sequence of predictions (T, C) reads its first MAX_POSITIONS_READ
    positions', in order."""
    output = np.atleast_1d(np.asarray(output, dtype=np.float64))
    rows = output.reshape(-1, output.shape[-1])  # (positions, C)
    if rows.shape[-1] == 1:
        words = [f"{row[0]:.4g}" for row in rows]
    elif _is_distribution(rows):
        words = [f"class {row.argmax()} (p = {row.max():.3f})" for row in rows]
    else:
        words = [f"class {row.argmax()} (largest value {row.max():.4g})" for row in rows]
    more = ", …" if len(words) > MAX_POSITIONS_READ else ""
    return ", ".join(words[:MAX_POSITIONS_READ]) + more


def output_change(model, knocked_out, inputs):
    """The OutputChange of `inputs` from `model` to `knocked_out` (a knock_out copy of it)."""
    before, after = first_output(model, inputs), first_output(knocked_out, inputs)
    return OutputChange(before=before, after=after, largest_change=float(np.abs(after - before).max()),
                        prediction_before=prediction(before), prediction_after=prediction(after))
