"""Start the app with TensorFlow already loaded: `python serve.py [streamlit run options]`.

`streamlit run app.py` imports the app's modules only when the first visitor arrives, so that
visitor would wait for TensorFlow's 2.5-4.5 s import and its first-call set-up. Doing both here,
before the server starts, moves that cost to start-up; the script then finds the modules in
`sys.modules`.
"""

import sys

import attention_core as ac
from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli


def warm_up():
    """Run each kind of layer once, so TensorFlow's first-call set-up happens now."""
    _, x = ac.encode_text("warm up", 16)
    ac.trace_self_attention(ac.SelfAttention(4, num_heads=2), x, use_causal_mask=True)
    ac.trace_rnn_with_attention(ac.RNNWithAttention(4), x)
    ac.trace_dense_network(ac.dense_network(2, [2]), [1.0, 2.0])


if __name__ == "__main__":
    warm_up()
    # app.py declares its pages with st.navigation, which turns off Streamlit's older pages/
    # folder mode, but only once it has run. Until then a fresh server treats pages/ as that
    # older kind of app, and its first visitor to a shared link such as /self-attention sees
    # "Page not found". Turning the folder mode off here is what st.navigation does, done first.
    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]
    sys.exit(cli.main())
