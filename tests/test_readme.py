"""The README's Python examples run exactly as written and print what their comments say."""

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def python_block(heading):
    """The first Python block under `heading`."""
    section = README.read_text(encoding="utf-8").split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)


def run_printing(code):
    """The lines `code` prints, run as a fresh module."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), {})
    return printed.getvalue().splitlines()


def test_readme_notebook_example_runs_as_written():
    code = python_block("## Use it from a notebook")
    assert len(code.strip().splitlines()) <= 12
    lines = run_printing(code)
    assert lines[0] == "['The', 'cat', 'sat', 'on', 'the', 'mat', '.']"
    assert lines[1] == "(2, 7, 7)"
    row_sums = " ".join(lines[2:-1]).strip("[] ").split()
    assert len(row_sums) == 7 and all(abs(float(s) - 1) < 1e-5 for s in row_sums)
    assert lines[-1] == "(1, 32) (1, 5, 1)"


def test_readme_own_model_example_runs_as_written(monkeypatch):
    monkeypatch.chdir(README.parent)
    lines = run_printing(python_block("## Bring your own model"))
    assert lines == ["self_attention (2, 10, 10)"]
