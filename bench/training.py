"""Train and watch against its targets: `python -m bench.training [--seeds N] [--mechanism M] [--latency] [--browser]`.

The GRU encoder-decoder's ("additive", the page's default, or "dot") are issue 9's; the
Transformer's (`--mechanism transformer`) issue 16's. For each task on the page's defaults
(`make_task` and `train` as they are, the mechanism aside), from the moment Play
would make the run (model built, compiled) until:
- the target is met on a frame (the first 200 held-out examples, greedy-decoded), and
- the target is met on the whole held-out set (500 examples), checked at each epoch's end;
and how many frames were recorded before the alignment score first passed 90%. With
`--latency`, in Chromium on serve.py: the self-attention page's slider-to-heatmap latency in one
tab, idle and then while another tab's Train and watch run trains (target: at most 2x idle).
With `--browser`, also in Chromium: from pressing Play on the page to the figure meeting the targets.
Writes bench/training.json (bench/training-transformer.json for the Transformer) and
bench/TRAINING.md (a section per results file: the table, and why each missed target is
missed). Runs alone: it uses both cores.
"""

import argparse
import json
import pathlib
import time

import attention_core as ac  # first: it sets TensorFlow's environment
from attention_core.learning import training

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = {"gru": ROOT / "bench" / "training.json", "transformer": ROOT / "bench" / "training-transformer.json"}
REPORT = ROOT / "bench" / "TRAINING.md"

# (label, make_task arguments, accuracy measure, accuracy target, alignment target, seconds)
GRU_TARGETS = [
    ("Reverse, length 8", {"name": "reverse", "length": 8}, "accuracy", 0.99, 0.95, 10),
    ("Reverse, length 32", {"name": "reverse", "length": 32}, "accuracy", 0.99, 0.90, 60),
    ("Sort, length 8", {"name": "sort", "length": 8}, "accuracy", 0.95, 0.90, 30),
    ("Dates", {"name": "dates"}, "exact_match", 0.99, 0.90, 30),
]
# Issue 16's: the alignment score of the cross-attention head the page draws (see
# attention_core.learning.transformer_learner.ALIGNMENT); dates ask for exact match only.
TRANSFORMER_TARGETS = [
    ("Reverse, length 8", {"name": "reverse", "length": 8}, "accuracy", 0.99, 0.90, 30),
    ("Dates", {"name": "dates"}, "exact_match", 0.99, 0.0, 60),
]
TARGETS = {"gru": GRU_TARGETS, "transformer": TRANSFORMER_TARGETS}
# Issue 9 asks the GRU's alignment to take this many frames to pass 90%, so that it is seen forming.
FRAMES_BEFORE_90 = {"gru": 30, "transformer": 0}
# Why a task misses its target, from measurements (attention_core/learning/encoder_decoder.py has the encoder's).
GRU_WHY_MISSED = {
    "Dates": (
        "Exact match reaches 100% in the first two epochs; the alignment depends on the seed (0.89-0.95). "
        "Seed 1's misses are mostly the first digit of the month (66% inside the field), the second of "
        "the year (70%) and the first of the day (86%): the model reads the separator just after the "
        "field, whose state (read left to right) holds the whole field, as well as the field itself. "
        "Tried on seeds 0-3 (alignment after 4 epochs, against 0.95, 0.89, 0.92, 0.87 as is): each position's "
        "own embedding added to its state, 0.91, 0.94, 0.97, 0.89; coverage (as sort has), 0.92 and 0.88 "
        "(seeds 0-1); word dropout on the fed symbols, 0.82 (seed 1). None holds 90% on every seed, and "
        "the page's default (seed 0) meets the target as is."
    ),
    "Reverse, length 32": (
        "Time to target on the whole held-out set is checked only at each epoch's end; on the frames "
        "the target is met in 25-26 s, and epochs end at ~11-17 s each depending on the machine's load."
    ),
}
WHY_MISSED = {"gru": GRU_WHY_MISSED, "transformer": {}}
HEADINGS = {"gru": "The GRU encoder-decoder: issue 9's targets", "transformer": "The Transformer: issue 16's targets"}
LATENCY_PRESSES = 15


