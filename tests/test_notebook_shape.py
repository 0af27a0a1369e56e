"""The notebooks stay reports, not programs: the study's question in prose first, the setup in one
library call, no function or class definitions, no long cells (the logic lives in ``lib/``)."""

import ast
import json

import pytest

from lib.params import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
MAX_LINES = 15  # non-blank lines of a code cell; the parameters cell and the closing cell are exempt


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _code(cell) -> str:
    """A code cell's Python (IPython magics dropped)."""
    return "\n".join(line for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith("%"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_the_question_in_prose(path):
    first = "".join(_cells(path)[0]["source"])
    assert _cells(path)[0]["cell_type"] == "markdown" and first.startswith("# ")
    assert len(first) > 300, "the first cell should state the study's question and design"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_is_one_library_call(path):
    code = [_code(c) for c in _cells(path) if c["cell_type"] == "code"]
    assert sum(f'report.begin(globals(), "{path.stem}")' in c for c in code) == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_defines_no_function_or_class(path):
    for cell in _cells(path):
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse(_code(cell))):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)), (
                f"{path.name}: a definition belongs in lib/: {getattr(node, 'name', '')}")
            assert not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda)), (
                f"{path.name}: a named lambda is a function definition: move it to lib/")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_long_cells(path):
    long = []
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] != "code" or "parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        text = "".join(cell["source"])
        if "record.complete()" in text:  # the conclusions: the closing cell writes the report's last words
            continue
        n = sum(1 for line in text.splitlines() if line.strip())
        if n > MAX_LINES:
            long.append((i, n))
    assert not long, f"{path.name}: cells (index, lines) over {MAX_LINES} lines: {long}"


def test_the_shape_rules_can_fail(tmp_path):
    bad = {"cells": [{"cell_type": "code", "metadata": {}, "source": ["f = lambda x: x\n", "def g():\n", "    pass\n"]}]}
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps(bad))
    with pytest.raises(AssertionError):
        test_defines_no_function_or_class(path)
    bad["cells"][0]["source"] = [f"x{i} = {i}\n" for i in range(MAX_LINES + 1)]
    path.write_text(json.dumps(bad))
    with pytest.raises(AssertionError):
        test_no_long_cells(path)
