"""The real app in a real browser: one Streamlit server, one headless Chromium, every page.

What AppTest cannot see is checked here: the pages render in Chromium without an exception
element, keyboard moves on sidebar sliders re-render the charts and land in the URL, a URL with
query parameters restores the view, and typed HTML stays text. Screenshots of every page go to
tests/artifacts/screenshots/ (or $SCREENSHOT_DIR; `make screenshots` writes docs/screenshots/).

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install -y chromium`; `make test`
installs it). Without it these tests fail, they never skip.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
SERVER_LOG = ARTIFACTS / "streamlit-server.log"
SCREENSHOT_DIR = ROOT / os.environ.get("SCREENSHOT_DIR", "tests/artifacts/screenshots")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WIDTH, HEIGHT = 1400, 1000
# A screenshot is as tall as the page's content, up to this many pixels.
MAX_SCREENSHOT_HEIGHT = 9000

SERVER_START_TIMEOUT = 60  # seconds until /_stcore/health answers
FIRST_RUN_TIMEOUT = 90_000  # ms; a page's first run imports TensorFlow and builds layers
RERUN_TIMEOUT = 30_000  # ms for a rerun after an interaction

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

EXCEPTION = '[data-testid="stException"]'
ERROR_ALERT = '[data-testid="stAlert"]:has([data-testid="stAlertContentError"])'
IDLE_APP = (
    '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
    '[data-test-script-state="notRunning"]'
)
PLOT = '[data-testid="stMain"] .js-plotly-plot'
# Streamlit's modal dialogs ("Page not found", "Connection error", ...); the app opens none.
STREAMLIT_DIALOG = '[role="dialog"]'

# Each open page's websocket to the server, whose frames tell when a script run has ended.
_SOCKETS = weakref.WeakKeyDictionary()


# --------------------------------------------------------------------------- server and browser


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_text():
    return SERVER_LOG.read_text(errors="replace") if SERVER_LOG.exists() else ""


def _stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _start_server():
    """(process, port) of a Streamlit server answering its health check; fails with its log."""
    # The environment `make run` gives: attention_core itself sets TensorFlow's (quiet logs,
    # oneDNN off), so none of the TF_ variables this process holds are passed on.
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_")}
    for _attempt in range(3):  # another process may grab the free port before Streamlit does
        port = _free_port()
        with SERVER_LOG.open("w") as log:
            process = subprocess.Popen(
                # serve.py, as `make run` and the container start the app.
                [sys.executable, "serve.py", "--server.port", str(port), "--server.address", "127.0.0.1"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        return process, port
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)  # polling interval of the health check, not a synchronization
        _stop(process)
        if "is not available" not in _log_text():
            break
    pytest.fail(
        f"Streamlit did not answer http://127.0.0.1:{port}/_stcore/health within "
        f"{SERVER_START_TIMEOUT} s (exit code {process.returncode}). Server log:\n{_log_text()}",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def server():
    """Base URL of the app, served for the whole module; its log must hold no traceback."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    process, port = _start_server()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)
    if "Traceback" in _log_text():
        pytest.fail(f"The Streamlit server logged a traceback ({SERVER_LOG}):\n{_log_text()}", pytrace=False)


@pytest.fixture(autouse=True)
def no_traceback_during_test(server):
    """Blame a traceback in the server log on the test during which it appeared."""
    start = len(_log_text())
    yield
    new = _log_text()[start:]
    assert "Traceback" not in new, f"The server logged a traceback during this test:\n{new}"


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. Install it with "
            "`apt-get install -y chromium` (as root), or run `make test`, which installs it.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _new_page(browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.on("websocket", lambda socket: _SOCKETS.__setitem__(page, socket))
    page.set_default_timeout(RERUN_TIMEOUT)
    return context, page


@pytest.fixture(scope="module")
def first_visit(server, browser):
    """The Streamlit dialogs (e.g. "Page not found") that the fresh server's first visitor saw.

    That visitor follows a shared link to a page other than home. Every other test opens its
    pages after this visit, so what only a server's first session shows is checked once, here.
    """
    context, page = _new_page(browser)
    try:
        page.goto(f"{server}/self-attention")
        page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=FIRST_RUN_TIMEOUT)
        page.locator(PLOT).first.wait_for(timeout=FIRST_RUN_TIMEOUT)
        wait_idle(page, FIRST_RUN_TIMEOUT)
        return {
            "title": page.locator('[data-testid="stMain"] h1').first.inner_text(),
            "dialogs": [dialog.inner_text() for dialog in page.locator(STREAMLIT_DIALOG).all()],
        }
    finally:
        context.close()


