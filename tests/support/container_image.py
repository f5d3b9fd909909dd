"""The container test's image, built in the background while the rest of the suite runs.

Building the image takes a minute and a half or more (a cold build downloads ~600 MB of wheels),
most of it waiting on the network and on Docker. tests/conftest.py starts the build as soon as
the session's tests are collected, when tests/test_container.py is among them, and the
`container_image` fixture waits for it; the tests before it run meanwhile. The process that
started the build (pytest's own, or pytest-xdist's controller) removes the images and stops a
Docker engine it started when the session ends. A worker process of pytest-xdist only reads the
build's result, a JSON file in a directory the controller hands it.

The Docker engine: `scripts/docker_engine.sh start` uses one that answers (and then the
Dockerfile's default base, python:3.11-slim); where none does it starts Debian's, as root, and
the build uses a Debian bookworm base made locally, because no registry may be reachable.
CONTAINER_BASE_IMAGE names another base.
"""

import json
import os
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKER_ENGINE = ROOT / "scripts" / "docker_engine.sh"
IMAGE = "attention-visualizer:container-test"
BUILD_STAGE = "attention-visualizer-build:container-test"
BUILD_TIMEOUT = 1200  # seconds; a cold build downloads ~600 MB of wheels
ENGINE_TIMEOUT = 600  # seconds; starting the engine may install docker.io, the base runs debootstrap
RESULT = "result.json"
STARTED = "started"
WAIT_INTERVAL = 0.5  # seconds between looks at the result file, not a synchronization


class BuildFailed(Exception):
    """A step of the build failed; the message says which, with what it printed."""


class ImageBuild:
    """The image build of one pytest session, whose outcome is `directory`/result.json:
    {"size": bytes} once built, or {"error": what failed}."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self._thread = None
        self._process = None  # the step running now
        self._engine = None  # "started" or "existing" once the engine answers
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self):
        """Start building in a daemon thread (once)."""
        if self._thread is None:
            (self.directory / STARTED).touch()
            self._thread = threading.Thread(target=self._build, name="container-image-build", daemon=True)
            self._thread.start()

    def _run(self, command, timeout):
        """stdout of `command`; BuildFailed with what it printed if it fails or the session ends."""
        with self._lock:
            if self._stopping.is_set():
                raise BuildFailed("the session ended before the build did")
            self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                             stdin=subprocess.DEVNULL)
        try:
            stdout, stderr = self._process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            stdout, stderr = self._process.communicate()
            raise BuildFailed(f"{' '.join(map(str, command))} did not end within {timeout} s:\n{stdout}\n{stderr}")
        finally:
            with self._lock:
                returncode, self._process = self._process.returncode, None
        if returncode != 0:
            raise BuildFailed(f"{' '.join(map(str, command))} exited {returncode}:\n{stdout}\n{stderr}")
        return stdout.strip()

    def _build(self):
        try:
            self._engine = self._run([DOCKER_ENGINE, "start"], ENGINE_TIMEOUT)
            base_image = os.environ.get("CONTAINER_BASE_IMAGE")
            if not base_image and self._engine == "started":
                base_image = self._run([DOCKER_ENGINE, "test-base"], ENGINE_TIMEOUT)
            base = ["--build-arg", f"BASE_IMAGE={base_image}"] if base_image else []
            # On the host's network: a build step on Docker's bridge adds a network interface, and
            # Chromium, driven by the browser tests meanwhile, fails every request then in flight
            # (net::ERR_NETWORK_CHANGED), a lost script chunk leaving a page without its charts.
            host_network = ["--network", "host"]
            # The build stage gets a tag of its own so that removing it removes its layers too.
            self._run(["docker", "build", *host_network, "--target", "build", "--tag", BUILD_STAGE, *base, str(ROOT)],
                      BUILD_TIMEOUT)
            self._run(["docker", "build", *host_network, "--tag", IMAGE, *base, str(ROOT)], BUILD_TIMEOUT)
            result = {"size": json.loads(self._run(["docker", "image", "inspect", IMAGE], 120))[0]["Size"]}
        except BuildFailed as failure:
            result = {"error": str(failure)}
        except Exception as error:  # noqa: BLE001 (told to the test that waits, not lost in a thread)
            result = {"error": f"the image build failed: {error!r}"}
        partial = self.directory / f"{RESULT}.partial"
        partial.write_text(json.dumps(result))
        partial.replace(self.directory / RESULT)

    def result(self):
        """The build's result, once there: {"size": bytes} or {"error": what failed}."""
        if not (self.directory / STARTED).exists():
            return {"error": "the image build was never started (tests/conftest.py starts it when the "
                             "collected tests include tests/test_container.py)"}
        # Each step has its own timeout, so the result comes; this bound is for a build thread that died.
        deadline = time.monotonic() + 2 * ENGINE_TIMEOUT + 2 * BUILD_TIMEOUT + 300
        path = self.directory / RESULT
        while not path.exists():
            if time.monotonic() > deadline:
                return {"error": f"no result from the image build in {self.directory}"}
            time.sleep(WAIT_INTERVAL)
        return json.loads(path.read_text())

    def clean_up(self):
        """Stop a build still running, remove the images and stop the engine if the build started it."""
        if self._thread is None:
            return
        with self._lock:
            self._stopping.set()
            if self._process is not None:
                self._process.terminate()
        self._thread.join(timeout=60)
        if self._engine is None:
            return  # no engine answered: nothing was built
        subprocess.run(["docker", "image", "rm", "--force", IMAGE, BUILD_STAGE], capture_output=True, timeout=120)
        if self._engine == "started":
            subprocess.run([DOCKER_ENGINE, "stop"], capture_output=True, timeout=120)
