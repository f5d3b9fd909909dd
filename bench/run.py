"""`make bench` (`python -m bench.run`): the app measured the way a user feels it, in Debian's Chromium.

Starts servers on free localhost ports, drives Chromium with Playwright, and writes
bench/results.json and bench/RESULTS.md (with the machine it ran on). Measures interaction
latency against a minimal Streamlit app (the floor), a press on every page against a floor
drawing the same charts with the same cells, the websocket bytes of a press against its figure
data and the browser's main-thread time of a press beside the floor's, the first view on a fresh
server step by step, the server's memory over 500 interactions, the heatmap's payload, and layer
forward times against Keras's built-in attention layers.

`python -m bench.run --only pages --presses 4` runs one part, shorter, while developing
(`--pages Compare` presses one page only); a partial run writes bench/logs/results-<parts>.json
and prints its tables, leaving the committed results alone.
"""

import argparse
import contextlib
import json
import os
import pathlib
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
import typing
import urllib.request

from playwright.sync_api import sync_playwright
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench import layer_timing, report

ROOT = pathlib.Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TOKEN_COUNTS = (16, 128, 512, 1024)
PRESSES = 24  # latency samples per configuration (and per side of a page's ratio)
WARM_PRESSES = 3  # presses before any timed one: the first reruns fill caches
RATIO_ROUNDS = 3  # alternating sweeps of the floor and the app for the latency ratio
SOAK_PRESSES = 500  # interactions between the memory readings
FIRST_VIEW_RUNS = 3  # fresh servers for the first-view time
PARTS = ("layers", "latency", "pages", "first-view")
LOG_DIR = ROOT / "bench" / "logs"

APP = {"command": ["serve.py"], "url": "self-attention", "slider": ".st-key-sa_seed", "chart": ".st-key-sa_weights"}
# The floor runs with Streamlit's default full garbage collection after every run, which the
# app's config turns off: the floor variants measure Streamlit as it comes.
FLOOR = {"command": ["-m", "streamlit", "run", "bench/floor_app.py", "--runner.postScriptGC", "true"], "url": "",
         "slider": ".st-key-floor_seed", "chart": ".st-key-floor_weights"}
MAIN_CHARTS = '[data-testid="stMain"] .js-plotly-plot'
SCRIPT_DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# A Train and watch run small enough to finish in seconds, so its replay scrubber shows.
TRAIN_QUERY = "?tw_task=copy&tw_length=4&tw_epochs=1&tw_units=16"


def token_query(tokens):
    """URL query giving the self-attention page a text of `tokens` distinct words."""
    return "?sa_text=" + "+".join(f"w{i}" for i in range(tokens))


def play_until_replay(page):
    """Press Play on Train and watch and wait until the finished run's scrubber shows."""
    page.get_by_role("button", name="Play").click()
    page.locator(".st-key-tw_frame input[type=range]").wait_for(timeout=180_000)
    page.locator(SCRIPT_DONE).wait_for(timeout=60_000)


# Every page of issue 17 with its press: a slider's arrow key, or (Dot product, which has no
# slider) new text in an input and Enter, alternating between `texts` so every press changes it.
# "chart" is the one whose showing ends the first view; a press watches every chart.
PAGES = {
    "Dot product": {**APP, "url": "dot-product", "chart": ".st-key-dot_figure",
                    "text": ".st-key-dot_b input", "texts": ("2, -1, 0.5", "4, 5, 6")},
    "Dense layers": {**APP, "url": "dense-layers", "slider": ".st-key-dense_seed", "chart": ".st-key-dense_network"},
    "Self-attention, 16 tokens": {**APP, "query": token_query(16)},
    "Self-attention, 128 tokens": {**APP, "query": token_query(128)},
    "Additive/RNN": {**APP, "url": "additive-attention", "slider": ".st-key-rnn_seed", "chart": ".st-key-rnn_inputs"},
    "Compare": {**APP, "url": "compare", "slider": ".st-key-cmp_seed", "chart": ".st-key-cmp_dot-product"},
    "Train and watch scrubber": {**APP, "url": "train-and-watch", "query": TRAIN_QUERY, "prepare": play_until_replay,
                                 "slider": ".st-key-tw_frame", "chart": ".st-key-tw_replay"},
}

