"""Plotly figures: pure functions from NumPy arrays and labels to a `plotly.graph_objects.Figure`.

They never show a figure (the pages call `st.plotly_chart`) and import neither Keras nor
Streamlit. `style` is the shared look; `heatmaps` the matrices and bars; `diagrams` the Q/K/V
pipeline, the dense network and the encoder loop; `learning` Train and watch's alignment,
learning curves and model view; `heads` the heads placed by their scores and their scores over
training.
"""

# ruff: noqa: F401 (the public builders, re-exported)
from attention_core.figures.diagrams import (
    PIPELINE_FLOWS,
    dense_network_figure,
    encoder_attention_loop_figure,
    qkv_pipeline_figure,
)
from attention_core.figures.heatmaps import (
    EXACT_CELL_LIMIT,
    attention_heatmap,
    bar_chart,
    dot_product_figure,
    heatmap,
    mask_heatmap,
)
from attention_core.figures.heads import RECORD_TITLES, head_records, head_scatter, score_over_steps
from attention_core.figures.learning import (
    alignment_heatmap,
    learning_curves,
    model_view,
    model_view_maps,
)
