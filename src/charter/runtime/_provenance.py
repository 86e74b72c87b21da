"""Argument provenance: the label each argument of a proposed call carries.

Every value a tool returns carries the label of the output field it came from (see
:mod:`charter.policy._fields`): a listing's ``id`` may be trusted while the ``name``
beside it is third-party text. A reasoner that keeps value-level provenance (``plan``)
names, for each argument, the steps whose outputs it came from; the argument is trusted
when each of those steps holds its value in a trusted field (or the goal chose it), and
otherwise carries the join of those outputs' labels. An argument it names no steps for,
or a step with no output, is of unknown provenance: untrusted (fail closed).

Any other reasoner (llm, local, scripted) reads everything at once, so each argument gets
the join of everything the run has seen, unless its value is vouched for by a trusted
source: the goal's words, or a value a trusted field held *whole*. Matching never guesses:
a list or a mapping is vouched for only element by element; a number only by a trusted
field holding that number (or the goal naming it outside a date), never by the digits
inside a text ("13" in "June 13"); a string shorter than four characters only by a whole
field value or a word of the goal. A lookup's output vouches only if trusted values chose
its arguments (those left at the tool's defaults chose nothing). "Refund order 1042" lets
the agent refund order 1042 after reading an untrusted ticket; an order number only an
untrusted document mentions cannot become a refund's target without approval.

A task scope's bindings (:mod:`charter.policy._designate`) are the one way past that
for a value the goal does not name: an argument whose value is the field of the item the
trusted goal designates (that email's ``sender``, that invoice's ``iban``) is as trusted
as the goal and as confidential as that field, whatever else the run read; and the
confidential fields a goal sends (``carry``) do not count against the call that sends
them.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any, cast

from pydantic import BaseModel

from charter.policy import GOAL_LABEL, Label
from charter.policy._designate import Designation, designate, split_source
from charter.policy._fields import field_label, label_output, widest_label
from charter.policy._redact import PLACEHOLDER
from charter.policy._scope import TaskScope
from charter.tools import Tool

MIN_TEXT_MATCH = 4
"""Shortest string a trusted tool's *text* vouches for (whole fields vouch at any length)."""
MIN_GOAL_MATCH = 2
"""Shortest string the goal's words vouch for ("message bob": the user named bob)."""
_MONTHS = (
    "jan|january|feb|february|mar|march|apr|april|may|jun|june|jul|july|aug|august|"
    "sep|sept|september|oct|october|nov|november|dec|december"
)
_GOAL_NUMBER = re.compile(r"(?<![\w@.:/-])(\d+)(?![\w@:/-]|\.\d)")
_DATE_BEFORE = re.compile(rf"\b(?:{_MONTHS})\.?\s*$", re.IGNORECASE)
_DATE_AFTER = re.compile(rf"^(?:st|nd|rd|th)?\s*(?:of\s+)?(?:{_MONTHS})\b", re.IGNORECASE)
_NUMERIC = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_UNSET: Any = object()
_NOTHING = Label("trusted", "public")


_JSON_SCALARS = (str, int, float, bool, type(None))


def _reads_back(value: Any) -> bool:
    """Whether ``value`` is exactly what its JSON text reads back as: dicts with str keys,
    lists, and scalars of the exact JSON types (no tuples, subclasses or other objects,
    which the text would turn into something else)."""
    kind: type[Any] = cast(type[Any], type(value))
    if kind is dict:
        return all(
            type(k) is str and _reads_back(v) for k, v in cast(dict[Any, Any], value).items()
        )
    if kind is list:
        return all(_reads_back(v) for v in cast(list[Any], value))
    return kind in _JSON_SCALARS


def read_back(status: str, content: Any, text: str) -> Any:
    """What :meth:`RunLabels.observe` would read from ``text``, the rendering of an
    output (``status``, ``content``), without parsing it: the content itself when the text
    is its whole JSON and the content reads back as itself; else the marker that has
    ``observe`` parse ``text`` (so a run's labels are the same live, resumed and replayed,
    where only the text is at hand)."""
    if status != "ok" or text.endswith(" chars cut]") or not _reads_back(content):
        return _UNSET  # an error's text, a cut rendering: parsed (and found not JSON)
    return content


