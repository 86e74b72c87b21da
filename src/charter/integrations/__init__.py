"""Integrations with other agent tooling, one optional extra each (``charter[mcp]``)."""
