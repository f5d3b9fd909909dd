"""A user's own Keras model: the one upload gate, the one adapter to Keras's graph internals,
its attention read from its own layers, and its inputs from typed text.
"""
