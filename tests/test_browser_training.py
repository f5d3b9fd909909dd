"""Train and watch in a real browser: press Play (the defaults, 3 epochs), see the alignment heatmap
change while the model trains, while a second tab's self-attention page keeps answering.

Uses the session's one server and Chromium, and the helpers, of tests/support/browser.py
(Debian's Chromium at /usr/bin/chromium; these tests fail, never skip, without it). The finished
page's screenshot goes to tests/artifacts/screenshots/train-and-watch.png, and its learned and
ideal alignments to train-and-watch-alignment.png (or $SCREENSHOT_DIR).
"""

import time

from playwright.sync_api import expect
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from tests.support.browser import (
    EXCEPTION,
    FIRST_RUN_TIMEOUT,
    HEIGHT,
    MAX_SCREENSHOT_HEIGHT,
    PLOT,
    RERUN_TIMEOUT,
    SCREENSHOT_DIR,
    WIDTH,
    chart_data,
    expect_rerun,
    finished_status,
    new_page,
    open_page,
    press_on_slider,
    wait_chart_changed,
    wait_chart_data,
    wait_idle,
)

LEARNED = "Learned alignment"
PROGRESS = '[data-testid="stProgress"]'
TRAINING_TIMEOUT = 180_000  # ms: 3 epochs of the defaults take ~10 s alone, longer beside other work


def test_play_shows_the_alignment_forming_while_another_tab_stays_responsive(page, server, browser):
    page.goto(f"{server}/train-and-watch?tw_epochs=3")  # the defaults but 3 epochs, not 4
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    wait_idle(page, FIRST_RUN_TIMEOUT)
    expect(page.get_by_text("Press Play to train", exact=False)).to_be_visible()

    page.get_by_role("button", name="Play").click()
    frames = [wait_chart_data(page, LEARNED, timeout=FIRST_RUN_TIMEOUT)]
    for _ in range(2):  # the heatmap is redrawn with new weights as the model trains
        frames.append(wait_chart_data(page, LEARNED, frames[-1], timeout=RERUN_TIMEOUT))
    assert len(set(frames)) == 3
    expect(page.locator(PROGRESS)).to_contain_text("Training")

    # Meanwhile another visitor moves a slider on the self-attention page and gets the new map.
    context, other = new_page(browser)
    try:
        open_page(other, server, "self-attention")
        old = chart_data(other, "Softmax weights")
        expect(page.locator(PROGRESS)).to_contain_text("Training")  # the press below happens during training
        started = time.monotonic()
        with expect_rerun(other):
            press_on_slider(other, "Seed (weights and token vectors)")
        wait_chart_changed(other, "Softmax weights", old)
        redraw_seconds = time.monotonic() - started
        assert other.locator(EXCEPTION).count() == 0
    finally:
        context.close()
    assert redraw_seconds < 10, f"the other tab waited {redraw_seconds:.1f} s for its heatmap"

    expect(page.locator(PROGRESS)).to_contain_text("Finished", timeout=TRAINING_TIMEOUT)
    expect(page.get_by_role("heading", name="Replay: how the alignment formed")).to_be_visible()
    wait_idle(page)
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator(PLOT).count() >= 4

    # Scrubbing the replay reruns its own section (a fragment), not Try it's decoding and the rest.
    replayed = chart_data(page, "Alignment at step")
    with expect_rerun(page) as frame:
        page.locator(".st-key-tw_frame input[type=range]").focus()
        page.keyboard.press("ArrowLeft")
    assert finished_status(frame) == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
    wait_chart_changed(page, "Alignment at step", replayed)

    main_height = 'document.querySelector(\'[data-testid="stMain"]\').scrollHeight'
    height = min(max(page.evaluate(main_height), HEIGHT), MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": WIDTH, "height": height})
    wait_idle(page)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT_DIR / "train-and-watch.png", full_page=True)
    # The README's picture: the learned alignment beside the ideal one.
    pair = page.locator('[data-testid="stHorizontalBlock"]').filter(has=page.locator(".st-key-tw_live_learned"))
    pair.screenshot(path=SCREENSHOT_DIR / "train-and-watch-alignment.png")

