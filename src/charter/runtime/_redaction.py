"""Masking values for one run, and giving them back where the charter allows.

The charter's ``redact`` rules (:mod:`charter.policy._redact`) say what to mask; a
:class:`RunRedaction` replaces each such value by a placeholder that is stable within the
run (``[redacted:email#3f2a9c01]``: the same value, the same placeholder), keeps the value
in this process's memory only, and gives the journal a digest of it, never the value.

The digest and the placeholder's tag are an HMAC-SHA-256 over the run id and the value,
keyed by a secret derived from the journal's signing key (an Ed25519 signature over a
fixed domain string is deterministic and secret, so the same key gives the same digests
on every host). A plain or salted hash would not do: a phone number or a postcode has so
few possible values that anyone reading the journal could hash them all; without the key
nobody can. An auditor holding the key can confirm that a given value was the one masked
(:meth:`RunRedaction.digest`). A journal without a signing key gets a random key per
process: its digests cannot be brute-forced, nor checked later.

A placeholder handed back in a later call is replaced by its value only in an argument the
masking rule's ``restore`` names; anywhere else the tool gets the placeholder text. A
placeholder this run did not make (another run's, a guessed one), or one whose value this
process no longer holds (the run was resumed elsewhere), in a restore argument refuses the
call: charter never guesses which value a placeholder meant.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from charter.journal import Journal, canonical_json
from charter.policy import Label
from charter.policy._fields import field_label
from charter.policy._redact import (
    PLACEHOLDER,
    Match,
    RedactRule,
    find_in_args,
    find_in_output,
    walk,
)
from charter.reasoners._base import Observation, ToolCall
from charter.tools import Tool, ToolArgumentsError

REDACTION_DOMAIN = b"charter-redaction-key\x1f"
"""What the journal's key signs to derive the redaction key (domain separation)."""
_PROCESS_KEY = secrets.token_bytes(32)
_MAX_RUNS = 1024
"""Runs whose masked values one process holds at most (the oldest are forgotten)."""


def redaction_key(journal: Journal) -> tuple[bytes, str]:
    """The HMAC key for ``journal``'s digests and the id journaled with them: its
    signing key's id, or ``ephemeral`` for a per-process key."""
    signer = journal.signer
    if signer is None:
        return _PROCESS_KEY, "ephemeral"
    return hashlib.sha256(signer.sign_message(REDACTION_DOMAIN)).digest(), signer.key_id


@dataclass(frozen=True, slots=True)
class Held:
    """A masked value this process keeps for its run."""

    value: Any
    rule: str
    kind: str
    label: Label
    """The label the value carried where it was masked (it carries it again restored)."""


@dataclass(slots=True)
class Restored:
    """A call's arguments with placeholders given back where the charter allows."""

    args: dict[str, Any]
    """The arguments as the tool gets them."""
    records: list[dict[str, Any]] = field(default_factory=lambda: [])
    """What was restored, as journaled: rule, argument, placeholder, digest."""
    labels: dict[str, Label] = field(default_factory=lambda: {})
    """Each argument holding a restored value → the label of the value(s) it holds."""
    whole: set[str] = field(default_factory=lambda: set[str]())
    """Arguments that were one placeholder, now exactly the value it stood for."""
    problem: str | None = None
    """Why the call is refused (a placeholder this run cannot give back), if it is."""


