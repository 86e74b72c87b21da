"""Worlds that evals and benchmarks run agents in, beside the demo's support company.

Each world is a SQLite database made by a factory (``create_world(path)``), tools an
integrator would write over it, an agent file and its charter, all shipped in the package
so suites and benchmarks name them without an ``examples/`` path.
"""