# Run before the page's own scripts (a script, not a function: Playwright runs it as it is):
# the websocket's open and first message, on the page's clock (ms since navigation start), for
# the first view's breakdown.
WEBSOCKET_TIMES_JS = """(() => {
    const Native = window.WebSocket;
    window.__benchTimes = {};
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener("open", () => { window.__benchTimes.websocket_open_ms ??= performance.now(); });
            this.addEventListener("message", () => { window.__benchTimes.first_message_ms ??= performance.now(); });
        }
    };
})();"""
# ms since navigation start when the first `sel` element has a box and is not hidden: what
# Playwright calls visible; false before.
CHART_VISIBLE_JS = """sel => {
    const el = document.querySelector(sel);
    if (!el) return false;
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden" && performance.now();
}"""
# The first view's steps, ms since navigation start, from Navigation and Resource Timing. The
# plotly chunk is the script whose name says plotly (Streamlit's PlotlyChart.*.js), else the
# largest script fetched after DOMContentLoaded; its time is when its last byte arrived.
FIRST_VIEW_STEPS_JS = """() => {
    const navigation = performance.getEntriesByType("navigation")[0];
    const scripts = performance.getEntriesByType("resource").filter(r => r.initiatorType === "script" || r.name.endsWith(".js"));
    const late = scripts.filter(r => r.startTime >= navigation.domContentLoadedEventStart);
    const plotly = scripts.find(r => /plotly/i.test(r.name))
        || late.sort((a, b) => b.encodedBodySize - a.encodedBodySize)[0];
    return {html_end_ms: navigation.responseEnd, dom_content_loaded_ms: navigation.domContentLoadedEventStart,
            ...window.__benchTimes, plotly_chunk_ms: plotly ? plotly.responseEnd : null,
            plotly_chunk: plotly ? plotly.name.split("/").pop() : null};
}"""
FIRST_VIEW_STEPS = ("html_end_ms", "dom_content_loaded_ms", "websocket_open_ms", "first_message_ms",
                    "plotly_chunk_ms", "chart_visible_ms")
# What each chart in the main area holds, trace by trace: its type, a heatmap's z rows and
# columns, any other trace's number of points (plotly's _length).
CHART_TRACES_JS = """sel => [...document.querySelectorAll(sel)].map(el => (el._fullData || []).map(t => ({
    type: t.type,
    rows: t.type === "heatmap" ? t.z.length : null,
    columns: t.type === "heatmap" ? t.z[0].length : null,
    points: t.type === "heatmap" ? null : (t._length || 0),
})))"""


def chart_shape(traces):
    """(rows, columns) of the floor heatmap standing for one chart: a lone heatmap's own shape,
    else 1 x every cell and point of its traces."""
    if len(traces) == 1 and traces[0]["type"] == "heatmap":
        return traces[0]["rows"], traces[0]["columns"]
    return 1, sum(t["rows"] * t["columns"] if t["type"] == "heatmap" else t["points"] for t in traces)


def floor_charts(shapes):
    """FLOOR_CHARTS for bench/floor_app.py: "rows x columns" per chart, comma-separated."""
    return ",".join(f"{rows}x{columns}" for rows, columns in shapes)


def json_members(text):
    """Each member of the JSON object `text` as the text that was sent: {name: value's text}."""
    decoder, space = json.JSONDecoder(), re.compile(r"[ \t\n\r]*")
    members, index = {}, space.match(text).end() + 1  # past the "{"
    while True:
        index = space.match(text, index).end()
        if text[index] == "}":
            return members
        name, index = decoder.raw_decode(text, index)
        index = space.match(text, index).end() + 1  # past the ":"
        start = space.match(text, index).end()
        _, index = decoder.raw_decode(text, start)
        members[name] = text[start:index]
        index = space.match(text, index).end()
        if text[index] == ",":
            index += 1


