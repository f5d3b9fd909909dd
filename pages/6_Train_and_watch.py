"""Train and watch: a sequence-to-sequence model (a GRU encoder-decoder with attention, or a
Transformer) learns where to look, and the alignment forms live."""

import streamlit as st

import attention_core as ac
from attention_core import InputError, figures
from attention_core.figures.learning import (
    alignment_heatmap,
    learning_curves,
    model_view,
)
from attention_core.heads.scores import scored_names
from attention_core.learning import training, transformer, transformer_learner
from attention_core.text import explain
from attention_core.your_model import gate
from webapp import heads_lab, training_jobs, turns, url_notes, weight_sources, widgets
from webapp.training_jobs import TrainingJob

widgets.configure_page("Train and watch")
DEFAULTS = widgets.Defaults(
    tw_task="reverse",
    tw_length=8,
    tw_mechanism="additive",
    tw_units=64,
    tw_layers=training.DEFAULT_LAYERS,
    tw_heads=training.DEFAULT_HEADS,
    tw_learning_rate=training.DEFAULT_LEARNING_RATE,
    tw_epochs=training.DEFAULT_EPOCHS,
    tw_seed=0,
    tw_scatter_x="entropy",
    tw_scatter_y="mean_distance",
)
TASK_HELP = ("copy: output the input; reverse: output it backwards; sort: output it sorted; dates: a date as "
             "people write it (3 March 2026, tue 3 mar 26, 03.03.2026, ...) into ISO (2026-03-03).")
EXAMPLE_INPUTS = {"dates": "March 3, 2026"}
LIVE_INTERVAL = 0.5  # seconds between redraws while a run trains
ACTIVE = (training.RunStatus.WAITING, training.RunStatus.TRAINING)

st.title("Train and watch")
st.markdown(
    "Every other page shows attention with **random weights** until you bring trained ones. Here a small "
    "encoder-decoder learns a task, and you watch **where it learns to look**. The encoder (a GRU, or a "
    "Transformer's self-attention layers) reads the input; at every output step the decoder asks the "
    "attention which input positions matter. "
    "Press **Play**: the heatmap is the model's attention for one held-out example, redrawn as "
    "it trains, beside the **ideal alignment** (where a perfect model would look). The "
    "**alignment score** is the share of output steps whose strongest weight falls on an ideal "
    "position."
)
GRU_NOTE = (
    "The GRU encoder reads the input in the order the output visits it (right to left for reverse). "
    "In training the decoder is fed the previous correct symbol; an encoder that had already read "
    "the next symbol there would let the model look one step behind and still be right. For sort, whose "
    "order comes from content, the attention also sees how much each position has been read already "
    "(coverage), so it can tell a symbol already written from one still to come; and in training 30% of "
    "the previous symbols fed to the decoder are blanked, so it cannot decode a blurred attention by "
    "knowing the previous one."
)
TRANSFORMER_NOTE = (
    "**The Transformer** (Vaswani et al. 2017) has no recurrence. Each symbol's embedding gets a sinusoidal "
    "position signal added; the encoder's layers of multi-head **self-attention** let every input position "
    "read every other (a shorter date's padding is masked: weight 0). Each decoder layer first reads the "
    "decoder's own inputs (the start symbol, then what it wrote so far) through **causal self-attention**, "
    "which never lets a step see a later one, so its maps are 0 above the diagonal: a **triangle**. Then "
    "its **cross-attention** reads the encoder's output, and that is where an alignment can form. Every "
    "layer has several heads, each with a map of its own: the **model view** below draws them all, layer "
    "by layer. The learned alignment drawn is one cross-attention head, the one whose alignment score on the "
    "held-out frame examples is best at that frame (it can change as training goes); on reverse, look for "
    "the **anti-diagonal** forming in it. Heads need not all align: the model may spread the work over "
    "several heads and layers, so on sort, whose order comes from content, no one head matches the ideal "
    "as closely as on copy or reverse. As for the GRU, in training 30% of sort's previous symbols fed to the "
    "decoder are blanked. These are Keras's own `MultiHeadAttention` layers, and the maps are the weights "
    "they return."
)


@st.cache_resource(max_entries=16, show_spinner=False)
def task_for(name, length):
    """The task shared by every session (its arrays are read-only)."""
    return ac.make_task(name, length=length)


