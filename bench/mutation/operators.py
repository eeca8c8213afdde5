"""Mutation operators on the AST of a notebook cell.

The operators follow those of mutmut and cosmic-ray (binary and comparison operator replacement, number
replacement, boolean and keyword replacement, statement deletion, argument removal), adapted to what goes wrong
in this course's code: a dropped activation or method call (``.to(device)``, ``.eval()``), ``torch.cat`` read as
an addition, the wrong ``dim``, floor and ceil confused, slice bounds off by one, swapped arguments,
``eval()`` and ``train()`` confused, ``max`` and ``min`` confused. Neither library fits notebook cells (both
mutate files of a package on disk and drive a test command), so the operators are applied here with Python's
``ast``: every mutant is one change at one place, rendered back to source with ``ast.unparse``.

Each mutant has a stable id, ``cell:line:col:operator:k`` (the line within the cell), and a description.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

BINOP_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Add: (ast.Sub,),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.Div, ast.Add),
    ast.Div: (ast.Mult, ast.FloorDiv),
    ast.FloorDiv: (ast.Div, ast.Mult),
    ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,),
    ast.MatMult: (ast.Mult,),
    ast.BitAnd: (ast.BitOr,),
    ast.BitOr: (ast.BitAnd,),
}
CMP_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Lt: (ast.LtE, ast.Gt),
    ast.LtE: (ast.Lt, ast.GtE),
    ast.Gt: (ast.GtE, ast.Lt),
    ast.GtE: (ast.Gt, ast.LtE),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
#: Functions and methods easily confused with one another (either name, called as f(...) or x.f(...)).
NAME_SWAPS = {
    "max": "min",
    "min": "max",
    "amax": "amin",
    "amin": "amax",
    "argmax": "argmin",
    "argmin": "argmax",
    "sum": "mean",
    "mean": "sum",
    "eval": "train",
    "train": "eval",
    "ceil": "floor",
    "floor": "ceil",
    "max_pool2d": "avg_pool2d",
    "avg_pool2d": "max_pool2d",
    "MaxPool2d": "AvgPool2d",
    "AvgPool2d": "MaxPool2d",
    "relu": "sigmoid",
    "flip": "rot90",
    "ones": "zeros",
    "zeros": "ones",
    "ones_like": "zeros_like",
    "zeros_like": "ones_like",
}
#: Method calls that can be dropped, ``x.m(...)`` -> ``x`` (a forgotten ``.to(device)``, ``.clone()``, ...).
DROPPABLE_METHODS = {
    "to",
    "cuda",
    "cpu",
    "clone",
    "copy",
    "detach",
    "contiguous",
    "float",
    "double",
    "long",
    "clamp",
    "clamp_",
    "transpose",
    "permute",
    "flip",
    "abs",
    "softmax",
    "exp",
    "squeeze",
    "ascontiguousarray",
    "ravel",
    "flatten",
    "requires_grad_",
    "item",
}
#: Statement calls whose dropping is the interesting mistake (``model.eval()``, ``optimizer.zero_grad()``, ...).
STRING_SWAPS = {
    "bilinear": "nearest",
    "nearest": "bilinear",
    "transpose": "bilinear",
    "zeros": "reflect",
    "none": "mean",
    "mean": "sum",
}


@dataclass(frozen=True)
class Mutant:
    """One change to one cell: ``source`` is the whole mutated cell."""

    id: str
    cell: str
    operator: str
    line: int
    description: str
    source: str


def _loc(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


def _text(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 70 else text[:67] + "..."


class _Site:
    """A place in the tree and a way to change it (applied to a deep copy)."""

    def __init__(self, path: list[tuple[str, int | None]], operator: str, describe: str, change: Callable) -> None:
        self.path = path
        self.operator = operator
        self.describe = describe
        self.change = change


def _walk(node: ast.AST, path: list[tuple[str, int | None]]) -> Iterator[tuple[ast.AST, list]]:
    yield node, path
    for field, value in ast.iter_fields(node):
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield from _walk(item, [*path, (field, i)])
        elif isinstance(value, ast.AST):
            yield from _walk(value, [*path, (field, None)])


def _resolve(tree: ast.AST, path: list[tuple[str, int | None]]) -> tuple[ast.AST, str, int | None, ast.AST]:
    """(parent, field, index, node) of the node at ``path``."""
    parent: ast.AST = tree
    node: ast.AST = tree
    field, index = "", None
    for field, index in path:
        parent = node
        value = getattr(node, field)
        node = value[index] if index is not None else value
    return parent, field, index, node


def _replace(tree: ast.AST, path, new: ast.AST | None) -> None:
    parent, field, index, _ = _resolve(tree, path)
    if index is None:
        setattr(parent, field, new)
    elif new is None:
        getattr(parent, field).pop(index)
    else:
        getattr(parent, field)[index] = new


def _call_name(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return ""


def _num(value: float | int) -> ast.expr:
    if value < 0:
        return ast.UnaryOp(ast.USub(), ast.Constant(-value))
    return ast.Constant(value)


def _sites(tree: ast.Module) -> Iterator[tuple[ast.AST, _Site]]:
    """Every mutation site of the tree (docstrings, messages and ``raise`` statements left alone)."""
    for node, path in _walk(tree, []):
        if isinstance(node, (ast.Raise, ast.Assert)) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        ):
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
            for new_op in BINOP_SWAPS[type(node.op)]:
                yield node, _Site(path, "binop", f"{type(node.op).__name__} -> {new_op.__name__}", _set_op(new_op))
            if isinstance(node.op, ast.FloorDiv):  # floor -> ceil division
                yield node, _Site(path, "floor_ceil", "a // b -> ceil division", _ceil_div)
            if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):  # drop one operand
                yield node, _Site(path, "drop_operand", "a op b -> a", lambda n: n.left)
                yield node, _Site(path, "drop_operand", "a op b -> b", lambda n: n.right)
        elif isinstance(node, ast.AugAssign):
            yield node, _Site(path, "augassign", f"{type(node.op).__name__}= -> =", _aug_to_assign)
            if type(node.op) in BINOP_SWAPS:
                new_op = BINOP_SWAPS[type(node.op)][0]
                yield (
                    node,
                    _Site(path, "augassign", f"{type(node.op).__name__}= -> {new_op.__name__}=", _set_op(new_op)),
                )
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in CMP_SWAPS:
            for new_op in CMP_SWAPS[type(node.ops[0])]:
                yield (
                    node,
                    _Site(path, "compare", f"{type(node.ops[0]).__name__} -> {new_op.__name__}", _set_cmp(new_op)),
                )
        elif isinstance(node, ast.BoolOp):
            other = ast.Or if isinstance(node.op, ast.And) else ast.And
            yield node, _Site(path, "boolop", f"{type(node.op).__name__} -> {other.__name__}", _set_op(other))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not, ast.Invert)):
            yield node, _Site(path, "unary", f"drop {type(node.op).__name__}", lambda n: n.operand)
        elif isinstance(node, ast.Constant) and not isinstance(node.value, str):
            yield from _constant_sites(node, path)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in STRING_SWAPS:
            new = STRING_SWAPS[node.value]
            yield node, _Site(path, "string", f"{node.value!r} -> {new!r}", lambda n, new=new: ast.Constant(new))
        elif isinstance(node, ast.Subscript) and _slices(node):
            yield from _slice_sites(node, path)
        elif isinstance(node, ast.Call):
            yield from _call_sites(node, path)
        if isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Return)):
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
                yield node, _Site(path, "drop_statement", "statement removed", lambda n: ast.Pass())
        if isinstance(node, (ast.For, ast.While)):
            yield node, _Site(path, "loop_once", "loop body runs at most once", _loop_once)
        if isinstance(node, ast.If) and node.orelse:
            yield node, _Site(path, "if_swap", "if and else swapped", _if_swap)
        if isinstance(node, ast.If):
            yield node, _Site(path, "if_true", "condition always true", _cond(True))
            yield node, _Site(path, "if_false", "condition always false", _cond(False))
        if isinstance(node, ast.Return) and node.value is not None and isinstance(node.value, ast.Tuple):
            elts = node.value.elts
            if len(elts) >= 2:
                yield node, _Site(path, "swap_returned", "first two returned values swapped", _swap_elts)


def _set_op(new_op: type) -> Callable[[ast.AST], ast.AST]:
    def change(n: ast.AST) -> ast.AST:
        n.op = new_op()
        return n

    return change


def _set_cmp(new_op: type) -> Callable[[ast.AST], ast.AST]:
    def change(n: ast.Compare) -> ast.AST:
        n.ops = [new_op()]
        return n

    return change


def _ceil_div(n: ast.BinOp) -> ast.AST:
    return ast.UnaryOp(ast.USub(), ast.BinOp(ast.UnaryOp(ast.USub(), n.left), ast.FloorDiv(), n.right))


def _aug_to_assign(n: ast.AugAssign) -> ast.AST:
    return ast.Assign(targets=[n.target], value=n.value, lineno=n.lineno)


def _loop_once(n: ast.For | ast.While) -> ast.AST:
    n.body = [*n.body, ast.Break()]
    return n


def _if_swap(n: ast.If) -> ast.AST:
    n.body, n.orelse = n.orelse, n.body
    return n


def _cond(value: bool) -> Callable[[ast.If], ast.AST]:
    def change(n: ast.If) -> ast.AST:
        n.test = ast.Constant(value)
        return n

    return change


def _swap_elts(n: ast.Return) -> ast.AST:
    elts = n.value.elts
    elts[0], elts[1] = elts[1], elts[0]
    return n


def _constant_sites(node: ast.Constant, path) -> Iterator[tuple[ast.AST, _Site]]:
    value = node.value
    if isinstance(value, bool):
        yield node, _Site(path, "bool", f"{value} -> {not value}", lambda n: ast.Constant(not n.value))
    elif value is None:
        return
    elif isinstance(value, int):
        for new in (value + 1, value - 1):
            yield node, _Site(path, "number", f"{value} -> {new}", lambda n, new=new: _num(new))
    elif isinstance(value, float):
        news = [value + 1, value - 1] if abs(value) >= 0.5 else [value * 10, 0.0]
        for new in news:
            yield node, _Site(path, "number", f"{value!r} -> {new!r}", lambda n, new=new: _num(new))


def _slices(sub: ast.Subscript) -> list[tuple[int | None, ast.Slice]]:
    """The slices of a subscript: (None, slice) for ``a[i:j]``, (k, slice) for the k-th item of ``a[:, i:j]``."""
    if isinstance(sub.slice, ast.Slice):
        return [(None, sub.slice)]
    if isinstance(sub.slice, ast.Tuple):
        return [(k, e) for k, e in enumerate(sub.slice.elts) if isinstance(e, ast.Slice)]
    return []


def _slice_sites(node: ast.Subscript, path) -> Iterator[tuple[ast.AST, _Site]]:
    for k, sl in _slices(node):
        for bound in ("lower", "upper"):
            if getattr(sl, bound) is None:
                continue
            for delta, sign in ((1, "+ 1"), (-1, "- 1")):

                def change(n: ast.Subscript, k=k, bound=bound, delta=delta) -> ast.AST:
                    target = n.slice if k is None else n.slice.elts[k]
                    old = getattr(target, bound)
                    op = ast.Add() if delta > 0 else ast.Sub()
                    setattr(target, bound, ast.BinOp(old, op, ast.Constant(1)))
                    return n

                where = "" if k is None else f" of axis {k}"
                yield node, _Site(path, "slice", f"slice {bound} bound{where} {sign}", change)


def _call_sites(node: ast.Call, path) -> Iterator[tuple[ast.AST, _Site]]:
    name = _call_name(node)
    func = node.func
    # torch.cat([a, b], ...) <-> a + b, and the order of the joined tensors
    if name in ("cat", "concat", "concatenate") and node.args and isinstance(node.args[0], (ast.List, ast.Tuple)):
        items = node.args[0].elts
        if len(items) == 2 and not any(isinstance(e, ast.Starred) for e in items):
            yield (
                node,
                _Site(
                    path,
                    "cat_add",
                    "torch.cat([a, b]) -> a + b",
                    lambda n: ast.BinOp(n.args[0].elts[0], ast.Add(), n.args[0].elts[1]),
                ),
            )
        if len(items) >= 2:

            def swap_cat(n: ast.Call) -> ast.AST:
                e = n.args[0].elts
                e[0], e[1] = e[1], e[0]
                return n

            yield node, _Site(path, "cat_order", "first two concatenated tensors swapped", swap_cat)
    # an activation or other wrapping call dropped: f(x) -> x
    if len(node.args) == 1 and not node.keywords and not isinstance(node.args[0], ast.Starred):
        if name not in ("len", "range", "print", "float", "int", "tuple", "list", "super", "isinstance", "zip", "str"):
            yield node, _Site(path, "drop_call", f"{name}(x) -> x", lambda n: n.args[0])
    # a method call dropped: x.m(...) -> x
    if isinstance(func, ast.Attribute) and func.attr in DROPPABLE_METHODS and not _is_module(func.value):
        yield node, _Site(path, "drop_method", f".{func.attr}(...) dropped", lambda n: n.func.value)
    # a confusable function or method
    if name in NAME_SWAPS:
        new = NAME_SWAPS[name]

        def rename(n: ast.Call, new=new) -> ast.AST:
            if isinstance(n.func, ast.Attribute):
                n.func.attr = new
            else:
                n.func.id = new
            return n

        yield node, _Site(path, "name_swap", f"{name} -> {new}", rename)
    # two positional arguments swapped
    positional = [a for a in node.args if not isinstance(a, ast.Starred)]
    if len(positional) >= 2 and len(positional) == len(node.args):
        for i in range(len(positional) - 1):

            def swap(n: ast.Call, i=i) -> ast.AST:
                n.args[i], n.args[i + 1] = n.args[i + 1], n.args[i]
                return n

            yield node, _Site(path, "swap_args", f"arguments {i + 1} and {i + 2} of {name} swapped", swap)
    # a keyword argument dropped (its default then applies)
    for k, kw in enumerate(node.keywords):
        if kw.arg is None:
            continue

        def drop_kw(n: ast.Call, k=k) -> ast.AST:
            n.keywords.pop(k)
            return n

        yield node, _Site(path, "drop_keyword", f"{name}(..., {kw.arg}=...) keyword dropped", drop_kw)
    # an element of a list or tuple argument dropped (a layer left out of nn.Sequential, an axis of a reduction)
    if name in ("Sequential", "ModuleList", "Compose"):
        if len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple)) and len(node.args[0].elts) >= 2:
            for i in range(len(node.args[0].elts)):

                def drop_item(n: ast.Call, i=i) -> ast.AST:
                    n.args[0].elts.pop(i)
                    return n

                yield node, _Site(path, "drop_layer", f"item {i + 1} of {name}([...]) dropped", drop_item)
        elif len(node.args) >= 2:
            for i in range(len(node.args)):

                def drop_arg(n: ast.Call, i=i) -> ast.AST:
                    n.args.pop(i)
                    return n

                yield node, _Site(path, "drop_layer", f"layer {i + 1} of {name}(...) dropped", drop_arg)


MODULE_NAMES = {"np", "torch", "F", "nn", "math", "v2", "tv_tensors"}


def _is_module(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in MODULE_NAMES


def mutants(cell: str, source: str) -> list[Mutant]:
    """Every single-change mutant of one cell's source (that still compiles and differs from the original)."""
    tree = ast.parse(source)
    original = ast.unparse(tree)
    seen: set[str] = set()
    out: list[Mutant] = []
    counts: dict[str, int] = {}
    for node, site in list(_sites(tree)):
        new_tree = copy.deepcopy(tree)
        _, _, _, target = _resolve(new_tree, site.path)
        try:
            replacement = site.change(target)
            _replace(new_tree, site.path, replacement)
            ast.fix_missing_locations(new_tree)
            text = ast.unparse(new_tree)
            compile(text, "<mutant>", "exec")
        except (SyntaxError, ValueError, TypeError, AttributeError, IndexError):
            continue
        if text == original or text in seen:
            continue
        seen.add(text)
        line, col = _loc(node)
        key = f"{cell}:{line}:{col}:{site.operator}"
        counts[key] = counts.get(key, 0) + 1
        out.append(
            Mutant(
                id=f"{key}:{counts[key]}",
                cell=cell,
                operator=site.operator,
                line=line,
                description=f"line {line}: {site.describe} in `{_text(node)}`",
                source=text,
            )
        )
    return out