def sent_bytes(payloads):
    """Where the websocket payloads of one press go, in bytes: everything received; the plotly
    figures' `data` members (the traces, hover text included) as sent; their whole specs; and
    everything else (other elements, the charts' other fields, the session's messages).

    Each frame Streamlit sends is one ForwardMsg; a chart is a delta's new plotly_chart element,
    whose spec is the figure's JSON. A figure the browser already holds comes as a reference
    (ref_hash), so it is not counted as figure data: it was not sent.
    """
    received = figure_data = figure_specs = 0
    for payload in payloads:
        payload = payload.encode() if isinstance(payload, str) else payload
        received += len(payload)
        message = ForwardMsg.FromString(payload)
        if message.WhichOneof("type") != "delta" or message.delta.WhichOneof("type") != "new_element":
            continue
        element = message.delta.new_element
        if element.WhichOneof("type") == "plotly_chart":
            spec = element.plotly_chart.spec
            figure_specs += len(spec.encode())
            figure_data += len(json_members(spec).get("data", "").encode())
    return {"received": received, "figure_data": figure_data, "figure_specs": figure_specs,
            "other": received - figure_specs}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(target, name, extra_env=None):
    """A Streamlit server for `target` on a free port; yields (base URL, process)."""
    port = free_port()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"{name}.log", "w")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(extra_env or {})}
    command = [sys.executable, *target["command"], "--server.port", str(port), "--server.address", "127.0.0.1"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=1).status == 200:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{name} server did not start; see {log.name}")
            time.sleep(0.05)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def rss_mb(process):
    """Resident memory of a process in MB, from /proc."""
    for line in pathlib.Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Press(typing.NamedTuple):
    """One timed press: seconds from the key to the charts shown with new data and painted;
    websocket bytes received meanwhile; where they went (`sent_bytes`); the indexes, among the
    watched charts in page order, of those whose data changed; and the page's main thread
    meanwhile (Chromium's Performance metrics, ms): busy in all, and running JavaScript."""

    seconds: float
    received: int
    sent: dict
    redrawn: tuple
    main_thread_ms: float
    script_ms: float