@url_notes.notes_link_changes
def settings_controls():
    with st.sidebar:
        st.header("Settings")
        # Options without a format_func: the URL holds what an option shows, kept short.
        name = st.selectbox("Task", ac.TASK_NAMES, index=ac.TASK_NAMES.index(DEFAULTS["tw_task"]), key="tw_task",
                            bind="query-params", help=TASK_HELP)
        length = st.slider("Sequence length", 4, 32, DEFAULTS["tw_length"], key="tw_length", bind="query-params",
                           disabled=name == "dates", help="Dates have their own length (up to 18 characters).")
        mechanism = st.radio("Attention", training.TRAINABLE_MECHANISMS, key="tw_mechanism", bind="query-params",
                             help="additive: the starter code's BahdanauAttention (W1, W2, V), and dot: scaled dot-product "
                                  "(no weights of its own), each read by a GRU encoder-decoder; transformer: an "
                                  "encoder-decoder Transformer of multi-head attention layers.")
        units = st.select_slider("Units", [16, 32, 64, 128], DEFAULTS["tw_units"], key="tw_units", bind="query-params")
        shape = {}
        if mechanism == "transformer":
            shape["num_layers"] = st.slider("Layers (encoder and decoder, each)", 1, transformer_learner.MAX_LAYERS,
                                            DEFAULTS["tw_layers"], key="tw_layers", bind="query-params")
            # Each of these divides every choice of units.
            shape["num_heads"] = st.select_slider("Heads", [1, 2, 4, 8], DEFAULTS["tw_heads"], key="tw_heads",
                                                  bind="query-params",
                                                  help="Heads per attention layer; each reads units / heads of the width.")
        learning_rate = st.select_slider("Learning rate", [0.001, 0.003, 0.01, 0.03], DEFAULTS["tw_learning_rate"],
                                         key="tw_learning_rate", bind="query-params")
        epochs = st.slider("Epochs", 1, 10, DEFAULTS["tw_epochs"], key="tw_epochs", bind="query-params")
        seed = st.slider("Seed (weights and batch order)", 0, 99, DEFAULTS["tw_seed"], key="tw_seed", bind="query-params")
        DEFAULTS.reset_button()
    task = task_for(name, 0 if name == "dates" else length)  # dates ignore the length: one cache entry
    return task, {"mechanism": mechanism, "units": units, "epochs": epochs, "learning_rate": learning_rate, "seed": seed,
                  **shape}


def session_run(task, options):
    """This session's run for these settings: its own, else a finished one from the cache
    (unless Reset cleared it)."""
    wanted = ac.Run.settings_for(task, **options)
    run = st.session_state.get("tw_run")
    if run is not None and run.settings != wanted:
        TrainingJob.of(run).cancel()  # the settings moved on, and a session has one run
        run = st.session_state["tw_run"] = None
    if run is None and st.session_state.get("tw_cleared") != wanted:
        run = st.session_state["tw_run"] = training_jobs.FINISHED_RUNS.get(wanted)
    return run


def new_run(task, options):
    st.session_state.pop("tw_cleared", None)
    run = st.session_state["tw_run"] = ac.Run(task, **options)
    return run


# The buttons act in callbacks, which run before the page is drawn, so every button shows the
# state its press led to.
def play(task, options):
    run = st.session_state.get("tw_run")
    if run is None:
        TrainingJob(new_run(task, options)).start()
    else:
        TrainingJob.of(run).play()


def pause():
    TrainingJob.of(st.session_state["tw_run"]).pause()


def step(task, options):
    run = st.session_state.get("tw_run")
    if run is None:
        job = TrainingJob(new_run(task, options))
        job.step()
        job.start()
    else:
        TrainingJob.of(run).step()


def reset(task, options):
    run = st.session_state.get("tw_run")
    if run is not None:
        TrainingJob.of(run).cancel()
    st.session_state["tw_cleared"] = ac.Run.settings_for(task, **options)
    st.session_state["tw_run"] = None


