"""The real app in a real browser: one Streamlit server, one headless Chromium, every page.

What AppTest cannot see is checked here: the pages render in Chromium without an exception
element, keyboard moves on sidebar sliders re-render the charts and land in the URL, a URL with
query parameters restores the view, and typed HTML stays text. Screenshots of every page go to
tests/artifacts/screenshots/ (or $SCREENSHOT_DIR; `make screenshots` writes docs/screenshots/).

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install -y chromium`; `make test`
installs it). Without it these tests fail, they never skip.
"""

import json
import re
import urllib.parse

import pytest
from playwright.sync_api import expect
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from tests.support.browser import (
    CHART_DATA_JS,
    ERROR_ALERT,
    EXCEPTION,
    FIRST_RUN_TIMEOUT,
    HEIGHT,
    MAX_SCREENSHOT_HEIGHT,
    PLOT,
    SCREENSHOT_DIR,
    STREAMLIT_DIALOG,
    WIDTH,
    chart_data,
    expect_rerun,
    finished_status,
    log_text,
    open_page,
    press_on_slider,
    sidebar_slider,
    submit_text_area,
    wait_chart_changed,
    wait_idle,
)

# Screenshot name -> URL path (app.py's url_path values; "" is the home page), with a view.
PAGES = {
    "home": "",
    "dot-product": "dot-product",
    "dense-layers": "dense-layers",
    "self-attention": "self-attention",
    "self-attention-one-token": "self-attention?sa_view=One+token",
    "additive-attention": "additive-attention",
    "compare": "compare",
}


# --------------------------------------------------------------------------- tests


def test_server_starts_with_a_clean_terminal(server):
    # Before its first visitor, `make run` prints Streamlit's banner and nothing else: no
    # TensorFlow or Keras logs, no warnings.
    start_up = log_text().split("You can now view")[0]
    noise = [line for line in start_up.splitlines() if line.strip() and "Uvicorn server started" not in line]
    assert noise == [], f"The server printed at start-up:\n{start_up}"


def test_first_visit_by_a_shared_link_shows_the_page_without_a_dialog(first_visit):
    assert first_visit["title"].startswith("Self-attention")
    assert first_visit["dialogs"] == []


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_without_exception(page, server, name):
    open_page(page, server, PAGES[name])
    expect(page.locator(PLOT).first).to_be_visible()
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator(ERROR_ALERT).count() == 0, page.locator(ERROR_ALERT).first.inner_text()

    # Streamlit scrolls inside its main container, so the window grows to the content's height
    # (same width: the charts keep their layout) and the screenshot shows the whole page.
    main_height = 'document.querySelector(\'[data-testid="stMain"]\').scrollHeight'
    height = min(max(page.evaluate(main_height), HEIGHT), MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": WIDTH, "height": height})
    page.wait_for_function(f"Math.min({main_height}, {MAX_SCREENSHOT_HEIGHT}) <= window.innerHeight")
    wait_idle(page)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT_DIR / f"{name}.png", full_page=True)


# (page, slider label, query parameter, title of a chart the slider changes)
SLIDER_MOVES = [
    ("self-attention", "Units (width of Q, K, V)", "sa_units", "Softmax weights"),
    ("additive-attention", "Units (RNN and attention)", "rnn_units", "Hidden states h_t"),
    ("dense-layers", "Units in dense layer 1", "dense_units_1", "W1 = "),
    ("compare", "Units", "cmp_units", "dot-product"),
]


@pytest.mark.parametrize(("path", "label", "param", "chart"), SLIDER_MOVES, ids=[m[0] for m in SLIDER_MOVES])
def test_keyboard_on_sidebar_slider_rerenders_chart_and_url(page, server, path, label, param, chart):
    open_page(page, server, path)
    old = chart_data(page, chart)
    with expect_rerun(page) as frame:
        _, value = press_on_slider(page, label)
    assert finished_status(frame) == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY  # the page's fragment only
    wait_chart_changed(page, chart, old)
    assert chart_data(page, chart) != old
    expect(page).to_have_url(re.compile(rf"[?&]{param}={value}(&|$)"))
    assert page.locator(EXCEPTION).count() == 0


