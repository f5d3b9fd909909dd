"""Start the app with TensorFlow already loaded: `python serve.py [streamlit run options]`.

`streamlit run app.py` imports the app's modules only when the first visitor arrives, so that
visitor would wait for TensorFlow's 2.5-4.5 s import and its first-call set-up. Doing both here,
before the server starts, moves that cost to start-up; the script then finds the modules in
`sys.modules`.
"""

import sys

import numpy as np
from streamlit.web import cli

import attention_core as ac
from webapp import budget, streamlit_patches


def warm_up():
    """Run each kind of layer and figure once, so TensorFlow's first-call set-up and plotly's
    lazy imports of its trace types happen now, not on the first visitor's page."""
    tokens, x = ac.encode_text("warm up", 16)
    trace = ac.trace_self_attention(ac.SelfAttention(4, num_heads=2), x, use_causal_mask=True)
    ac.trace_rnn_with_attention(ac.RNNWithAttention(4), x)
    ac.trace_dense_network(ac.dense_network(2, [2]), [1.0, 2.0])
    ac.figures.attention_heatmap(trace.weights[0], tokens, tokens)
    many = [str(i) for i in range(257)]  # over the exact-cell limit: the image path
    ac.figures.heatmap(np.zeros((len(many), len(many))), many, many)
    ac.figures.bar_chart(trace.weights[0, 0], tokens)
    ac.figures.encoder_attention_loop_figure()
    ac.figures.dense_network_figure([np.ones((2, 2))])


if __name__ == "__main__":
    # A mistyped memory budget stops the server here, with what is allowed, not on the first page.
    try:
        budget.budget_from_environment()
    except ValueError as error:
        sys.exit(f"serve.py: {error}")
    warm_up()
    import app  # its pages' URL paths; importing it runs no Streamlit command

    streamlit_patches.send_unknown_paths_to_not_found(app.known_paths(), app.NOT_FOUND_PATH)
    streamlit_patches.keep_keras_state()
    streamlit_patches.skip_direct_execution_check()
    streamlit_patches.rerun_whole_page_after_restart()
    streamlit_patches.send_small_messages_at_once()
    streamlit_patches.use_navigation_from_start()
    sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]
    sys.exit(cli.main())