class Session:
    """One browser tab on one page, counting the bytes the server sends it.

    A press watches `target["chart"]`'s chart and ends when it shows new data; with
    `whole_page`, it watches every chart in the main area and ends when one shows new data and
    the script has finished (the app's script state is notRunning), so every chart the press
    changes has its new data. Either way, two animation frames later: the charts are painted.
    Chromium's Performance domain is on for every session, so a press also reads its main thread.
    """

    def __init__(self, browser, target, base, query="", whole_page=False):
        self.target = target
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.received = 0
        self.payloads = []  # this press's frames
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._count))
        self.page.add_init_script(WEBSOCKET_TIMES_JS)
        self.devtools = self.page.context.new_cdp_session(self.page)
        self.devtools.send("Performance.enable")
        self.chart = f"{target['chart']} .js-plotly-plot"
        self.charts = MAIN_CHARTS if whole_page else self.chart
        self.done = SCRIPT_DONE if whole_page else ""
        start = time.perf_counter()
        self.page.goto(f"{base}/{target['url']}{target.get('query', '')}{query}")
        if "prepare" in target:
            target["prepare"](self.page)
        self.chart_visible_ms = self.page.wait_for_function(CHART_VISIBLE_JS, arg=self.chart, polling="raf",
                                                            timeout=180_000).json_value()
        self.first_view_s = time.perf_counter() - start
        self.slider = self.page.locator(f"{target['slider']} input[type=range]").first
        self.typed = 0  # presses typed into target["text"], which picks the next of target["texts"]
        self.direction = 1  # the slider's next move, kept across sweeps so short sweeps still travel

    def _count(self, payload):
        self.received += len(payload)
        self.payloads.append(payload)

    def first_view_steps(self):
        """The first view's steps, ms since navigation start (FIRST_VIEW_STEPS), and the plotly chunk's name."""
        return {**self.page.evaluate(FIRST_VIEW_STEPS_JS), "chart_visible_ms": self.chart_visible_ms}

    def chart_traces(self):
        """Every chart in the main area, as CHART_TRACES_JS reads it."""
        return self.page.evaluate(CHART_TRACES_JS, MAIN_CHARTS)

    def _main_thread_s(self):
        """Seconds the page's main thread has been busy, and running JavaScript, since it started."""
        metrics = {metric["name"]: metric["value"] for metric in self.devtools.send("Performance.getMetrics")["metrics"]}
        return metrics["TaskDuration"], metrics["ScriptDuration"]

    def _timed(self, act):
        """Run `act` (the press) and time it to the charts' new data, painted (see the class).

        While a rerun is drawn Streamlit can briefly hold the old and the new chart, so every
        match is marked and any chart whose data is not a marked one counts as re-rendered.
        """
        self.page.evaluate(
            "sel => document.querySelectorAll(sel).forEach(el => { el.__benchData = el.data; })", self.charts
        )
        before, self.payloads = self.received, []
        busy_before, script_before = self._main_thread_s()
        start = time.perf_counter()
        act()
        self.page.wait_for_function(
            """([sel, done]) => [...document.querySelectorAll(sel)].some(el => el.data && el.data !== el.__benchData)
                                && (!done || document.querySelector(done))""",
            arg=[self.charts, self.done], polling="raf", timeout=120_000,
        )
        # Two animation frames: the new heatmap is painted, not just handed to plotly.
        redrawn = self.page.evaluate(
            """sel => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(
                [...document.querySelectorAll(sel)].flatMap((el, i) => el.data && el.data !== el.__benchData ? [i] : [])))))""",
            self.charts,
        )
        seconds = time.perf_counter() - start
        busy, script = self._main_thread_s()
        return Press(seconds, self.received - before, sent_bytes(self.payloads), tuple(redrawn),
                     (busy - busy_before) * 1000, (script - script_before) * 1000)

    def press(self, key="ArrowRight"):
        """Press `key` on the slider; a `Press`."""
        self.slider.focus()
        return self._timed(lambda: self.page.keyboard.press(key))

    def retype(self):
        """Replace the text of target["text"] with the next of target["texts"] and press Enter;
        a `Press`, timed from Enter (typing alone does not rerun the page)."""
        box = self.page.locator(self.target["text"]).first
        box.fill(self.target["texts"][self.typed % len(self.target["texts"])])  # leaves the focus in the box
        self.typed += 1
        return self._timed(lambda: self.page.keyboard.press("Enter"))

    def sweep(self, presses):
        """`presses` slider moves, reversing at the ends so every press changes the value; the
        next sweep goes on the same way, so sweeps of one press still travel the slider."""
        value, lo, hi = int(self.slider.get_attribute("value")), int(self.slider.get_attribute("min")), int(self.slider.get_attribute("max"))
        samples = []
        for _ in range(presses):
            if not lo <= value + self.direction <= hi:
                self.direction = -self.direction
            samples.append(self.press("ArrowRight" if self.direction > 0 else "ArrowLeft"))
            value += self.direction
        return samples

    def presses(self, count):
        """`count` presses of the target's kind: typed text, else slider moves."""
        if "text" in self.target:
            return [self.retype() for _ in range(count)]
        return self.sweep(count)

    def close(self):
        self.page.close()


def summarize(samples):
    """Median and p90 seconds (in ms), median bytes received and median main-thread time of `Press`es."""
    seconds = sorted(sample.seconds for sample in samples)
    return {
        "median_ms": statistics.median(seconds) * 1000,
        "p90_ms": seconds[int(0.9 * (len(seconds) - 1))] * 1000,
        "presses": len(seconds),
        "median_bytes": statistics.median(sample.received for sample in samples),
        "main_thread_ms": statistics.median(sample.main_thread_ms for sample in samples),
        "script_ms": statistics.median(sample.script_ms for sample in samples),
    }


def bytes_per_press(samples):
    """Medians of `sent_bytes`'s parts over `Press`es, and received / figure data."""
    medians = {part: statistics.median(sample.sent[part] for sample in samples)
               for part in ("received", "figure_data", "figure_specs", "other")}
    return {**medians, "ratio": medians["received"] / medians["figure_data"] if medians["figure_data"] else None}


