"""Figures as SVG and PDF files, made on the server by plotly's exporter (kaleido) in a headless
Chromium.

One Chromium serves every session: started by the first export, then kept open so that later
exports skip its start, until IDLE_SECONDS pass without one, since an open Chromium holds memory
a replica's limit must not carry for nothing (bench/DESIGN_CHOICES.md, "Figure downloads").
Exports run one at a time. The Chromium is $BROWSER_PATH, else Debian's /usr/bin/chromium;
kaleido's own Chrome download is never used.

Not `plotly.io.to_image`: it keeps a browser open only through kaleido's sync server, whose
thread dies silently when the browser fails to start, and every later export then waits
forever (kaleido 1.5.1). Here kaleido's `Kaleido` runs on an event loop of our own, so every
call ends, with its error, within CALL_TIMEOUT_SECONDS.
"""

import asyncio
import atexit
import contextlib
import os
import threading
import time

FORMATS = {"svg": "image/svg+xml", "pdf": "application/pdf"}
BROWSER_ENV = "BROWSER_PATH"
DEFAULT_BROWSER = "/usr/bin/chromium"
# The charts fill the page's width on screen, which a file does not have: a column-and-a-half
# of a two-column paper at 96 px an inch. A figure's own layout.width wins.
DEFAULT_WIDTH = 900
DEFAULT_HEIGHT = 450  # plotly.js's own, for a figure without layout.height
RENDER_TIMEOUT_SECONDS = 30  # kaleido's limit on drawing one figure
CALL_TIMEOUT_SECONDS = 60  # ours, on starting or closing the browser too
IDLE_SECONDS = 120  # a user downloading several charts pays Chromium's start once
# Under load, a tab of kaleido 1.5.1 may take a figure before its own script has run
# ("kaleido_scopes is not defined"); kaleido reloads the tab after any error, and asked again a
# moment later it draws the figure.
SCRIPT_ATTEMPTS = 3
SCRIPT_RETRY_SECONDS = 1.0


class FigureExportError(RuntimeError):
    """Why a figure could not be exported, in words a page can show."""


def browser_path():
    """The Chromium that exports use: $BROWSER_PATH, else Debian's /usr/bin/chromium."""
    return os.environ.get(BROWSER_ENV) or DEFAULT_BROWSER


def missing_browser():
    """What is missing for SVG and PDF, as a sentence, or None when a Chromium is there."""
    path = browser_path()
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return None
    return (f"SVG and PDF are made by Chromium, which is not installed at {path}: install it "
            f"(make chromium, or apt-get install chromium) or set {BROWSER_ENV} to a Chromium.")


def last_failure():
    """Why the last export failed, as a sentence, or None when it worked (or none ran yet)."""
    return _EXPORTER.last_failure


def figure_bytes(figure, fmt):
    """`figure` (a plotly Figure) as an SVG or PDF file (`fmt` "svg" or "pdf"), its bytes.

    Drawn at the figure's layout width and height (DEFAULT_WIDTH and DEFAULT_HEIGHT where unset).
    Raises FigureExportError, its message for the page, when no Chromium is found or the export
    fails.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Expected a format in {sorted(FORMATS)}. Received: {fmt!r}")
    if problem := missing_browser():
        raise FigureExportError(problem)
    options = {
        "format": fmt,
        "width": figure.layout.width or DEFAULT_WIDTH,
        "height": figure.layout.height or DEFAULT_HEIGHT,
        "scale": 1,
    }
    return _EXPORTER.export(figure.to_dict(), options)


def close_browser():
    """Close the exports' Chromium, if open; the next export starts another."""
    _EXPORTER.close()


class _Exporter:
    """One kaleido browser on an event loop of its own thread, driven by one caller at a time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loop = None
        self._kaleido = None
        self._exports = 0
        self._idle_timer = None
        self.last_failure = None

    def export(self, figure_dict, options):
        with self._lock:
            try:
                if self._kaleido is None:
                    self._kaleido = self._run(_open_kaleido(browser_path()))
                    # Exit hooks run last-registered first: this one after the browser's temporary
                    # profile's, so the browser closes before its profile is deleted.
                    atexit.unregister(self.close)
                    atexit.register(self.close)
                data = self._draw(figure_dict, options)
            except Exception as error:
                self._close()  # a browser that failed once is started afresh next time
                self.last_failure = (f"The last {options['format'].upper()} export failed, in the Chromium at "
                                     f"{browser_path()}: {_reason(error)}")
                raise FigureExportError(self.last_failure) from error
            self.last_failure = None
            self._close_when_idle()
            return data

    def _draw(self, figure_dict, options):
        """The figure's file from the open browser, asked again when its tab's script had not run."""
        for attempt in range(1, SCRIPT_ATTEMPTS + 1):
            try:
                return self._run(self._kaleido.calc_fig(figure_dict, opts=options))
            except Exception as error:
                if attempt == SCRIPT_ATTEMPTS or "kaleido_scopes is not defined" not in str(error):
                    raise
                time.sleep(SCRIPT_RETRY_SECONDS)

    def _close_when_idle(self):
        """Close the browser IDLE_SECONDS from now, unless another export comes first."""
        self._exports += 1
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = threading.Timer(IDLE_SECONDS, self._close_if_unused, args=(self._exports,))
        self._idle_timer.daemon = True
        self._idle_timer.start()

    def _close_if_unused(self, exports):
        with self._lock:
            if exports == self._exports:  # else a later export started its own timer
                self._close()

    def close(self):
        with self._lock:
            self._close()

    def _close(self):
        kaleido_browser, self._kaleido = self._kaleido, None
        if kaleido_browser is not None:
            # A browser that crashed may fail to close as well; it is dropped either way.
            with contextlib.suppress(Exception):
                self._run(kaleido_browser.close())

    def _run(self, coroutine):
        """Run `coroutine` on the exports' loop (started on first use); its result or its error."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, name="figure-export", daemon=True).start()
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(CALL_TIMEOUT_SECONDS)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer in {CALL_TIMEOUT_SECONDS} s") from None


async def _open_kaleido(path):
    """A started kaleido browser at `path`, with plotly.py's own plotly.js and no MathJax (the
    figures hold no TeX, and MathJax would come from a CDN)."""
    import kaleido  # here, not at the top: only a server that exports pays for its import

    browser = kaleido.Kaleido(path=path, mathjax=False, timeout=RENDER_TIMEOUT_SECONDS)
    try:
        await browser.open()
    except BaseException:  # cancelled by our timeout too: a Chromium that started is not left behind
        with contextlib.suppress(Exception):
            await browser.close()
        raise
    return browser


def _reason(error):
    """An exception's first message on one line (choreographer's go on to advise downloading a
    Chrome, which this app never does), else its type's name."""
    message = str(error.args[0]) if error.args else ""
    return " ".join(message.split()) or type(error).__name__


_EXPORTER = _Exporter()