def controls(task, options, run):
    """Play, Pause, Step (one epoch) and Reset, as in TensorFlow Playground."""
    status = run.status if run else training.RunStatus.READY
    done = status in (*ACTIVE, training.RunStatus.FINISHED)
    for column, (label, icon, callback, args, disabled, help_text) in zip(st.columns(4), [
        ("Play", "play_arrow", play, (task, options), done,
         f"Train, live. The server trains {training_jobs.MAX_CONCURRENT_RUNS} run at a time; another waits its turn."),
        ("Pause", "pause", pause, (), status not in ACTIVE, "Stop after this batch; Play goes on."),
        ("Step", "skip_next", step, (task, options), done, "Train one epoch, then pause."),
        ("Reset", "restart_alt", reset, (task, options), False, "Stop and forget this run."),
    ]):
        column.button(label, icon=f":material/{icon}:", key=f"tw_{label.lower()}", on_click=callback, args=args,
                      disabled=disabled, help=help_text, use_container_width=True)


def symbols(task, ids):
    """One label per id: the task's symbol (a space shows as ␣)."""
    return training.symbol_labels(task, ids)


def alignment_pair(task, alignment, ideal, source, target, key, title):
    left, right = st.columns(2)
    inputs, outputs = symbols(task, source), symbols(task, target)
    with left:
        widgets.plot(alignment_heatmap(alignment, outputs, inputs, title=title), key=f"{key}_learned")
    with right:
        widgets.plot(alignment_heatmap(ideal, outputs, inputs, title="Ideal alignment"), key=f"{key}_ideal")


def curves(run):
    """Loss, accuracy and alignment score over every recorded frame (step 0: untrained)."""
    frames = run.history
    widgets.plot(learning_curves([f.step for f in frames], [f.loss for f in frames], [f.accuracy for f in frames],
                            [f.alignment_score for f in frames]), key="tw_curves")


def status_line(run):
    settings = run.settings
    if run.status == training.RunStatus.WAITING:
        st.info(f"Waiting for a free training slot: this server trains {training_jobs.MAX_CONCURRENT_RUNS} run(s) at a time. "
                "Yours starts as soon as one finishes.", icon=":material/hourglass_top:")
    elif run.status == training.RunStatus.FAILED:
        st.error(f"Training stopped with an error: {run.error}")
    total_steps = settings["epochs"] * run.steps_per_epoch
    st.progress(min(run.steps_done / total_steps, 1.0),
                text=f"{run.status.capitalize()}: epoch {run.epochs_done} of {settings['epochs']} done, "
                     f"step {run.steps_done} of {total_steps}")


def live_view(task):
    """The run's latest frame, redrawn every LIVE_INTERVAL seconds while it trains."""
    run = st.session_state.get("tw_run")
    if run is None:
        st.info("Press **Play** to train with these settings, or **Step** to train one epoch at a time.",
                icon=":material/play_arrow:")
        return
    TrainingJob.of(run).touch()
    status_line(run)
    if run.history:
        frame = run.history[-1]
        examples = f"on {training.FRAME_EXAMPLES} held-out examples, greedy-decoded"
        for column, (label, value, help_text) in zip(st.columns(3), [
            ("Alignment score", frame.alignment_score, f"Output steps whose strongest weight is on an ideal position, {examples}."),
            ("Held-out accuracy", frame.accuracy, f"Output symbols right, {examples}."),
            ("Exact match", frame.exact_match, f"Whole outputs right, {examples}."),
        ]):
            column.metric(label, f"{value:.1%}", help=help_text)
        alignment_pair(task, frame.alignment, run.probe_ideal, run.probe_source, task.solve(run.probe_source), "tw_live",
                       f"Learned alignment, step {frame.step}")
        if run.is_transformer:
            st.caption(f"The learned alignment is **{frame.alignment_choice}**: {transformer_learner.ALIGNMENT}.")
            every_head(frame.maps, run.frame_labels(frame), f"Model view, step {frame.step}", "tw_live")
        curves(run)
    if st.session_state.get("tw_was_active") and run.status not in ACTIVE:
        st.session_state["tw_was_active"] = False
        st.rerun(scope="app")  # training stopped: show what needs a stopped run
    st.session_state["tw_was_active"] = run.status in ACTIVE