def measure_pages(browser, presses, names=tuple(PAGES)):
    """A press on each page of PAGES named in `names` against its floor: bench/floor_app.py drawing, as
    heatmaps, the shapes of the charts the page's warm-up presses redrew (read from the browser
    after them),
    so the floor redraws the same cells a press does, not charts a press leaves alone. Page and
    floor run on two servers at once, their presses alternating one by one after WARM_PRESSES
    each, so the machine's drift falls on both alike; the same rule ends a press on both
    (`Session` with whole_page). `presses` is the timed presses per side; `names` the pages.
    """
    results = {}
    with server(APP, "app-pages") as (app_base, _):
        for name in names:
            target = PAGES[name]
            page = Session(browser, target, app_base, whole_page=True)
            redrawn = sorted({index for sample in page.presses(WARM_PRESSES) for index in sample.redrawn})
            # Read after a press has ended (script finished, painted): every chart is drawn by then.
            shapes = [chart_shape(traces) for traces in page.chart_traces()]
            env = {"FLOOR_CHARTS": floor_charts(shapes[index] for index in redrawn)}
            log_name = "floor-" + re.sub(r"\W+", "_", name)
            with server(FLOOR, log_name, env) as (floor_base, _):
                floor = Session(browser, FLOOR, floor_base, whole_page=True)
                floor.presses(WARM_PRESSES)
                samples = {"page": [], "floor": []}
                for _ in range(presses):
                    samples["page"] += page.presses(1)
                    samples["floor"] += floor.presses(1)
                floor.close()
            page.close()
            results[name] = {
                "page": summarize(samples["page"]),
                "floor": summarize(samples["floor"]),
                "charts": len(shapes),
                "charts_redrawn": len(redrawn),
                "cells": sum(rows * columns for rows, columns in (shapes[index] for index in redrawn)),
                "floor_charts": env["FLOOR_CHARTS"],
                "bytes": bytes_per_press(samples["page"]),
                "floor_bytes": bytes_per_press(samples["floor"]),
            }
            results[name]["ratio"] = results[name]["page"]["median_ms"] / results[name]["floor"]["median_ms"]
            print(f"page {name}: {json.dumps(results[name])}", flush=True)
    return results


