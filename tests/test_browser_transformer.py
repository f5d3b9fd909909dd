"""Train and watch's Transformer in a real browser: press Play on a small one, open the model view,
and check that every map drawn holds the library's numbers for that run; download the model and
upload it again.

Uses the session's one server and Chromium, and the helpers, of tests/support/browser.py
(Debian's Chromium at /usr/bin/chromium; these tests fail, never skip, without it). The replay's
model view is saved as tests/artifacts/screenshots/train-and-watch-model-view.png (or
$SCREENSHOT_DIR).
"""

import json

import numpy as np
from playwright.sync_api import expect

import attention_core as ac
from attention_core.figures.learning import model_view_maps
from tests.support.browser import (
    EXCEPTION,
    FIRST_RUN_TIMEOUT,
    SCREENSHOT_DIR,
    wait_idle,
)
from tests.test_browser_training import PROGRESS, TRAINING_TIMEOUT
from tests.test_pages import decode

# One epoch of a 1-layer, 2-head, 16-unit Transformer on reverse/4: ~160 batches.
QUERY = "tw_task=reverse&tw_length=4&tw_mechanism=transformer&tw_units=16&tw_layers=1&tw_heads=2&tw_epochs=1"
NAMES = ("encoder_1_self_attention", "decoder_1_self_attention", "decoder_1_cross_attention")

# The z of the one trace of the chart whose title starts with `title`, as JSON, or null.
_Z_JS = """
title => {
    const plot = Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
        .find(el => el.layout && el.layout.title &&
              String(el.layout.title.text ?? el.layout.title).replace(/<[^>]*>/g, '').startsWith(title));
    if (!plot || !plot.data || plot.data.length !== 1) return null;
    return JSON.stringify(plot.data[0].z);
}
"""


def model_view_z(page, title):
    """The tiled z of a model view, decoded as the figure sent it (NaN where it is blank)."""
    shown = page.evaluate(_Z_JS, title)
    assert shown is not None, f"No one-trace chart titled {title!r}"
    return np.asarray(decode(json.loads(shown)), dtype=np.float64)  # a plain array's blanks arrive as null


# The page coordinates of the centre of cell (row, column) of that chart's heatmap.
_CELL_JS = """
([title, row, column]) => {
    const plot = Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
        .find(el => String(el.layout.title.text ?? el.layout.title).replace(/<[^>]*>/g, '').startsWith(title));
    const box = plot.getBoundingClientRect(), x = plot._fullLayout.xaxis, y = plot._fullLayout.yaxis;
    return [box.left + x._offset + x.l2p(column), box.top + y._offset + y.l2p(row)];
}
"""


def hover_text(page, title, row, column):
    """The hover label shown over cell (row, column) of a chart's heatmap ("" if none)."""
    page.mouse.move(*page.evaluate(_CELL_JS, [title, row, column]))
    page.wait_for_timeout(300)
    label = page.locator(".hoverlayer .hovertext")
    return label.first.text_content() if label.count() else ""


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
    z = model_view_z(page, "Model view at step")
    shown = model_view_maps(z, {name: weights.shape for name, weights in maps.items()})
    assert list(shown) == list(NAMES)
    for name, weights in shown.items():
        np.testing.assert_allclose(weights, maps[name], atol=1e-3)  # frames keep float16
    assert np.isfinite(z).sum() == sum(weights.size for weights in maps.values())  # the rest is blank
    # Hover on a weight names its layer, head, query and key; a blank cell has none.
    source_labels, _ = run.token_labels(probe)
    page.locator(".st-key-tw_replay_model_view").scroll_into_view_if_needed()
    text = hover_text(page, "Model view at step", 0, z.shape[1] - 1)  # the encoder's last head, its last key
    assert text == (f"encoder_1_self_attention, query '\u2068{source_labels[0]}\u2069' (#1)head 2, key "
                    f"#{len(source_labels)}: '\u2068{source_labels[-1]}\u2069', weight {z[0, -1]:.4f}")
    gap = len(source_labels)  # the blank row under the encoder's maps
    assert hover_text(page, "Model view at step", gap, 0) == ""
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
    # Typed input is answered by the loaded model (kept for the session, not loaded again).
    box = page.locator(".st-key-tw_loaded_text input")
    box.fill("3120")
    box.press("Enter")
    outputs, _ = run.predict(task.encode("3120"))
    expect(page.get_by_text(f"Output: {task.decode(outputs)} · correct: 0213")).to_be_visible(timeout=FIRST_RUN_TIMEOUT)
    wait_idle(page)
    assert page.locator(EXCEPTION).count() == 0