def every_head(maps, token_labels, title, prefix):
    """The model view (every layer x head) of one example's maps, and one head opened large."""
    source_labels, decoder_labels = token_labels
    labels = {name: transformer.query_and_key_labels(name, source_labels, decoder_labels) for name in maps}
    st.subheader("Every layer and head")
    st.caption("A row per attention layer, in the order the model calls them, a column per head. Encoder rows "
               "read the input (queries and keys are its symbols); decoder rows read from the decoder's inputs "
               "(the start symbol, then what it wrote): self-attention over those same inputs, cross-attention "
               "over the input. Hover for the symbols and the weight.")
    # Built once per frame: the live view redraws every LIVE_INTERVAL, mostly with no new frame.
    built = st.session_state.get(f"{prefix}_model_view_built")
    if built is None or built[0] is not maps or built[1] != title:
        built = st.session_state[f"{prefix}_model_view_built"] = (maps, title, model_view(maps, labels, title=title))
    widgets.plot(built[2], key=f"{prefix}_model_view")
    heads = [(name, head) for name in maps for head in range(len(maps[name]))]
    name, head = st.selectbox("Open a head", heads, key=f"{prefix}_head", format_func=lambda h: f"{h[0]}, head {h[1] + 1}")
    query_labels, key_labels = labels[name]
    widgets.plot(figures.attention_heatmap(maps[name][head].astype("float32"), query_labels, key_labels,
                                      title=f"{name}, head {head + 1}"), key=f"{prefix}_open_head")


# A fragment: scrubbing redraws this section only, not Try it's decoding and the rest of the page.
@st.fragment
def replay(task, run):
    st.header("Replay: how the alignment formed")
    frames = run.history
    index = st.select_slider("Recorded step", options=list(range(len(frames))), value=len(frames) - 1, key="tw_frame",
                             format_func=lambda i: f"step {frames[i].step} (epoch {frames[i].epoch:.2f})")
    frame = frames[index]
    st.caption(f"Loss {frame.loss:.4f} · held-out accuracy {frame.accuracy:.1%} · alignment score {frame.alignment_score:.1%}")
    widgets.plot(alignment_heatmap(frame.alignment, symbols(task, task.solve(run.probe_source)),
                              symbols(task, run.probe_source), title=f"Alignment at step {frame.step}"),
            key="tw_replay")
    if run.is_transformer:
        st.caption(f"The alignment at this step is {frame.alignment_choice}.")
        every_head(frame.maps, run.frame_labels(frame), f"Model view at step {frame.step}", "tw_replay")
        heads_forming(run, frame)
        st.subheader("Across the encoder's layers")
        source_labels, _ = run.frame_labels(frame)
        heads_lab.rollout_pair(transformer.encoder_maps(frame.maps), source_labels, source_labels, "tw_replay")


def heads_forming(run, frame):
    """Every head's score over the recorded frames, with the step each formed, and the replay's step marked."""
    st.subheader("Heads forming")
    frames = run.history
    frame_scores = [recorded.head_scores for recorded in frames]
    names = scored_names(frames[-1].head_scores)
    # The last: agreement with the ideal alignment, where the task has one.
    name = st.selectbox("Score", names, index=len(names) - 1, format_func=figures.RECORD_TITLES.get,
                        key="tw_formation_score", help="Each head's score over the frame examples at every recorded step.")
    steps = [recorded.step for recorded in frames]
    heads, values = ac.score_series(frame_scores, name)
    formed = ac.formation_steps(steps, heads, values)
    widgets.plot(figures.score_over_steps(steps, heads, values, formed, name, current_step=frame.step,
                                          title=f"{figures.RECORD_TITLES[name]}, every head"), key="tw_formation")
    (layer, head), value = ac.strongest_head(heads, values)
    step = formed[(layer, head)]
    when = "has not settled on a pattern" if step is None else f"formed at step {step}"
    st.caption(f"A star marks where a head formed: from that step on, its score stays near its final value (within "
               f"{ac.FORMATION_TOLERANCE:.0%} of the range it moved in training). Highest now: **{layer}, head "
               f"{head + 1}** ({value:.3f}), which {when}. The dotted line is the replay's step.")


