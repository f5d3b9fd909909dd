"""The README's notebook example runs exactly as written and prints what its comments say."""

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def notebook_example():
    section = README.read_text(encoding="utf-8").split("## Use it from a notebook", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)


def test_readme_notebook_example_runs_as_written():
    code = notebook_example()
    assert len(code.strip().splitlines()) <= 12
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[0] == "['The', 'cat', 'sat', 'on', 'the', 'mat', '.']"
    assert lines[1] == "(2, 7, 7)"
    row_sums = " ".join(lines[2:-1]).strip("[] ").split()
    assert len(row_sums) == 7 and all(abs(float(s) - 1) < 1e-5 for s in row_sums)
    assert lines[-1] == "(1, 32) (1, 5, 1)"
