"""The restart fix (webapp.streamlit_patches): a fragment rerun from a browser the server has not run a page for runs the whole page."""

from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime.app_session import AppSession

from webapp import streamlit_patches


class FakeSession:
    """Stands in for an AppSession: only identity matters to the fix."""


def client_state(fragment_id="", seed=0):
    state = ClientState(fragment_id=fragment_id, query_string=f"sa_seed={seed}")
    return state


def test_an_unknown_sessions_fragment_rerun_runs_the_whole_page(monkeypatch):
    received = []
    monkeypatch.setattr(AppSession, "request_rerun", lambda session, state: received.append((session, state)))
    streamlit_patches.rerun_whole_page_after_restart()
    reconnected, fresh = FakeSession(), FakeSession()

    # A browser reconnected to a restarted server moves a slider inside a fragment.
    AppSession.request_rerun(reconnected, client_state("f1", seed=7))
    session, state = received[-1]
    assert session is reconnected and state.fragment_id == "" and state.query_string == "sa_seed=7"

    # From then on its fragment reruns stay fragment reruns.
    AppSession.request_rerun(reconnected, client_state("f2"))
    assert received[-1][1].fragment_id == "f2"

    # A new visitor's first run is a whole-page run; its fragments then rerun alone.
    AppSession.request_rerun(fresh, client_state())
    AppSession.request_rerun(fresh, client_state("f3"))
    assert [state.fragment_id for _, state in received[-2:]] == ["", "f3"]
    AppSession.request_rerun(fresh, None)  # Streamlit's own reruns carry no client state
    assert received[-1] == (fresh, None)
