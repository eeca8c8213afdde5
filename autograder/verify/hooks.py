"""Hooks in the student's kernel that can change how a test cell runs, found from inside the kernel.

IPython lets code rewrite every cell before it runs (input transformers, AST transformers), run code around
every cell (events), and Python lets it watch every line (``sys.settrace``/``setprofile``). A notebook that
registers one of these can turn a test cell into ``pass``. The grader asks the kernel, before each graded test
cell, for :func:`registered`: the hooks whose code was written by the student (defined in a cell, or in a file
that is not part of the installed Python), as a short text, empty when there are none. Hooks that IPython,
ipykernel or an installed library register (the inline plots' ``post_execute``, ``%autoreload``) are not listed.

The answer comes from the kernel, so determined code can forge it; the grader also looks for such code in the
student's cells before they run (:func:`autograder.verify.integrity.hooks_in`), and, for notebooks judged
outside the kernel, trusts only what it can replay.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from typing import Any


def _installed_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    roots.update(p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p))
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the autograder package
    roots.add(here)
    return tuple(os.path.realpath(r) + os.sep for r in roots if r)


#: Where the installed Python lives, found when this module is imported: in a kernel forked from the grader's
#: fork server, before any student code (which could add a folder named ``site-packages`` to ``sys.path``) runs;
#: and once, instead of before every test cell.
INSTALLED_ROOTS = _installed_roots()


@functools.lru_cache(maxsize=4096)
def _real_path(filename: str) -> str:
    """``os.path.realpath``, once per file: a kernel's hooks are looked at before every test cell."""
    return os.path.realpath(filename)


def _function_of(hook: Any) -> Any:
    """The Python function or class behind a hook (bound methods and partials unwrapped, objects by class)."""
    for _ in range(10):
        if isinstance(hook, functools.partial):
            hook = hook.func
        elif hasattr(hook, "__func__"):
            hook = hook.__func__
        elif hasattr(hook, "__code__") or isinstance(hook, type):
            return hook
        else:
            hook = type(hook)  # an object (a transformer instance): judged by its class
    return None


def _written_by_student(hook: Any, roots: tuple[str, ...]) -> bool:
    """True when ``hook`` was defined in a notebook cell or in a file outside the installed Python."""
    fn = _function_of(hook)
    if fn is None:
        return True
    if isinstance(fn, type):
        module_name = getattr(fn, "__module__", None)
        if module_name in (None, "__main__") or module_name not in sys.modules:
            return True
        filename = getattr(sys.modules[module_name], "__file__", None)
    else:
        filename = getattr(getattr(fn, "__code__", None), "co_filename", None)
    if not filename or filename.startswith("<"):
        return True
    return not _real_path(filename).startswith(roots)


def _name(hook: Any) -> str:
    fn = _function_of(hook)
    return str(getattr(fn, "__qualname__", None) or type(hook).__name__)[:80]


def registered() -> str:
    """The student's hooks in this kernel, one phrase each, ``"; "``-separated; empty when there are none."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:
        shell = None
    roots = INSTALLED_ROOTS
    found = []
    if shell is not None:
        for attr in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
            for hook in list(getattr(shell, attr, []) or []):
                if _written_by_student(hook, roots):
                    found.append(f"{attr}: {_name(hook)}")
        manager = getattr(shell, "input_transformer_manager", None)
        for attr in ("cleanup_transforms", "line_transforms", "token_transformers"):
            for hook in list(getattr(manager, attr, []) or []):
                if _written_by_student(hook, roots):
                    found.append(f"input_transformer_manager.{attr}: {_name(hook)}")
        events = getattr(getattr(shell, "events", None), "callbacks", {}) or {}
        for event, hooks in events.items():
            for hook in list(hooks):
                if _written_by_student(hook, roots):
                    found.append(f"event {event}: {_name(hook)}")
    for what, hook in (("sys.settrace", sys.gettrace()), ("sys.setprofile", sys.getprofile())):
        if hook is not None and _written_by_student(hook, roots):
            found.append(f"{what}: {_name(hook)}")
    return "; ".join(found)
