"""Code examples in the documentation run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import charter.testing

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.parametrize("block", _python_blocks(README.read_text()))
def test_readme_python_examples_run(block: str) -> None:
    exec(compile(block, str(README), "exec"), {})


def test_readme_has_python_examples() -> None:
    assert _python_blocks(README.read_text())


def test_testing_module_example_runs() -> None:
    doc = charter.testing.__doc__ or ""
    (example,) = re.findall(r"\.\. code-block:: python\n\n(.*?)\n\n[A-Z]", doc, flags=re.DOTALL)
    source = "\n".join(line.removeprefix("    ") for line in example.splitlines())
    setup = (
        "from charter import tool\n"
        "@tool\n"
        "def lookup_order(order_id: int) -> dict:\n"
        "    '''Look up an order.'''\n"
        "    return {'id': order_id}\n"
    )
    exec(compile(setup + source, "charter.testing", "exec"), {})
