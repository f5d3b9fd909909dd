"""The floor: the cheapest slider -> plotly round trip Streamlit allows on this machine.

One slider and NumPy-filled heatmaps, nothing else. By default one 16x16 heatmap
(FLOOR_SIZE=N draws N x N); FLOOR_CHARTS="5x4,5x32,1x5" draws one heatmap per entry, rows x
columns, so a page's floor draws the same charts with the same number of cells as the page.
`make bench` measures it beside the real app in the same run, so their ratio survives the
machine's drift. Two switches test the diagnosis that TensorFlow's objects slow every rerun's
garbage collection: FLOOR_IMPORT_TENSORFLOW=1 imports TensorFlow; FLOOR_GC_FREEZE=1 then freezes
the collector's view of it, once per process, as the app does.
"""

import gc
import os

import numpy as np
import plotly.graph_objects as go
import streamlit as st

if os.environ.get("FLOOR_IMPORT_TENSORFLOW") == "1":
    import tensorflow  # noqa: F401

    if os.environ.get("FLOOR_GC_FREEZE") == "1" and gc.get_freeze_count() == 0:
        gc.freeze()

size = os.environ.get("FLOOR_SIZE", "16")
shapes = [tuple(int(n) for n in shape.split("x")) for shape in os.environ.get("FLOOR_CHARTS", f"{size}x{size}").split(",")]
seed = st.slider("Seed", 0, 99, 0, key="floor_seed")
rng = np.random.default_rng(seed)
for index, shape in enumerate(shapes):
    weights = rng.random(shape).astype(np.float32)
    st.plotly_chart(go.Figure(go.Heatmap(z=weights)), key="floor_weights" if index == 0 else f"floor_weights_{index}")
