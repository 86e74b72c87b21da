"""The read model: what the CLI, the API, the dashboard, the report, the advisor and evals read.

Every function here reads the journal and appends nothing; each returns Pydantic models, so the
API can return them as they are. The SQL lives below, in :mod:`charter.journal`; this package
shapes what it returns into views. The dependency runs one way: the server and the CLI import
views, views import the journal (and, lazily, the runtime's readers); views never import the
server.

- :mod:`charter.views._runs`: runs, their steps, decisions, approvals and audit status;
- :mod:`charter.views._tree`: the tree of delegated runs around a run;
- :mod:`charter.views._costs`: costs, agents, tools and the metrics exposition;
- :mod:`charter.views._evals`: eval results and rollout gates per agent;
- :mod:`charter.views._audit`: the journal's verification status, kept incrementally;
- :mod:`charter.views._approvals`: approval cards (what a waiting call would do);
- :mod:`charter.views._charts`: the stacked bars the dashboard and the report draw.

The modules are private and imported one by one: listing runs must not load what the cost
charts need.
"""