def test_slider_reruns_only_the_fragment_and_reset_restores_the_page(page, server):
    open_page(page, server, "self-attention")
    first = chart_data(page, "Softmax weights")
    with expect_rerun(page) as frame:
        press_on_slider(page, "Seed (weights and token vectors)")
    # Only the page's fragment ran: the navigation and introduction were neither rerun nor redrawn.
    assert finished_status(frame) == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
    wait_chart_changed(page, "Softmax weights", first)
    expect(page).to_have_url(re.compile(r"[?&]sa_seed=1(&|$)"))

    with expect_rerun(page):
        page.get_by_role("button", name="Reset to defaults").click()
    expect(sidebar_slider(page, "Seed (weights and token vectors)")).to_have_value("0")
    expect(page).not_to_have_url(re.compile(r"sa_seed="))
    page.wait_for_function(f"first => ({CHART_DATA_JS})('Softmax weights') === first", arg=first)
    assert page.locator(EXCEPTION).count() == 0


def test_url_query_params_restore_the_view(page, server):
    open_page(page, server, "self-attention", "sa_units=16&sa_heads=4&sa_seed=7&sa_view=Every+head")
    expect(sidebar_slider(page, "Units (width of Q, K, V)")).to_have_value("16")
    expect(sidebar_slider(page, "Heads")).to_have_attribute("aria-valuetext", "4")
    expect(sidebar_slider(page, "Seed (weights and token vectors)")).to_have_value("7")
    expect(page.get_by_text("Q, K, V of 16 units → 4 heads of 4 columns", exact=False)).to_be_visible()
    chart_data(page, "Head 4")  # the view from the URL is open: the fourth head's heatmap is drawn (heads count from 1)


def test_typed_html_stays_text(page, server, events):
    open_page(page, server, "self-attention")
    old = chart_data(page, "Softmax weights")
    with expect_rerun(page):
        submit_text_area(page, "<script>alert(1)</script>")
    wait_chart_changed(page, "Softmax weights", old)
    expect(page).to_have_url(re.compile(r"sa_text=%3Cscript%3Ealert%281%29%3C%2Fscript%3E"))

    labels = page.evaluate(
        """Array.from(Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
            .find(el => String(el.layout.title.text).includes('Softmax weights'))
            .querySelectorAll('.ytick text')).map(tick => tick.textContent)"""
    )
    assert labels == ["<", "script", ">", "alert", "(", "1", ")", "<", "/", "script", ">"]
    assert page.locator('[data-testid="stMain"] script').count() == 0
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator(ERROR_ALERT).count() == 0
    assert events["dialogs"] == []


def test_empty_text_shows_error_and_sidebar_still_works(page, server, events):
    open_page(page, server, "self-attention")
    with expect_rerun(page):
        submit_text_area(page, "")
    error = page.locator(ERROR_ALERT)
    expect(error).to_contain_text("The text is empty")
    expect(page.locator(PLOT)).to_have_count(0)
    assert page.locator(EXCEPTION).count() == 0

    # The sidebar still reruns the page: the seed moves, the URL follows, the error stays.
    with expect_rerun(page):
        _, seed = press_on_slider(page, "Seed (weights and token vectors)")
    expect(page).to_have_url(re.compile(rf"[?&]sa_seed={seed}(&|$)"))
    expect(error).to_contain_text("The text is empty")
    assert page.locator(EXCEPTION).count() == 0

    # And a sentence typed again brings the charts back.
    with expect_rerun(page):
        submit_text_area(page, "Attention is all you need.")
    expect(error).to_have_count(0)
    expect(page.get_by_text("6 tokens → vectors of 16 features", exact=False)).to_be_visible()
    assert json.loads(chart_data(page, "Softmax weights"))
    assert events["dialogs"] == []


# The plot area (plotly's drag layer, `.nsewdrag`) of the chart titled `title`: {width, height} in px.
_PLOT_AREA_JS = """
title => {
    const plot = Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
        .find(el => String(el.layout.title.text).replace(/<[^>]*>/g, '').startsWith(title));
    const rect = plot.querySelector('.nsewdrag').getBoundingClientRect();
    return {width: rect.width, height: rect.height};
}
"""
LONG_WORD = "Pneumonoultramicroscopic" * 209  # 5,016 characters, one token


# (page, the text's query parameter, extra query, title of the chart measured)
LONG_LABEL_CHARTS = [
    ("self-attention", "sa_text", "", "Softmax weights"),
    ("self-attention", "sa_text", "&sa_view=One+token&sa_token=1", "How much #2 attends"),
    ("compare", "cmp_text", "", "dot-product"),
]


