"""The README's quick start runs as written and prints what it promises."""

import contextlib
import io
import pathlib
import re


def test_readme_quick_start_runs():
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    code = re.search(r"## Quick start\s+```python\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "1.0 int8 (1, 1001)"
    assert lines[-1] == "1.0 (1, 5, 301)"
