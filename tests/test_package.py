"""Importing attention_core: a clean terminal and the same TensorFlow set-up on any CPU."""

import os
import subprocess
import sys

IMPORT_BOTH = "import attention_core, tensorflow, os; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"


def _run(extra_env=None):
    """(stdout, stderr) of a fresh interpreter importing attention_core, then TensorFlow."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_")}
    reply = subprocess.run(
        [sys.executable, "-c", IMPORT_BOTH], env={**env, **(extra_env or {})},
        capture_output=True, text=True, check=True, timeout=120,
    )
    return reply.stdout.strip(), reply.stderr


def test_import_prints_nothing_and_turns_onednn_off():
    # On a CPU with AVX-512, TensorFlow would announce oneDNN on stderr at import, whatever its
    # log level; with oneDNN off it says nothing, on every CPU.
    onednn, stderr = _run()
    assert onednn == "0"
    assert stderr == ""


def test_a_users_own_onednn_setting_wins():
    onednn, _ = _run({"TF_ENABLE_ONEDNN_OPTS": "1"})
    assert onednn == "1"
