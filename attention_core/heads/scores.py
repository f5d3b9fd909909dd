"""Every head's scores: what a head attends to, in numbers a learner can compare across heads.

For one head's weights A (Tq, Tk), each row a query's softmax over the keys:

    entropy         = mean_i  -Σ_j A[i, j] log A[i, j]          (nats; 0 log 0 = 0)
    previous_token  = mean_i  A[i, i-1]     over queries i ≥ 1 with a key i-1
    same_position   = mean_i  A[i, i]       over queries i with a key i
    first_token     = mean_i  A[i, 0]
    mean_distance   = mean_i  Σ_j A[i, j] |i - j|                (positions)
    ideal_agreement = the fraction of queries whose largest weight lies on an ideal key, for a
                      head given an ideal alignment (Tq, Tk) of 0/1; queries with no ideal key
                      are left out

Shape letters: N heads, Tq queries, Tk keys.
"""

from dataclasses import dataclass

import numpy as np

from attention_core.text.validation import InputError

SCORE_NAMES = ("entropy", "previous_token", "same_position", "first_token", "mean_distance", "ideal_agreement")
SCORE_TITLES = {
    "entropy": "Entropy (nats)",
    "previous_token": "To the previous token",
    "same_position": "To the same position",
    "first_token": "To the first token",
    "mean_distance": "Mean distance attended",
    "ideal_agreement": "Agreement with the ideal alignment",
}


@dataclass(frozen=True)
class HeadScore:
    """One head's scores (see the module docstring); `ideal_agreement` is None without an ideal."""

    layer: str
    head: int  # from 0
    entropy: float
    previous_token: float
    same_position: float
    first_token: float
    mean_distance: float
    ideal_agreement: float | None = None

    def __getitem__(self, name):
        return getattr(self, name)


def _diagonal_mean(weights, offset):
    """mean_i A[i, i + offset] over the queries i that have that key; NaN when none has."""
    tq, tk = weights.shape[-2:]
    queries = np.arange(max(0, -offset), min(tq, tk - offset))
    if len(queries) == 0:
        return float("nan")
    return float(weights[..., queries, queries + offset].mean())


def _agreement(weights, ideal):
    """The fraction of queries of A (Tq, Tk) whose argmax is an ideal key of `ideal` (Tq, Tk)."""
    looked_at = np.take_along_axis(ideal, weights.argmax(-1)[:, None], axis=-1)[:, 0]  # (Tq,)
    scored = ideal.any(-1)
    return float(looked_at[scored].mean()) if scored.any() else None


def one_head_scores(layer, head, weights, ideal=None):
    """The HeadScore of one head's weights (Tq, Tk), with its ideal alignment (Tq, Tk) if any."""
    weights = np.asarray(weights, dtype=np.float64)
    tq, tk = weights.shape
    logs = np.log(weights, out=np.zeros_like(weights), where=weights > 0)
    distance = np.abs(np.arange(tq)[:, None] - np.arange(tk)[None, :])  # (Tq, Tk)
    return HeadScore(
        layer=layer,
        head=head,
        entropy=float(-(weights * logs).sum(-1).mean()),
        previous_token=_diagonal_mean(weights, -1),
        same_position=_diagonal_mean(weights, 0),
        first_token=float(weights[:, 0].mean()),
        mean_distance=float((weights * distance).sum(-1).mean()),
        ideal_agreement=None if ideal is None else _agreement(weights, np.asarray(ideal, bool)),
    )


def head_scores(maps, ideals=None):
    """Every head's HeadScore, layer by layer in `maps`' order, heads in order.

    maps: {layer name: weights (N, Tq, Tk)}, as a Transformer run's `attention` or a frame's
    `maps` give them; ideals: {layer name: ideal alignment (Tq, Tk), 0/1} for the layers that
    have one (a task's cross-attention). InputError for a map that is not (N, Tq, Tk) of
    probabilities, or an ideal of another shape than its layer's map.
    """
    ideals = ideals or {}
    unknown = set(ideals) - set(maps)
    if unknown:
        raise InputError(f"There is no attention layer named {sorted(unknown)[0]!r}; the layers are {', '.join(maps)}.")
    scores = []
    for layer, weights in maps.items():
        weights = np.asarray(weights)
        if weights.ndim != 3 or 0 in weights.shape:
            raise InputError(f"Layer {layer!r}'s map has shape {weights.shape}; give one (heads, queries, keys) per layer.")
        if not np.all(np.isfinite(weights)) or weights.min() < 0:
            raise InputError(f"Layer {layer!r}'s map holds negative or non-finite numbers; give attention weights.")
        ideal = ideals.get(layer)
        if ideal is not None and np.shape(ideal) != weights.shape[1:]:
            raise InputError(f"The ideal alignment of {layer!r} has shape {np.shape(ideal)}; its map's queries and "
                             f"keys are {weights.shape[1:]}.")
        scores += [one_head_scores(layer, head, weights[head], ideal) for head in range(weights.shape[0])]
    return tuple(scores)
