"""The Markdown table `make bench` commits: every figure beside its target."""

FLOOR = "numpy"


# Why a target is missed, printed under the table when it is: (the targets' names start with one
# of these, the finding of a measurement).
WHY_MISSED = [
    (("Interaction median at 16 tokens",),
     "The floor redraws one slider and one unlabelled heatmap. A slider move on the self-attention "
     "page reruns its fragment: Streamlit re-registers its URL-bound widgets and redraws the "
     "view picker, captions and download expander, Keras runs the layer with the seed's weights "
     "(~3 ms for the weights, ~9 ms for the eager forward and its trace at 16 tokens), and plotly draws a heatmap "
     "with labelled axes, hover text and a colour bar."),
    (("Interaction median at 512 tokens",),
     "Streamlit alone needs longer than the target to redraw a bare 512 × 512 float heatmap "
     "(the floor row below); the app sends the map as a PNG image, which leaves the layer's "
     "eager forward, the image encoding and Streamlit's own rerun."),
    (("First view",),
     "The floor app, one slider and one heatmap, does not get under 2 s either: from the plotly "
     "chunk's arrival both take ~1.0 s to the chart, Chromium evaluating Streamlit's front end and "
     "its 4.7 MB plotly bundle (see the steps below). Preloading that bundle from the page's HTML "
     "(modulepreload), or importing it early, gained only 20–90 ms (4 runs each, within the noise). "
     "The rest of the gap to the floor is the app's first page itself: the navigation, the page's "
     "controls and captions Chromium renders with the chart. (The app's server sends small messages "
     "at once, serve.py's TCP_NODELAY; the floor, plain `streamlit run`, does not.)"),
    (("Press on",),
     "Above the floor is the browser re-rendering the page (the main-thread column): on a "
     "fragment's rerun React redraws every element of the page, not only the fragment's (a page "
     "cut to its slider and chart pressed in 165 ms against the full page's 184, in one A/B run). "
     "Compare also computes four mechanisms, each checked against its own call and an oracle "
     "(~48 ms of the server's time a press, after its controls are sent), where the floor draws "
     "random numbers. What was cut, measured the same way: st.tabs (their headers and a walk of "
     "the open panel's DOM on every redraw, ~25 ms), the built-in page menu (~11 ms), four of "
     "Compare's seven column rows (~36 ms) and Dense's st.dataframe tables (~10 ms each)."),
    (("Bytes per press on",),
     "Each rerun sends Streamlit's session message (~1 KB) and every control and element of the "
     "fragment again (a few KB), whatever the figures weigh; pages whose figures hold a few hundred "
     "bytes to a few KB cannot be within 2× of them, as the floor's own ratio in the bytes table "
     "shows (over 10× on the same shapes). Where the figures carry real data, the pages are at "
     "1.1–1.3×."),
    (("SelfAttention vs MultiHeadAttention",),
     "The two do the same work but for one step: SelfAttention keeps the raw scores for the "
     "trace and scales the (N, T, T) scores, where MultiHeadAttention scales the (T, N, D) "
     "query; the two run within this machine's run-to-run drift of each other."),
    (("BahdanauAttention vs AdditiveAttention", "BahdanauAttention vs Attention"),
     "Bahdanau runs three Dense layers (W1, W2, V) that the built-ins do not have: they take a "
     "query and a value that are already projected. Eagerly, each Keras layer call costs "
     "~0.4–1 ms of Python dispatch on this machine, more than its arithmetic."),
    (("BahdanauAttention vs Dense W1, W2 + AdditiveAttention",),
     "Against the built-ins doing Bahdanau's computation, the projections are the same; the gap "
     "is V, a Dense(1) on a 3-D input, which Keras's TensorFlow backend runs through "
     "tf.tensordot, where AdditiveAttention multiplies by its scale vector and sums."),
]


def _why_missed(rows):
    """The explanations that apply to the missed targets among `rows`, in WHY_MISSED's order."""
    missed = [what for what, _, _, ok in rows if not ok]
    return [f"**{' / '.join(prefixes)}**: {why}" for prefixes, why in WHY_MISSED
            if any(what.startswith(prefixes) for what in missed)]


def _mark(ok):
    return "met" if ok else "**missed**"


PAGE_RATIO = 1.10  # a press on a page against its floor (issue 17)
BYTES_RATIO = 2.0  # websocket bytes of a press against its figure data
FIRST_VIEW_S = 2.0
FIRST_VIEW_RATIO = 1.05
# The first view's steps (bench.run.FIRST_VIEW_STEPS), as the table names them.
STEP_NAMES = {
    "html_end_ms": "HTML response end",
    "dom_content_loaded_ms": "DOMContentLoaded",
    "websocket_open_ms": "Websocket open",
    "first_message_ms": "First ForwardMsg received",
    "plotly_chunk_ms": "Plotly chart's script chunk loaded",
    "chart_visible_ms": "First chart visible",
}


