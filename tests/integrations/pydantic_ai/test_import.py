"""Without the pydantic-ai extra, importing the integration says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_importing_without_pydantic_ai_names_the_extra_in_one_line() -> None:
    hide = textwrap.dedent(
        """
        import sys
        from importlib.abc import MetaPathFinder

        class Hidden(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "pydantic_ai" or name.startswith("pydantic_ai."):
                    raise ModuleNotFoundError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, Hidden())
        try:
            import charter.integrations.pydantic_ai
        except ImportError as exc:
            print(str(exc))
            sys.exit(3)
        """
    )
    done = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip().splitlines() == [
        "Pydantic AI agents need the pydantic-ai extra: pip install 'charter[pydantic-ai]'"
    ]
