"""The floor: the cheapest slider -> plotly heatmap round trip Streamlit allows on this machine.

One slider, one 16x16 heatmap computed with NumPy, nothing else (FLOOR_SIZE=N draws N x N). `make bench` measures it beside
the real app in the same run, so their ratio survives the machine's drift. Two switches test
the diagnosis that TensorFlow's objects slow every rerun's garbage collection:
FLOOR_IMPORT_TENSORFLOW=1 imports TensorFlow; FLOOR_GC_FREEZE=1 then freezes the collector's
view of it, once per process, as the app does.
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

size = int(os.environ.get("FLOOR_SIZE", "16"))
seed = st.slider("Seed", 0, 99, 0, key="floor_seed")
weights = np.random.default_rng(seed).random((size, size)).astype(np.float32)
st.plotly_chart(go.Figure(go.Heatmap(z=weights)), key="floor_weights")