@pytest.fixture
def events():
    """What the page did that it never should: JavaScript dialogs and uncaught errors."""
    return {"dialogs": [], "errors": []}


@pytest.fixture
def page(browser, events, first_visit):
    context, page = _new_page(browser)

    def on_dialog(dialog):
        events["dialogs"].append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: events["errors"].append(str(error)))
    yield page
    context.close()
    assert events["dialogs"] == [], f"The page opened JavaScript dialogs: {events['dialogs']}"
    assert events["errors"] == [], f"Uncaught JavaScript errors: {events['errors']}"


# --------------------------------------------------------------------------- helpers


def wait_idle(page, timeout=RERUN_TIMEOUT):
    """Wait until the app is connected and its script has finished running."""
    page.locator(IDLE_APP).wait_for(state="attached", timeout=timeout)


def _is_full_run_end(payload):
    """Whether a websocket frame from the server ends a script run (not one cut short by a rerun)."""
    if isinstance(payload, str):
        return False
    message = ForwardMsg()
    message.ParseFromString(payload)
    return (message.WhichOneof("type") == "script_finished"
            and message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN)


@contextmanager
def expect_rerun(page):
    """Around an input: wait until the script run it causes has ended and the app is idle.

    Yields the frame info whose `.value` is the ForwardMsg's script_finished status once done.
    """
    with _SOCKETS[page].expect_event("framereceived", predicate=_is_full_run_end, timeout=RERUN_TIMEOUT) as frame:
        yield frame
    wait_idle(page)


def finished_status(frame):
    """The script_finished status of the websocket frame `expect_rerun` waited for."""
    message = ForwardMsg()
    message.ParseFromString(frame.value)
    return message.script_finished


def open_page(page, base_url, path, query=""):
    """Open a page and wait for its main content, its first chart and the end of its run."""
    page.goto(f"{base_url}/{path}{'?' + query if query else ''}")
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    page.locator(PLOT).first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    wait_idle(page, FIRST_RUN_TIMEOUT)
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    assert page.locator(STREAMLIT_DIALOG).count() == 0, page.locator(STREAMLIT_DIALOG).first.inner_text()


# The data of the plotly chart whose title starts with `title` (tags stripped), as JSON, or null.
_CHART_DATA_JS = """
title => {
    const plot = Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
        .find(el => el.layout && el.layout.title &&
              String(el.layout.title.text ?? el.layout.title).replace(/<[^>]*>/g, '').startsWith(title));
    return plot && plot.data ? JSON.stringify(plot.data.map(trace => trace.z ?? trace.y ?? null)) : null;
}
"""


def chart_data(page, title):
    data = page.evaluate(_CHART_DATA_JS, title)
    assert data is not None, f"No chart titled {title!r} on {page.url}"
    return data


def wait_chart_data(page, title, old=None, timeout=None):
    """Wait until the chart titled `title` is drawn with data other than `old`; returns that data.

    The data is the one the wait saw: read again afterwards, a chart that a training page
    redraws may be between two renders and not found."""
    handle = page.wait_for_function(
        f"([title, old]) => {{ const data = ({_CHART_DATA_JS})(title); return data !== null && data !== old ? data : null; }}",
        arg=[title, old],
        timeout=timeout,
    )
    return handle.json_value()


def wait_chart_changed(page, title, old):
    wait_chart_data(page, title, old)
    wait_idle(page)


def sidebar_slider(page, label):
    """The keyboard-focusable range input of the sidebar slider named `label`."""
    return page.locator(f'[data-testid="stSidebar"] input[type="range"][aria-label={json.dumps(label)}]')


def press_on_slider(page, label, key="ArrowRight"):
    """Focus a sidebar slider and press `key`; returns its value before and after."""
    slider = sidebar_slider(page, label)
    before = int(slider.input_value())
    slider.focus()
    page.keyboard.press(key)
    after = before + (1 if key == "ArrowRight" else -1)
    expect(slider).to_have_value(str(after))
    return before, after


def submit_text_area(page, text):
    area = page.locator('[data-testid="stMain"] [data-testid="stTextArea"] textarea').first
    area.fill(text)
    area.press("Control+Enter")


# --------------------------------------------------------------------------- tests


def test_server_starts_with_a_clean_terminal(server):
    # Before its first visitor, `make run` prints Streamlit's banner and nothing else: no
    # TensorFlow or Keras logs, no warnings.
    start_up = _log_text().split("You can now view")[0]
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
    page.wait_for_function(f"first => ({_CHART_DATA_JS})('Softmax weights') === first", arg=first)
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
