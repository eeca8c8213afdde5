"""Evidence of tampering in a submission: test cells edited, deleted or retyped, and code that patches the
checking machinery.

Test and locked cells are compared with the gradebook's checksums (nbgrader's ``compute_checksum`` of the
released cell): nbgrader restores them when it grades; this module says that it had to. Student cells are
scanned (their syntax tree, not their text) for assignments to attributes of NumPy, PyTorch, the checks,
``builtins``, ``sys`` and IPython's shell, for ``setattr``/``delattr`` on them, for ``sys.modules`` entries,
for rebinding exception classes, and for the ways around those: rebinding the names the test cells use
(``checks = Fake()``), namespaces written through ``globals()``, ``vars()`` or ``__dict__``, and code or imports
built at run time (``exec``, ``eval``, ``__import__`` of a computed name). Points are never taken on this
evidence alone: the outside verdict (:mod:`autograder.verify.replay`) decides the points; these flags tell the TA
what was tried.
"""

from __future__ import annotations

import ast
import builtins
from typing import Any

#: Roots whose attributes a student has no business assigning.
GUARDED_ROOTS = {
    *("np", "numpy", "torch", "checks", "autograder", "nbgrader"),
    *("builtins", "__builtins__", "sys", "IPython"),
}
#: Modules whose names, imported under any alias, count as guarded roots.
GUARDED_MODULES = {"numpy", "torch", "autograder", "nbgrader", "builtins", "sys", "IPython"}
#: Settings a student may legitimately assign (``torch.backends.cudnn.benchmark = True``).
ALLOWED_TARGETS = ("torch.backends.",)
SHELL_FACTORIES = {"get_ipython"}


def changed_cells(gradebook_cells: dict[str, dict[str, Any]], submitted: Any) -> list[tuple[str, str, str]]:
    """(kind, grade_id, words) for each released test/locked cell the submission edited, deleted or retyped.

    ``gradebook_cells``: grade_id -> {"checksum", "cell_type"} of the released cells to protect.
    """
    from nbgrader.utils import compute_checksum

    found = {}
    for cell in submitted.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in gradebook_cells and gid not in found:
            found[gid] = cell
    changes = []
    for gid, ref in gradebook_cells.items():
        cell = found.get(gid)
        if cell is None:
            changes.append(("test_cell_deleted", gid, f"{gid} was deleted; the original was put back"))
        elif cell.cell_type != ref["cell_type"]:
            words = f"{gid} was changed from a {ref['cell_type']} cell to a {cell.cell_type} cell; it was restored"
            changes.append(("test_cell_retyped", gid, words))
        elif ref.get("checksum") and _checksum(cell, compute_checksum) != ref["checksum"]:
            changes.append(("test_cell_edited", gid, f"{gid} was edited; the original was put back"))
    return changes


def _checksum(cell: Any, compute: Any) -> str | None:
    """nbgrader's checksum of a submitted cell; ``None`` when its metadata is too damaged to compute one."""
    try:
        return compute(cell)
    except Exception:
        return None


def _root(node: ast.AST) -> ast.AST:
    """The name an expression starts from: ``torch`` for ``torch.Tensor.__eq__`` and for ``getattr(torch, "x")``."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(node, ast.Call):
            getter = isinstance(node.func, ast.Name) and node.func.id in ("getattr", "vars") and node.args
            node = node.args[0] if getter else node.func
        else:
            node = node.value
    return node


def _reference_chain(node: ast.AST) -> bool:
    """A name, or attributes and ``getattr``s of one: what ``T = torch`` or ``t = torch.Tensor`` binds (an alias),
    unlike ``x = torch.zeros(3)`` (a new value)."""
    while True:
        if isinstance(node, ast.Name):
            return True
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" and node.args:
            node = node.args[0]
        else:
            return False


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:
        return "?"


def tampering_in(source: str) -> list[str]:
    """What ``source`` does to the checking machinery, one phrase per finding (empty: nothing seen)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, TypeError):
        return []
    nodes = list(ast.walk(tree))  # walked by every pass below: once, not once per pass
    shells = set(SHELL_FACTORIES)
    roots = set(GUARDED_ROOTS)
    found: list[str] = []
    for node in nodes:  # aliases: import autograder.checks.layers as L, from numpy import testing
        if isinstance(node, ast.Import):
            roots.update(a.asname for a in node.names if a.asname and a.name.split(".")[0] in GUARDED_MODULES)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in GUARDED_MODULES:
            roots.update(a.asname or a.name for a in node.names)

    def guarded(target: ast.AST) -> bool:
        root = _root(target)
        if isinstance(root, ast.Name) and (root.id in roots or root.id in shells):
            return True
        return isinstance(root, ast.Call) and isinstance(root.func, ast.Name) and root.func.id in SHELL_FACTORIES

    for node in nodes:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Name) and func.id in SHELL_FACTORIES:
                shells.update(t.id for t in node.targets if isinstance(t, ast.Name))
    # aliases: T = torch, t = torch.Tensor, c = checks (followed until no new one appears)
    grown = True
    while grown:
        grown = False
        for node in nodes:
            if isinstance(node, ast.Assign) and _reference_chain(node.value) and guarded(node.value):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id not in roots:
                        roots.add(target.id)
                        grown = True
    for node in nodes:
        targets: list[ast.AST] = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            allowed = _dotted(target).startswith(ALLOWED_TARGETS)
            if isinstance(target, (ast.Attribute, ast.Subscript)) and guarded(target) and not allowed:
                found.append(f"line {node.lineno}: replaces {_dotted(target)}")
            elif isinstance(target, ast.Name) and _is_exception_name(target.id):
                found.append(f"line {node.lineno}: rebinds the built-in {target.id}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            if node.args and guarded(node.args[0]):
                found.append(f"line {node.lineno}: {node.func.id} on {_dotted(node.args[0])}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("set_custom_exc", "register_magic_function") and guarded(node.func):
                found.append(f"line {node.lineno}: calls {_dotted(node.func)}")
    found += _evasions(nodes, guarded)
    return found


#: Calls that build or run code, or reach namespaces, out of the syntax tree's sight.
DYNAMIC_CALLS = {
    "exec": "runs code built at run time (exec)",
    "eval": "runs code built at run time (eval)",
    "compile": "compiles code at run time",
    "globals": "writes or reads the notebook's namespace through globals()",
    "__import__": "imports a module by a name computed at run time (__import__)",
    "import_module": "imports a module by a name computed at run time (importlib)",
}


def _bound_names(node: ast.AST) -> list[ast.AST]:
    """The targets a statement binds (assignment, deletion, loop, ``with``, walrus, comprehension)."""
    if isinstance(node, (ast.Assign, ast.Delete)):
        return list(node.targets)
    if isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr, ast.For, ast.AsyncFor, ast.comprehension)):
        return [node.target]
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return [item.optional_vars for item in node.items if item.optional_vars is not None]
    return []


