"""Turns for the pages' Keras work: one computation at a time in this process."""

import threading

# Keras computations for the pages run one at a time. Eager TensorFlow lets go of the GIL around each
# of the hundreds of small ops a trace makes and takes it back after: sessions computing at once
# queued for the GIL op by op (Compare under 20 sessions: a press's p50 0.65 s, against 0.09 s alone,
# measured), where in turn each runs at full speed. Train and watch's training thread does not take it.
_KERAS_TURN = threading.RLock()  # re-entrant: a turn may hold a nested one


def in_turn(compute):
    """`compute()` (Keras work that waits on no budget entry another session computes), run in its turn."""
    with _KERAS_TURN:
        return compute()
