"""The Markdown table `make bench` commits: every figure beside its target."""

FLOOR = "numpy"


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
    lines += [f"| {what} | {measured} | {target} | {_mark(ok)} |" for what, measured, target, ok in targets(results)]
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
