"""A condition specialised to one tool: what the tool's contract decides, folded away.

A rule may narrow itself inside its condition (``resource.name == "refund_order" &&
context.args.amount_cents > 100``) instead of with ``tools:``. Cedar evaluates ``&&`` and
``||`` left to right and stops early, so on another tool the argument is never read; its
validator, which knows the type of ``resource`` but not which tool it is, would still
complain. Folding the tool's contract attributes in first (``resource.name`` is
``"send_email"`` here, so the ``&&`` is ``false``) leaves only what can run on that tool.

Folding removes only what Cedar would not evaluate, or replaces an expression by its
value: it never adds anything to check, so validation after folding refuses no charter
that could decide a call without an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

from cedarpy import pst

from charter.policy._predicate import like, like_segments


def _literal(value: Any) -> pst.Expr | None:
    """A contract attribute as a literal node (None: a set, left as it is)."""
    if isinstance(value, bool):
        return pst.BoolLit(value)
    if isinstance(value, str):
        return pst.StringLit(value)
    return None


def _value(node: pst.Expr) -> tuple[type, Any] | None:
    """A literal's value tagged with its type, as ``==`` compares it."""
    match node:
        case pst.BoolLit(value=v):
            return (bool, v)
        case pst.LongLit(value=v):
            return (int, v)
        case pst.StringLit(value=v):
            return (str, v)
        case pst.EntityLit(value=uid):
            return (pst.EntityUid, (str(uid.type), uid.id))
        case _:
            return None


def _is_resource(node: pst.Expr) -> bool:
    return isinstance(node, pst.Var) and node.name == "resource"


def fold(node: pst.Expr, attributes: Mapping[str, Any], name: str | None = None) -> pst.Expr:
    """``node`` with the tool's attributes (``resource.<attr>``) folded in and every
    ``&&``, ``||``, ``!``, ``if``, ``==``, ``!=``, ``like`` and ``contains`` whose outcome
    they decide replaced by it."""
    tool = cast(str, attributes.get("name", "")) if name is None else name
    match node:
        case pst.GetAttr(base=base, attr=attr) if _is_resource(base) and attr in attributes:
            return _literal(attributes[attr]) or node
        case pst.HasAttr(base=base, attrs=(attr,)) if _is_resource(base):
            return pst.BoolLit(attr in attributes)
        case pst.BinaryOp(op="and" | "or" as op, left=left, right=right):
            left = fold(left, attributes, tool)
            if left == pst.BoolLit(op == "or"):
                return left  # false && ..., true || ...: the right side never runs
            right = fold(right, attributes, tool)
            if left == pst.BoolLit(op == "and"):
                return right
            return replace(node, left=left, right=right)
        case pst.BinaryOp(op="eq" | "not_eq" as op, left=left, right=right):
            left, right = fold(left, attributes, tool), fold(right, attributes, tool)
            sides = [
                (pst.EntityUid, ("Tool", tool)) if _is_resource(side) else _value(side)
                for side in (left, right)
            ]
            if sides[0] is not None and sides[1] is not None:
                return pst.BoolLit((sides[0] == sides[1]) == (op == "eq"))
            return replace(node, left=left, right=right)
        case pst.BinaryOp(
            op="contains", left=pst.GetAttr(base=base, attr=attr), right=pst.StringLit(value=v)
        ) if _is_resource(base) and isinstance(attributes.get(attr), list | tuple):
            return pst.BoolLit(v in cast(list[Any], attributes[attr]))
        case pst.BinaryOp(left=left, right=right):
            return replace(
                node, left=fold(left, attributes, tool), right=fold(right, attributes, tool)
            )
        case pst.UnaryOp(op="not", arg=arg):
            arg = fold(arg, attributes, tool)
            return (
                pst.BoolLit(not arg.value)
                if isinstance(arg, pst.BoolLit)
                else replace(node, arg=arg)
            )
        case pst.IfThenElse(cond=cond, then_expr=then, else_expr=other):
            cond = fold(cond, attributes, tool)
            if isinstance(cond, pst.BoolLit):
                return fold(then if cond.value else other, attributes, tool)
            return pst.IfThenElse(cond, fold(then, attributes, tool), fold(other, attributes, tool))
        case pst.Like(base=base, pattern=pattern):
            base = fold(base, attributes, tool)
            if isinstance(base, pst.StringLit):
                return pst.BoolLit(like(base.value, like_segments(pattern)))
            return replace(node, base=base)
        case _:
            return node
