"""What one caller may take from ``charter serve``: request body size, live event streams,
journaled refusals. Every limit has a default that serves a team; ``charter serve``
options change them."""

from __future__ import annotations

from dataclasses import dataclass

from charter.errors import ConfigError

MIB = 1024 * 1024
MAX_SEQ = 2**63 - 1
"""The largest journal ``seq`` (a signed 64-bit column): a cursor beyond it is a 422, not a
query the database refuses."""


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Limits of one server process."""

    max_body: int = MIB
    """Bytes of a request body; reading stops there and the answer is 413 (``--max-body``)."""
    streams_per_token: int = 8
    """Live event streams one token may hold open at once; 429 beyond (``--max-streams``)."""
    stream_recheck_seconds: float = 5.0
    """How often an open stream checks its token is still live (closed if revoked)."""
    stream_idle_seconds: float = 300.0
    """A stream with no new record for this long is closed (``--stream-idle``); the
    dashboard reconnects from the last record it saw."""
    refusal_burst: int = 30
    """Refused requests one client address may have journaled in a burst, one record
    each; beyond it, one summary record per burst (``api.rejected.burst``)."""
    refusals_per_second: float = 0.5
    """How fast a client's refusal allowance refills."""

    def __post_init__(self) -> None:
        if self.max_body < 1:
            raise ConfigError(f"max_body must be at least 1 byte, not {self.max_body}")
        if self.streams_per_token < 1:
            raise ConfigError(f"streams_per_token must be at least 1, not {self.streams_per_token}")
        if self.stream_recheck_seconds <= 0 or self.stream_idle_seconds <= 0:
            raise ConfigError("stream recheck and idle times must be positive")
        if self.refusal_burst < 1 or self.refusals_per_second <= 0:
            raise ConfigError("the refusal burst must be at least 1 and its refill positive")
