"""The workspace world: one employee's mail, calendar, drive, team chat, bank and web.

Its tools (:mod:`charter.worlds.workspace.tools`) are declared as an integrator would
declare them; its suites (``examples/evals/workspace-normal.suite.yaml`` and
``workspace-adversarial.suite.yaml``, written by :mod:`charter.worlds.workspace.suites`)
measure how many legitimate tasks a charter lets through and how many injected attacks it
stops.
"""
