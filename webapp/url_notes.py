"""A note above a page's controls when its link asked for values the controls could not take."""

import functools

import streamlit as st

from attention_core.text.validation import quote
from webapp import session_keys
from webapp.streamlit_patches import widget_url_value
from webapp.widgets import as_text


def notes_link_changes(function):
    """Decorate the function that draws a page's controls: on the page's first run in a session,
    a note above them says which of the link's values were not allowed and what is used instead.

    Streamlit drops a URL value its widget cannot take (units=999, an unknown option) or clamps it
    (units=12.7 becomes 12), silently. The note compares the link's values before the controls
    are drawn with the URL after. Only the first run: later, the URL changes because the user
    moves controls. A value that is only dropped because it equals the default is no change.
    """
    checked = f"{function.__code__.co_filename}:{function.__qualname__}"

    @functools.wraps(function)
    def draw(*args, **kwargs):
        first_run = checked not in st.session_state.setdefault(session_keys.LINK_CHECKED, set())
        asked = {key: st.query_params.get_all(key) for key in st.query_params} if first_run else {}
        notes = st.container()
        result = function(*args, **kwargs)
        st.session_state[session_keys.LINK_CHECKED].add(checked)
        for key, values in asked.items():
            if key in st.query_params and st.query_params.get_all(key) == values:
                continue  # kept as the link had it
            asked_value = values[-1] if values else ""  # `?units=` holds no value: an empty one
            used = widget_url_value(key)
            if used is not None and asked_value.lower() != used.lower():
                notes.warning(as_text(f"The link's value {quote(asked_value)} for {key} was not allowed here; "
                                      f"using {quote(used)}."), icon=":material/link:")
        return result

    return draw