def targets(results):
    """(what, measured, target, met) rows for every target of the performance issues, for the
    parts `results` holds."""
    rows = []
    if "latency" in results:
        latency, floor = results["latency"]["app"], results["latency"]["floor"][FLOOR]
        ratio_16 = latency["16"]["median_ms"] / floor["median_ms"]
        rows += [
            ("Interaction median at 16 tokens / floor", f"{ratio_16:.2f}×", "≤ 1.0×", ratio_16 <= 1.0),
            ("Interaction median at 512 tokens", f"{latency['512']['median_ms']:.0f} ms", "≤ 400 ms",
             latency["512"]["median_ms"] <= 400),
            ("Interaction median at 1024 tokens", f"{latency['1024']['median_ms']:.0f} ms", "≤ 1000 ms",
             latency["1024"]["median_ms"] <= 1000),
        ]
    for name, page in results.get("pages", {}).items():
        rows.append((f"Press on {name} / its floor", f"{page['ratio']:.2f}×", f"≤ {PAGE_RATIO:.2f}×",
                     page["ratio"] <= PAGE_RATIO))
    for name, page in results.get("pages", {}).items():
        ratio = page["bytes"]["ratio"]
        rows.append((f"Bytes per press on {name} / its figure data",
                     "no figure data sent" if ratio is None else f"{ratio:.2f}×", f"≤ {BYTES_RATIO:.0f}×",
                     ratio is not None and ratio <= BYTES_RATIO))
    if "first_view_steps" in results:
        app, floor = (results["first_view_steps"][side]["chart_visible_ms"] / 1000 for side in ("app", "floor"))
        rows += [
            ("First view on a started server (median)", f"{app:.2f} s", f"≤ {FIRST_VIEW_S:.0f} s", app <= FIRST_VIEW_S),
            ("First view / the floor's", f"{app / floor:.2f}× ({app:.2f} s against {floor:.2f} s)",
             f"≤ {FIRST_VIEW_RATIO:.2f}×", app / floor <= FIRST_VIEW_RATIO),
        ]
    if "memory" in results:
        rows.append((f"RSS growth over {results['memory']['soak_presses']} interactions",
                     f"{results['memory']['growth_mb']:.1f} MB", "≤ 50 MB", results["memory"]["growth_mb"] <= 50))
    if "payload" in results:
        rows.append(("Heatmap payload at 1024 tokens", f"{results['payload']['1024'] / 1e6:.2f} MB", "≤ 4 MB",
                     results["payload"]["1024"] <= 4e6))
    for name, modes in results.get("layers", {}).items():
        for mode, numbers in modes.items():
            rows.append((f"{name} ({mode})", f"{numbers['ratio']:.2f}×", "≤ 1.0×", numbers["ratio"] <= 1.0))
    return rows