class RunRedaction:
    """The masked values of one run, held in memory, and their placeholders."""

    def __init__(self, key: bytes, key_id: str, run_id: str) -> None:
        self._key = key
        self.key_id = key_id
        self.run_id = run_id
        self._held: dict[str, Held] = {}

    def digest(self, value: Any) -> str:
        """HMAC-SHA-256 of ``value`` in this run (hex), as journaled."""
        text = value if isinstance(value, str) else canonical_json(value)
        message = f"{self.run_id}\x1f{text}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def placeholder(self, match: Match, label: Label) -> tuple[str, str]:
        """The placeholder of a matched value, and its digest (the value is held)."""
        digest = self.digest(match.value)
        text = f"[redacted:{match.kind}#{digest[:8]}]"
        held = self._held.get(text)
        if held is not None and held.value != match.value:  # 32 bits collided: widen
            text = f"[redacted:{match.kind}#{digest[:16]}]"
            held = self._held.get(text)
        if held is None:
            self._held[text] = Held(match.value, match.rule, match.kind, label)
        return text, digest

    def mask(
        self, content: Any, matches: list[Match], labels: Mapping[int, Label]
    ) -> tuple[Any, list[dict[str, Any]]]:
        """``content`` with every match replaced by its placeholder, and the records of
        what was masked (rule, path, kind, placeholder, digest). ``labels``: each masked
        leaf's label."""
        by_leaf: dict[int, list[Match]] = {}
        for match in matches:
            by_leaf.setdefault(match.leaf, []).append(match)
        records: list[dict[str, Any]] = []
        counter = iter(range(1 << 62))

        def replace(value: Any) -> Any:
            if isinstance(value, dict):
                items = cast(dict[Any, Any], value).items()
                return {k: replace(v) for k, v in items}
            if isinstance(value, (list, tuple)):
                return [replace(v) for v in cast(list[Any], value)]
            leaf = next(counter)
            found = by_leaf.get(leaf)
            if not found:
                return value
            label = labels.get(leaf, Label())
            if found[0].span is None:
                text, digest = self.placeholder(found[0], label)
                records.append(_record(found[0], text, digest))
                return text
            out: list[str] = []
            at = 0
            for match in found:
                assert match.span is not None
                start, end = match.span
                text, digest = self.placeholder(match, label)
                records.append(_record(match, text, digest))
                out += [str(value)[at:start], text]
                at = end
            return "".join(out) + str(value)[at:]

        return replace(content), records

    def echoes(self, content: Any, placeholders: tuple[str, ...]) -> list[Match]:
        """Where ``content`` holds the values of ``placeholders`` (a tool echoing what was
        given back to it): whole values, and text of four characters or more inside text
        (a shorter one would be found in ordinary words)."""
        held = [self._held[p] for p in dict.fromkeys(placeholders) if p in self._held]
        if not held:
            return []
        found: list[Match] = []
        for leaf, (path, value) in enumerate(walk(content)):
            if isinstance(value, str) and PLACEHOLDER.fullmatch(value):
                continue
            taken: list[tuple[int, int]] = []
            for item in held:
                if value == item.value and not isinstance(value, bool):
                    found.append(Match(item.rule, path, item.kind, value, None, leaf))
                    break
                text = str(item.value)
                if not isinstance(value, str) or len(text) < 4:
                    continue
                at = value.find(text)
                while at >= 0:
                    end = at + len(text)
                    if not any(at < e and s < end for s, e in taken):
                        taken.append((at, end))
                        found.append(Match(item.rule, path, item.kind, text, (at, end), leaf))
                    at = value.find(text, end)
        return sorted(found, key=lambda m: (m.leaf, m.span or (0, 0)))

    def restore(self, tool: str, args: Mapping[str, Any], rules: list[RedactRule]) -> Restored:
        """``args`` with each placeholder given back where its rule's ``restore`` names
        ``tool.<argument>``; elsewhere a placeholder stays text."""
        allowed = {rule.id: set(rule.restore) for rule in rules}
        out = Restored(dict(args))
        for name, value in args.items():
            if f"{tool}.{name}" not in set().union(*allowed.values()):
                continue
            if not any(
                PLACEHOLDER.search(text) for _, text in walk(value) if isinstance(text, str)
            ):
                continue
            if isinstance(value, str) and PLACEHOLDER.fullmatch(value):
                out.whole.add(name)
            try:
                out.args[name] = self._give_back(tool, name, value, allowed, out)
            except LookupError as exc:
                out.problem = str(exc)
                return out
        return out

    def _give_back(
        self, tool: str, name: str, value: Any, allowed: dict[str, set[str]], out: Restored
    ) -> Any:
        if isinstance(value, dict):
            items = cast(dict[Any, Any], value).items()
            return {k: self._give_back(tool, name, v, allowed, out) for k, v in items}
        if isinstance(value, (list, tuple)):
            return [self._give_back(tool, name, v, allowed, out) for v in cast(list[Any], value)]
        if not isinstance(value, str):
            return value

        def held_for(found: re.Match[str]) -> Held:
            text = found.group()
            held = self._held.get(text)
            if held is None:
                raise LookupError(
                    f"{name} of {tool!r} holds {text}, which is not a value this run masked "
                    "in this process (another run's, a made-up one, or the run moved to "
                    "another process since): look the value up again"
                )
            if f"{tool}.{name}" not in allowed.get(held.rule, set()):
                raise LookupError(
                    f"{name} of {tool!r} holds {text}, masked by rule {held.rule}, whose "
                    f"restore does not name {tool}.{name}"
                )
            out.records.append(
                {
                    "rule": held.rule,
                    "arg": name,
                    "placeholder": text,
                    "digest": self.digest(held.value),
                    "label": held.label.to_json(),
                }
            )
            label = out.labels.get(name)
            out.labels[name] = held.label if label is None else label.join(held.label)
            return held

        whole = PLACEHOLDER.fullmatch(value)
        if whole is not None:
            return held_for(whole).value
        return PLACEHOLDER.sub(lambda m: str(held_for(m).value), value)


