"""The line framing of charter's stdio transports: lines cut where they end, whatever the
chunks; a line over the limit dropped whole, and reported once."""

from __future__ import annotations

from charter.integrations.mcp._wire import LineReader, error_line, request_id, to_sdk


def reader(limit: int = 64) -> tuple[LineReader, list[bytes], list[str]]:
    lines: list[bytes] = []
    events: list[str] = []
    found = LineReader(
        lines.append, lambda: events.append("oversized"), lambda: events.append("eof"), limit
    )
    return found, lines, events


def test_lines_are_cut_where_they_end_whatever_the_chunks() -> None:
    lines_of, lines, _ = reader()
    for chunk in (b'{"a":', b"1}\n{", b'"b":2}\n\n  \n{"c":3}', b"\n"):
        lines_of.data_received(chunk)
    assert lines == [b'{"a":1}', b'{"b":2}', b'{"c":3}']  # blank lines are skipped


def test_a_line_over_the_limit_is_dropped_whole_and_reported_once() -> None:
    lines_of, lines, events = reader(limit=16)
    lines_of.data_received(b"x" * 10)
    lines_of.data_received(b"y" * 10)  # over the limit: the rest of this line is skipped
    lines_of.data_received(b"z" * 100)
    assert lines == [] and events == []
    lines_of.data_received(b'zz\n{"ok":1}\n')
    assert events == ["oversized"]
    assert lines == [b'{"ok":1}']  # the next line is read as usual


def test_a_long_line_within_one_chunk_is_dropped_too() -> None:
    lines_of, lines, events = reader(limit=16)
    lines_of.data_received(b"a" * 40 + b"\n" + b'{"n":2}\n')
    assert events == ["oversized"] and lines == [b'{"n":2}']


def test_the_end_of_the_pipe_is_reported() -> None:
    lines_of, _, events = reader()
    lines_of.eof_received()
    assert events == ["eof"]


def test_ids_are_integers_or_strings_only() -> None:
    assert [request_id(v) for v in (1, "a", True, 1.5, None, [1], {"x": 1})] == [
        1,
        "a",
        None,
        None,
        None,
        None,
        None,
    ]


def test_a_line_the_sdk_cannot_read_is_handed_over_as_its_error() -> None:
    assert isinstance(to_sdk(b'{"jsonrpc":"1.0","id":1,"method":"ping"}'), Exception)
    assert isinstance(to_sdk(b"not json"), Exception)
    assert not isinstance(to_sdk(b'{"jsonrpc":"2.0","id":1,"method":"ping"}'), Exception)
    assert error_line(None, -32700, "Parse error") == (
        b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}\n'
    )
