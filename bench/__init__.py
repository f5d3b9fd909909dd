"""`make bench`: the app's speed and memory, measured in a real browser (see bench/run.py)."""

import os

# Quiet TensorFlow's C++ start-up logs, as attention_core does; set before layer_timing
# imports keras, which loads TensorFlow. A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
