"""Attention rollout (Abnar and Zuidema 2020): how much each input position has mixed into each
position after several layers of self-attention, through the residual connections.

For layers 1..L, each with heads' weights (N, T, T):

    A_l  = mean over heads                                  (T, T)
    Â_l  = 0.5 A_l + 0.5 I, each row divided by its sum     (the residual's share)
    R    = Â_L · … · Â_2 · Â_1                              (T, T), rows sum to 1

Row i of R is position i's mix of the inputs after the last layer. It traces how attention
mixes positions, assuming the residual carries half; it is not a measure of importance.
"""

import numpy as np

from attention_core.text.validation import InputError


def attention_rollout(layer_weights):
    """R (T, T) of a stack of self-attention layers, first layer first: `layer_weights` is a
    sequence of (N, T, T) arrays (each layer's heads) of one sequence. InputError for an empty
    stack or maps that are not square and of one length."""
    if len(layer_weights) == 0:
        raise InputError("Rollout needs at least one self-attention layer.")
    rollout = None
    for index, weights in enumerate(layer_weights):
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 3 or weights.shape[1] != weights.shape[2]:
            raise InputError(f"Layer {index + 1}'s map has shape {weights.shape}; rollout needs self-attention "
                             "maps (heads, tokens, tokens).")
        if rollout is not None and weights.shape[1] != rollout.shape[0]:
            raise InputError(f"Layer {index + 1} reads {weights.shape[1]} tokens, the layer before {rollout.shape[0]}; "
                             "rollout needs one sequence through every layer.")
        mixed = 0.5 * weights.mean(axis=0) + 0.5 * np.eye(weights.shape[1])  # (T, T)
        mixed /= mixed.sum(axis=-1, keepdims=True)
        rollout = mixed if rollout is None else mixed @ rollout
    return rollout


def self_attention_stack(attention, calls):
    """What rollout multiplies in a model: its self-attention calls' LayerAttentions (weights
    (N, T, T)) that read as many tokens as the first one, in call order; [] without one.
    `attention` as `model_attention` gives it, `calls` as `attention_calls` (by call_index)."""
    is_self = {call.call_index: call.is_self_attention for call in calls}
    stack = [item for item in attention
             if is_self[item.call_index] and item.weights.shape[-1] == item.weights.shape[-2]]
    return [item for item in stack if item.weights.shape[-1] == stack[0].weights.shape[-1]]
