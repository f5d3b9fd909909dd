"""Shared by every test module: TensorFlow's set-up, the test pyramid's markers, the session's one
Streamlit server and one Chromium, small trained runs, and the container image built in the
background.

Every test gets one layer's marker from its module (see LAYERS): `unit` (the library and the
app's policy, no Streamlit script run), `app` (pages run by Streamlit's AppTest), `browser`
(a real server driven by Chromium) or `deploy` (the Dockerfile, the manifests, the image). The
pages' smoke runs (each page opens on its defaults, SMOKE_TESTS) are also `smoke`. `make
test-fast` runs `unit or smoke`; `make test` runs everything, on two pytest-xdist workers that
each take a group of tests at a time (pytest_xdist_make_scheduler): every module is a group, so
its module-scoped fixtures are made once, but the browser modules and the container test are one
(one server and one Chromium serve them all), as are the modules that share a trained run.

The browser fixtures (`server`, `browser`, `first_visit`, `page`, `events`) live in
tests/support/browser.py; the image build in tests/support/container_image.py.
"""

import pathlib
import shutil
import tempfile

import pytest

from tests.support import browser as browser_support
from tests.support.browser import browser, events, first_visit, page, server  # noqa: F401 (fixtures)
from tests.support.container_image import ImageBuild

# Test modules by layer; every module not named here is `unit`.
LAYERS = {
    # test_figure_downloads: exports run in Chromium, which `make test-fast` does not install.
    "app": {"test_pages", "test_weight_sources", "test_train_page", "test_url_fuzzing", "test_page_limits",
            "test_figure_downloads"},
    "browser": {"test_browser", "test_browser_training", "test_browser_transformer", "test_browser_trained_layer",
                "test_browser_your_model"},
    "deploy": {"test_container", "test_deploy"},
}
# (module, test function): each page opened on its defaults, home and Train and watch included.
SMOKE_TESTS = {
    ("test_pages", "test_page_runs_clean_on_defaults"),
    ("test_pages", "test_home_shows_title_links_and_loop_figure"),
    ("test_train_page", "test_defaults_offer_play_and_bind_every_setting_to_the_url"),
}
# xdist groups of several modules, each run by one worker: the modules that drive the session's
# one Chromium (the container test last), and those that share a trained run. Every other
# module is a group of its own.
GROUPS = {
    "chromium": ("test_browser", "test_browser_trained_layer", "test_browser_training", "test_browser_transformer",
                 "test_browser_your_model", "test_container"),
    "small_transformer_run": ("test_knock_out", "test_weight_sources"),
}
# The groups that take longest, run first (then the rest in the order collected), so that both
# of make test's workers end at about the same time; the browser tests first of all, so the
# container test after them finds its image built.
LONGEST_FIRST = ("chromium", "test_pages", "test_url_fuzzing", "test_training", "test_train_page",
                 "small_transformer_run")
CONTAINER_TESTS = "tests/test_container.py"


def _module(item):
    return pathlib.Path(str(item.fspath)).stem


def _group(module):
    return next((name for name, modules in GROUPS.items() if module in modules), module)


def _rank(item):
    """Where `item` runs: its group's place in LONGEST_FIRST, its module's in its group."""
    module = _module(item)
    group = _group(module)
    first = LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)
    return first, GROUPS[group].index(module) if group in GROUPS else 0


@pytest.hookimpl(tryfirst=True)  # before -m reads the markers
def pytest_collection_modifyitems(items):
    for item in items:
        module = _module(item)
        layer = next((name for name, modules in LAYERS.items() if module in modules), "unit")
        item.add_marker(getattr(pytest.mark, layer))
        if (module, item.originalname) in SMOKE_TESTS:
            item.add_marker(pytest.mark.smoke)
    items.sort(key=_rank)  # stable: within a module, the order collected


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """With pytest-xdist's `--dist loadscope`, a scope is a group (GROUPS; each other module is
    one), given to workers in the order collected (the longest first) rather than by size.
    (xdist's own `loadgroup` names a group by a suffix of the test's id, which pytest 9 ignores.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return _group(pathlib.PurePath(nodeid.split("::")[0]).stem)

    config.option.loadscopereorder = False
    return GroupScheduling(config, log)


@pytest.fixture(autouse=True)
def no_server_traceback(request):
    """A browser test is blamed for a traceback that the shared server logs while it runs."""
    if request.node.get_closest_marker("browser") is None:
        yield
        return
    request.getfixturevalue("server")
    with browser_support.no_new_traceback():
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Stop the shared server and Chromium after the last test in a row that uses them."""
    result = yield
    browser_support.stop_shared(item, nextitem)
    return result


# --------------------------------------------------------------------------- the container image


def _is_xdist_worker(config):
    return hasattr(config, "workerinput")


BUILD = pytest.StashKey[ImageBuild]()


def _is_xdist_controller(config):
    # pytest-xdist sets `dist` in the controller only (its workers run with "no").
    return not _is_xdist_worker(config) and config.getoption("dist", "no") != "no"


def pytest_configure(config):
    if not _is_xdist_controller(config):
        # attention_core sets TensorFlow's environment (quiet logs, oneDNN off) before TensorFlow
        # loads. Imported before any test module imports keras, it gives the tests the TensorFlow
        # the app runs. The xdist controller runs no test: it starts its workers at once.
        import attention_core  # noqa: F401
    if _is_xdist_worker(config):
        config.stash[BUILD] = ImageBuild(config.workerinput["container_image_build"])
    else:
        config.stash[BUILD] = ImageBuild(tempfile.mkdtemp(prefix="attention-visualizer-image-build-"))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist's controller tells each worker where the build's result will be."""
    node.workerinput["container_image_build"] = str(node.config.stash[BUILD].directory)


def _start_build_if_wanted(config, node_ids):
    if not config.option.collectonly and any(node_id.startswith(CONTAINER_TESTS) for node_id in node_ids):
        config.stash[BUILD].start()


def pytest_collection_finish(session):
    if not _is_xdist_worker(session.config):
        _start_build_if_wanted(session.config, [item.nodeid for item in session.items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    _start_build_if_wanted(node.config, ids)


def pytest_unconfigure(config):
    browser_support.stop_all_shared()  # after an interrupted session
    if not _is_xdist_worker(config) and BUILD in config.stash:
        build = config.stash[BUILD]
        build.clean_up()
        shutil.rmtree(build.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def container_image(pytestconfig):
    """The size in bytes of the image built as users build it (removed when the session ends)."""
    result = pytestconfig.stash[BUILD].result()
    if "error" in result:
        pytest.fail(result["error"], pytrace=False)
    return result["size"]


# --------------------------------------------------------------------------- small trained runs


@pytest.fixture(scope="session")
def small_transformer_run():
    """A finished run of a one-layer, two-head, 16-unit Transformer on reverse at length 4 (one
    epoch of 256 examples; 32 held out), for tests that read a trained model and never change it."""
    import attention_core as ac

    task = ac.make_task("reverse", length=4, num_examples=256, seed=0, num_heldout=32)
    return ac.train(task, mechanism="transformer", units=16, epochs=1, num_layers=1, num_heads=2, batch_size=64,
                    frame_examples=20)
