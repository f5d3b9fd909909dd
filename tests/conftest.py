"""Shared by every test module: TensorFlow's set-up, and the test pyramid's markers.

Every test gets one layer's marker from its module (see LAYERS): `unit` (the library and the
app's policy, no Streamlit script run), `app` (pages run by Streamlit's AppTest), `browser`
(a real server driven by Chromium) or `deploy` (the Dockerfile, the manifests, the image). The
pages' smoke runs (each page opens on its defaults) are also `smoke`. `make test-fast` runs
`unit or smoke`; `make test` runs everything.
"""

import pathlib

import pytest

# attention_core sets TensorFlow's environment (quiet logs, oneDNN off) before TensorFlow loads.
# Imported before any test module imports keras, it gives the tests the TensorFlow the app runs.
import attention_core  # noqa: F401

# Test modules by layer; every module not named here is `unit`.
LAYERS = {
    "app": {"test_pages", "test_weight_sources", "test_train_page", "test_url_fuzzing", "test_page_limits"},
    "browser": {"test_browser", "test_browser_training", "test_browser_transformer", "test_browser_trained_layer",
                "test_browser_your_model"},
    "deploy": {"test_container", "test_deploy"},
}
SMOKE_TESTS = {"test_page_runs_clean_on_defaults", "test_home_shows_title_links_and_loop_figure"}


def pytest_collection_modifyitems(items):
    for item in items:
        module = pathlib.Path(str(item.fspath)).stem
        layer = next((name for name, modules in LAYERS.items() if module in modules), "unit")
        item.add_marker(getattr(pytest.mark, layer))
        if item.originalname in SMOKE_TESTS:
            item.add_marker(pytest.mark.smoke)
