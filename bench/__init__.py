"""`make bench`: the app's speed and memory, measured in a real browser (see bench/run.py)."""

# attention_core sets TensorFlow's environment (quiet logs, oneDNN off) as the app runs it;
# imported first, it applies before layer_timing imports keras, which loads TensorFlow, and
# the servers the bench starts inherit it.
import attention_core  # noqa: F401
