"""The runtime: the governed run loop."""

from charter.runtime._controls import CONTROL_KINDS, CONTROL_RUN, Controls, ControlState
from charter.runtime._run import Run, RunStatus, Step
from charter.runtime._runner import RecordListener, Runner

__all__ = [
    "CONTROL_KINDS",
    "CONTROL_RUN",
    "ControlState",
    "Controls",
    "RecordListener",
    "Run",
    "RunStatus",
    "Runner",
    "Step",
]
