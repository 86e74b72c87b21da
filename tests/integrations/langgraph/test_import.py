"""Without the langgraph extra, importing the integration says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_importing_without_langgraph_names_the_extra_in_one_line() -> None:
    script = textwrap.dedent(
        """
        import sys
        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name == "langgraph" or name.startswith("langgraph."):
                    raise ImportError(f"No module named {name!r}")
                return None
        sys.meta_path.insert(0, Hide())
        try:
            import charter.integrations.langgraph
        except ImportError as exc:
            print(str(exc))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines() == [
        "the LangGraph integration needs the langgraph extra: pip install 'charter[langgraph]'"
    ]
