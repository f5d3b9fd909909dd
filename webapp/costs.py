"""What each view costs: its peak memory and time, from bytes and seconds per cell measured on
this project's 2-core machine (the measurements: bench/DESIGN_CHOICES.md, "View costs").
"""

import dataclasses
import math

from attention_core.your_model.attention import attention_calls
from attention_core.your_model.inputs import input_lengths
from webapp.budget import ViewCost

# Self-attention keeps raw scores, scaled scores and weights (3 × 4 bytes a head-cell); while it
# computes, TensorFlow's intermediates (masked scores, softmax) bring the peak higher.
SELF_ATTENTION_PEAK_BYTES_PER_HEAD_CELL = 33
SELF_ATTENTION_SECONDS_PER_HEAD_CELL = 55e-9
# Compare runs the mechanisms one after another, so its peak is the larger of two phases:
# multi-head with Keras's MultiHeadAttention as its oracle (bytes a head-cell), and additive
# attention, whose (T, T, F) and (T, T, U) tensors take bytes a token pair plus bytes a pair and unit.
COMPARE_PEAK_BYTES_PER_HEAD_CELL = 49
COMPARE_ADDITIVE_PEAK_BYTES_PER_PAIR = 360
COMPARE_ADDITIVE_PEAK_BYTES_PER_PAIR_UNIT = 18
COMPARE_SECONDS_PER_PAIR = 0.5e-6
COMPARE_SECONDS_PER_PAIR_UNIT = 0.15e-6


def self_attention_cost(tokens, num_heads, units, batch=1):
    """The cost of one self-attention trace of `tokens` tokens with `num_heads` heads of `units`,
    for a batch of `batch` sequences padded to `tokens`."""

    def advice(limit):
        most_heads = limit // (SELF_ATTENTION_PEAK_BYTES_PER_HEAD_CELL * batch * tokens**2)
        # Heads split the units evenly: the most that fit and divide them.
        fitting_divisor = max((n for n in range(1, min(most_heads, units) + 1) if units % n == 0), default=0)
        most_tokens = math.isqrt(limit // (SELF_ATTENTION_PEAK_BYTES_PER_HEAD_CELL * batch * num_heads))
        fewer_heads = (f"use at most {fitting_divisor} heads at {tokens:,} tokens with {units} units, or "
                       if fitting_divisor else "")
        per_sequence = "" if batch == 1 else " a sentence"
        return f"To fit, {fewer_heads}use at most {most_tokens:,} tokens{per_sequence} with {num_heads} heads."

    head_cells = batch * num_heads * tokens**2
    sequences = "" if batch == 1 else f"{batch} sentences × "
    return ViewCost(
        description=f"{sequences}{num_heads} {'head' if num_heads == 1 else 'heads'} × {tokens:,}² token pairs",
        peak_bytes=SELF_ATTENTION_PEAK_BYTES_PER_HEAD_CELL * head_cells,
        seconds=SELF_ATTENTION_SECONDS_PER_HEAD_CELL * head_cells,
        advice=advice,
    )


def comparison_cost(tokens, units, num_heads):
    """The cost of comparing the four mechanisms on `tokens` tokens (see compare_mechanisms)."""

    def per_pair(units, num_heads):
        return max(COMPARE_PEAK_BYTES_PER_HEAD_CELL * num_heads,
                   COMPARE_ADDITIVE_PEAK_BYTES_PER_PAIR + COMPARE_ADDITIVE_PEAK_BYTES_PER_PAIR_UNIT * units)

    def advice(limit):
        pairs = tokens**2
        most_units = (limit // pairs - COMPARE_ADDITIVE_PEAK_BYTES_PER_PAIR) // COMPARE_ADDITIVE_PEAK_BYTES_PER_PAIR_UNIT
        most_heads = min(limit // (pairs * COMPARE_PEAK_BYTES_PER_HEAD_CELL), most_units)  # heads ≤ units
        most_tokens = math.isqrt(limit // per_pair(units, num_heads))
        at_this_length = (f"use at most {most_units} units and {most_heads} heads at {tokens:,} tokens, or "
                          if most_units >= 1 and most_heads >= 1 else "")
        return f"To fit, {at_this_length}use at most {most_tokens:,} tokens with {units} units and {num_heads} heads."

    pairs = tokens**2
    return ViewCost(
        description=f"four mechanisms on {tokens:,}² token pairs with {units} units and {num_heads} heads",
        peak_bytes=pairs * per_pair(units, num_heads),
        seconds=pairs * (COMPARE_SECONDS_PER_PAIR + COMPARE_SECONDS_PER_PAIR_UNIT * units
                         + SELF_ATTENTION_SECONDS_PER_HEAD_CELL * (num_heads + 2)),
        advice=advice,
    )


def attention_cost(model, inputs):
    """The ViewCost of `model_attention(model, inputs)`'s maps: every call's heads over the
    longest input's tokens squared, at self-attention's measured bytes and seconds per cell."""
    tokens = max(input_lengths(model, inputs))
    heads = sum(call.num_heads for call in attention_calls(model))
    # Self-attention's cost of these heads and tokens; a user's model has no heads to lower here,
    # so the advice is about tokens only.
    return dataclasses.replace(
        self_attention_cost(tokens, heads, units=heads),
        advice=lambda limit: f"To fit, give the model at most "
                             f"{math.isqrt(limit // (SELF_ATTENTION_PEAK_BYTES_PER_HEAD_CELL * heads)):,} tokens.",
    )


def knock_out_cost(model, inputs):
    """The ViewCost of one knock-out on `model`: the original and its gated copy each run once on
    `inputs`, each at most what reading their attention costs."""
    cost = attention_cost(model, inputs)
    return dataclasses.replace(cost, description=f"the model twice, {cost.description}",
                               peak_bytes=2 * cost.peak_bytes, seconds=2 * cost.seconds)