def _evasions(nodes: list[ast.AST], guarded) -> list[str]:
    """The ways around the attribute checks: rebinding a name the test cells use (``checks = Fake()``), importing
    another module under such a name, writing a namespace through ``globals()``, ``vars()`` or ``__dict__``, and
    running or importing code whose name or text is built at run time. ``nodes``: the cell's syntax tree, walked."""
    found: list[str] = []
    for node in nodes:
        line = getattr(node, "lineno", "?")
        for target in _bound_names(node):
            for name in ast.walk(target):  # the names bound, not those read on the way (``torch.backends.x = 1``)
                bound = isinstance(name, ast.Name) and isinstance(name.ctx, (ast.Store, ast.Del))
                if bound and name.id in GUARDED_ROOTS:
                    found.append(f"line {line}: rebinds {name.id}, which the test cells use")
        if isinstance(node, ast.Global) and set(node.names) & GUARDED_ROOTS:
            found.append(f"line {line}: declares global {', '.join(sorted(set(node.names) & GUARDED_ROOTS))}")
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname in GUARDED_ROOTS and alias.name.split(".")[0] not in GUARDED_MODULES:
                    found.append(f"line {line}: imports {alias.name} as {alias.asname}, which the test cells use")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] not in GUARDED_MODULES:
            for alias in node.names:
                if (alias.asname or alias.name) in GUARDED_ROOTS:
                    found.append(f"line {line}: imports {alias.name} as {alias.asname or alias.name}")
        if isinstance(node, ast.Call):
            func = node.func
            # a built-in called by its name (``model.eval()`` is a method, not ``eval``), or importlib's function
            name = func.id if isinstance(func, ast.Name) else ""
            if isinstance(func, ast.Attribute) and (func.attr == "import_module" or _dotted(func.value) == "builtins"):
                name = func.attr
            if name in DYNAMIC_CALLS and not (name in ("__import__", "import_module") and _constant_module(node)):
                found.append(f"line {line}: {DYNAMIC_CALLS[name]}")
            elif name == "vars" and node.args and guarded(node.args[0]):
                found.append(f"line {line}: reaches the namespace of {_dotted(node.args[0])} through vars()")
        if isinstance(node, ast.Attribute) and node.attr == "__dict__" and guarded(node.value):
            found.append(f"line {line}: reaches {_dotted(node)}")
    return list(dict.fromkeys(found))


def _constant_module(call: ast.Call) -> bool:
    """``__import__("numpy")`` / ``importlib.import_module("torch.nn")``: a fixed module outside the grader's."""
    if not call.args or not isinstance(call.args[0], ast.Constant) or not isinstance(call.args[0].value, str):
        return False
    return call.args[0].value.split(".")[0] not in {"autograder", "nbgrader", "IPython", "builtins", "sys"}


def _is_exception_name(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


#: Attributes of IPython's shell through which code rewrites every cell before it runs.
HOOK_ATTRIBUTES = {
    "input_transformers_cleanup",
    "input_transformers_post",
    "ast_transformers",
    "input_transformer_manager",
}
#: Calls that watch or intercept every line or event of the interpreter.
HOOK_CALLS = {"settrace", "setprofile", "addaudithook"}


def hooks_in(source: str) -> list[str]:
    """Where ``source`` registers a hook that can change how later cells run, one phrase each (empty: none).

    Found from the syntax tree: any use of the shell's transformer lists (also named in a string, as
    ``getattr(shell, "ast_transformers")`` would), ``events.register``, and ``sys.settrace``/``setprofile``/
    ``addaudithook`` (and ``threading.settrace``).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, TypeError):
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Attribute) and node.attr in HOOK_ATTRIBUTES:
            found.append(f"line {line}: uses {_dotted(node)}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in HOOK_ATTRIBUTES:
            found.append(f"line {line}: names {node.value}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, owner = node.func.attr, _dotted(node.func.value)
            if name == "register" and owner.split(".")[-1] == "events":
                found.append(f"line {line}: calls {_dotted(node.func)}")
            elif name in HOOK_CALLS:
                found.append(f"line {line}: calls {_dotted(node.func)}")
    return list(dict.fromkeys(found))
