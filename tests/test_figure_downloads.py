"""Charts as SVG and PDF (webapp.figure_downloads): files that hold the figure, one Chromium for
successive exports, a clear message when Chromium is missing or fails, and the pages' lazy
download buttons (AppTest)."""

import contextlib
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import attention_core as ac
from webapp import figure_downloads, widgets

ROOT = Path(__file__).resolve().parents[1]
TITLE = "Attention, exported"
DOT_PAGE = ROOT / "pages/1_Dot_product.py"
DOT_MENU = "dot_figure_svg_pdf"  # the popover under the Dot product page's chart (key dot_figure)


@pytest.fixture(scope="module")
def figure():
    return ac.figures.heatmap(np.eye(3), ["the", "cat", "sat"], ["the", "cat", "sat"], title=TITLE)


@pytest.fixture(scope="module")
def exported(figure):
    """{format: bytes} from one export session, and how many Chromiums it started."""
    opened = []
    open_kaleido = figure_downloads._open_kaleido

    async def counted(path):
        opened.append(path)
        return await open_kaleido(path)

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(figure_downloads.BROWSER_ENV, raising=False)
        patch.setattr(figure_downloads, "_open_kaleido", counted)
        files = {fmt: figure_downloads.figure_bytes(figure, fmt) for fmt in ("svg", "pdf")}
    yield files, opened
    figure_downloads.close_browser()


def test_svg_holds_the_figure_and_its_title(exported):
    files, _ = exported
    assert files["svg"].lstrip().startswith((b"<svg", b"<?xml"))
    assert TITLE.encode() in files["svg"]


def test_pdf_is_a_pdf(exported):
    files, _ = exported
    assert files["pdf"].startswith(b"%PDF")


def test_one_chromium_serves_successive_exports(exported):
    _, opened = exported
    assert opened == [figure_downloads.DEFAULT_BROWSER]
    assert figure_downloads.last_failure() is None


def exporting_chromiums():
    """This process's children that run the exports' Chromium (choreographer's wrapper around it)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == os.getpid() and figure_downloads.DEFAULT_BROWSER in (stat.parent / "cmdline").read_text():
                found.append(stat.parent.name)
    return found


def test_an_idle_chromium_is_closed(figure, exported, monkeypatch):
    monkeypatch.setattr(figure_downloads, "IDLE_SECONDS", 1)
    figure_downloads.figure_bytes(figure, "svg")
    assert exporting_chromiums()
    deadline = time.monotonic() + 15
    while exporting_chromiums() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not exporting_chromiums()


def test_unknown_format_is_refused(figure):
    with pytest.raises(ValueError, match="Received: 'eps'"):
        figure_downloads.figure_bytes(figure, "eps")


def test_missing_chromium_says_what_is_missing(figure, monkeypatch, tmp_path):
    missing = tmp_path / "chromium"
    monkeypatch.setenv(figure_downloads.BROWSER_ENV, str(missing))
    with pytest.raises(figure_downloads.FigureExportError) as error:
        figure_downloads.figure_bytes(figure, "svg")
    assert str(missing) in str(error.value) and figure_downloads.BROWSER_ENV in str(error.value)
    assert figure_downloads.missing_browser() == str(error.value)


# --------------------------------------------------------------------------- the page


def run_dot_page(menu_open):
    at = AppTest.from_file(DOT_PAGE, default_timeout=30)
    at.session_state[DOT_MENU] = menu_open
    at.run()
    assert not at.exception
    return at


def download_buttons(at):
    return {button.proto.label: button.proto for button in at.get("download_button")}


def test_page_offers_svg_and_pdf_made_only_on_click(monkeypatch):
    made = []
    monkeypatch.setattr(figure_downloads, "figure_bytes", lambda *args: made.append(args))
    closed = run_dot_page(menu_open=False)
    assert [block.proto.popover.label for block in closed.get("popover")] == ["SVG, PDF"]
    assert download_buttons(closed) == {}  # filled only while open

    buttons = download_buttons(run_dot_page(menu_open=True))
    assert set(buttons) == {"SVG", "PDF"}
    assert all(button.deferred_file_id and not button.url for button in buttons.values())
    assert made == []


def test_page_says_when_chromium_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv(figure_downloads.BROWSER_ENV, str(tmp_path / "chromium"))
    at = run_dot_page(menu_open=True)
    assert download_buttons(at) == {}
    assert [warning.value for warning in at.warning] == [widgets.as_text(figure_downloads.missing_browser())]


# Last: it leaves the failure behind, which a page shows until an export works.
def test_a_browser_that_fails_to_start_gives_an_error_not_a_hang(figure, monkeypatch):
    """kaleido's own sync server would wait forever here; the failure is kept for the page."""
    figure_downloads.close_browser()
    monkeypatch.setenv(figure_downloads.BROWSER_ENV, shutil.which("false"))
    with pytest.raises(figure_downloads.FigureExportError, match="failed"):
        figure_downloads.figure_bytes(figure, "pdf")
    assert "PDF export failed" in figure_downloads.last_failure()


def test_a_tab_whose_script_had_not_run_is_asked_again(figure, monkeypatch):
    class SlowTab:
        """kaleido whose first answer comes before its tab's script ran, as under load."""

        calls = 0

        async def calc_fig(self, figure_dict, opts):
            SlowTab.calls += 1
            if SlowTab.calls == 1:
                raise RuntimeError("ReferenceError: kaleido_scopes is not defined")
            return b"<svg/>"

    async def opened(path):
        return SlowTab()

    figure_downloads.close_browser()
    monkeypatch.setattr(figure_downloads, "SCRIPT_RETRY_SECONDS", 0.0)
    monkeypatch.setattr(figure_downloads, "_open_kaleido", opened)
    assert figure_downloads.figure_bytes(figure, "svg") == b"<svg/>"
    assert SlowTab.calls == 2
    figure_downloads.close_browser()
