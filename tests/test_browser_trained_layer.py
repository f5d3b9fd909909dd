"""A trained layer in the Self-attention page, in a real browser.

Train and watch trains a small Transformer (reverse at length 4, set by the URL); its model is
downloaded; the sidebar's navigation (the same session) opens the Self-attention page, where
"Weights from: Train and watch" shows the run's layer. The weights map Chromium draws equals
`ac.trace_attention_call` of the downloaded model on the same held-out example; then Compare's
multi-head map equals that layer's heads' mean.

Screenshots go to tests/artifacts/screenshots/self-attention-trained.png and compare-trained.png
(or $SCREENSHOT_DIR). Uses the session's one server and Chromium, and the helpers, of
tests/support/browser.py (Debian's Chromium at /usr/bin/chromium; these tests fail, never skip,
without it).
"""

import json
from pathlib import Path

import numpy as np
from playwright.sync_api import expect

import attention_core as ac
from tests.support.browser import (
    EXCEPTION,
    FIRST_RUN_TIMEOUT,
    PLOT,
    SCREENSHOT_DIR,
    chart_data,
    wait_idle,
)
from tests.test_pages import decode

PROGRESS = '[data-testid="stProgress"]'
TRAINING_TIMEOUT = 240_000  # ms: two epochs of a one-layer Transformer, beside other work
SETTINGS = {"name": "reverse", "length": 4, "units": 16, "num_layers": 1, "num_heads": 2, "epochs": 2}
TRAIN_URL = ("train-and-watch?tw_task=reverse&tw_length=4&tw_mechanism=transformer&tw_units=16&tw_layers=1"
             "&tw_heads=2&tw_epochs=2")

def test_a_layer_trained_on_train_and_watch_opens_in_self_attention_and_compare(page, server, tmp_path):
    page.goto(f"{server}/{TRAIN_URL}")
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    wait_idle(page, FIRST_RUN_TIMEOUT)
    page.get_by_role("button", name="Play").click()
    expect(page.locator(PROGRESS)).to_contain_text("Finished", timeout=TRAINING_TIMEOUT)
    wait_idle(page, FIRST_RUN_TIMEOUT)
    with page.expect_download() as download:
        page.get_by_text("Download the trained model (.keras)").click()
    model_file = Path(tmp_path) / "transformer.keras"
    download.value.save_as(model_file)

    # The sidebar's navigation keeps the session, and with it the run.
    page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]', has_text="Self-attention").click()
    page.locator(PLOT).first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    wait_idle(page, FIRST_RUN_TIMEOUT)
    page.locator('[data-testid="stSidebar"] [data-testid="stRadio"]').get_by_text("Train and watch").click()
    expect(page.get_by_text("Trained weights:", exact=False)).to_be_visible(timeout=FIRST_RUN_TIMEOUT)
    wait_idle(page, FIRST_RUN_TIMEOUT)
    assert page.locator(EXCEPTION).count() == 0
    expect(page.get_by_text("encoder_1_self_attention of this session's Transformer", exact=False)).to_be_visible()
    (shown,) = json.loads(chart_data(page, "Softmax weights (head 1)"))  # the heatmap's z, as the figure sent it
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT_DIR / "self-attention-trained.png", full_page=True)

    # The library, on the downloaded model: the same layer (the first call) on held-out example 1.
    task = ac.make_task(SETTINGS["name"], length=SETTINGS["length"])
    model = ac.load_keras_model(model_file.read_bytes())
    run = ac.Run(task, mechanism="transformer", units=SETTINGS["units"], num_layers=SETTINGS["num_layers"],
                 num_heads=SETTINGS["num_heads"], model=model)
    source = task.unpadded(task.heldout_sources[0])
    trace = ac.trace_attention_call(model, run.model_inputs(source), 0)
    np.testing.assert_allclose(decode(shown), trace.weights[0], rtol=0, atol=1e-6)

    # Compare, in the same session: the multi-head map is the layer's heads' mean.
    page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]', has_text="Compare mechanisms").click()
    page.locator(PLOT).first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    wait_idle(page, FIRST_RUN_TIMEOUT)
    page.locator('[data-testid="stSidebar"] [data-testid="stRadio"]').get_by_text("Train and watch").click()
    expect(page.get_by_text("The multi-head map is the trained layer's own", exact=False)).to_be_visible(
        timeout=FIRST_RUN_TIMEOUT)
    wait_idle(page, FIRST_RUN_TIMEOUT)
    assert page.locator(EXCEPTION).count() == 0
    (shown,) = json.loads(chart_data(page, "multi-head"))
    np.testing.assert_allclose(decode(shown), trace.weights.mean(axis=0), rtol=0, atol=1e-6)
    page.screenshot(path=SCREENSHOT_DIR / "compare-trained.png", full_page=True)
