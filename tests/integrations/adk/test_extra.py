"""Without google-adk installed, importing the integration says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HIDDEN = textwrap.dedent(
    """
    import sys

    class HideAdk:
        def find_spec(self, name, path=None, target=None):
            if name == "google.adk" or name.startswith("google.adk."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, HideAdk())
    try:
        import charter.integrations.adk
    except ImportError as exc:
        print(str(exc))
    else:
        print("imported")
    """
)


def test_importing_without_the_extra_names_it_in_one_line() -> None:
    done = subprocess.run([sys.executable, "-c", HIDDEN], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ADK agents need the adk extra: pip install 'charter[adk]'"


def test_charter_itself_imports_without_the_framework() -> None:
    script = HIDDEN.replace("import charter.integrations.adk", "import charter, charter.governance")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "imported", done.stderr