def family(mechanism):
    """"transformer", or "gru" for the GRU encoder-decoder's mechanisms (additive, dot)."""
    return "transformer" if mechanism == "transformer" else "gru"


def first(items, condition):
    return next((item for item in items if condition(item)), None)


def measure(task_arguments, measure_name, accuracy_target, alignment_target, mechanism, seed):
    task = ac.make_task(**task_arguments)
    pressed = time.perf_counter()
    run = ac.Run(task, mechanism=mechanism, seed=seed)
    made = time.perf_counter() - pressed
    run.fit()
    total = time.perf_counter() - pressed

    def met(result):
        return result[measure_name] >= accuracy_target and result["alignment_score"] >= alignment_target

    frame = first(run.history, lambda f: met({measure_name: f[measure_name], "alignment_score": f.alignment_score}))
    epoch = first(run.epoch_results, met)
    passed_90 = first(range(len(run.history)), lambda i: run.history[i].alignment_score >= 0.9)
    final = run.epoch_results[-1]
    return {
        "seed": seed,
        "mechanism": mechanism,
        "seconds_to_build": made,
        "seconds_total": total,
        "frames": len(run.history),
        "seconds_to_target_on_frames": None if frame is None else made + frame.elapsed,
        "seconds_to_target_on_held_out": None if epoch is None else made + epoch["elapsed"],
        "frames_before_alignment_90": passed_90,
        "seconds_to_alignment_90": None if passed_90 is None else made + run.history[passed_90].elapsed,
        "final_accuracy": final["accuracy"],
        "final_exact_match": final["exact_match"],
        "final_alignment_score": final["alignment_score"],
        "epochs": [{key: round(value, 4) for key, value in result.items()} for result in run.epoch_results],
    }


