"""Train and watch's Transformer in a real browser: press Play on a small one, open the model view,
and check that every map drawn holds the library's numbers for that run; download the model and
upload it again.

Uses tests/test_browser.py's server, Chromium and helpers (Debian's Chromium at
/usr/bin/chromium; these tests fail, never skip, without it). The replay's model view is saved as
tests/artifacts/screenshots/train-and-watch-model-view.png (or $SCREENSHOT_DIR).
"""

import json

import numpy as np
from playwright.sync_api import expect

import attention_core as ac
from tests.test_browser import (  # noqa: F401 (fixtures are used by name)
    EXCEPTION,
    FIRST_RUN_TIMEOUT,
    SCREENSHOT_DIR,
    browser,
    events,
    first_visit,
    no_traceback_during_test,
    page,
    server,
    wait_idle,
)
from tests.test_browser_training import PROGRESS, TRAINING_TIMEOUT
from tests.test_pages import decode

# One epoch of a 1-layer, 2-head, 16-unit Transformer on reverse/4: ~160 batches.
QUERY = "tw_task=reverse&tw_length=4&tw_mechanism=transformer&tw_units=16&tw_layers=1&tw_heads=2&tw_epochs=1"
NAMES = ("encoder_1_self_attention", "decoder_1_self_attention", "decoder_1_cross_attention")

# [[trace name, z], ...] as JSON of the chart whose title starts with `title`, or null.
_TRACES_JS = """
title => {
    const plot = Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
        .find(el => el.layout && el.layout.title &&
              String(el.layout.title.text ?? el.layout.title).replace(/<[^>]*>/g, '').startsWith(title));
    if (!plot || !plot.data) return null;
    return JSON.stringify(plot.data.map(trace => [trace.name, trace.z]));
}
"""


def traces(page, title):
    """{trace name: z} of a chart, decoded as the figure sent it."""
    shown = page.evaluate(_TRACES_JS, title)
    assert shown is not None, f"No chart titled {title!r}"
    return {name: decode(z) for name, z in json.loads(shown)}


def test_a_transformer_trains_and_its_model_view_shows_the_librarys_maps(page, server, tmp_path):
    page.goto(f"{server}/train-and-watch?{QUERY}")
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    wait_idle(page, FIRST_RUN_TIMEOUT)
    page.get_by_role("button", name="Play").click()
    page.get_by_text("Model view, step", exact=False).first.wait_for(timeout=FIRST_RUN_TIMEOUT)  # live, while training
    expect(page.locator(PROGRESS)).to_contain_text("Finished", timeout=TRAINING_TIMEOUT)
    expect(page.get_by_role("heading", name="Replay: how the alignment formed")).to_be_visible()
    wait_idle(page)
    assert page.locator(EXCEPTION).count() == 0

    # The download is the run's model: its maps for the probe are the replay's last frame's.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the trained model (.keras)").click()
    path = tmp_path / "transformer.keras"
    download.value.save_as(path)
    task = ac.make_task("reverse", length=4)
    run = ac.Run.load(task, path.read_bytes())
    probe = run.probe_source
    maps = run.attention(probe)
    shown = traces(page, "Model view at step")
    assert sorted(shown) == sorted(f"{name}, head {h}" for name in NAMES for h in (1, 2))
    for trace_name, z in shown.items():
        name, head = trace_name.split(", head ")
        np.testing.assert_allclose(z, maps[name][int(head) - 1], atol=1e-3)  # frames keep float16
    # The alignment is the head the caption names.
    choice = page.get_by_text("The alignment at this step is", exact=False).inner_text()
    layer, head = choice.removeprefix("The alignment at this step is ").rstrip(".").split(", head ")
    _, alignment = run.predict(probe)
    np.testing.assert_allclose(maps[layer][int(head) - 1], alignment, atol=1e-6)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.locator(".st-key-tw_replay_model_view").screenshot(path=SCREENSHOT_DIR / "train-and-watch-model-view.png")

    # The same file uploaded again loads as this run's Transformer.
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(path)
    expect(page.get_by_text("Loaded: transformer attention, 16 units, 1 layer of 2 heads")).to_be_visible(
        timeout=FIRST_RUN_TIMEOUT)
    wait_idle(page)
    assert page.locator(EXCEPTION).count() == 0
