"""`make loadtest` (`python -m bench.loadtest`): the app under load and faults, in Debian's Chromium.

One server (serve.py on a free 127.0.0.1 port) and one Chromium driven by Playwright's async API,
each session a browser context of its own. In order:

1. **Single session**: one session alone moves its seed slider for BASELINE_S: the latency floor.
2. **Concurrent sessions**: SESSIONS contexts at once for DURATION_S, each on its page with its
   own text and seed, moving its seed slider. Every press is timed (press → first chart's data
   replaced → painted) and read back: the chart's tokens must be the session's own, and its
   numbers what attention_core computes for the session's text and seed (checked after the run,
   so checking costs the sessions nothing). Exceptions on any page are counted.
3. **Training**: the same, with TRAINERS of the sessions pressing Play on Train and watch.
4. **Hostile URLs**: issue 11's URL (64 heads × 1024 tokens) with four seeds, the largest views
   the budget allows from several sessions at once, and malformed queries, while /_stcore/health
   is polled and RSS sampled: RSS must stay within the start-up RSS plus the memory budget.
5. **Restart**: a session's server is killed (SIGKILL) and started again on the same port; the
   browser must reconnect and show the same settings and the same numbers.

Writes bench/loadtest.json and bench/LOADTEST.md. `--container` instead runs the restart check
against the Docker image with `docker restart`, and adds its result to both files.
"""

import argparse
import asyncio
import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "loadtest.json"
REPORT = ROOT / "bench" / "LOADTEST.md"
LOG = ROOT / "bench" / "logs" / "loadtest-server.log"

