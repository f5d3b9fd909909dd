"""Sentences of different lengths as one batch: padding, and the mask that keeps attention off it.

A batch is one tensor, so its sentences must be equally long: the shorter ones are padded with
zero vectors up to the longest, and a padding mask (True for real tokens) tells the layer which
positions are padding. `SelfAttention`, like `keras.layers.MultiHeadAttention` given the Keras
mask of its inputs, masks both sides: a padded key gets weight exactly 0 from every query, and a
padded query attends to nothing (its row of weights is 0, its output 0). So each sentence's real
part is exactly what the sentence alone gives.

Shape letters: B sentences, T tokens of the longest, F features, U units, N heads.
"""

from dataclasses import dataclass

import numpy as np

from attention_core.mechanisms.layers import SelfAttention
from attention_core.mechanisms.traces import DenseWeights, dense_weights, frozen

# A padded position's label on the maps. The tokenizer splits a typed "<pad>" into "<", "pad", ">",
# so no real token looks like it; the padding mask, not the label, is what the layer reads.
PAD_LABEL = "<pad>"


@dataclass(frozen=True)
class PaddedBatchTrace:
    """Every step of `SelfAttention` on B sentences padded to T tokens and run as one batch."""

    tokens: tuple  # B tuples of T labels, PAD_LABEL at padded positions
    inputs: np.ndarray  # (B, T, F) each sentence's vectors, zeros at padded positions
    padding_mask: np.ndarray  # (B, T) bool, True for real tokens: the mask given to the layer
    attention_mask: np.ndarray  # (B, T, T) bool, query i may attend to key j (padding, and causal when on)
    query: np.ndarray  # (B, T, U)
    key: np.ndarray  # (B, T, U)
    value: np.ndarray  # (B, T, U)
    raw_scores: np.ndarray  # (B, N, T, T)
    scaled_scores: np.ndarray  # (B, N, T, T)
    weights: np.ndarray  # (B, N, T, T) 0 wherever attention_mask is False
    output: np.ndarray  # (B, T, U) 0 at padded queries
    query_dense: DenseWeights
    key_dense: DenseWeights
    value_dense: DenseWeights

    @property
    def lengths(self):
        """Each sentence's number of real tokens."""
        return tuple(int(n) for n in self.padding_mask.sum(axis=1))


def pad_texts(texts):
    """(tokens, inputs (B, T, F), padding_mask (B, T)) of TextTraces padded to the longest."""
    longest = max(len(text.tokens) for text in texts)
    features = texts[0].inputs.shape[1]
    inputs = np.zeros((len(texts), longest, features), dtype="float32")
    padding_mask = np.zeros((len(texts), longest), dtype=bool)
    tokens = []
    for b, text in enumerate(texts):
        count = len(text.tokens)
        inputs[b, :count] = text.inputs
        padding_mask[b, :count] = True
        tokens.append(tuple(text.tokens) + (PAD_LABEL,) * (longest - count))
    return tuple(tokens), inputs, padding_mask


def trace_padded_batch(layer: SelfAttention, texts, use_causal_mask=False):
    """Run `layer` once on TextTraces `texts` (B of them) padded to one batch, with the padding mask.

    The layer applies the mask itself (`compute_steps(x, mask=...)`); nothing is recomputed here.
    """
    tokens, inputs, padding_mask = pad_texts(texts)
    if not layer.built:
        layer.build(inputs.shape)
    steps = layer.compute_steps(inputs, mask=padding_mask, use_causal_mask=use_causal_mask)
    return PaddedBatchTrace(
        tokens=tokens,
        inputs=frozen(inputs),
        padding_mask=frozen(padding_mask),
        attention_mask=frozen(steps["attention_mask"])[:, 0],  # (B, 1, T, T) -> (B, T, T)
        **{name: frozen(steps[name]) for name in ("query", "key", "value", "raw_scores", "scaled_scores", "output")},
        weights=frozen(steps["attention_weights"]),
        query_dense=dense_weights(layer.query_dense),
        key_dense=dense_weights(layer.key_dense),
        value_dense=dense_weights(layer.value_dense),
    )


def why_masked(padding_mask, query, key):
    """Why a masked cell (query, key) of one sentence's map is masked: its query or key is padding,
    else (with the causal mask) the key comes after the query. padding_mask: (T,) bool."""
    if not padding_mask[query]:
        return "the query is padding"
    if not padding_mask[key]:
        return "the key is padding"
    return "the key comes after the query"


def mask_reasons(allowed):
    """why_masked(i, j) for a mask `allowed` (Tq, Tk) a model applied, read from the mask itself: a
    query with no allowed key is padding, as is a key no query may read; else a key after its
    query is the causal mask's; anything else is the model's own attention mask."""
    allowed = np.asarray(allowed, dtype=bool)
    padded_queries, padded_keys = ~allowed.any(axis=1), ~allowed.any(axis=0)

    def why(query, key):
        if padded_queries[query]:
            return "the query is padding"
        if padded_keys[key]:
            return "the key is padding"
        return "the key comes after the query" if key > query else "the model's attention mask"

    return why