def which_heads_matter(run):
    """Knock heads out and see the held-out metrics move; every head's scores and importance."""
    st.header("Which heads matter")
    knock_out_lab(run)
    frame = run.history[-1]
    try:
        importance = turns.in_turn(
            lambda: run_result(run, "importance", lambda: run.head_importance(training.FRAME_EXAMPLES)))
    except InputError as error:
        widgets.show_input_error(error)
        return
    st.subheader("Every head's scores")
    labels = run.frame_labels(frame)

    def open_head(layer, head):
        query_labels, key_labels = transformer.query_and_key_labels(layer, *labels)
        return figures.attention_heatmap(frame.maps[layer][head].astype("float32"), query_labels, key_labels,
                                         title=f"{layer}, head {head + 1} (step {frame.step})")

    heads_lab.scores_view(figures.head_records(frame.head_scores, importance), open_head, DEFAULTS, "tw",
                          note=f"Scores over {training.FRAME_EXAMPLES} held-out examples at step {frame.step}; "
                               "importance is Michel et al.'s (2019): how much the held-out loss moves per unit of a "
                               "head's gate, averaged over the examples as absolute values.")


def run_result(run, key, compute):
    """`compute()` kept for this session's run as it is now (its step), under `key` ("importance", or
    the heads knocked out)."""
    kept = st.session_state.get("tw_run_results")
    if kept is None or kept[0] is not run or kept[1] != run.steps_done:
        kept = st.session_state["tw_run_results"] = (run, run.steps_done, {})
    if key not in kept[2]:
        kept[2][key] = compute()
    return kept[2][key]


# A fragment: pressing a head redraws this section only.
@st.fragment
def knock_out_lab(run):
    st.subheader("Knock heads out")
    layers = {name: run.settings["num_heads"] for name in transformer.attention_names(run.settings["num_layers"])}
    heads = heads_lab.knock_out_grid(layers, "tw")

    def metrics(knocked):
        return run_result(run, knocked, lambda: run.evaluate(training.FRAME_EXAMPLES, knock_out=knocked))

    try:
        baseline, knocked = turns.in_turn(lambda: (metrics(()), metrics(heads)))
    except InputError as error:
        widgets.show_input_error(error)
        return
    which = f"with {explain.plural(len(heads), 'head')} knocked out" if heads else "with every head"
    st.caption(f"On {training.FRAME_EXAMPLES} held-out examples, greedy-decoded, {which}; the change is against the "
               "whole model.")
    heads_lab.metric_changes(baseline, knocked, [
        ("Held-out accuracy", "accuracy", "{:.1%}", False), ("Exact match", "exact_match", "{:.1%}", False),
        ("Held-out loss", "loss", "{:.4f}", True), ("Alignment score", "alignment_score", "{:.1%}", False),
    ], show_change=bool(heads))


def try_it(task, run, prefix):
    """Type an input; see the model's output, its alignment and the additive pipeline."""
    example = EXAMPLE_INPUTS.get(task.name, task.decode(task.heldout_sources[1]))
    text = st.text_input(f"Your input ({'a date in any supported format' if task.name == 'dates' else f'{task.length} symbols from {task.symbols[0]} to {task.symbols[-1]}'})",
                         example, key=f"{prefix}_text", bind="query-params")
    try:
        source = task.encode(text)
    except InputError as error:
        widgets.show_input_error(error)
        return
    outputs, alignment = run.predict(source)
    expected = task.decode(task.solve(source))
    st.markdown(f"Output: `{task.decode(outputs)}` · correct: `{expected}`")
    alignment_pair(task, alignment, task.ideal_alignment(source), source, outputs, f"{prefix}_typed", "Its alignment")
    if run.is_transformer:
        st.caption(f"Its alignment is {run.alignment_choice}. One head's whole pipeline (Q, K, V = x·W + b, the "
                   "scores, the softmax) is on the [Self-attention](self-attention) page: choose "
                   "**Weights from: Train and watch** there.")
        every_head(run.attention(source), run.token_labels(source), "Model view of your input", f"{prefix}_typed")
        return
    if run.settings["mechanism"] != "additive":
        st.caption("The step-by-step pipeline below is for additive attention: choose it in the sidebar.")
        return
    additive_pipeline(task, run, source, outputs, prefix)


