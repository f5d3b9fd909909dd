"""The Markdown table `make bench` commits: every figure beside its target."""

FLOOR = "numpy"


# Why a target is missed, printed under the table when it is: (the targets' names start with one
# of these, the finding of a measurement).
WHY_MISSED = [
    (("Interaction median at 16 tokens",),
     "The floor redraws one slider and one unlabelled heatmap. A slider move on the self-attention "
     "page reruns its fragment: Streamlit re-registers its 11 URL-bound widgets and redraws the "
     "tabs, captions and download expander, Keras runs the layer with the seed's weights "
     "(~3 ms for the weights, ~9 ms for the eager forward and its trace at 16 tokens), and plotly draws a heatmap "
     "with labelled axes, hover text and a colour bar."),
    (("Interaction median at 512 tokens",),
     "Streamlit alone needs longer than the target to redraw a bare 512 × 512 float heatmap "
     "(the floor row below); the app sends the map as a PNG image, which leaves the layer's "
     "eager forward, the image encoding and Streamlit's own rerun."),
    (("First view",),
     "The floor app, one slider and one heatmap, takes about as long the same way: the time goes "
     "to Chromium evaluating Streamlit's front end and its 4.7 MB plotly bundle. Preloading that "
     "bundle from the page's HTML (modulepreload, or an early import) did not shorten it here."),
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


def targets(results):
    """(what, measured, target, met) rows for every target of the performance issue."""
    latency, floor = results["latency"]["app"], results["latency"]["floor"][FLOOR]
    ratio_16 = latency["16"]["median_ms"] / floor["median_ms"]
    rows = [
        ("Interaction median at 16 tokens / floor", f"{ratio_16:.2f}×", "≤ 1.0×", ratio_16 <= 1.0),
        ("Interaction median at 512 tokens", f"{latency['512']['median_ms']:.0f} ms", "≤ 400 ms",
         latency["512"]["median_ms"] <= 400),
        ("Interaction median at 1024 tokens", f"{latency['1024']['median_ms']:.0f} ms", "≤ 1000 ms",
         latency["1024"]["median_ms"] <= 1000),
        ("First view on a started server (median)",
         f"{results['first_view_s']['median']:.2f} s (floor app: {results['first_view_s']['floor_median']:.2f} s)",
         "≤ 2 s", results["first_view_s"]["median"] <= 2),
        (f"RSS growth over {results['memory']['soak_presses']} interactions",
         f"{results['memory']['growth_mb']:.1f} MB", "≤ 50 MB", results["memory"]["growth_mb"] <= 50),
        ("Heatmap payload at 1024 tokens", f"{results['payload']['1024'] / 1e6:.2f} MB", "≤ 4 MB",
         results["payload"]["1024"] <= 4e6),
    ]
    for name, modes in results["layers"].items():
        for mode, numbers in modes.items():
            rows.append((f"{name} ({mode})", f"{numbers['ratio']:.2f}×", "≤ 1.0×", numbers["ratio"] <= 1.0))
    return rows


def markdown(results):
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
    lines += [
        "",
        "## Interaction latency: key press on a slider → heatmap re-rendered with new data",
        "",
        "| Configuration | Median | p90 | Bytes received (median) | Presses |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows = [(f"floor: {name}", numbers) for name, numbers in results["latency"]["floor"].items()]
    rows += [(f"app, self-attention page, {tokens} tokens", numbers) for tokens, numbers in results["latency"]["app"].items()]
    lines += [
        f"| {name} | {n['median_ms']:.0f} ms | {n['p90_ms']:.0f} ms | {n['median_bytes']:,.0f} | {n['presses']} |"
        for name, n in rows
    ]
    memory = results["memory"]
    lines += [
        "",
        "## First view and memory",
        "",
        "First view (fresh server, open the self-attention page → heatmap visible): "
        + ", ".join(f"{s:.2f} s" for s in results["first_view_s"]["runs"])
        + ". The floor app (one slider, one heatmap) on fresh servers, the same way: "
        + ", ".join(f"{s:.2f} s" for s in results["first_view_s"]["floor_runs"]) + ".",
        "",
        f"Server RSS: {memory['after_start_mb']:.0f} MB after start, {memory['after_first_view_mb']:.0f} MB after "
        f"the first view, {memory['after_soak_mb']:.0f} MB after {memory['soak_presses']} interactions "
        f"(growth {memory['growth_mb']:.1f} MB).",
        "",
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
    return "\n".join(lines) + "\n"
