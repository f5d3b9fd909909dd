"""One Streamlit server and one headless Chromium for every browser test of a session.

tests/conftest.py registers the fixtures here (`server`, `browser`, `first_visit`, `page`,
`events`). The server (serve.py, as `make run` starts it), the Chromium and the server's first
visit are `Shared`: started by the first test that asks for one, kept for every test after it
that asks too, and stopped after the last test in that row (tests/conftest.py orders the browser
modules, then the container test, one after the other, and so one server and one Chromium serve
them all). A test that needs a server with another environment starts its own.

Debian's Chromium at /usr/bin/chromium is driven by Playwright (`playwright install` is never
used). Without it the browser tests fail, saying `apt-get install -y chromium`: they never skip.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import weakref
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect, sync_playwright
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[2]
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
# Each open page's requests that failed, and its static files that did not answer 2xx.
_FAILED_REQUESTS = weakref.WeakKeyDictionary()
# What Streamlit's front end shows when it could not load one of its own script chunks.
CHUNK_LOAD_ERROR = "Failed to fetch dynamically imported module"


# --------------------------------------------------------------------------- server and browser


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_text():
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
        port = free_port()
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
        if "is not available" not in log_text():
            break
    pytest.fail(
        f"Streamlit did not answer http://127.0.0.1:{port}/_stcore/health within "
        f"{SERVER_START_TIMEOUT} s (exit code {process.returncode}). Server log:\n{log_text()}",
        pytrace=False,
    )


class Shared:
    """One thing for many tests, started by the first test that asks for it and stopped (by
    tests/conftest.py) after the last test in a row that uses it: `start` is a context manager
    function. A stop that fails raises from `stop`."""

    def __init__(self, start):
        self._start, self._stack, self._value = start, None, None

    def get(self, *args):
        if self._stack is None:
            with contextlib.ExitStack() as stack:
                self._value = stack.enter_context(self._start(*args))
                self._stack = stack.pop_all()
        return self._value

    @property
    def running(self):
        return self._stack is not None

    def stop(self):
        if self._stack is not None:
            stack, self._stack, self._value = self._stack, None, None
            stack.close()


@contextmanager
def _serving():
    """Base URL of the app, served by serve.py as `make run` serves it; once stopped, its log must
    hold no traceback (each test is blamed for its own: tests/conftest.py's no_server_traceback)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    process, port = _start_server()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)
    if "Traceback" in log_text():
        pytest.fail(f"The Streamlit server logged a traceback ({SERVER_LOG}):\n{log_text()}", pytrace=False)


@contextmanager
def no_new_traceback():
    """Fail if the server log gains a traceback inside the block."""
    start = len(log_text())
    yield
    new = log_text()[start:]
    assert "Traceback" not in new, f"The server logged a traceback during this test:\n{new}"


def missing_chromium_message():
    return (f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. Install it with "
            "`apt-get install -y chromium` (as root), or run `make test`, which installs it.")


@contextmanager
def _chromium():
    """A headless Chromium; fails (never skips) when it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(missing_chromium_message(), pytrace=False)
    # Playwright's sync API runs an event loop in this thread until it stops, so the Chromium is
    # stopped as soon as no test needs it: asyncio.run() in a later test would fail meanwhile.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.on("websocket", lambda socket: _SOCKETS.__setitem__(page, socket))
    failed = _FAILED_REQUESTS[page] = []
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 300 and "/static/" in response.url
            and failed.append(f"{response.url}: HTTP {response.status}"))
    page.set_default_timeout(RERUN_TIMEOUT)
    return context, page


@contextmanager
def _first_visit(server, browser):
    """The Streamlit dialogs (e.g. "Page not found") that the fresh server's first visitor saw.

    That visitor follows a shared link to a page other than home. Every other test opens its
    pages after this visit (the `page` fixture asks for it), so what only a server's first
    session shows is checked once, here.
    """
    context, page = new_page(browser)
    try:
        before_reload = _load_until_first_chart(page, f"{server}/self-attention")
        visit = {
            "title": page.locator('[data-testid="stMain"] h1').first.inner_text(),
            "dialogs": before_reload + [dialog.inner_text() for dialog in page.locator(STREAMLIT_DIALOG).all()],
        }
    finally:
        context.close()
    yield visit


# What the fixtures below hand out, shared by every test in a row that asks for them: one
# server and one Chromium for all the browser tests (and the container test's Chromium).
SERVER = Shared(_serving)
CHROMIUM_BROWSER = Shared(_chromium)
FIRST_VISIT = Shared(_first_visit)  # stopped with the server: it is that server's first visit
SHARED = {"server": SERVER, "browser": CHROMIUM_BROWSER, "first_visit": FIRST_VISIT}


def stop_shared(item, nextitem):
    """After `item`, stop what it used and `nextitem` (None: the session's last) does not use."""
    for name, shared in SHARED.items():
        if shared.running and name in item.fixturenames and (nextitem is None or name not in nextitem.fixturenames):
            if shared is SERVER:
                FIRST_VISIT.stop()
            shared.stop()


def stop_all_shared():
    FIRST_VISIT.stop()
    for shared in SHARED.values():
        shared.stop()


@pytest.fixture
def server():
    """Base URL of the session's one Streamlit server."""
    return SERVER.get()


@pytest.fixture
def browser():
    """The session's one headless Chromium."""
    return CHROMIUM_BROWSER.get()


@pytest.fixture
def first_visit(server, browser):
    return FIRST_VISIT.get(server, browser)


@pytest.fixture
def events():
    """What the page did that it never should: JavaScript dialogs and uncaught errors."""
    return {"dialogs": [], "errors": []}


@pytest.fixture
def page(browser, events, first_visit):
    """A fresh browser context's page (its own Streamlit session) on the shared server."""
    context, page = new_page(browser)

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


# What a page shows when its first chart never appears: the app's states and every chart's.
PAGE_STATE_JS = """
() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const charts = Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stPlotlyChart"]'));
    return {
        connection: app && app.getAttribute('data-test-connection-state'),
        script: app && app.getAttribute('data-test-script-state'),
        charts: charts.map(c => ({plot: !!c.querySelector('.js-plotly-plot'), width: c.getBoundingClientRect().width,
                                  visibility: c.querySelector('.js-plotly-plot') &&
                                              getComputedStyle(c.querySelector('.js-plotly-plot')).visibility})),
        text: (document.querySelector('[data-testid="stMain"]') || document.body).innerText.slice(0, 600),
    };
}
"""


def _load_until_first_chart(page, url):
    """Open `url` and wait for its title, its first chart and the end of its run; returns the
    texts of Streamlit's dialogs seen before a reload (see below), else [].

    Streamlit's front end never retries a script chunk it failed to fetch, and Chromium fails the
    requests in flight when a network interface appears (net::ERR_NETWORK_CHANGED), as when the
    Docker engine the container test starts creates its bridge; a reload, said out loud, fetches
    the chunk again. When the chart never shows, the failure says what
    the page showed, with a screenshot in tests/artifacts."""
    page.goto(url)
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=FIRST_RUN_TIMEOUT)
    chart, chunk_error = page.locator(PLOT).first, page.get_by_text(CHUNK_LOAD_ERROR).first
    chart.or_(chunk_error).wait_for(timeout=FIRST_RUN_TIMEOUT)
    dialogs = []
    if not chart.is_visible() and chunk_error.is_visible():
        dialogs = [dialog.inner_text() for dialog in page.locator(STREAMLIT_DIALOG).all()]
        warnings.warn(f"{url}: {CHUNK_LOAD_ERROR}, reloaded once; failed requests: "
                      f"{_FAILED_REQUESTS.get(page)}", stacklevel=3)
        page.reload()
    try:
        chart.wait_for(timeout=FIRST_RUN_TIMEOUT)
    except PlaywrightTimeoutError:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"no-chart-{urllib.parse.quote(url, safe='')[-60:]}.png")
        pytest.fail(f"No chart on {page.url} within {FIRST_RUN_TIMEOUT} ms; the page: "
                    f"{json.dumps(page.evaluate(PAGE_STATE_JS))}; failed requests: {_FAILED_REQUESTS.get(page)}; "
                    f"server log:\n{log_text()[-3000:]}")
    wait_idle(page, FIRST_RUN_TIMEOUT)
    return dialogs


