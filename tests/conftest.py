"""Shared by every test module."""

# attention_core sets TensorFlow's environment (quiet logs, oneDNN off) before TensorFlow loads.
# Imported before any test module imports keras, it gives the tests the TensorFlow the app runs.
import attention_core  # noqa: F401
