"""`make bench` (`python -m bench.run`): the app measured the way a user feels it, in Debian's Chromium.

Starts servers on free localhost ports, drives Chromium with Playwright, and writes
bench/results.json and bench/RESULTS.md (with the machine it ran on). Measures interaction
latency against a minimal Streamlit app (the floor), the first view on a fresh server, the
server's memory over 500 interactions, the heatmap's payload, and layer forward times against
Keras's built-in attention layers.
"""

import contextlib
import json
import os
import pathlib
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

from bench import layer_timing, report

ROOT = pathlib.Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TOKEN_COUNTS = (16, 128, 512, 1024)
PRESSES = 15  # latency samples per configuration
RATIO_ROUNDS = 3  # alternating sweeps of the floor and the app for the headline ratio
SOAK_PRESSES = 500  # interactions between the memory readings
FIRST_VIEW_RUNS = 3  # fresh servers for the first-view time
LOG_DIR = ROOT / "bench" / "logs"

APP = {"command": ["serve.py"], "url": "self-attention", "slider": ".st-key-sa_seed", "chart": ".st-key-sa_weights"}
# The floor runs with Streamlit's default full garbage collection after every run, which the
# app's config turns off: the floor variants measure Streamlit as it comes.
FLOOR = {"command": ["-m", "streamlit", "run", "bench/floor_app.py", "--runner.postScriptGC", "true"], "url": "",
         "slider": ".st-key-floor_seed", "chart": ".st-key-floor_weights"}


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


class Session:
    """One browser tab on one page, counting the bytes the server sends it."""

    def __init__(self, browser, target, base, query=""):
        self.target = target
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.received = 0
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._count))
        self.chart = f"{target['chart']} .js-plotly-plot"
        start = time.perf_counter()
        self.page.goto(f"{base}/{target['url']}{query}")
        self.page.locator(self.chart).first.wait_for(state="visible", timeout=180_000)
        self.first_view_s = time.perf_counter() - start
        self.slider = self.page.locator(f"{target['slider']} input[type=range]").first

    def _count(self, payload):
        self.received += len(payload)

    def press(self, key="ArrowRight"):
        """Press `key` on the slider; seconds until the heatmap shows new data, and bytes received.

        While a rerun is drawn Streamlit can briefly hold the old and the new chart, so every
        match is marked and any chart whose data is not a marked one counts as re-rendered.
        """
        self.page.evaluate(
            "sel => document.querySelectorAll(sel).forEach(el => { el.__benchData = el.data; })", self.chart
        )
        self.slider.focus()
        before = self.received
        start = time.perf_counter()
        self.page.keyboard.press(key)
        self.page.wait_for_function(
            "sel => [...document.querySelectorAll(sel)].some(el => el.data && el.data !== el.__benchData)",
            arg=self.chart, polling="raf", timeout=120_000,
        )
        # Two animation frames: the new heatmap is painted, not just handed to plotly.
        self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        return time.perf_counter() - start, self.received - before

    def sweep(self, presses):
        """`presses` slider moves, reversing at the ends so every press changes the value."""
        value, lo, hi = int(self.slider.get_attribute("value")), int(self.slider.get_attribute("min")), int(self.slider.get_attribute("max"))
        direction = 1
        samples = []
        for _ in range(presses):
            if not lo <= value + direction <= hi:
                direction = -direction
            samples.append(self.press("ArrowRight" if direction > 0 else "ArrowLeft"))
            value += direction
        return samples

    def close(self):
        self.page.close()


def summarize(samples):
    seconds = sorted(s for s, _ in samples)
    return {
        "median_ms": statistics.median(seconds) * 1000,
        "p90_ms": seconds[int(0.9 * (len(seconds) - 1))] * 1000,
        "presses": len(seconds),
        "median_bytes": statistics.median(b for _, b in samples),
    }


def token_query(tokens):
    """URL query giving the self-attention page a text of `tokens` distinct words."""
    return "?sa_text=" + "+".join(f"w{i}" for i in range(tokens))


def measure_latency(browser):
    """Interaction latency of the floor variants and of the app at each token count.

    The headline ratio's two sides, the NumPy floor and the app at 16 tokens, run on two servers
    at once with their sweeps alternating, so the machine's drift falls on both alike.
    """
    results = {"floor": {}, "app": {}}
    with server(FLOOR, "floor-numpy") as (floor_base, _), server(APP, "app-latency") as (app_base, _):
        floor, app = Session(browser, FLOOR, floor_base), Session(browser, APP, app_base, token_query(TOKEN_COUNTS[0]))
        for session in (floor, app):
            session.sweep(3)  # warm
        samples = {"floor": [], "app": []}
        for _ in range(RATIO_ROUNDS):
            samples["floor"] += floor.sweep(PRESSES // RATIO_ROUNDS)
            samples["app"] += app.sweep(PRESSES // RATIO_ROUNDS)
        results["floor"]["numpy"] = summarize(samples["floor"])
        results["app"][str(TOKEN_COUNTS[0])] = summarize(samples["app"])
        floor.close()
        app.close()
        for tokens in TOKEN_COUNTS[1:]:
            session = Session(browser, APP, app_base, token_query(tokens))
            session.sweep(2)  # warm
            results["app"][str(tokens)] = summarize(session.sweep(PRESSES))
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
            session.sweep(3)  # warm
            results["floor"][name] = summarize(session.sweep(PRESSES))
            session.close()
        print(f"floor {name}: {results['floor'][name]}", flush=True)
    return results


def measure_first_view_and_memory(browser):
    """First view on fresh app servers and, for comparison, on fresh floor servers; RSS after
    start, first view and SOAK_PRESSES interactions."""
    first_views, floor_first_views = [], []
    memory = {}
    for run in range(FIRST_VIEW_RUNS):
        with server(FLOOR, f"floor-first-view-{run}") as (base, _):
            session = Session(browser, FLOOR, base)
            floor_first_views.append(session.first_view_s)
            session.close()
        with server(APP, f"app-first-view-{run}") as (base, process):
            started_mb = rss_mb(process)
            session = Session(browser, APP, base)
            first_views.append(session.first_view_s)
            if run == 0:
                memory["after_start_mb"] = started_mb
                memory["after_first_view_mb"] = rss_mb(process)
                session.sweep(SOAK_PRESSES)
                memory["after_soak_mb"] = rss_mb(process)
                memory["soak_presses"] = SOAK_PRESSES
                memory["growth_mb"] = memory["after_soak_mb"] - memory["after_first_view_mb"]
            session.close()
    print(f"first views: {first_views}; floor: {floor_first_views}; memory: {memory}", flush=True)
    return {
        "first_view_s": {"runs": first_views, "median": statistics.median(first_views),
                         "floor_runs": floor_first_views, "floor_median": statistics.median(floor_first_views)},
        "memory": memory,
    }


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


def main():
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    results = {"machine": machine()}
    results["layers"] = layer_timing.measure()
    results["payload"] = layer_timing.heatmap_payloads(TOKEN_COUNTS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        results["latency"] = measure_latency(browser)
        results.update(measure_first_view_and_memory(browser))
        browser.close()
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (ROOT / "bench" / "RESULTS.md").write_text(report.markdown(results))
    print(report.markdown(results))


if __name__ == "__main__":
    main()
