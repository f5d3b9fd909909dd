"""Your model in a real browser: a file with a Lambda layer uploaded through the page's file input
is refused with its reason while the page keeps working; the example model uploaded the same way
shows maps whose numbers equal `ac.model_attention`'s, for the default input and a typed one.

Uses the session's one server and Chromium, and the helpers, of tests/support/browser.py
(Debian's Chromium at /usr/bin/chromium; these tests fail, never skip, without it). The page's
screenshot goes to tests/artifacts/screenshots/your-model.png (or $SCREENSHOT_DIR).
"""

import json

import keras
import numpy as np
from playwright.sync_api import expect

import attention_core as ac
from tests.support.browser import (
    ERROR_ALERT,
    EXCEPTION,
    MAX_SCREENSHOT_HEIGHT,
    ROOT,
    SCREENSHOT_DIR,
    WIDTH,
    chart_data,
    expect_rerun,
    open_page,
    wait_chart_changed,
)
from tests.test_pages import decode

EXAMPLE = ROOT / "examples" / "sentiment.keras"
FILE_INPUT = '[data-testid="stFileUploaderDropzoneInput"]'
TEXT_INPUT = '[data-testid="stMain"] [data-testid="stTextInput"] input'


def shown_maps(page, heads):
    """Each head's weights as the page's heatmaps hold them, and the opened head's."""
    maps = [decode(json.loads(chart_data(page, f"#0 self_attention, head {head + 1}"))[0]) for head in range(heads)]
    return maps, decode(json.loads(chart_data(page, "Opened: #0 self_attention, head 1"))[0])


def assert_maps_equal_the_library(page, text):
    model = ac.load_keras_model(EXAMPLE)
    [attention] = ac.model_attention(model, ac.model_inputs_from_text(model, text))
    maps, opened = shown_maps(page, len(attention.weights))
    for shown, expected in zip(maps, attention.weights, strict=True):
        np.testing.assert_allclose(shown, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(opened, attention.weights[0], rtol=0, atol=1e-6)


def test_an_upload_is_refused_or_shown_as_the_library_reads_it(page, server, tmp_path):
    open_page(page, server, "your-model")
    inputs = keras.Input((None,), dtype="int32")
    vectors = keras.layers.Embedding(5, 4)(keras.layers.Lambda(lambda x: x)(inputs))
    hostile = tmp_path / "lambda.keras"
    keras.Model(inputs, keras.layers.MultiHeadAttention(1, 2)(vectors, vectors)).save(hostile)

    with expect_rerun(page):
        page.locator(FILE_INPUT).set_input_files(hostile)
    expect(page.locator(ERROR_ALERT)).to_contain_text("lambda.keras was not opened. The model contains a Lambda layer")
    assert page.locator(EXCEPTION).count() == 0
    assert_maps_equal_the_library(page, "the film was not good")  # the example, still shown

    with expect_rerun(page):
        page.locator(FILE_INPUT).set_input_files(EXAMPLE)
    expect(page.get_by_text("which the Self-attention and Compare pages offer too")).to_be_visible()
    assert page.locator(ERROR_ALERT).count() == 0
    assert_maps_equal_the_library(page, "the film was not good")

    before = chart_data(page, "#0 self_attention, head 2")
    text = page.locator(TEXT_INPUT)
    text.fill("honestly the plot seemed not very clever")
    text.press("Enter")
    wait_chart_changed(page, "#0 self_attention, head 2", before)
    assert_maps_equal_the_library(page, "honestly the plot seemed not very clever")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    height = min(page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight"), MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": WIDTH, "height": height})
    page.screenshot(path=SCREENSHOT_DIR / "your-model.png")


def metric_values(page):
    """{label: value} of every metric on the page, as shown."""
    metrics = page.locator('[data-testid="stMain"] [data-testid="stMetric"]')
    return {metrics.nth(i).locator('[data-testid="stMetricLabel"]').inner_text().strip():
            metrics.nth(i).locator('[data-testid="stMetricValue"]').inner_text().strip()
            for i in range(metrics.count())}


def test_a_click_knocks_a_head_out_and_a_scatter_point_opens_its_head(page, server):
    open_page(page, server, "your-model")
    assert metric_values(page)["Largest change in an output"] == "0"
    pill = page.locator('[data-testid="stMain"] [data-testid="stButtonGroup"] button', has_text="head 2")
    pill.scroll_into_view_if_needed()
    with expect_rerun(page):
        pill.click()
    shown = metric_values(page)
    model = ac.load_keras_model(EXAMPLE)
    inputs = ac.model_inputs_from_text(model, "the film was not good")
    expected = ac.output_change(model, ac.knock_out(model, [("self_attention", 1)]), inputs)
    assert shown["Its prediction with 1 head knocked out"] == expected.prediction_after
    assert shown["Largest change in an output"] == f"{expected.largest_change:.4g}" != "0"
    # A click on the scatter's second point (head 2) opens that head's map large.
    point = page.locator('[data-testid="stMain"] .js-plotly-plot .scatterlayer .points path').nth(1)
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    with expect_rerun(page):  # at the point's place: plotly's drag layer above it takes the click
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    [attention] = ac.model_attention(model, inputs)
    opened = decode(json.loads(chart_data(page, "#0 self_attention, head 2"))[0])
    np.testing.assert_allclose(opened, attention.weights[1], atol=1e-6)
