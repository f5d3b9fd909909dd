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
    """mean over examples and queries i of A[..., i, i + offset], for the queries that have that
    key: weights (E, N, Tq, Tk) -> (N,); NaN when no query has."""
    tq, tk = weights.shape[-2:]
    queries = np.arange(max(0, -offset), min(tq, tk - offset))
    if len(queries) == 0:
        return np.full(weights.shape[1], np.nan)
    return weights[..., queries, queries + offset].mean(axis=(0, 2))


def _agreement(weights, ideal):
    """For weights (E, N, Tq, Tk) and an ideal (E, Tq, Tk) of 0/1: (N,) the fraction of the
    queries with an ideal key whose largest weight lies on one; None when no query has."""
    scored = ideal.any(-1)  # (E, Tq)
    if not scored.any():
        return None
    looked_at = np.take_along_axis(ideal[:, None], weights.argmax(-1)[..., None], axis=-1)[..., 0]  # (E, N, Tq)
    return (looked_at & scored[:, None]).sum(axis=(0, 2)) / scored.sum()


def _layer_scores(layer, weights, ideal):
    """HeadScores of one layer's weights (E, N, Tq, Tk), examples averaged, ideal (E, Tq, Tk) or None."""
    tq, tk = weights.shape[-2:]
    logs = np.log(weights, out=np.zeros_like(weights), where=weights > 0)
    distance = np.abs(np.arange(tq)[:, None] - np.arange(tk)[None, :])  # (Tq, Tk)
    columns = {
        "entropy": -(weights * logs).sum(-1).mean(axis=(0, 2)),
        "previous_token": _diagonal_mean(weights, -1),
        "same_position": _diagonal_mean(weights, 0),
        "first_token": weights[..., 0].mean(axis=(0, 2)),
        "mean_distance": (weights * distance).sum(-1).mean(axis=(0, 2)),
    }
    agreement = None if ideal is None else _agreement(weights, ideal)
    return [HeadScore(layer=layer, head=head, **{name: float(values[head]) for name, values in columns.items()},
                      ideal_agreement=None if agreement is None else float(agreement[head]))
            for head in range(weights.shape[1])]


def head_scores(maps, ideals=None):
    """Every head's HeadScore, layer by layer in `maps`' order, heads in order.

    maps: {layer name: weights (N, Tq, Tk)} of one example, as a Transformer run's `attention`
    or a frame's `maps` give them, or (E, N, Tq, Tk) of E examples, whose scores are averaged
    (agreement over all their queries); ideals: {layer name: ideal alignment (Tq, Tk), or
    (E, Tq, Tk), 0/1} for the layers that have one (a task's cross-attention). InputError for a
    map of another shape or not of probabilities, or an ideal of another shape than its map's.
    """
    ideals = ideals or {}
    unknown = set(ideals) - set(maps)
    if unknown:
        raise InputError(f"There is no attention layer named {sorted(unknown)[0]!r}; the layers are {', '.join(maps)}.")
    scores = []
    for layer, weights in maps.items():
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim not in (3, 4) or 0 in weights.shape:
            raise InputError(f"Layer {layer!r}'s map has shape {weights.shape}; give one (heads, queries, keys) per "
                             "layer, or (examples, heads, queries, keys).")
        if not np.all(np.isfinite(weights)) or weights.min() < 0:
            raise InputError(f"Layer {layer!r}'s map holds negative or non-finite numbers; give attention weights.")
        weights = weights if weights.ndim == 4 else weights[None]  # (E, N, Tq, Tk)
        ideal = ideals.get(layer)
        if ideal is not None:
            ideal = np.asarray(ideal, bool)
            ideal = ideal if ideal.ndim == 3 else ideal[None]
            if ideal.shape[1:] != weights.shape[2:] or len(ideal) not in (1, len(weights)):
                raise InputError(f"The ideal alignment of {layer!r} has shape {np.shape(ideals[layer])}; its map's "
                                 f"queries and keys are {weights.shape[2:]}.")
            ideal = np.broadcast_to(ideal, (len(weights), *ideal.shape[1:]))
        scores += _layer_scores(layer, weights, ideal)
    return tuple(scores)


def scored_names(scores):
    """The SCORE_NAMES that at least one of `scores` (HeadScores) has, in order."""
    return [name for name in SCORE_NAMES if any(score[name] is not None for score in scores)]
