"""serve.py, the app's launcher: its warm-up and its hold on Keras's state."""

import keras
import pytest
from streamlit.runtime.scriptrunner import script_runner

import serve


def test_warm_up_runs_every_layer_and_figure_kind():
    serve.warm_up()


def test_reruns_no_longer_clear_the_keras_session(monkeypatch):
    # The hook serve.py replaces must exist, or a Streamlit upgrade silently undoes the fix.
    monkeypatch.setattr(script_runner, "_clean_problem_modules", script_runner._clean_problem_modules)
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: pytest.fail("session cleared"))
    serve.keep_keras_state()
    script_runner._clean_problem_modules()


def test_first_element_skips_the_direct_execution_check(monkeypatch):
    # The flag serve.py sets must be the one Streamlit reads, or the first visitor pays again.
    from streamlit import delta_generator, env_util

    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)
    monkeypatch.setattr(env_util, "is_repl", lambda: pytest.fail("direct-execution check ran"))
    serve.skip_direct_execution_check()
    delta_generator._maybe_print_use_warning()