def measure_latency(browser, presses):
    """Interaction latency of the floor variants and of the app at each token count, `presses`
    timed presses each.

    The headline ratio's two sides, the NumPy floor and the app at 16 tokens, run on two servers
    at once with their sweeps alternating, so the machine's drift falls on both alike.
    """
    results = {"floor": {}, "app": {}}
    with server(FLOOR, "floor-numpy") as (floor_base, _), server(APP, "app-latency") as (app_base, _):
        floor, app = Session(browser, FLOOR, floor_base), Session(browser, APP, app_base, token_query(TOKEN_COUNTS[0]))
        for session in (floor, app):
            session.sweep(WARM_PRESSES)
        samples = {"floor": [], "app": []}
        for _ in range(RATIO_ROUNDS):
            samples["floor"] += floor.sweep(max(1, presses // RATIO_ROUNDS))
            samples["app"] += app.sweep(max(1, presses // RATIO_ROUNDS))
        results["floor"]["numpy"] = summarize(samples["floor"])
        results["app"][str(TOKEN_COUNTS[0])] = summarize(samples["app"])
        floor.close()
        app.close()
        for tokens in TOKEN_COUNTS[1:]:
            session = Session(browser, APP, app_base, token_query(tokens))
            session.sweep(2)  # warm
            results["app"][str(tokens)] = summarize(session.sweep(presses))
            session.close()
    print(f"latency: {results}", flush=True)
    floors = {
        "numpy + import tensorflow": {"FLOOR_IMPORT_TENSORFLOW": "1"},
        "numpy + import tensorflow + gc.freeze": {"FLOOR_IMPORT_TENSORFLOW": "1", "FLOOR_GC_FREEZE": "1"},
        # What Streamlit itself spends on a big float32 heatmap, for the app's long sequences.
        "numpy, 512 x 512 heatmap": {"FLOOR_SIZE": "512"},
        "numpy, 1024 x 1024 heatmap": {"FLOOR_SIZE": "1024"},
    }
    for name, env in floors.items():
        with server(FLOOR, f"floor-{name.replace(' ', '_')}", env) as (base, _):
            session = Session(browser, FLOOR, base)
            session.sweep(WARM_PRESSES)
            results["floor"][name] = summarize(session.sweep(presses))
            session.close()
        print(f"floor {name}: {results['floor'][name]}", flush=True)
    return results


def measure_first_view_and_memory(browser, runs, soak_presses):
    """First view on `runs` fresh app servers (the self-attention page) and, for comparison, on
    fresh floor servers (one 16 x 16 heatmap): seconds from Playwright's navigation to the chart
    visible, and each step of FIRST_VIEW_STEPS on the page's clock. RSS after start, first view
    and `soak_presses` interactions."""
    first_views, floor_first_views, steps, floor_steps = [], [], [], []
    memory = {}
    for run in range(runs):
        with server(FLOOR, f"floor-first-view-{run}") as (base, _):
            session = Session(browser, FLOOR, base)
            floor_first_views.append(session.first_view_s)
            floor_steps.append(session.first_view_steps())
            session.close()
        with server(APP, f"app-first-view-{run}") as (base, process):
            started_mb = rss_mb(process)
            session = Session(browser, APP, base)
            first_views.append(session.first_view_s)
            steps.append(session.first_view_steps())
            if run == 0:
                memory["after_start_mb"] = started_mb
                memory["after_first_view_mb"] = rss_mb(process)
                session.sweep(soak_presses)
                memory["after_soak_mb"] = rss_mb(process)
                memory["soak_presses"] = soak_presses
                memory["growth_mb"] = memory["after_soak_mb"] - memory["after_first_view_mb"]
            session.close()
    print(f"first views: {first_views} {steps}; floor: {floor_first_views} {floor_steps}; memory: {memory}", flush=True)
    return {
        "first_view_s": {"runs": first_views, "median": statistics.median(first_views),
                         "floor_runs": floor_first_views, "floor_median": statistics.median(floor_first_views)},
        "first_view_steps": {"app": median_steps(steps), "floor": median_steps(floor_steps),
                             "plotly_chunk": {"app": steps[0]["plotly_chunk"], "floor": floor_steps[0]["plotly_chunk"]}},
        "memory": memory,
    }


def median_steps(runs):
    """The median of each FIRST_VIEW_STEPS step over `runs` (None where a run lacks the step)."""
    return {step: statistics.median(run[step] for run in runs) if all(run.get(step) is not None for run in runs) else None
            for step in FIRST_VIEW_STEPS}


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    memory_kb = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    import streamlit
    import tensorflow

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024**2, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "streamlit": streamlit.__version__,
        "chromium": chromium,
        "date": time.strftime("%Y-%m-%d"),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=PARTS, default=PARTS,
                        help="the parts to run (default: all); a partial run leaves bench/results.json and RESULTS.md alone")
    parser.add_argument("--presses", type=int, default=PRESSES, help="timed presses per configuration and per side of a ratio")
    parser.add_argument("--pages", nargs="+", choices=list(PAGES), default=list(PAGES), metavar="PAGE",
                        help=f"the pages the pages part presses (default: all): {', '.join(map(repr, PAGES))}")
    parser.add_argument("--first-view-runs", type=int, default=FIRST_VIEW_RUNS, help="fresh servers for the first view")
    parser.add_argument("--soak-presses", type=int, default=SOAK_PRESSES, help="interactions between the memory readings")
    args = parser.parse_args(argv)
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    results = {"machine": machine()}
    if "layers" in args.only:
        results["layers"] = layer_timing.measure()
        results["payload"] = layer_timing.heatmap_payloads(TOKEN_COUNTS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        if "latency" in args.only:
            results["latency"] = measure_latency(browser, args.presses)
        if "pages" in args.only:
            results["pages"] = measure_pages(browser, args.presses, args.pages)
        if "first-view" in args.only:
            results.update(measure_first_view_and_memory(browser, args.first_view_runs, args.soak_presses))
        browser.close()
    complete = set(args.only) == set(PARTS) and set(args.pages) == set(PAGES)
    out = ROOT / "bench" if complete else LOG_DIR
    (out / ("results.json" if complete else f"results-{'-'.join(args.only)}.json")).write_text(json.dumps(results, indent=2) + "\n")
    if complete:
        (ROOT / "bench" / "RESULTS.md").write_text(report.markdown(results))
    print(report.markdown(results))


if __name__ == "__main__":
    main()
