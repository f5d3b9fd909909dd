"""Which heads matter, as Train and watch and Your model show it: the grid of heads to knock
out, every head's scores as a table and a scatter whose selected head opens large, and attention
rollout beside the last layer's raw map."""

import streamlit as st

from attention_core import InputError, attention_rollout, figures
from attention_core.figures.heads import RECORD_TITLES
from webapp import widgets

SCORE_FORMAT = "%.3f"


def knock_out_grid(layers, prefix):
    """A row of head buttons per layer ({layer name: number of heads}); a pressed head is
    knocked out. Returns the (layer name, head from 0) pairs pressed, in layer order."""
    st.caption("Press heads to knock them out: their context vectors become 0 before the layer's output "
               "projection W_o, every other weight stays the model's. Press again to bring a head back.")
    knocked = []
    for index, (name, count) in enumerate(layers.items()):
        # Keyed by the layer's place and heads: another model's layer starts with no head pressed.
        pressed = st.pills(widgets.as_text(name), list(range(count)), selection_mode="multi",
                           format_func=lambda head: f"head {head + 1}", key=f"{prefix}_knock_out_{index}_of_{count}")
        knocked += [(name, head) for head in sorted(pressed)]
    return tuple(knocked)


def metric_changes(baseline, knocked, shown, show_change):
    """A metric per column: each of `shown` (label, key, format, whether lower is better) with
    its value in `knocked` and, when `show_change`, the change from `baseline` (dicts of numbers)."""
    for column, (label, key, formatted, lower_is_better) in zip(st.columns(len(shown)), shown):
        difference = knocked[key] - baseline[key]
        # A change that shows as zero gets no arrow and no colour ("0.0%", not "↑ -0.0%").
        unchanged = formatted.format(abs(difference)) == formatted.format(0)
        column.metric(label, formatted.format(knocked[key]),
                      delta=formatted.format(0 if unchanged else difference) if show_change else None,
                      delta_color="off" if unchanged else "inverse" if lower_is_better else "normal",
                      delta_arrow="off" if unchanged else "auto")


def scores_view(records, open_head, defaults, prefix, note):
    """Every head's scores as a table, and a scatter of the heads by two chosen scores (bound to
    the URL, keys `prefix`_scatter_x and _scatter_y, their defaults in `defaults`) whose
    selected point opens that head large: `open_head(layer, head)` returns its figure. `records`
    as `figures.head_records` gives them; `note` says what the scores were computed on."""
    names = [name for name in RECORD_TITLES if any(record.get(name) is not None for record in records)]
    rows = [{**record, "head": record["head"] + 1} for record in records]  # heads from 1, as every map counts them
    st.dataframe(rows, hide_index=True, column_order=["layer", "head", *names],
                 column_config={"head": st.column_config.NumberColumn("head", help="From 1, as the maps count heads."),
                                **{name: st.column_config.NumberColumn(RECORD_TITLES[name], format=SCORE_FORMAT)
                                   for name in names}},
                 key=f"{prefix}_score_table")
    st.caption(note)
    axes = {}
    for column, (name, label) in zip(st.columns(2), [("scatter_x", "Across"), ("scatter_y", "Up")]):
        key = f"{prefix}_{name}"
        widgets.keep_valid(key, names)
        axes[name] = column.selectbox(label, names, index=names.index(defaults[key]), format_func=RECORD_TITLES.get,
                                      key=key, bind="query-params")
    x, y = axes["scatter_x"], axes["scatter_y"]
    points = widgets.plot(figures.head_scatter(records, x, y, title="Every head by two scores"), f"{prefix}_scatter",
                          select_points=True)
    if not points:
        st.caption("Click a head's point to open its map large.")
        return
    record = records[points[0]["customdata"]]
    widgets.plot(open_head(record["layer"], record["head"]), key=f"{prefix}_scatter_head")


def rollout_pair(stack, query_labels, key_labels, prefix):
    """Attention rollout through `stack` ({layer name: (N, T, T)}, first layer first) beside the
    last layer's raw map (its heads' mean)."""
    try:
        rollout = attention_rollout(list(stack.values()))
    except InputError as error:
        widgets.show_input_error(error)
        return
    last = list(stack)[-1]
    st.caption(f"Rollout (Abnar and Zuidema 2020) multiplies the {len(stack)} layers' head-mean maps, each "
               "mixed half and half with the identity for the residual connection: row i says how much of each "
               "input position has flowed into position i after the last layer. It follows how attention mixes "
               "positions, not which inputs the output depends on.")
    left, right = st.columns(2)
    with left:
        widgets.plot(figures.attention_heatmap(rollout.astype("float32"), query_labels, key_labels,
                                               title=f"Rollout through {len(stack)} layer(s)"), key=f"{prefix}_rollout")
    with right:
        widgets.plot(figures.attention_heatmap(stack[last].mean(axis=0).astype("float32"), query_labels, key_labels,
                                               title=f"{last} alone (mean of its heads)"), key=f"{prefix}_last_layer")