def additive_pipeline(task, run, source, outputs, prefix):
    st.subheader("One output step through the trained additive attention")
    labels = symbols(task, outputs)
    step = st.selectbox("Output step", list(range(len(outputs))), key=f"{prefix}_output_step",
                        format_func=lambda i: f"#{i + 1} '{labels[i]}'")
    trace = run.attention_trace(source, step)
    inputs = symbols(task, source)
    unit_labels = [f"u{u}" for u in range(trace.features_projection.shape[1])]
    coverage = " plus coverage(read), what the earlier output steps read there" if run.model.coverage else ""
    st.markdown(f"`features` are the encoder's states over the input{coverage}; `hidden` is the decoder's state "
                "at this step.")
    left, right = st.columns(2)
    with left:
        widgets.plot(figures.heatmap(trace.features_projection, inputs, unit_labels, title="W1(features)",
                                row_title="input position", col_title="unit"), key=f"{prefix}_w1")
    with right:
        widgets.plot(figures.heatmap(trace.hidden_projection, ["hidden"], unit_labels, title="W2(hidden_with_time_axis)",
                                col_title="unit"), key=f"{prefix}_w2")
    widgets.plot(figures.heatmap(trace.score, inputs, unit_labels, title="score = tanh(W1(features) + W2(hidden))",
                            row_title="input position", col_title="unit"), key=f"{prefix}_score")
    left, right = st.columns(2)
    with left:
        widgets.plot(figures.bar_chart(trace.logits[:, 0], inputs, title="V(score): one number per input position",
                                  value_name="logit"), key=f"{prefix}_logits")
    with right:
        widgets.plot(figures.bar_chart(trace.weights[:, 0], inputs, title="softmax: attention weights", value_name="weight"),
                key=f"{prefix}_weights")
    widgets.plot(figures.bar_chart(trace.context, unit_labels, title="Context vector: Σ weight × feature", value_name="value"),
            key=f"{prefix}_context")


def loaded_run(task, upload):
    """The Run of an uploaded file for this task, or the InputError refusing it; kept for the
    session, since loading (the gate, Keras, the first compiled decoding) takes seconds and the
    page reruns on every control."""
    key = (upload.file_id, training_jobs.FinishedRuns.key(task.settings))
    kept = st.session_state.get("tw_loaded")
    if kept is None or kept[0] != key:
        try:
            loaded = ac.Run.load(task, upload.getvalue())
        except InputError as error:
            loaded = error
        kept = st.session_state["tw_loaded"] = (key, loaded)
    return kept[1]


def save_and_load(task, run):
    st.header("Save and load")
    if run is not None and run.status in weight_sources.INSPECTABLE_STATUSES:
        st.download_button("Download the trained model (.keras)", data=lambda: ac.model_bytes(run.model),
                           file_name=f"{'transformer' if run.is_transformer else 'attention'}-{task.name}.keras", mime="application/octet-stream",
                           key="tw_download", on_click="ignore", icon=":material/download:")
    upload = st.file_uploader("Load a model trained here (.keras)", type=["keras"], key="tw_upload",
                              max_upload_size=gate.MAX_MODEL_MB,
                              help=f"A .keras file this page saved, at most {gate.MAX_MODEL_MB} MB.")
    if upload is None:
        return
    loaded = loaded_run(task, upload)
    if isinstance(loaded, InputError):
        widgets.show_input_error(loaded)
        return
    settings = loaded.settings
    shape = (f", {explain.plural(settings['num_layers'], 'layer')} of {explain.plural(settings['num_heads'], 'head')}"
             if loaded.is_transformer else "")
    st.success(f"Loaded: {settings['mechanism']} attention, {settings['units']} units{shape}.", icon=":material/check:")
    try_it(task, loaded, "tw_loaded")


task, options = settings_controls()
st.caption(TRANSFORMER_NOTE if options["mechanism"] == "transformer" else GRU_NOTE)
run = session_run(task, options)
controls(task, options, run)
active = run is not None and run.status in ACTIVE
st.session_state["tw_was_active"] = active
st.fragment(live_view, run_every=LIVE_INTERVAL if active else None)(task)

if run is not None and run.history and not active:
    replay(task, run)
    if run.is_transformer:
        which_heads_matter(run)
    st.header("Try it")
    try_it(task, run, "tw")
save_and_load(task, run)