def open_page(page, base_url, path, query=""):
    """Open a page and wait for its main content, its first chart and the end of its run. When
    the chart never appears, the failure says what the page showed (and saves a screenshot)."""
    _load_until_first_chart(page, f"{base_url}/{path}{'?' + query if query else ''}")
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    assert page.locator(STREAMLIT_DIALOG).count() == 0, page.locator(STREAMLIT_DIALOG).first.inner_text()


# The data of the plotly chart whose title starts with `title` (tags stripped), as JSON, or null.
CHART_DATA_JS = """
title => {
    const plot = Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
        .find(el => el.layout && el.layout.title &&
              String(el.layout.title.text ?? el.layout.title).replace(/<[^>]*>/g, '').startsWith(title));
    return plot && plot.data ? JSON.stringify(plot.data.map(trace => trace.z ?? trace.y ?? null)) : null;
}
"""


def chart_data(page, title):
    data = page.evaluate(CHART_DATA_JS, title)
    assert data is not None, f"No chart titled {title!r} on {page.url}"
    return data


def wait_chart_data(page, title, old=None, timeout=None):
    """Wait until the chart titled `title` is drawn with data other than `old`; returns that data.

    The data is the one the wait saw: read again afterwards, a chart that a training page
    redraws may be between two renders and not found."""
    handle = page.wait_for_function(
        f"([title, old]) => {{ const data = ({CHART_DATA_JS})(title); return data !== null && data !== old ? data : null; }}",
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

