"""The Docker image, really built and run: the container test of `make test`.

The image is built from the Dockerfile as users build it, in the background from the start of
the session (tests/support/container_image.py, started by tests/conftest.py; the fixture
`container_image` waits for it). Here it runs as the Kubernetes manifest runs it (read-only root,
a writable /tmp) on a free 127.0.0.1 port; these tests wait for its health check, open the
self-attention page in the session's Chromium and see a heatmap, check the server's user, its
logs and a clean stop, then remove the container. The images go when the session ends.

Needs a Docker engine. `scripts/docker_engine.sh start` uses one that answers (and then the
Dockerfile's default base, python:3.11-slim); where none does it starts Debian's, as root, and
builds on a Debian bookworm base made locally, because no registry may be reachable. Anywhere
else these tests fail saying what to install: they never skip. CONTAINER_BASE_IMAGE names
another base.
"""

import json
import re
import subprocess
import time

import pytest

from tests.support.browser import (
    EXCEPTION,
    FIRST_RUN_TIMEOUT,
    PLOT,
    free_port,
)
from tests.support.container_image import IMAGE

HEALTHY_TIMEOUT = 90  # seconds until Docker's own health check reports healthy
# 1.54 GB of Python, TensorFlow and the app, and Debian's headless Chromium (~0.54 GB) that draws
# the charts' SVG and PDF downloads (webapp/figure_downloads.py).
MAX_IMAGE_BYTES = 2.2e9
# What Streamlit prints when it starts and stops; anything else in the logs is noise.
BANNER = re.compile(r"You can now view your Streamlit app in your browser\.|URL: http://\S+|"
                    r".* Uvicorn server started on 0\.0\.0\.0:8501|Stopping\.\.\.")


def _run(command, timeout=120):
    """stdout of `command`; a failure fails the test with what it printed."""
    reply = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if reply.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} exited {reply.returncode}:\n{reply.stdout}\n{reply.stderr}",
                    pytrace=False)
    return reply.stdout.strip()


def _docker(*args, timeout=120):
    return _run(["docker", *args], timeout=timeout)


def _inspect(container):
    return json.loads(_docker("inspect", container))[0]


@pytest.fixture(scope="module")
def image(container_image):
    """The image's size in bytes (tests/conftest.py's container_image, built in the background)."""
    return container_image


@pytest.fixture(scope="module")
def container(image):
    """(container id, base URL) of the image running as deploy/kubernetes.yaml runs it."""
    port = free_port()
    container = _docker("run", "--detach", "--read-only", "--tmpfs", "/tmp",
                        "--publish", f"127.0.0.1:{port}:8501", IMAGE)
    try:
        deadline = time.monotonic() + HEALTHY_TIMEOUT
        while (state := _inspect(container)["State"])["Health"]["Status"] != "healthy":
            if not state["Running"] or time.monotonic() > deadline:
                pytest.fail(f"The container is {state['Status']}, health {state['Health']['Status']}, "
                            f"after {HEALTHY_TIMEOUT} s at most. Its log:\n{_docker('logs', container)}",
                            pytrace=False)
            time.sleep(0.5)  # polling Docker's health state, not a synchronization
        yield container, f"http://127.0.0.1:{port}"
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, timeout=120)


def test_image_is_at_most_2_2_gb(image):
    assert image <= MAX_IMAGE_BYTES, f"{image / 1e9:.2f} GB"


def test_image_holds_the_app_and_nothing_else(image):
    listing = _docker("run", "--rm", "--entrypoint", "ls", IMAGE, "-A", "/app",
                      "/opt/venv/lib/python3.11/site-packages").split()
    assert {"app.py", "serve.py", "attention_core", "pages", "tensorflow"} <= set(listing)
    assert not {"tests", "docs", "bench", ".git", ".venv", "pip", "clang"} & set(listing)


def test_self_attention_page_shows_a_heatmap(container, browser):
    _, url = container
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{url}/self-attention")
        page.locator(f"{PLOT} .heatmaplayer").first.wait_for(timeout=FIRST_RUN_TIMEOUT)
        assert page.locator(EXCEPTION).count() == 0
    finally:
        context.close()


def test_server_runs_as_a_non_root_user(container):
    processes = _docker("top", container[0], "-o", "pid,uid,args").splitlines()[1:]
    server_uids = [line.split(None, 2)[1] for line in processes if "serve.py" in line]
    assert server_uids and "0" not in server_uids, processes


def test_logs_hold_no_tensorflow_noise(container):
    reply = subprocess.run(["docker", "logs", container[0]], capture_output=True, text=True, timeout=60)
    lines = [line.strip() for line in (reply.stdout + reply.stderr).splitlines() if line.strip()]
    assert [line for line in lines if not BANNER.fullmatch(line)] == []


def test_container_stops_cleanly(container):
    # Last in this module: the container does not run after it.
    start = time.monotonic()
    _docker("stop", "--time", "10", container[0], timeout=60)
    state = _inspect(container[0])["State"]
    assert state["ExitCode"] == 0, _docker("logs", container[0])
    assert time.monotonic() - start < 10  # stopped by SIGTERM, not killed after the grace period