SESSIONS = 20
DURATION_S = 60
BASELINE_S = 20
TRAINERS = 2
RSS_INTERVAL_S = 0.2
HEALTH_INTERVAL_S = 0.5
PRESS_TIMEOUT_MS = 120_000
OPENING_BATCH = 4  # sessions opened at once
# Chromium runs every context's page as if in the foreground: a background tab's timers and
# animation frames would otherwise be throttled and its latency measured wrong.
FOREGROUND_FLAGS = ["--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                    "--disable-backgrounding-occluded-windows"]
CONTAINER_LIMIT_MB = 2048  # deploy/kubernetes.yaml: limits.memory 2Gi
# The training page's stated cost to other sessions (bench/TRAINING.md): at most 2x their latency.
STATED_TRAINING_FACTOR = 2.0

PLOT = '[data-testid="stMain"] .js-plotly-plot'
EXCEPTION = '[data-testid="stException"]'
ERROR_ALERT = '[data-testid="stAlertContentError"]'
SPINNER = '[data-testid="stSpinner"]'
CONNECTED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
IDLE = CONNECTED + '[data-test-script-state="notRunning"]'

# page path -> (seed slider key, text key or None, URL settings every session of that page uses)
PAGES = {
    "self-attention": ("sa_seed", "sa_text", {"sa_units": 8, "sa_heads": 2}),
    "compare": ("cmp_seed", "cmp_text", {"cmp_units": 8, "cmp_heads": 2}),
    "additive-attention": ("rnn_seed", None, {}),
    "dense-layers": ("dense_seed", None, {}),
}
# Ten sessions on self-attention, six on Compare, two each on the pages without text.
PAGE_CYCLE = ("self-attention", "compare", "self-attention", "additive-attention",
              "self-attention", "compare", "self-attention", "dense-layers",
              "self-attention", "compare")
WORDS = ("cat", "sat", "on", "mat", "dog", "ran", "far", "sun", "sky", "red", "owl", "fig")


# --- pure parts (tests/test_loadtest.py) -------------------------------------------------------

def percentile(values, q):
    """The q-th percentile (0-100) of `values`, interpolating linearly between ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("Expected at least one value. Received: []")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds):
    """p50, p95 and max in milliseconds, and the count, of latency samples in seconds."""
    return {"presses": len(seconds), "p50_ms": round(percentile(seconds, 50) * 1000, 1),
            "p95_ms": round(percentile(seconds, 95) * 1000, 1), "max_ms": round(max(seconds) * 1000, 1)}


def session_plan(index):
    """Session `index`'s page, text (its own tokens, 5-12 of them), first seed and URL query."""
    page = PAGE_CYCLE[index % len(PAGE_CYCLE)]
    seed_key, text_key, settings = PAGES[page]
    tokens = [f"s{index:02d}{word}" for word in WORDS[: 5 + index % 8]]
    seed = (7 * index) % 90
    query = {**settings, seed_key: seed}
    if text_key:
        query[text_key] = " ".join(tokens)
    return {"index": index, "page": page, "tokens": tokens if text_key else None, "seed": seed,
            "query": urllib.parse.urlencode(query)}


def foreign_labels(tokens, labels):
    """The chart labels that do not show the session's own token at their position (leaks)."""
    if len(labels) != len(tokens):
        return list(labels)
    return [label for token, label in zip(tokens, labels) if token not in label]


def within_budget(rss_mb, before_mb, budget_mb):
    """Whether every RSS sample stays within the RSS before the views plus the memory budget."""
    return max(rss_mb) <= before_mb + budget_mb


def training_factor(loaded, training):
    """Other sessions' median latency while training, as a multiple of the same load without."""
    return round(training["p50_ms"] / loaded["p50_ms"], 2)


def machine_cpu_seconds():
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    ticks = [int(field) for field in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


def cpu_shares(before, after):
    """The server's and the whole machine's share of all cores between two readings.

    Each reading is (server CPU seconds, (machine busy, machine total) seconds, wall time).
    """
    (server_0, (busy_0, total_0), _), (server_1, (busy_1, total_1), _) = before, after
    return {"server_cpu_share": round((server_1 - server_0) / (total_1 - total_0), 3),
            "machine_busy_share": round((busy_1 - busy_0) / (total_1 - total_0), 3)}


def markdown(results):
    """bench/LOADTEST.md from the results dictionary."""
    m, single, loaded, train, hostile, restart = (results[k] for k in
                                                  ("machine", "single", "concurrent", "training", "hostile", "restart"))
    rss = results["rss_mb"]
    lines = [
        "# Load and fault test",
        "",
        f"`make loadtest` (`python -m bench.loadtest`) on {m['date']}: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gb']} GB, {m['os']}; Python {m['python']}, TensorFlow {m['tensorflow']}, Streamlit "
        f"{m['streamlit']}, {m['chromium']}. Server and browser share the machine; other work ran on it too, "
        "so absolute times drift (a quarter between runs on this machine).",
        "",
        f"Memory budget: {results['budget_mb']} MB (`ATTENTION_MEMORY_BUDGET_MB`).",
        "",
        "Latency: a seed-slider press until the session's first chart shows new data and is painted. "
        "CPU: the server's share of all cores, and the whole machine's (the browsers and other work included).",
        "",
        "| What | Sessions | p50 | p95 | max | presses | exceptions | leaks | server CPU | machine busy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def row(name, run, latency, sessions):
        return (f"| {name} | {sessions} | {latency['p50_ms']:.0f} ms | {latency['p95_ms']:.0f} ms "
                f"| {latency['max_ms']:.0f} ms | {latency['presses']} | {run['exceptions']} | {run['leaks']} "
                f"| {run['server_cpu_share']:.0%} | {run['machine_busy_share']:.0%} |")

    lines.append(row("single session", single, single["latency"], 1))
    lines.append(row(f"{loaded['sessions']} sessions at once", loaded, loaded["latency"], loaded["sessions"]))
    for page, latency in loaded["per_page"].items():
        lines.append(f"| … on {page} | {loaded['pages'][page]} | {latency['p50_ms']:.0f} ms | {latency['p95_ms']:.0f} ms "
                     f"| {latency['max_ms']:.0f} ms | {latency['presses']} | | | | |")
    lines.append(row(f"{train['sessions']} sessions, {train['trainers']} more pressed Play", train, train["latency"],
                     train["sessions"]))
    lines += [
        "",
        f"- **Latency under load**: p50 {loaded['latency']['p50_ms'] / single['latency']['p50_ms']:.1f}x and p95 "
        f"{loaded['latency']['p95_ms'] / single['latency']['p95_ms']:.1f}x a single session's, with "
        f"{loaded['sessions']} sessions each pressing again as soon as its chart is painted "
        f"(for {loaded['seconds']} s, on {', '.join(f'{n} {p}' for p, n in loaded['pages'].items())}).",
        f"- **Cross-session leakage**: {loaded['leaks'] + train['leaks']} of "
        f"{loaded['checked'] + train['checked']} readings of a chart showed anything but the session's "
        "own tokens and the numbers attention_core computes for its own text and seed "
        f"({loaded['values_checked'] + train['values_checked']} with their numbers checked to 1e-5).",
        f"- **Training**: {train['trainers']} sessions pressed Play on Train and watch "
        f"({train['trainer_states']}); the others' median latency was {train['factor']}x the same load without "
        f"training (stated: at most {STATED_TRAINING_FACTOR:g}x).",
        f"- **Server memory (RSS)**: {rss['start']:.0f} MB after start, {rss['during_concurrent_max']:.0f} MB at most "
        f"during the concurrent sessions, {rss['after_concurrent']:.0f} MB after them; "
        f"{hostile['rss_before']:.0f} MB before the hostile URLs and {hostile['rss_max']:.0f} MB at most during them: "
        f"within that plus the budget ({hostile['rss_before'] + results['budget_mb']:.0f} MB): "
        f"{'yes' if hostile['within_budget'] else 'NO'}; a Kubernetes replica may use {CONTAINER_LIMIT_MB} MB.",
        f"- **Hostile URLs** ({len(hostile['visits'])} visits, {hostile['parallel']} sessions at once for the "
        f"largest allowed views): the health check answered {hostile['health_ok']} of {hostile['health_polls']} "
        f"polls (slowest {hostile['health_max_ms']:.0f} ms); exceptions {hostile['exceptions']}.",
        "",
        "| URL (shortened) | shown | said it takes seconds | RSS after |",
        "| --- | --- | --- | --- |",
    ]
    for visit in hostile["visits"]:
        lines.append(f"| `{visit['label']}` | {visit['shown'].replace('|', '/')} | {'yes' if visit['said_seconds'] else ''} "
                     f"| {visit['rss_mb']:.0f} MB |")
    lines += [
        "",
        f"- **Restart**: the server was killed (SIGKILL) under an open self-attention session "
        f"({', '.join(f'{k}={v}' for k, v in restart['settings'].items())}) and started again on the same port. "
        f"The page reconnected {restart['reconnect_s']:.1f} s after the new server answered. Streamlit runs it again "
        "only when the user acts, and then only the fragment that holds the control, which the new server "
        "never saw: serve.py runs the whole page instead (`rerun_whole_page_after_restart`). The seed slider moved there and back "
        f"({restart['press_after_ms'][0]} and {restart['press_after_ms'][1]} ms). Settings or chart numbers not as "
        f"before the kill: {restart['lost_after_press'] or 'none'}; after reloading the URL: "
        f"{restart['lost_after_reload'] or 'none'}.",
        "",
    ]
    if "container_restart" in results:  # python -m bench.loadtest --container
        bounced = results["container_restart"]
        lines += [
            "- **Container restart** (`python -m bench.loadtest --container`: the image run read-only as the "
            "manifest runs it, then `docker restart`): the page reconnected "
            f"{bounced['reconnect_s']:.1f} s after the container answered again; settings or chart numbers not as "
            f"before, after a press there and back: {bounced['lost_after_press'] or 'none'}; after reloading the URL: "
            f"{bounced['lost_after_reload'] or 'none'}.",
            "",
        ]
    return "\n".join(lines)


# --- the server --------------------------------------------------------------------------------

class Server:
    """serve.py on a fixed 127.0.0.1 port, which can be killed and started again on that port."""

    def __init__(self, port):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.process = None
        LOG.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(LOG, "w")

    def start(self):
        command = [sys.executable, "serve.py", "--server.port", str(self.port), "--server.address", "127.0.0.1"]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        deadline = time.monotonic() + 120
        while not self.healthy():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the server did not start; see {LOG}")
            time.sleep(0.05)

    def healthy(self, timeout=1):
        with contextlib.suppress(OSError):
            return urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=timeout).status == 200
        return False

    def bounce(self):
        """Kill the server (SIGKILL, no goodbye to its sessions) and start it again on the same port."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.start()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    def cpu_seconds(self):
        """CPU seconds the server has used (user + system), from /proc."""
        fields = pathlib.Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self):
        from bench.run import rss_mb

        return rss_mb(self.process)


class Container(Server):
    """The app's image, run as deploy/kubernetes.yaml runs it (read-only, a writable /tmp), on a
    127.0.0.1 port; `docker restart` bounces it. Docker comes from scripts/docker_engine.sh, as for
    the container test, and so does a local base image where no registry is reachable."""

    IMAGE = "attention-visualizer:loadtest"
    ENGINE = ROOT / "scripts" / "docker_engine.sh"
    BUILD_TIMEOUT = 1800

    def start(self):
        self.engine = self._run([self.ENGINE, "start"])
        base = self._run([self.ENGINE, "test-base"]) if self.engine == "started" else None
        self._run(["docker", "build", "--tag", self.IMAGE, *(["--build-arg", f"BASE_IMAGE={base}"] if base else []),
                   str(ROOT)], timeout=self.BUILD_TIMEOUT)
        self.container = self._run(["docker", "run", "--detach", "--read-only", "--tmpfs", "/tmp",
                                    "--publish", f"127.0.0.1:{self.port}:8501", self.IMAGE])
        self._wait_healthy()

    def bounce(self):
        """`docker restart`: SIGTERM, then the same container started again."""
        self._run(["docker", "restart", "--time", "10", self.container])
        self._wait_healthy()

    def stop(self):
        for command in (["docker", "rm", "--force", self.container], ["docker", "image", "rm", "--force", self.IMAGE]):
            subprocess.run(command, capture_output=True, timeout=120)
        if self.engine == "started":
            subprocess.run([self.ENGINE, "stop"], capture_output=True, timeout=120)
        self.log.close()

    def _wait_healthy(self):
        deadline = time.monotonic() + 120
        while not self.healthy():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the container did not answer: {self._run(['docker', 'logs', self.container])}")
            time.sleep(0.1)

    def _run(self, command, timeout=600):
        reply = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        self.log.write(reply.stdout + reply.stderr)
        if reply.returncode:
            raise RuntimeError(f"{' '.join(map(str, command))} exited {reply.returncode}; see {LOG}")
        return reply.stdout.strip()


class Sampler:
    """RSS of the server every RSS_INTERVAL_S, in the background, as a list of MB."""

    def __init__(self, server):
        self.server, self.samples, self._task = server, [], None

    async def _run(self):
        while True:
            with contextlib.suppress(OSError, RuntimeError):
                self.samples.append(self.server.rss_mb())
            await asyncio.sleep(RSS_INTERVAL_S)

    def __enter__(self):
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_):
        self._task.cancel()


# --- a browser session -------------------------------------------------------------------------

class Session:
    """One browser context on one page, moving its seed slider and reading back its first chart."""

    def __init__(self, browser, base, plan):
        self.browser, self.base, self.plan = browser, base, plan
        self.seed_key = PAGES[plan["page"]][0]
        self.latencies, self.readings, self.exceptions = [], [], 0

    async def open(self, query=None):
        self.context = await self.browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(PRESS_TIMEOUT_MS)
        self.page = await self.context.new_page()
        await self.page.goto(f"{self.base}/{self.plan['page']}?{query or self.plan['query']}")
        await self.page.locator(PLOT).first.wait_for(timeout=PRESS_TIMEOUT_MS)
        await self.page.locator(IDLE).wait_for(state="attached", timeout=PRESS_TIMEOUT_MS)
        self.slider = self.page.locator(f".st-key-{self.seed_key} input[type=range]").first
        self.direction = 1

    async def press(self):
        """One seed step (reversing at the slider's ends); the time until the new chart is painted."""
        value = int(await self.slider.get_attribute("value"))
        if not 0 <= value + self.direction <= 99:
            self.direction = -self.direction
        await self.page.evaluate("sel => document.querySelectorAll(sel).forEach(el => { el.__mark = el.data; })", PLOT)
        await self.slider.focus()
        start = time.perf_counter()
        await self.page.keyboard.press("ArrowRight" if self.direction > 0 else "ArrowLeft")
        await self.page.wait_for_function(
            "sel => { const el = document.querySelector(sel); return el && el.data && el.data !== el.__mark; }",
            arg=PLOT, polling="raf", timeout=PRESS_TIMEOUT_MS)
        await self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        elapsed = time.perf_counter() - start
        await self.page.locator(IDLE).wait_for(state="attached", timeout=PRESS_TIMEOUT_MS)
        self.latencies.append(elapsed)
        self.exceptions = await self.page.locator(EXCEPTION).count()
        self.readings.append(await self.read())
        return elapsed

    async def read(self):
        """The seed shown and the first chart's labels and first row of numbers."""
        chart = await self.page.evaluate(
            """sel => { const el = document.querySelector(sel); const t = el._fullData[0];
                        return {labels: t.x ? Array.from(t.x) : null,
                                row: t.z ? Array.from(t.z[0]) : Array.from(t.y || [])}; }""", PLOT)
        return {"seed": int(await self.slider.get_attribute("value")), **chart}

    async def run_for(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.press()

    async def close(self):
        await self.context.close()


def check_readings(plan, readings):
    """(readings checked, readings with their numbers checked, leaks) for one text session's readings.

    Recomputes each reading's first chart with attention_core from the session's own text and
    the seed the page showed: self-attention's head-1 weights, Compare's dot-product weights.
    """
    import numpy as np

    import attention_core as ac

    if plan["tokens"] is None:
        return 0, 0, 0
    leaks = values = 0
    text = " ".join(plan["tokens"])
    for reading in readings:
        tokens, x = ac.encode_text(text, 16, seed=reading["seed"])
        if plan["page"] == "self-attention":
            layer = ac.SelfAttention(8, num_heads=2, seed=reading["seed"])
            expected = ac.trace_self_attention(layer, x).weights[0][0]
        else:
            expected = ac.compare_mechanisms(x, 8, 2, reading["seed"])[0].weights[0]
        wrong_labels = foreign_labels(plan["tokens"], reading["labels"] or [])
        wrong_values = not np.allclose(reading["row"], expected, atol=1e-5)
        leaks += bool(wrong_labels or wrong_values)
        values += 1
    return len(readings), values, leaks


async def load(browser, server, plans, seconds, trainers=()):
    """Run the sessions of `plans` together for `seconds` (trainer pages press Play first)."""
    base = server.base
    sessions = [Session(browser, base, plan) for plan in plans]
    # Opened a few at a time: twenty first views at once (each loads Streamlit's front end and
    # plotly, 5 MB of JavaScript to evaluate) would measure start-up, not the load.
    for start in range(0, len(sessions), OPENING_BATCH):
        await asyncio.gather(*(session.open() for session in sessions[start:start + OPENING_BATCH]))
    await asyncio.gather(*(session.press() for session in sessions))  # warm: every page has run once
    for session in sessions:
        session.latencies.clear()
        session.readings.clear()
    trainer_pages = []
    for seed in trainers:
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        page = await context.new_page()
        await page.goto(f"{base}/train-and-watch?tw_epochs=10&tw_seed={seed}")
        await page.get_by_role("button", name="Play").click()
        trainer_pages.append((context, page))
    if trainer_pages:
        await trainer_pages[0][1].locator('[data-testid="stProgress"]').first.wait_for(timeout=PRESS_TIMEOUT_MS)
    cpu_before = server.cpu_seconds(), machine_cpu_seconds(), time.monotonic()
    await asyncio.gather(*(session.run_for(seconds) for session in sessions))
    cpu_after = server.cpu_seconds(), machine_cpu_seconds(), time.monotonic()
    states = []
    for context, page in trainer_pages:
        states.append(await trainer_state(page))
        await context.close()
    checked = [check_readings(session.plan, session.readings) for session in sessions]
    result = {
        "sessions": len(sessions),
        "seconds": seconds,
        "pages": {page: sum(s.plan["page"] == page for s in sessions) for page in PAGES if any(s.plan["page"] == page for s in sessions)},
        "latency": latency_summary([t for s in sessions for t in s.latencies]),
        "per_page": {page: latency_summary([t for s in sessions if s.plan["page"] == page for t in s.latencies])
                     for page in PAGES if any(s.plan["page"] == page and s.latencies for s in sessions)},
        "exceptions": sum(s.exceptions for s in sessions),
        "checked": sum(c[0] for c in checked),
        "values_checked": sum(c[1] for c in checked),
        "leaks": sum(c[2] for c in checked),
        **cpu_shares(cpu_before, cpu_after),
    }
    if trainers:
        result["trainers"], result["trainer_states"] = len(trainers), "; ".join(states)
    await asyncio.gather(*(session.close() for session in sessions))
    return result


async def trainer_state(page):
    """What a Train and watch page says about its run: its progress line, or that it waits."""
    progress = page.locator('[data-testid="stProgress"]')
    if await progress.count():
        return " ".join((await progress.first.inner_text()).split())
    return "no progress shown"


# --- hostile URLs ------------------------------------------------------------------------------

def hostile_visits():
    """(label, path, query) of issue 11's URL and its friends, in order."""
    words = " ".join(f"w{i}" for i in range(1024))
    issue = {"sa_units": 64, "sa_heads": 64, "sa_text": words}
    visits = [(f"self-attention 64 units, 64 heads, 1024 words, seed {seed}", "self-attention",
               {**issue, "sa_seed": seed}) for seed in range(4)]
    visits += [(f"self-attention 64 heads, 1024 words, Every head, seed {seed}", "self-attention",
                {**issue, "sa_seed": seed, "sa_view": "Every head"}) for seed in (4, 5)]
    visits.append(("Compare 64 units, 64 heads, 1024 words", "compare",
                   {"cmp_units": 64, "cmp_heads": 64, "cmp_text": words}))
    odd = [("sa_units=999&sa_heads=-3&sa_seed=abc", {"sa_units": 999, "sa_heads": -3, "sa_seed": "abc"}),
           ("sa_text=<b>**bold**</b> $x$ &unknown=1", {"sa_text": "<b>**bold**</b> $x$", "unknown": 1}),
           ("sa_text=one 5,000-letter token", {"sa_text": "x" * 5000}),
           ("sa_text=2,000 words (over the 1024 limit)", {"sa_text": " ".join(["w"] * 2000)})]
    visits += [(label, "self-attention", query) for label, query in odd]
    return [(label, path, urllib.parse.urlencode(query)) for label, path, query in visits]


def largest_allowed_views():
    """(label, path, query) of views just within one view's share of the default budget."""
    words = " ".join(f"w{i}" for i in range(1024))
    views = [(f"self-attention 64 units, 8 heads, 1024 words, Every head, seed {seed}", "self-attention",
              {"sa_units": 64, "sa_heads": 8, "sa_text": words, "sa_seed": seed, "sa_view": "Every head"})
             for seed in range(4)]
    views += [(f"Compare 8 units, 8 heads, 1024 words, seed {seed}", "compare",
               {"cmp_units": 8, "cmp_heads": 8, "cmp_text": words, "cmp_seed": seed}) for seed in range(2)]
    return [(label, path, urllib.parse.urlencode(query)) for label, path, query in views]


async def visit(browser, server, label, path, query):
    """Open one URL, wait for its run to end; what it showed and the server's RSS after."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    # A view estimated to take a second or more says so while it computes (page_support.within_budget).
    said_so = asyncio.get_running_loop().create_task(
        page.locator(SPINNER).filter(has_text="Computing").first.wait_for(timeout=PRESS_TIMEOUT_MS))
    await page.goto(f"{server.base}/{path}?{query}")
    # The app is idle for a moment between loading and its first run: wait for the run's result.
    await page.locator(PLOT).or_(page.locator(ERROR_ALERT)).or_(page.locator(EXCEPTION)).first.wait_for(
        timeout=PRESS_TIMEOUT_MS)
    await page.locator(IDLE).wait_for(state="attached", timeout=PRESS_TIMEOUT_MS)
    said_seconds = said_so.done() and not said_so.exception()
    said_so.cancel()
    exceptions = await page.locator(EXCEPTION).count()
    errors = await page.locator(ERROR_ALERT).all_inner_texts()
    charts = await page.locator(PLOT).count()
    await context.close()
    shown = f"{charts} charts" if charts else "no chart"
    if errors:
        shown += ": " + " ".join(errors[0].split())[:140] + ("…" if len(errors[0]) > 140 else "")
    return {"label": label, "shown": shown, "said_seconds": said_seconds, "exceptions": exceptions,
            "rss_mb": server.rss_mb()}


async def poll_health(server, polls):
    while True:
        start = time.perf_counter()
        ok = await asyncio.get_running_loop().run_in_executor(None, server.healthy, 10)
        polls.append((ok, time.perf_counter() - start))
        await asyncio.sleep(HEALTH_INTERVAL_S)


async def hostile(browser, server, budget_mb):
    """Issue 11's URLs one after another, then the largest allowed views from parallel sessions.

    The budget bounds what views hold on top of what the server held before them (the earlier
    phases leave training runs and sessions behind, which the budget does not count).
    """
    before_mb = server.rss_mb()
    polls = []
    health = asyncio.get_running_loop().create_task(poll_health(server, polls))
    with Sampler(server) as sampler:
        visits = [await visit(browser, server, *v) for v in hostile_visits()]
        largest = largest_allowed_views()
        visits += await asyncio.gather(*(visit(browser, server, *v) for v in largest))
    health.cancel()
    return {
        "visits": visits,
        "parallel": len(largest),
        "exceptions": sum(v["exceptions"] for v in visits),
        "rss_before": before_mb,
        "rss_max": max(sampler.samples),
        "within_budget": within_budget(sampler.samples, before_mb, budget_mb),
        "health_polls": len(polls),
        "health_ok": sum(ok for ok, _ in polls),
        "health_max_ms": max(seconds for _, seconds in polls) * 1000,
    }


# --- restart -----------------------------------------------------------------------------------

RESTART_QUERY = {"sa_text": "Restarts lose nothing the user set", "sa_units": 16, "sa_heads": 4, "sa_seed": 42,
                 "sa_scale": "false", "sa_causal": "true", "sa_view": "Scores", "sa_head": 3}


async def settings_shown(page):
    """The self-attention page's settings as its widgets show them."""
    async def value(key):  # as the slider shows it (a select slider's input holds an option's index)
        return await page.locator(f'.st-key-{key} [data-testid="stSliderThumbValue"]').first.inner_text()

    async def checked(key):
        return await page.locator(f".st-key-{key} input[type=checkbox]").first.is_checked()

    return {
        "text": await page.locator(".st-key-sa_text textarea").input_value(),
        "units": await value("sa_units"), "heads": await value("sa_heads"), "seed": await value("sa_seed"),
        "head": await value("sa_head"), "scale": await checked("sa_scale"), "causal": await checked("sa_causal"),
        "view": await page.locator('[role="tab"][aria-selected="true"]').first.inner_text(),
    }


def differences(before, after):
    """The keys whose values differ between two dictionaries of settings, with both values."""
    return {key: [before[key], after.get(key)] for key in before if after.get(key) != before[key]}


async def restart(browser, server):
    """Kill the server under an open session and start it on the same port; check nothing was lost.

    Streamlit's page reconnects by itself but does not run again until the user acts, so the
    session then moves its seed slider there and back (the new server runs the page with every
    setting the browser holds), and finally reloads the URL.
    """
    session = Session(browser, server.base, {"page": "self-attention", "query": urllib.parse.urlencode(RESTART_QUERY)})
    await session.open()
    before_settings, before_chart = await settings_shown(session.page), await session.read()
    # Off the event loop: the page must see its connection drop while the server is down.
    await asyncio.get_running_loop().run_in_executor(None, server.bounce)
    started = time.perf_counter()
    await session.page.locator(CONNECTED).wait_for(state="attached", timeout=PRESS_TIMEOUT_MS)
    reconnect_s = time.perf_counter() - started
    there = await session.press()
    session.direction = -session.direction
    back = await session.press()
    after_press = await settings_shown(session.page), await session.read()
    await session.page.reload()
    await session.page.locator(PLOT).first.wait_for(timeout=PRESS_TIMEOUT_MS)
    await session.page.locator(IDLE).wait_for(state="attached", timeout=PRESS_TIMEOUT_MS)
    after_reload = await settings_shown(session.page), await session.read()
    await session.close()
    before = {**before_settings, "chart": before_chart}
    return {
        "reconnect_s": reconnect_s,
        "settings": before_settings,
        "lost_after_press": differences(before, {**after_press[0], "chart": after_press[1]}),
        "lost_after_reload": differences(before, {**after_reload[0], "chart": after_reload[1]}),
        "press_after_ms": [round(there * 1000), round(back * 1000)],
    }


# --- main --------------------------------------------------------------------------------------

PHASES = ("load", "hostile", "restart")


async def container_restart():
    """The restart phase against the container image, bounced with `docker restart`."""
    from playwright.async_api import async_playwright

    from bench.run import CHROMIUM, CHROMIUM_FLAGS, free_port

    container = Container(free_port())
    try:
        await asyncio.get_running_loop().run_in_executor(None, container.start)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            result = await restart(browser, container)
            await browser.close()
    finally:
        container.stop()
    return result


async def run(server, sessions, seconds, baseline_seconds, phases):
    """The phases named in `phases` (see the module's docstring), in order; the results dictionary."""
    from playwright.async_api import async_playwright

    from bench.run import CHROMIUM, CHROMIUM_FLAGS, machine

    import attention_core as ac

    results = {"machine": machine(), "budget_mb": ac.budget.budget_from_environment() // ac.budget.MB}
    server.start()
    rss = results["rss_mb"] = {"start": server.rss_mb()}
    plans = [session_plan(i) for i in range(sessions)]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS + FOREGROUND_FLAGS)
        if "load" in phases:
            results["single"] = await load(browser, server, plans[:1], baseline_seconds)
            print("single:", results["single"]["latency"], flush=True)
            with Sampler(server) as sampler:
                results["concurrent"] = await load(browser, server, plans, seconds)
            rss["during_concurrent_max"] = max(sampler.samples)
            rss["after_concurrent"] = server.rss_mb()
            print("concurrent:", results["concurrent"], flush=True)
            results["training"] = await load(browser, server, plans[TRAINERS:], seconds, trainers=range(TRAINERS))
            results["training"]["factor"] = training_factor(results["concurrent"]["latency"],
                                                            results["training"]["latency"])
            rss["after_training"] = server.rss_mb()
            print("training:", results["training"], flush=True)
        if "hostile" in phases:
            results["hostile"] = await hostile(browser, server, results["budget_mb"])
            rss["after_hostile"] = server.rss_mb()
            print("hostile:", results["hostile"], flush=True)
        if "restart" in phases:
            results["restart"] = await restart(browser, server)
            print("restart:", results["restart"], flush=True)
        await browser.close()
    for key, value in rss.items():
        rss[key] = round(value, 1)
    return results


def main():
    from bench.run import CHROMIUM, free_port

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS, help="browser sessions at once")
    parser.add_argument("--seconds", type=int, default=DURATION_S, help="length of each loaded phase")
    parser.add_argument("--baseline-seconds", type=int, default=BASELINE_S, help="length of the single session")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=PHASES,
                        help="run only these (the results files are written only when all run)")
    parser.add_argument("--container", action="store_true",
                        help="instead, build the Docker image and check a `docker restart` under an open page; "
                             "adds its result to bench/loadtest.json and LOADTEST.md")
    arguments = parser.parse_args()
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    if arguments.container:
        results = json.loads(RESULTS.read_text())
        results["container_restart"] = asyncio.run(container_restart())
        print("container restart:", results["container_restart"], flush=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        REPORT.write_text(markdown(results))
        return
    server = Server(free_port())
    try:
        results = asyncio.run(run(server, arguments.sessions, arguments.seconds, arguments.baseline_seconds,
                                  arguments.phases))
    finally:
        server.stop()
    if set(arguments.phases) == set(PHASES):
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        REPORT.write_text(markdown(results))
        print(markdown(results))


if __name__ == "__main__":
    main()