@dataclass(slots=True)
class CallMasking:
    """A call's arguments as the tool gets them and as the journal keeps them."""

    tool_args: dict[str, Any]
    """The validated arguments with what the ``redact`` rules name masked."""
    shown: dict[str, Any]
    """:attr:`tool_args` with each restored value back to its placeholder: what approval
    requests, simulated effects and receipts are journaled and checked with."""
    masked: list[dict[str, Any]] = field(default_factory=lambda: [])
    """The records of what was masked (rule, path, kind, placeholder, digest)."""
    kept: frozenset[str] = frozenset()
    """Arguments holding restored values (never masked again)."""


def mask_call(
    redaction: RunRedaction | None,
    rules: list[RedactRule],
    tool: Tool,
    proposed: Mapping[str, Any],
    args: dict[str, Any],
    labels: dict[str, Label],
    restored: Restored | None,
) -> CallMasking:
    """Label the restored arguments of a call (in ``labels``: a restored value carries
    the label it had where it was masked) and mask what ``rules`` name in ``args``."""
    if redaction is None:
        return CallMasking(args, args)
    kept = frozenset(restored.labels if restored is not None else ())
    for name in kept:
        assert restored is not None
        origin = restored.labels[name]
        labels[name] = origin if name in restored.whole else labels[name].join(origin)
    matches = find_in_args(rules, tool, args, labels, kept)
    tool_args, records = args, []
    if matches:
        tool_args, records = _mask_args(redaction, args, matches, labels)
    shown = tool_args | {name: proposed[name] for name in kept}
    return CallMasking(tool_args, shown, records, kept)


