"""Every place the app reaches into Streamlit's internals: the patches serve.py applies before
the server starts, and the one read of a widget's URL form. Each has a test
(tests/test_streamlit_patches.py, tests/test_url_fuzzing.py, tests/test_restart.py) that fails
when a Streamlit upgrade moves what it relies on.
"""

import socket
import urllib.parse
import weakref

import streamlit as st
from starlette.responses import RedirectResponse
from streamlit import delta_generator
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx, script_runner
from streamlit.runtime.state.query_params import _coerce_value_for_query_url
from streamlit.web.server.starlette import starlette_server, starlette_static_routes


def keep_keras_state():
    """Stop Streamlit from calling `keras.backend.clear_session()` after every rerun.

    Streamlit does that for scripts that build models as they run. This app's layers live in
    caches shared by every session and are never changed, so the reset only costs: it empties
    TensorFlow's kernel cache, which makes the next rerun's eager ops ~18 ms slower (measured),
    and it swaps Keras's global state under sessions that are still running. Streamlit's hook
    also closes matplotlib figures, which this app does not use.
    """
    script_runner._clean_problem_modules = lambda: None


def skip_direct_execution_check():
    """Skip Streamlit's once-per-process check for being run without `streamlit run`.

    The app always runs under `streamlit run`, so the check never warns; but it calls
    `inspect.stack()`, which looks up the module of every frame among TensorFlow's thousands:
    ~0.45 s (measured), paid by the first visitor's first element.
    """
    delta_generator._use_warning_has_been_displayed = True


class UnknownPathsToNotFound:
    """Streamlit's static-file handler, except that an address that is no page redirects to the
    app's page-not-found page, with the address asked for in `?path=`.

    Streamlit answers every unknown address with its index.html, whose scripts load by relative
    path: at /self-attention/extra they resolve to /self-attention/static/..., which is index.html
    again, so the browser showed a blank page. At /nope Streamlit's own dialog said "Page not
    found" and ran the home page under the wrong address. Only GET and HEAD requests reach the
    fallback, so only they are redirected; files, the pages and `_stcore` routes pass through.
    """

    def __init__(self, static_files, page_paths, not_found_path):
        self.static_files = static_files  # Streamlit's StaticFiles subclass
        self.page_paths = frozenset(page_paths)
        self.not_found_path = not_found_path

    def is_unknown(self, scope):
        """Whether this request's address is neither a page, nor a file, nor a Streamlit route."""
        path = self.static_files.get_path(scope)  # relative to the mount, normalised ("." for the root)
        segments = path.replace("\\", "/").split("/")
        if path == "." or "/".join(segments) in self.page_paths or "_stcore" in segments:
            return False
        _, found = self.static_files.lookup_path(path)
        return found is None

    async def __call__(self, scope, receive, send):
        # Protocol-relative ("//host") addresses stay Streamlit's to refuse with a 400.
        if (scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
                and not scope["path"].startswith("//") and self.is_unknown(scope)):
            asked = scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope["query_string"] else "")
            target = f"{scope.get('root_path', '')}/{self.not_found_path}?{urllib.parse.urlencode({'path': asked})}"
            await RedirectResponse(target, status_code=302, headers={"Cache-Control": "no-cache"})(scope, receive, send)
            return
        await self.static_files(scope, receive, send)


def send_small_messages_at_once():
    """Turn Nagle's algorithm off on the server's connections (TCP_NODELAY).

    A rerun sends several small websocket messages: its session message, then its elements and
    its end. Streamlit binds its listening socket itself, with protocol 0, and asyncio sets
    TCP_NODELAY only on sockets whose protocol reads IPPROTO_TCP; so the kernel held back every
    message after the first until the client acknowledged that one, which a client may delay by
    ~40 ms. The load test's websocket client did: on bare Streamlit a press's last message
    reached it 48 ms after the press, not 5.5 ms. In Chromium a press took as long either way,
    but the first view, whose run sends dozens of messages, showed its chart in 2.27 s, not
    2.42 s (5 runs each, measured). Set on the listening socket, the option is inherited by every
    connection it accepts (Linux).
    """
    bind = starlette_server._bind_socket

    def bind_without_nagle(address, port, backlog):
        listening = bind(address, port, backlog)
        try:
            listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            listening.close()
            raise
        return listening

    starlette_server._bind_socket = bind_without_nagle


def rerun_whole_page_after_restart():
    """Run the whole page when a browser asks a new server to rerun a fragment it never ran.

    After a restart the browser reconnects by itself and keeps its page, but the new server has
    none of its session. Every page's controls live in a fragment, and Streamlit drops a rerun
    of a fragment it does not know ("The fragment with id ... does not exist anymore"): the slider
    moved and the chart stayed, showing another seed's numbers. A session that has not run its
    page yet runs all of it instead, with the browser's widget values and URL, so the view comes
    back as it was and its fragments exist again.
    """
    request_rerun = AppSession.request_rerun
    ran_a_page = weakref.WeakSet()

    def request_rerun_or_whole_page(session, client_state):
        if client_state is not None and client_state.fragment_id and session not in ran_a_page:
            whole_page = ClientState()
            whole_page.CopyFrom(client_state)
            whole_page.fragment_id = ""
            client_state = whole_page
        if client_state is None or not client_state.fragment_id:
            ran_a_page.add(session)
        return request_rerun(session, client_state)

    AppSession.request_rerun = request_rerun_or_whole_page


def send_unknown_paths_to_not_found(page_paths, not_found_path):
    """Wrap the static-file handler Streamlit's server is about to build in UnknownPathsToNotFound."""
    build = starlette_static_routes.create_streamlit_static_handler

    def build_wrapped(directory, base_url):
        return UnknownPathsToNotFound(build(directory, base_url), page_paths, not_found_path)

    starlette_static_routes.create_streamlit_static_handler = build_wrapped

def use_navigation_from_start():
    """Turn Streamlit's older pages/ folder mode off before the first visitor arrives.

    app.py declares its pages with st.navigation, which turns that mode off, but only once it has
    run. Until then a fresh server treats pages/ as that older kind of app, and its first visitor
    to a shared link such as /self-attention sees "Page not found". This is what st.navigation
    does, done first.
    """
    PagesManager.uses_pages_directory = False


def widget_url_value(key):
    """The value of the URL-bound widget `key` as Streamlit writes it in the URL ("8", "true",
    "Typed matrix"), or None when no such widget was drawn.

    Streamlit keeps no public record of it: this asks the widget's own serializer, as its URL
    binding does (tests/test_url_fuzzing.py fails if these internals move).
    """
    state = get_script_run_ctx().session_state._state
    widget_id = state.get_widget_id_from_key(key)
    metadata = state.get_widget_metadata(widget_id) if widget_id is not None else None
    if metadata is None or metadata.bind != "query-params" or key not in st.session_state:
        return None
    form = _coerce_value_for_query_url(metadata.serializer(st.session_state[key]), metadata.value_type)
    return form if isinstance(form, str) else ", ".join(form)  # a slider's value is a list of one