def _latency_section(results):
    lines = [
        "## Interaction latency: key press on a slider → heatmap re-rendered with new data",
        "",
        "| Configuration | Median | p90 | Bytes received (median) | Presses |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows = [(f"floor: {name}", numbers) for name, numbers in results["latency"]["floor"].items()]
    rows += [(f"app, self-attention page, {tokens} tokens", numbers) for tokens, numbers in results["latency"]["app"].items()]
    return lines + [
        f"| {name} | {n['median_ms']:.0f} ms | {n['p90_ms']:.0f} ms | {n['median_bytes']:,.0f} | {n['presses']} |"
        for name, n in rows
    ]


def _pages_section(results):
    lines = [
        "## A press on every page",
        "",
        "From the key press (a slider's arrow key; on Dot product, Enter after new text in vector b; on Train and "
        "watch, the replay's Recorded step) until one chart in the main area shows new data and the script has "
        "finished, then two animation frames. The floor is bench/floor_app.py drawing one NumPy heatmap for each "
        "chart the page's warm-up presses redrew, of that chart's shape (a lone heatmap's rows × columns, any other "
        "chart 1 × its points), pressed on its slider and timed by the same rule, its presses alternating one by "
        "one with the page's in the same run. Charts: redrawn by a press / on the page; cells: in the redrawn "
        "charts, which the floor draws. Main thread and script: the browser tab's main thread during a press, busy in all and running "
        "JavaScript (Chromium's Performance metrics TaskDuration and ScriptDuration, medians), page / floor.",
        "",
        "| Page | Charts | Cells | Median | Floor median | Ratio | p90 | Floor p90 | Main thread | Script | Presses |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {name} | {p['charts_redrawn']} / {p['charts']} | {p['cells']:,} | {p['page']['median_ms']:.0f} ms | "
        f"{p['floor']['median_ms']:.0f} ms | {p['ratio']:.2f}× | {p['page']['p90_ms']:.0f} ms | "
        f"{p['floor']['p90_ms']:.0f} ms | {p['page']['main_thread_ms']:.0f} ms / {p['floor']['main_thread_ms']:.0f} ms | "
        f"{p['page']['script_ms']:.0f} ms / {p['floor']['script_ms']:.0f} ms | {p['page']['presses']} |"
        for name, p in results["pages"].items()
    ]
    lines += [
        "",
        "## Bytes per press",
        "",
        "Websocket bytes a press receives (median), decoded as Streamlit's ForwardMsgs: the `data` member of every "
        "plotly figure sent (the traces, hover text included, as sent), the figures' whole specs (data and "
        "layout), and everything else (other elements, the charts' other fields, the session's messages). A "
        "figure the browser already holds comes as a reference and counts as nothing. Each column is its own "
        "median; the ratio is bytes received / figure data. The floor's ratio is the same accounting for its "
        "press, which sends its NumPy heatmaps and Streamlit's own messages only: where it is above 2× too, "
        "Streamlit's fixed cost of a rerun (about 1 KB of session message, the controls redrawn) outweighs "
        "figures that small.",
        "",
        "| Page | Bytes received | Figure data | Whole figure specs | Everything else | Ratio | Floor's ratio |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, p in results["pages"].items():
        b, floor = p["bytes"], p["floor_bytes"]["ratio"]
        ratio = "–" if b["ratio"] is None else f"{b['ratio']:.2f}×"
        lines.append(f"| {name} | {b['received']:,.0f} | {b['figure_data']:,.0f} | {b['figure_specs']:,.0f} | "
                     f"{b['other']:,.0f} | {ratio} | {'–' if floor is None else f'{floor:.2f}×'} |")
    return lines


def _first_view_section(results):
    steps, chunks = results["first_view_steps"], results["first_view_steps"]["plotly_chunk"]
    view = results["first_view_s"]
    lines = [
        "## First view, step by step",
        "",
        "A fresh server for every run: the app opened on its self-attention page, the floor app (one slider, one "
        "16 × 16 heatmap) the same way. Milliseconds from navigation start on the page's clock (Navigation and "
        "Resource Timing; the websocket's open and first message from listeners added before the page's scripts "
        "ran), the median of each step over the runs. The plotly chunk is the script whose name says plotly "
        f"(app: `{chunks['app']}`, floor: `{chunks['floor']}`), timed to its last byte; the first chart is visible "
        "when it has a box and is not hidden.",
        "",
        "| Step | App | Floor |",
        "| --- | --- | --- |",
    ]
    for step, name in STEP_NAMES.items():
        app, floor = steps["app"][step], steps["floor"][step]
        lines.append(f"| {name} | {'–' if app is None else f'{app:.0f} ms'} | {'–' if floor is None else f'{floor:.0f} ms'} |")
    lines += [
        "",
        "Seen from the driver (Playwright's navigation call to the chart visible): app "
        + ", ".join(f"{s:.2f} s" for s in view["runs"]) + "; floor "
        + ", ".join(f"{s:.2f} s" for s in view["floor_runs"]) + ".",
    ]
    memory = results["memory"]
    return lines + [
        "",
        f"Server RSS: {memory['after_start_mb']:.0f} MB after start, {memory['after_first_view_mb']:.0f} MB after "
        f"the first view, {memory['after_soak_mb']:.0f} MB after {memory['soak_presses']} interactions "
        f"(growth {memory['growth_mb']:.1f} MB).",
    ]


def _layers_section(results):
    lines = [
        "## Heatmap payload (figure JSON as `st.plotly_chart` sends it)",
        "",
        "| Tokens | Bytes |",
        "| --- | --- |",
    ]
    lines += [f"| {tokens} | {size:,} |" for tokens, size in results["payload"].items()]
    lines += ["", "## Layer forward time against Keras's built-ins", "", "| Pair | Mode | Ours | Keras | Ratio |",
              "| --- | --- | --- | --- | --- |"]
    for name, modes in results["layers"].items():
        for mode, n in modes.items():
            lines.append(f"| {name} | {mode} | {n['ours_ms']:.3f} ms | {n['keras_ms']:.3f} ms | {n['ratio']:.2f}× |")
    return lines


# Each section and the part of the results it needs.
SECTIONS = [("latency", _latency_section), ("pages", _pages_section), ("first_view_steps", _first_view_section),
            ("layers", _layers_section)]


def markdown(results):
    """bench/RESULTS.md: the targets, then a section for every part `results` holds."""
    machine = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured by `make bench` on {machine['date']}: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gb']} GB, {machine['os']}; Python {machine['python']}, TensorFlow "
        f"{machine['tensorflow']}, Streamlit {machine['streamlit']}, {machine['chromium']} (headless).",
        "",
        "## Targets",
        "",
        "| What | Measured | Target | |",
        "| --- | --- | --- | --- |",
    ]
    rows = targets(results)
    lines += [f"| {what} | {measured} | {target} | {_mark(ok)} |" for what, measured, target, ok in rows]
    reasons = _why_missed(rows)
    if reasons:
        lines += ["", "Why the missed targets are missed:", ""] + [f"- {why}" for why in reasons]
    for part, section in SECTIONS:
        if part in results:
            lines += [""] + section(results)
    return "\n".join(lines) + "\n"
