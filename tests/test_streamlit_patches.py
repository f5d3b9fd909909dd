"""webapp.streamlit_patches: each patch of Streamlit, checked against the Streamlit it patches, and
serve.py's warm-up."""

import asyncio
import socket
import urllib.parse

import keras
import pytest
from starlette.exceptions import HTTPException
from streamlit import file_util
from streamlit.runtime.scriptrunner import script_runner
from streamlit.web.server.starlette import starlette_server, starlette_static_routes

import app
import serve
from webapp import streamlit_patches


def test_warm_up_runs_every_layer_and_figure_kind():
    serve.warm_up()


def test_reruns_no_longer_clear_the_keras_session(monkeypatch):
    # The hook replaced must exist, or a Streamlit upgrade silently undoes the fix.
    monkeypatch.setattr(script_runner, "_clean_problem_modules", script_runner._clean_problem_modules)
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: pytest.fail("session cleared"))
    streamlit_patches.keep_keras_state()
    script_runner._clean_problem_modules()


def test_first_element_skips_the_direct_execution_check(monkeypatch):
    # The flag set must be the one Streamlit reads, or the first visitor pays again.
    from streamlit import delta_generator, env_util

    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)
    monkeypatch.setattr(env_util, "is_repl", lambda: pytest.fail("direct-execution check ran"))
    streamlit_patches.skip_direct_execution_check()
    delta_generator._maybe_print_use_warning()


def test_the_servers_connections_send_small_messages_at_once(monkeypatch):
    # Streamlit's own bind, wrapped: every connection it accepts has Nagle's algorithm off.
    monkeypatch.setattr(starlette_server, "_bind_socket", starlette_server._bind_socket)
    streamlit_patches.send_small_messages_at_once()
    listening = starlette_server._bind_socket("127.0.0.1", 0, 8)
    with listening, socket.create_connection(listening.getsockname()) as client:
        listening.setblocking(True)
        accepted, _ = listening.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            # Streamlit's socket has protocol 0, so asyncio would not have turned it off itself.
            assert accepted.proto != socket.IPPROTO_TCP
            assert not client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


# --------------------------------------------------------------------------- unknown addresses


def static_handler():
    """Streamlit's own static-file handler, as its server builds it, wrapped as serve.py has it wrapped."""
    static = starlette_static_routes.create_streamlit_static_handler(file_util.get_static_dir(), None)
    return streamlit_patches.UnknownPathsToNotFound(static, app.known_paths(), app.NOT_FOUND_PATH)


def answer(asgi_app, path, query="", method="GET"):
    """(status, headers) of `method path?query` sent straight to the ASGI app."""
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": query.encode(), "headers": [], "http_version": "1.1", "scheme": "http",
             "server": ("127.0.0.1", 8501), "client": ("127.0.0.1", 50000)}
    sent = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        # The request once; then nothing, as from a client that stays connected (a response
        # listens for a disconnect while it streams, and stops listening when it is done).
        if requests:
            return requests.pop()
        await asyncio.Event().wait()

    async def send(message):
        sent.append(message)

    try:
        asyncio.run(asgi_app(scope, receive, send))
    except HTTPException as refusal:  # the server's exception middleware makes it the response
        return refusal.status_code, {}
    start = sent[0]
    return start["status"], {name.decode(): value.decode() for name, value in start["headers"]}


@pytest.mark.parametrize(
    ("path", "query"),
    [("/nope", ""), ("/self-attention/extra", ""), ("/a/b/c", "x=1"), ("/nope/", ""),
     ("/self-attention/static/js/app.js", ""), ("/x/<b>**y**</b>", "q=%3Cscript%3E")],
)
def test_an_unknown_address_redirects_to_the_not_found_page_with_it(path, query):
    status, headers = answer(static_handler(), path, query)
    assert status == 302
    location = urllib.parse.urlsplit(headers["location"])
    assert location.path == "/page-not-found"
    assert urllib.parse.parse_qs(location.query) == {"path": [path + (f"?{query}" if query else "")]}


@pytest.mark.parametrize("path", ["/", "/self-attention", "/train-and-watch", "/page-not-found", "/favicon.png",
                                  "/index.html", "/manifest.json"])
def test_pages_and_files_are_served_as_before(path):
    status, headers = answer(static_handler(), path)
    assert status == 200 and "location" not in headers


def test_what_streamlit_answers_itself_passes_through():
    handler = static_handler()
    assert answer(handler, "/self-attention/")[0] == 301  # Streamlit drops the trailing slash
    assert answer(handler, "//evil.example/x")[0] == 400  # and refuses protocol-relative paths
    assert answer(handler, "/self-attention/_stcore/health")[0] == 404  # its reserved routes
    assert answer(handler, "/nope", method="POST")[0] == 405  # only GET and HEAD fall back to index.html


def test_every_page_of_the_app_is_a_known_path():
    assert app.known_paths() == {"", "page-not-found", "dot-product", "dense-layers", "self-attention",
                                 "additive-attention", "compare", "train-and-watch", "your-model"}


def test_the_server_builds_its_static_handler_through_the_wrapper(monkeypatch):
    # The function replaced must be the one Streamlit's routes call, or an upgrade
    # silently brings the blank pages back.
    monkeypatch.setattr(starlette_static_routes, "create_streamlit_static_handler",
                        starlette_static_routes.create_streamlit_static_handler)
    streamlit_patches.send_unknown_paths_to_not_found(app.known_paths(), app.NOT_FOUND_PATH)
    (mount,) = starlette_static_routes.create_streamlit_static_assets_routes(base_url=None)
    assert isinstance(mount.app, streamlit_patches.UnknownPathsToNotFound)


def test_the_pages_folder_mode_is_off_before_the_first_visitor(monkeypatch):
    # The flag must be the one Streamlit's pages manager reads, or a shared link's first visitor
    # sees "Page not found" again.
    from streamlit.runtime.pages_manager import PagesManager

    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)
    streamlit_patches.use_navigation_from_start()
    assert PagesManager.uses_pages_directory is False