def _placeholder(value: Any) -> bool:
    return (
        isinstance(value, str)
        and value.startswith("[redacted:")
        and PLACEHOLDER.fullmatch(value) is not None
    )


def canonical(value: Any) -> str | None:
    """The form a scalar is compared in (numbers and numeric text alike), or None for
    values that never vouch or are vouched for (null, booleans, blank text)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        text = value.strip().casefold()
        if not text:
            return None
        if _NUMERIC.match(text):
            number = float(text)
            return str(int(number)) if number.is_integer() and "." not in text else text
        return text
    return None


def goal_numbers(goal: str) -> set[str]:
    """The numbers the goal names as numbers (not a date's day: "June 13", "13th May")."""
    found: set[str] = set()
    for match in _GOAL_NUMBER.finditer(goal):
        if _DATE_BEFORE.search(goal[: match.start()]) or _DATE_AFTER.match(
            goal[match.end() :].lstrip()
        ):
            continue
        found.add(str(int(match[1])))
    return found


class RunLabels:
    """What a run's reasoner has seen: labels, and the values trusted sources vouch for."""

    def __init__(self, goal: str, label: Label = GOAL_LABEL, *, vouching: str = "") -> None:
        """``label``: the goal's (a sub-agent's task carries its parent's argument's
        label); an untrusted goal vouches for nothing, and ``vouching`` (the root run's
        goal, whoever started it being trusted) vouches in its stead."""
        self.context: Label = label
        """Join of everything seen so far."""
        self._goal: Label = label
        trusted = goal if label.trust == "trusted" else vouching
        self._texts: list[str] = [trusted.casefold()] if trusted else []
        """Trusted text (case-folded once), for strings it holds as whole words."""
        self._in_text: dict[str, int] = {}
        """Canonical value → how many of :attr:`_texts` were searched for it without a
        hit (-1: found). Texts are only ever added, so a value found stays found and a
        value not found is searched for only in texts added since: a long run does not
        search its whole history again on every call."""
        self._values: set[str] = set()
        """Canonical values trusted fields held whole."""
        self._numbers = goal_numbers(trusted)
        self._steps: dict[int, Label] = {}
        self._step_values: dict[int, set[str]] = {}
        """Step → canonical values its trusted fields held whole (when they vouch)."""
        self._outputs: dict[int, tuple[str, Any]] = {}
        """Step → (tool, JSON content) of every output read: where bindings look."""
        self._contracts: dict[int, Tool] = {}
        self._untrusted: dict[int, tuple[str, str]] = {}
        """Step → (tool, output text) of every untrusted output: what an approver is
        shown as the text that may have chosen an argument."""

    def observe(
        self,
        tool: Tool,
        text: str,
        step: int = 0,
        *,
        args: dict[str, Any] | None = None,
        sources: Mapping[str, tuple[int, ...]] | None = None,
        content: Any = _UNSET,
    ) -> None:
        """Account for ``tool``'s output at ``step`` (``text`` as the reasoner saw it).

        ``content``: the output itself (default: ``text`` read as JSON); an output that
        is not JSON (an error, a rendering cut short) carries the widest of the tool's
        labels, since its fields cannot be told apart. ``args`` and ``sources``: the
        call's validated arguments and their provenance. A trusted field vouches for its
        value only if trusted values chose the call's arguments (:meth:`trusted_keys`):
        looking up an order number an untrusted email chose does not make that order
        number trusted because the lookup echoes it back. Without ``args`` it vouches.
        """
        contract = tool.contract
        if content is _UNSET:
            try:
                content = json.loads(text)
            except ValueError:
                content = _UNSET
        if content is _UNSET:
            label, leaves = widest_label(contract), []
        else:
            leaves = label_output(contract, content)
            # A placeholder charter put in place of a masked value says nothing of it.
            shown = [leaf for leaf in leaves if not _placeholder(leaf[1])]
            label = widest_label(contract) if not leaves else _NOTHING
            for _, _, leaf in shown:
                label = label.join(leaf)
            leaves = shown
            self._outputs[step] = (tool.name, content)
            self._contracts[step] = tool
        # Whether trusted values chose the call's arguments, before this output: with a
        # trusted context and no value-level provenance, whatever chose them was trusted.
        vouches = (
            args is None
            or (sources is None and self.context.trust == "trusted")
            or self.trusted_keys(_chosen(tool, args), sources)
        )
        self.context = self.context.join(label)
        self._steps[step] = self._steps.get(step, GOAL_LABEL).join(label)
        held = self._step_values.setdefault(step, set())
        if vouches:
            for _, value, leaf in leaves:
                key = canonical(value) if leaf.trust == "trusted" else None
                if key is None:
                    continue
                self._values.add(key)
                held.add(key)
                if isinstance(value, str) and len(value) > MIN_TEXT_MATCH:
                    self._texts.append(value.casefold())
        if label.trust == "untrusted":
            self._untrusted[step] = (tool.name, text)

    def observe_unknown(self, source: str, text: str, step: int) -> Label:
        """Account for ``text`` of unknown origin at ``step`` (``source``: what it says it
        came from): untrusted, of the default confidentiality, vouching for nothing.
        Returns its label."""
        label = Label("untrusted")
        self.context = self.context.join(label)
        self._steps[step] = self._steps.get(step, GOAL_LABEL).join(label)
        self._untrusted[step] = (source, text)
        return label

    def step_label(self, step: int) -> Label | None:
        """The label of what was read at ``step`` (None: nothing was)."""
        return self._steps.get(step)

    def vouched(self, value: Any, steps: tuple[int, ...] | None = None) -> bool:
        """Whether trusted sources hold ``value`` (every element of a list or mapping):
        with ``steps``, trusted fields of those steps' outputs (or the goal)."""
        if isinstance(value, dict):
            items = list(cast(dict[str, Any], value).values())
            return bool(items) and all(self.vouched(v, steps) for v in items)
        if isinstance(value, (list, tuple)):
            items = list(cast(list[Any], value))
            return bool(items) and all(self.vouched(v, steps) for v in items)
        key = canonical(value)
        if key is None:
            return False
        held = self._values
        if steps is not None:
            held = set[str]().union(*(self._step_values.get(s, set()) for s in steps))
        if key in held:
            return True
        if _NUMERIC.match(key):  # a number: named as one in the goal, never inside text
            return key in self._numbers
        if len(key) < MIN_GOAL_MATCH:
            return False
        if steps is not None or len(key) < MIN_TEXT_MATCH:  # the goal's words alone
            return bool(self._texts) and _word_in(key, self._texts[0])
        searched = self._in_text.get(key, 0)
        if searched < 0:
            return True
        texts = self._texts
        found = any(_word_in(key, texts[i]) for i in range(searched, len(texts)))
        if len(self._in_text) >= _MAX_SEARCHED:  # a bound on memory, not on correctness
            self._in_text.clear()
        self._in_text[key] = -1 if found else len(texts)
        return found

    def untrusted_sources(
        self,
        args: Mapping[str, Any],
        labels: Mapping[str, Label],
        sources: Mapping[str, tuple[int, ...]] | None = None,
        *,
        per_arg: int = 3,
        width: int = 80,
    ) -> dict[str, list[dict[str, Any]]]:
        """For each argument labelled untrusted, the untrusted outputs that may have
        chosen it: ``{"step", "tool", "excerpt", "found"}``, up to ``per_arg`` of them.

        ``found`` says the output holds the argument's value verbatim (the excerpt is
        ``width`` characters either side of it); without such an output, the excerpts
        are the beginnings of the untrusted outputs the reasoner had seen (with
        ``sources``, of those the argument came from).
        """
        found: dict[str, list[dict[str, Any]]] = {}
        for name, label in labels.items():
            if label.trust != "untrusted" or name not in args:
                continue
            steps = sorted(self._untrusted)
            if sources is not None and name in sources:
                steps = [s for s in sources[name] if s in self._untrusted]
            value = args[name]
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            pattern = (
                re.compile(rf"(?<![\w@.-]){re.escape(text)}(?![\w@-])")
                if value is not None and not isinstance(value, bool) and text.strip()
                else None
            )
            matches: list[dict[str, Any]] = []
            for step in steps:
                tool, output = self._untrusted[step]
                hit = pattern.search(output) if pattern is not None else None
                if hit is not None:
                    matches.append(_excerpt(step, tool, output, hit.start(), hit.end(), width))
            if not matches:  # the value appears nowhere verbatim: show what was read
                matches = [
                    _excerpt(step, *self._untrusted[step], 0, 0, width, found=False)
                    for step in steps
                ]
            found[name] = matches[:per_arg]
        return found

    def trusted_keys(
        self, args: dict[str, Any], sources: Mapping[str, tuple[int, ...]] | None = None
    ) -> bool:
        """Whether trusted values chose every argument of a call (before it runs)."""
        if sources is not None:
            return all(
                self._from_steps(sources.get(name), args[name]).trust == "trusted" for name in args
            )
        if self.context.trust == "trusted":
            return True
        return all(
            self.vouched(value)
            for value in args.values()
            if value is not None and not isinstance(value, bool)
        )

    def arg_labels(
        self,
        tool: Tool,
        args: dict[str, Any],
        sources: Mapping[str, tuple[int, ...]] | None = None,
        scope: TaskScope | None = None,
    ) -> dict[str, Label]:
        """The label of each argument of a proposed call of ``tool``.

        With ``sources`` (value-level provenance), an argument is labelled by the outputs
        it came from; an argument ``sources`` does not name, or a step with no observed
        output, is of unknown provenance and untrusted. Without, every argument carries
        the run's context, except a value trusted sources vouch for (:meth:`vouched`).
        With ``scope`` (resolved by :meth:`resolve`), an argument holding what a binding
        designates is as trusted as the goal and as confidential as the field it was read
        from, and the fields the scope's ``carry`` names for ``tool`` do not count against
        its arguments.
        """
        if sources is not None:
            labels = {name: self._from_steps(sources.get(name), args[name]) for name in args}
        else:
            labels = dict.fromkeys(args, self.context)
            if self.context.trust == "untrusted":
                vouched = Label("trusted", self.context.confidentiality)
                for name, value in args.items():
                    if self.vouched(value):
                        labels[name] = vouched
        if scope is None or not (scope.designated or scope.carry):
            return labels
        carried = scope.carry.get(tool.name, ())
        for name, value in args.items():
            steps = None if sources is None else sources.get(name)
            holding = self._holding(scope, tool, name, value, sources)
            if holding:
                labels[name] = self._designated_label(holding, carried)
            elif carried:
                labels[name] = Label(
                    labels[name].trust, self._carried_label(value, carried, steps).confidentiality
                )
        return labels

    def designated_sources(
        self,
        tool: Tool,
        args: dict[str, Any],
        scope: TaskScope | None,
        sources: Mapping[str, tuple[int, ...]] | None = None,
    ) -> dict[str, list[list[Any]]]:
        """For each argument a binding of ``scope`` (resolved) holds, where its value was
        read: ``[[step, "tool.path"], ...]``, as the decision journals it."""
        if scope is None or not scope.designated:
            return {}
        found: dict[str, list[list[Any]]] = {}
        for name, value in args.items():
            holding = self._holding(scope, tool, name, value, sources)
            if holding:
                found[name] = [[step, path] for d in holding for step, path in d.read_at]
        return found

    @staticmethod
    def _holding(
        scope: TaskScope,
        tool: Tool,
        name: str,
        value: Any,
        sources: Mapping[str, tuple[int, ...]] | None,
    ) -> tuple[Designation, ...]:
        holding = scope.bound(tool.name, name, value)
        steps = None if sources is None else sources.get(name)
        if sources is not None:  # value-level provenance: it must come from that item
            holding = tuple(d for d in holding if {s for s, _ in d.read_at} & set(steps or ()))
        return holding

    def resolve(self, scope: TaskScope | None) -> TaskScope | None:
        """``scope`` with what each of its bindings designates in what was read so far."""
        if scope is None or not scope.bind:
            return scope
        return scope.resolved(
            {
                key: tuple(designate(b, self._outputs, canonical) for b in bindings)
                for key, bindings in scope.bind.items()
            }
        )

    def _designated_label(
        self, holding: tuple[Designation, ...], carried: tuple[str, ...]
    ) -> Label:
        """The label of a value read from the designated items' fields: as trusted as the
        goal (it chose the item), as confidential as those fields (unless carried)."""
        label = self._goal
        for designation in holding:
            for step, source in designation.read_at:
                if source in carried:
                    continue
                _, path = split_source(source)
                field = field_label(self._contracts[step].contract, path)
                label = label.join(Label(self._goal.trust, field.confidentiality))
        return label

    def _carried_label(
        self, value: Any, carried: tuple[str, ...], steps: tuple[int, ...] | None
    ) -> Label:
        """The join of what ``value`` may hold (``steps``, or everything read), where an
        output of a carried field's tool counts without its confidentiality unless one of
        its other confidential fields is found in ``value`` whole."""
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text = text.casefold()
        by_tool: dict[str, set[str]] = {}
        for source in carried:
            tool_name, path = split_source(source)
            by_tool.setdefault(tool_name, set()).add(path)
        label = self._goal
        for step in self._steps if steps is None else steps:
            seen = self._steps.get(step, Label("untrusted", self.context.confidentiality))
            tool_name = self._outputs.get(step, ("", None))[0]
            if tool_name in by_tool and not self._leaks(step, by_tool[tool_name], text):
                seen = Label(seen.trust, "public")
            label = label.join(seen)
        return label

    def _leaks(self, step: int, paths: set[str], text: str) -> bool:
        """Whether ``text`` holds a confidential field of ``step``'s output other than
        ``paths`` (a check that only ever withholds the carry, never grants it)."""
        contract = self._contracts[step].contract
        for path, value, leaf in label_output(contract, self._outputs[step][1]):
            key = canonical(value)
            if leaf.confidential and path not in paths and key is not None and key in text:
                return True
        return False

    def _from_steps(self, steps: tuple[int, ...] | None, value: Any) -> Label:
        unknown = Label("untrusted", self.context.confidentiality)
        if steps is None:
            return unknown
        label = GOAL_LABEL
        for step in steps:
            seen = self._steps.get(step)
            if seen is None:
                return unknown
            label = label.join(seen)
        if label.trust == "untrusted" and self.vouched(value, steps):
            return Label("trusted", label.confidentiality)
        return label


_MAX_SEARCHED = 4096
"""Most values :meth:`RunLabels.vouched` remembers the search of."""


def _word_in(key: str, text: str) -> bool:
    """Whether ``text`` (case-folded) holds ``key`` as a whole word (not inside an
    address, a longer word or a dotted name)."""
    return re.search(rf"(?<![\w@.-]){re.escape(key)}(?![\w@-])", text) is not None


def _chosen(tool: Tool, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a call someone chose: those not left at the tool's default (a
    ``limit=20`` nobody wrote chooses nothing the output could echo)."""
    optional = _optional_fields(tool.args_model)
    if not optional or optional.isdisjoint(args):  # every argument was chosen
        return args
    fields = tool.args_model.model_fields
    return {
        name: value
        for name, value in args.items()
        if name not in optional or value != fields[name].get_default(call_default_factory=True)
    }


@functools.lru_cache(maxsize=1024)
def _optional_fields(model: type[BaseModel]) -> frozenset[str]:
    """The names of ``model``'s fields that have a default."""
    return frozenset(name for name, field in model.model_fields.items() if not field.is_required())


Provenance = RunLabels
"""The same class under the name of what it keeps."""


def _excerpt(
    step: int, tool: str, text: str, start: int, end: int, width: int, *, found: bool = True
) -> dict[str, Any]:
    """``text`` around ``start:end``, with an ellipsis where it was cut."""
    left, right = max(0, start - width), min(len(text), end + width)
    if not found:
        left, right = 0, min(len(text), 2 * width)
    excerpt = ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")
    return {"step": step, "tool": tool, "excerpt": excerpt, "found": found}