def _mask_args(
    redaction: RunRedaction, args: dict[str, Any], matches: list[Match], labels: Mapping[str, Label]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``args`` masked where ``matches`` say, and the records of it, each with the label
    of the argument it was in (what a journaled call decided again labels it with)."""
    top = {m.leaf: _top(m.path) for m in matches}
    leaf_labels = {leaf: labels[name] for leaf, name in top.items() if name in labels}
    masked, records = redaction.mask(args, matches, leaf_labels)
    for record in records:
        label = labels.get(_top(str(record["path"])))
        if label is not None:
            record["label"] = label.to_json()
    return cast(dict[str, Any], masked), records


def _top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def journaled_call(
    redaction: RunRedaction,
    rules: list[RedactRule],
    found: Tool | None,
    call: ToolCall,
    arg_labels: Callable[[Tool, dict[str, Any]], dict[str, Label]],
    context: Label,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The arguments of a proposed call as the journal keeps them, and the records of
    what was masked in them (none: the arguments as proposed).

    The journal never holds a value the ``rules`` mask before a tool runs: it holds the
    call as the tool would get it, each value given back by its placeholder (the form
    :func:`mask_call` calls ``shown``), so the ledger, recovery and replay read the call
    that runs. A call that cannot be validated (an unknown tool, arguments its schema
    refuses) is masked as proposed, each argument labelled with the run's whole context.
    ``arg_labels``: each argument's label, as the run labels a call of a tool.
    """
    if found is not None:
        restored = redaction.restore(found.name, call.args, rules)
        if restored.problem is None:
            try:
                args = found.validate_args(restored.args).model_dump(mode="json")
            except ToolArgumentsError:
                pass
            else:
                labels = arg_labels(found, args)
                masking = mask_call(redaction, rules, found, call.args, args, labels, restored)
                return (masking.shown, masking.masked) if masking.masked else (call.args, [])
    raw = dict(call.args)
    labels = dict.fromkeys(raw, context)
    matches = find_in_args(rules, call.tool, raw, labels)
    return _mask_args(redaction, raw, matches, labels) if matches else (raw, [])


def journaled_masks(
    args: Mapping[str, Any], records: Sequence[Mapping[str, Any]], labels: dict[str, Label]
) -> tuple[Match, ...]:
    """The masks of ``records`` (a journaled call's ``redacted``) whose placeholders
    ``args`` hold: a call taken up from the journal, decided again, counts them as masked
    by their rules, and labels each argument holding one as it was labelled (in
    ``labels``). A journal written before calls were journaled masked holds the values
    themselves: those are found and masked again instead."""
    texts = [text for _, text in walk(dict(args)) if isinstance(text, str)]
    found: list[Match] = []
    journaled: dict[str, Label] = {}
    for record in records:
        placeholder = str(record.get("placeholder", ""))
        if not placeholder or not any(placeholder in text for text in texts):
            continue
        path = str(record["path"])
        found.append(Match(str(record["rule"]), path, str(record["kind"]), placeholder))
        name = _top(path)
        if isinstance(record.get("label"), dict) and name in labels:
            label = Label(**record["label"])
            journaled[name] = label if name not in journaled else journaled[name].join(label)
    labels |= journaled
    return tuple(found)


def mask_output(
    redaction: RunRedaction,
    rules: list[RedactRule],
    tool: Tool,
    observation: Observation,
    given_back: tuple[str, ...] = (),
) -> tuple[Observation, list[dict[str, Any]]]:
    """``observation`` with what ``rules`` mask in ``tool``'s output replaced by
    placeholders (an error's text by the patterns), and the records of each value.
    ``given_back``: placeholders restored into the call; a tool echoing their values gets
    them masked again, whether or not a rule covers its output."""
    content: Any = observation.content
    records: list[dict[str, Any]] = []
    matches = find_in_output(rules, tool, content)
    if matches:
        labels = {m.leaf: field_label(tool.contract, m.path) for m in matches}
        content, records = redaction.mask(content, matches, labels)
    echoed = redaction.echoes(content, given_back)
    if echoed:
        labels = {m.leaf: field_label(tool.contract, m.path) for m in echoed}
        content, more = redaction.mask(content, echoed, labels)
        records = [*records, *more]
    if not records:
        return observation, []
    return Observation(observation.status, content), records


def _record(match: Match, placeholder: str, digest: str) -> dict[str, Any]:
    return {
        "rule": match.rule,
        "path": match.path,
        "kind": match.kind,
        "placeholder": placeholder,
        "digest": digest,
    }


class Redactions:
    """The runs' masked values this process holds, by run id (bounded)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._runs: OrderedDict[str, RunRedaction] = OrderedDict()
        self._key: tuple[bytes, str] | None = None

    def of(self, run_id: str) -> RunRedaction:
        """The run's masked values (created empty when none are held)."""
        found = self._runs.get(run_id)
        if found is None:
            if self._key is None:
                self._key = redaction_key(self.journal)
            found = self._runs[run_id] = RunRedaction(*self._key, run_id)
            while len(self._runs) > _MAX_RUNS:
                self._runs.popitem(last=False)
        self._runs.move_to_end(run_id)
        return found

    def forget(self, run_id: str) -> None:
        """Drop a finished run's values."""
        self._runs.pop(run_id, None)
