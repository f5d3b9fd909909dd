"""When each head formed: every head's score over a run's recorded frames, and the step from
which it stays at its final value.

A head's score over F frames is a series s (F,). It has formed at the first frame f from which
every later score lies within `tolerance` of the final one:

    formed(f)  ⇔  |s[g] - s[F-1]| ≤ tolerance · (max s - min s)   for every g ≥ f

so the tolerance is a share of how far the score moved in training (the default, 10%, ignores
the last wobbles of a pattern that has settled). A head whose score moved less than
`min_change` never formed a pattern of that score: its formation is None.
"""

import numpy as np

from attention_core.heads.scores import SCORE_NAMES
from attention_core.text.validation import InputError

FORMATION_TOLERANCE = 0.1  # of the score's range over training
MIN_CHANGE = 0.05  # a score that moved less than this never formed a pattern


def score_series(frame_scores, name):
    """(heads, values): heads the (layer, head) pairs of the first frame's scores, in order, and
    values (F, H) every head's score `name` at each of F frames. `frame_scores` is a sequence of
    head_scores results, one per frame, each with the same heads. InputError for an unknown
    score, a score no head has (e.g. no ideal alignment), or frames with different heads."""
    if name not in SCORE_NAMES:
        raise InputError(f"There is no score named {str(name)[:40]!r}; the scores are {', '.join(SCORE_NAMES)}.")
    if len(frame_scores) == 0:
        raise InputError("No frame has been recorded yet: press Play or Step.")
    heads = [(score.layer, score.head) for score in frame_scores[0]]
    for scores in frame_scores:
        if [(score.layer, score.head) for score in scores] != heads:
            raise InputError("Every frame must score the same heads.")
    values = np.array([[np.nan if score[name] is None else score[name] for score in scores]
                       for scores in frame_scores], dtype=np.float64)  # (F, H)
    if np.isnan(values).all():
        raise InputError(f"No head has a score {name!r} here (agreement needs a task's ideal alignment).")
    return heads, values


def formation_index(values, tolerance=FORMATION_TOLERANCE, min_change=MIN_CHANGE):
    """The first frame index from which the series `values` (F,) stays within `tolerance` of its
    range of the final value (module docstring); None for a series that moved less than
    `min_change` or holds NaN."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0 or np.isnan(values).any():
        return None
    spread = values.max() - values.min()
    if spread < min_change:
        return None
    outside = np.flatnonzero(np.abs(values - values[-1]) > tolerance * spread)
    return 0 if len(outside) == 0 else int(outside[-1]) + 1


def formation_steps(steps, heads, values, tolerance=FORMATION_TOLERANCE, min_change=MIN_CHANGE):
    """{(layer, head): the training step at which that head's score formed, or None}, for the
    series `score_series` gives (`heads`, `values` (F, H)) of frames recorded at `steps` (F,)."""
    if len(steps) != len(values):
        raise InputError(f"Give one step per frame: {len(steps)} steps for {len(values)} frames.")
    indices = [formation_index(values[:, column], tolerance, min_change) for column in range(len(heads))]
    return {head: None if index is None else int(steps[index]) for head, index in zip(heads, indices)}


def strongest_head(heads, values):
    """((layer, head), score) of the head whose score is largest at the last frame, of the heads
    that have it, for the series `score_series` gives (`heads`, `values` (F, H))."""
    column = int(np.nanargmax(values[-1]))
    return heads[column], float(values[-1, column])
