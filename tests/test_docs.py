"""Code examples in the documentation run as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
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


# --- the README's walk-through, as a newcomer runs it in a fresh clone -----------------

_NEEDS_MORE = ("make ", "charter serve")
"""Commands the walk-through test leaves out: `make` (installs, the model) and the server."""


def readme_commands(text: str) -> list[tuple[str, int]]:
    """(command, expected exit status) of each `charter` line of the README's sh blocks.

    A comment line saying ``(exit N)`` gives the status of the command before it; the
    others must exit 0. Continued lines (``\\``) are joined.
    """
    commands: list[tuple[str, int]] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            expected = re.search(r"\(exit (\d+)\)", line)
            if line.startswith("#"):
                if expected and commands:
                    commands[-1] = (commands[-1][0], int(expected.group(1)))
                continue
            command = line.split(" #", 1)[0].strip()
            if command and not any(command.startswith(s) or s in command for s in _NEEDS_MORE):
                commands.append((command, 0))
    return commands


def test_readme_commands_are_found() -> None:
    commands = readme_commands(README.read_text())
    assert commands[0][0].startswith(".venv/bin/charter eval")
    assert any(
        c.startswith(".venv/bin/charter approvals approve <request id>") for c, _ in commands
    )
    assert (
        '.venv/bin/charter run examples/refund-approval.agent.yaml "Refund order 1013: damaged"'
        " --as sam",
        3,
    ) in commands


def test_readme_walk_through_runs_as_written(tmp_path: Path) -> None:
    root = README.parent
    clone = tmp_path / "clone"  # a fresh checkout's layout, with no .charter yet
    clone.mkdir()
    for name in ("examples", "src"):
        (clone / name).symlink_to(root / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    run_id = request_id = ""
    outputs: list[str] = []
    for command, expected in readme_commands(README.read_text()):
        command = command.replace("<run id>", run_id).replace("<request id>", request_id)
        argv = shlex.split(command)
        assert argv[0] in (".venv/bin/charter", "charter"), command
        done = subprocess.run(
            [sys.executable, "-m", "charter", *argv[1:]],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = done.stdout + done.stderr
        assert done.returncode == expected, f"{command}\n{output}"
        outputs.append(output)
        if found := re.search(r"^run ([0-9a-f]{12,}) agent", output, flags=re.MULTILINE):
            run_id = found.group(1)
        if found := re.search(r"approval (apr-[0-9a-f]+) requested", output):
            request_id = found.group(1)
    text = "\n".join(outputs)
    assert "Refunded order 1042" in text
    assert "Refunded order 1013" in text
    assert "dana denied the call: needs the courier's report" in text
    assert "journal intact" in text
    assert (clone / ".charter" / "demo-world.db").is_file()  # created on first use


def test_reset_world_puts_the_demo_world_back_to_its_seed(tmp_path: Path) -> None:
    env = {**os.environ, "CHARTER_HOME": str(tmp_path / "home")}
    agent = README.parent / "examples" / "refund.agent.yaml"

    def charter(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "charter", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert charter("run", str(agent), "Refund order 1042: damaged").returncode == 0
    again = charter("run", str(agent), "Refund order 1042: damaged")
    assert "not refundable" in again.stdout

    reset = charter("demo", "--reset-world")

    assert reset.returncode == 0, reset.stderr
    assert "demo world reset to its seed" in reset.stdout
    assert "Refunded order 1042" in charter("run", str(agent), "Refund order 1042: x").stdout


def test_reset_world_where_it_cannot_be_written_is_one_line_and_exit_2(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "charter", "demo", "--reset-world"],
        env={**os.environ, "CHARTER_HOME": str(not_a_directory / "home")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot reset the demo world at ")
    assert "Traceback" not in done.stderr
    assert not (not_a_directory / "home").exists()