@pytest.mark.parametrize(("path", "param", "extra", "title"), LONG_LABEL_CHARTS,
                         ids=["weights map", "bar chart", "compare map"])
def test_a_5000_character_token_leaves_the_plot_area_as_tall(page, server, path, param, extra, title):
    areas = {}
    for name, word in (("short", "dog"), ("long", LONG_WORD)):
        open_page(page, server, path, f"{param}=The+{word}+sat+down.{extra}")
        areas[name] = page.evaluate(_PLOT_AREA_JS, title)
    assert areas["long"]["height"] >= areas["short"]["height"] > 150, areas
    assert areas["long"]["width"] >= 0.75 * areas["short"]["width"], areas
    # The tick shows the token cut short; the whole token is the axis category hover names.
    ticks = page.evaluate(
        """title => Array.from(Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
            .find(el => String(el.layout.title.text).startsWith(title)).querySelectorAll('.xtick text'))
            .map(tick => tick.textContent)""", title)
    assert "Pneumonoultra…" in ticks and max(map(len, ticks)) <= 14, ticks


def test_a_map_drawn_as_an_image_fills_its_frame(page, server):
    """Over 256² cells a map is a PNG image: stretched over the whole frame inside the margins, as
    a heatmap is, not a small square (plotly keeps an image's pixels square unless told not to)."""
    open_page(page, server, "self-attention", "sa_text=" + "+".join(f"w{i}" for i in range(300)))
    rects = page.evaluate(
        """() => {
            const plot = Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
                .find(el => String(el.layout.title.text).startsWith('Softmax weights'));
            const size = el => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
            const full = plot._fullLayout, margin = full.margin;
            return {frame: [full.width - margin.l - margin.r, full.height - margin.t - margin.b],
                    area: size(plot.querySelector('.nsewdrag')), image: size(plot.querySelector('.imagelayer image'))};
        }"""
    )
    assert rects["frame"][0] > 300 and rects["frame"][1] > 300, rects
    # The plot area is the frame less the colour bar at its right (its 16 px bar and tick labels).
    assert rects["area"][1] == pytest.approx(rects["frame"][1], abs=2), rects
    assert rects["frame"][0] - 80 <= rects["area"][0] <= rects["frame"][0], rects
    assert rects["image"] == pytest.approx(rects["area"], abs=2), rects


# Addresses that are no page (issue 11, finding 6): a nested one used to load index.html with
# its scripts at relative paths that resolved to index.html again, a blank white page.
@pytest.mark.parametrize("address", ["self-attention/extra", "nope", "a/b/c?x=1"])
def test_an_unknown_address_shows_page_not_found_with_a_link_to_every_page(page, server, address):
    page.goto(f"{server}/{address}")
    title = page.locator('[data-testid="stMain"] h1').first
    title.wait_for(timeout=FIRST_RUN_TIMEOUT)
    wait_idle(page, FIRST_RUN_TIMEOUT)
    assert title.inner_text() == "Page not found"
    assert page.locator('[data-testid="stMain"] [data-testid="stCode"]').inner_text().strip() == f"/{address}"
    links = page.locator('[data-testid="stMain"] a[data-testid="stPageLink-NavLink"]')
    hrefs = {urllib.parse.urlsplit(link.get_attribute("href")).path.strip("/") for link in links.all()}
    assert hrefs == {path.split("?")[0] for path in PAGES.values()} | {"train-and-watch", "your-model"}
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator(STREAMLIT_DIALOG).count() == 0, page.locator(STREAMLIT_DIALOG).first.inner_text()


def test_a_link_value_the_page_did_not_take_shows_a_note(page, server):
    open_page(page, server, "dense-layers", "dense_units_1=99&dense_activation=%3Cb%3Etanh%3C%2Fb%3E")
    notes = page.locator('[data-testid="stMain"] [data-testid="stAlert"]').all_inner_texts()
    assert [note.split("\n")[-1] for note in notes] == [
        "The link's value '99' for dense_units_1 was not allowed here; using '3'.",
        "The link's value '<b>tanh</b>' for dense_activation was not allowed here; using 'relu'.",
    ]
    assert "dense_units_1" not in page.url  # Streamlit dropped the value; the note says so
