"""The runtime: the governed run loop."""

from charter.runtime._run import Run, RunStatus, Step
from charter.runtime._runner import RecordListener, Runner

__all__ = ["RecordListener", "Run", "RunStatus", "Runner", "Step"]