def measure_latency_while_training(mechanism):
    """Median slider-to-heatmap latency on the self-attention page, idle and while a run of
    `mechanism` trains."""
    from playwright.sync_api import sync_playwright

    from bench.run import (
        APP,
        CHROMIUM,
        CHROMIUM_FLAGS,
        Session,
        server,
        summarize,
        token_query,
    )

    with server(APP, "train-latency") as (base, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        session = Session(browser, APP, base, token_query(16))
        session.sweep(3)  # warm
        idle = summarize(session.sweep(LATENCY_PRESSES))
        trainer = browser.new_page(viewport={"width": 1400, "height": 1000})
        trainer.goto(f"{base}/train-and-watch?tw_epochs=10&tw_mechanism={mechanism}")
        trainer.get_by_role("button", name="Play").click()
        progress = trainer.locator('[data-testid="stProgress"]')
        progress.filter(has_text="Training").wait_for(timeout=120_000)
        busy = summarize(session.sweep(LATENCY_PRESSES))
        still_training = "Training" in progress.inner_text()
        browser.close()
    return {"idle": idle, "training": busy, "ratio": busy["median_ms"] / idle["median_ms"],
            "trained_throughout": still_training}


# Each metric's label and value on the page, e.g. {"Alignment score": 0.998}.
_METRICS_JS = """() => Object.fromEntries([...document.querySelectorAll('[data-testid="stMetric"]')].map(m => [
    m.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
    parseFloat(m.querySelector('[data-testid="stMetricValue"]').innerText) / 100]))"""
PAGE_MEASURES = {"accuracy": "Held-out accuracy", "exact_match": "Exact match"}


def measure_play_to_figure(mechanism, time_limit=240):
    """In Chromium, for each task on the page's defaults (with `mechanism`): seconds from pressing
    Play to the first learned-alignment figure, and to the first redraw whose metrics meet the
    task's targets (on the page's 200 held-out frame examples). One fresh server, so no run is
    cached."""
    from playwright.sync_api import sync_playwright

    from bench.run import APP, CHROMIUM, CHROMIUM_FLAGS, server

    results = {}
    with server(APP, "train-play") as (base, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for label, task_arguments, measure_name, accuracy_target, alignment_target, _ in TARGETS[family(mechanism)]:
            settings = {**task_arguments, "mechanism": mechanism}
            query = "&".join(f"tw_{key.replace('name', 'task')}={value}" for key, value in settings.items())
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/train-and-watch?{query}")
            play = page.get_by_role("button", name="Play")
            play.wait_for(timeout=60_000)
            pressed = time.perf_counter()
            play.click()
            first_figure = met = None
            # The first: while a rerun replaces the live view, its old bar may still be on the page.
            progress = page.locator('[data-testid="stProgress"]').first
            while met is None and time.perf_counter() - pressed < time_limit:
                finished = "Finished" in progress.inner_text(timeout=60_000)  # read first: no final frame is missed
                metrics = page.evaluate(_METRICS_JS)
                now = time.perf_counter() - pressed
                if metrics and first_figure is None:
                    first_figure = now
                if (metrics.get(PAGE_MEASURES[measure_name], 0) >= accuracy_target
                        and metrics.get("Alignment score", 0) >= alignment_target):
                    met = now
                elif finished:
                    break
                time.sleep(0.05)
            results[label] = {"seconds_to_first_figure": first_figure, "seconds_to_target": met}
            print(label, "in the browser", json.dumps(results[label]), flush=True)
            # Reset stops the run now; a closed tab's run holds the server's training slot until
            # it counts as abandoned, and the next task would wait for it.
            page.get_by_role("button", name="Reset", exact=True).click()
            progress.wait_for(state="detached", timeout=60_000)
            page.close()
        browser.close()
    return results


def shown(seconds):
    return "never" if seconds is None else f"{seconds:.1f} s"


def target_met(result, seconds, frames_before_90):
    """Both targets met on the whole held-out set within `seconds`, after enough frames."""
    reached, frames_90 = result["seconds_to_target_on_held_out"], result["frames_before_alignment_90"]
    enough_frames = not frames_before_90 or (frames_90 is not None and frames_90 >= frames_before_90)
    return reached is not None and reached <= seconds and enough_frames


def target_text(measure_name, accuracy_target, alignment_target, seconds, frames_before_90):
    alignment = f", alignment ≥ {alignment_target:.0%}" if alignment_target else ""
    frames = f", ≥ {frames_before_90} frames" if frames_before_90 else ""
    return f"{measure_name.replace('_', ' ')} ≥ {accuracy_target:.0%}{alignment} in {seconds} s{frames}"


def table(results, kind):
    lines = [
        "| Task | Target | Seed | Held-out accuracy (final) | Alignment (final) | To target, frames | To target, held-out | Frames before 90% | Met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, _, measure_name, accuracy_target, alignment_target, seconds in TARGETS[kind]:
        for result in results[label]:
            reached = result["seconds_to_target_on_held_out"]
            frames_90 = result["frames_before_alignment_90"]
            met = target_met(result, seconds, FRAMES_BEFORE_90[kind])
            lines.append(
                f"| {label} | {target_text(measure_name, accuracy_target, alignment_target, seconds, FRAMES_BEFORE_90[kind])} "
                f"| {result['seed']} | {result['final_' + measure_name]:.2%} | "
                f"{result['final_alignment_score']:.2%} | {shown(result['seconds_to_target_on_frames'])} | {shown(reached)} | "
                f"{'never' if frames_90 is None else frames_90} | {'yes' if met else 'no'} |"
            )
    return "\n".join(lines)


DEFAULTS_TEXT = {
    "gru": "the page's defaults (additive attention, 64 units, learning rate 0.01 with cosine decay over 4 epochs, "
           "batches of 64, a frame every 2 batches)",
    "transformer": "the page's defaults but Attention: transformer (2 layers, 4 heads, 64 units, learning rate 0.01 "
                   "warmed up over 50 batches, then cosine decay over 4 epochs, batches of 64, a frame every 5 "
                   "batches per 8 output steps (dates: 7) and at each epoch's end; the alignment score is the "
                   "best cross-attention head's)",
}


def section(kind, results):
    """TRAINING.md's lines for one results file (as in bench/training.json)."""
    targets = TARGETS[kind]
    report = table({label: results.get(label, []) for label, *_ in targets}, kind)
    missed = [label for label, *_, seconds in targets if label in WHY_MISSED[kind]
              and not all(target_met(result, seconds, FRAMES_BEFORE_90[kind]) for result in results.get(label, []))]
    latency = results.get("latency")
    seeds = max((len(results.get(label, [])) for label, *_ in targets), default=0)
    mechanism = " --mechanism transformer" if kind == "transformer" else ""
    lines = [
        f"## {HEADINGS[kind]}", "",
        f"`python -m bench.training --seeds {seeds}{mechanism}{' --latency' if latency else ''}"
        f"{' --browser' if results.get('browser') else ''}` on {results['date']}, 2 cores; {DEFAULTS_TEXT[kind]}. "
        "Times run from making the run (Play) to the first frame, or the first epoch's end, at which the targets "
        "hold; runs are deterministic, so a seed's figures other than times repeat exactly.", "", report, "",
    ]
    browser = results.get("browser")
    if browser:
        lines += ["In Chromium, pressing Play on the page (its defaults but the task; a fresh server, so nothing "
                  "cached): seconds to the first learned-alignment figure, and to the first redraw whose metrics "
                  "(200 held-out examples) meet the targets.", "",
                  "| Task | First figure | Targets shown | Limit |", "| --- | --- | --- | --- |"]
        lines += [f"| {label} | {shown(browser[label]['seconds_to_first_figure'])} | "
                  f"{shown(browser[label]['seconds_to_target'])} | {seconds} s |"
                  for label, *_, seconds in targets if label in browser]
        lines.append("")
    if latency:
        lines += [f"Another session's slider-to-heatmap latency on the self-attention page: {latency['idle']['median_ms']:.0f} ms "
                  f"median idle, {latency['training']['median_ms']:.0f} ms while a run trains: {latency['ratio']:.2f}x "
                  "(target: at most 2x).", ""]
    lines += [f"**{label}**: {WHY_MISSED[kind][label]}\n" for label in missed]
    return lines


def write_report():
    """bench/TRAINING.md from the results files there are; returns it."""
    lines = ["# Train and watch: the targets", ""]
    for kind, path in RESULTS.items():
        if path.exists():
            lines += section(kind, json.loads(path.read_text()))
    REPORT.write_text("\n".join(lines))
    return REPORT.read_text()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per task (default 1: the page's seed 0)")
    parser.add_argument("--mechanism", default="additive", choices=training.TRAINABLE_MECHANISMS)
    parser.add_argument("--only", default=None,
                        help="run only the tasks whose label contains this text, keeping the others' results")
    parser.add_argument("--latency", action="store_true", help="also measure another session's latency while training")
    parser.add_argument("--browser", action="store_true", help="also time Play to the figure in Chromium")
    parser.add_argument("--report-only", action="store_true", help="rewrite TRAINING.md from the results, measuring nothing")
    args = parser.parse_args()
    if args.report_only:
        print(write_report())
        return
    kind = family(args.mechanism)
    path = RESULTS[kind]
    # --only measures some tasks again: the others keep their last results.
    results = {**(json.loads(path.read_text()) if args.only and path.exists() else {}), "date": time.strftime("%Y-%m-%d")}
    if args.latency:
        results["latency"] = measure_latency_while_training(args.mechanism)
        print("latency", json.dumps(results["latency"]), flush=True)
    if args.browser:
        results["browser"] = measure_play_to_figure(args.mechanism)
    for label, task_arguments, measure_name, accuracy_target, alignment_target, _ in TARGETS[kind]:
        if args.only and args.only.lower() not in label.lower():
            continue
        results[label] = [measure(task_arguments, measure_name, accuracy_target, alignment_target, args.mechanism, seed)
                          for seed in range(args.seeds)]
        print(label, json.dumps({k: v for k, v in results[label][-1].items() if k != "epochs"}), flush=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(write_report())


if __name__ == "__main__":
    main()
