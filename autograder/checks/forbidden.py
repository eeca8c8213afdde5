"""Run a student's function where library convolutions cannot be reached.

Scanning the source for ``torch`` is easy to fool (``importlib``, ``__import__``, ``getattr``, an alias
imported in another cell). Instead, ``run_without_libraries`` calls the function in a world where:

* every module of a forbidden library (torch, scipy, OpenCV, scikit-image, TensorFlow, JAX…) is replaced in
  ``sys.modules`` by a tripwire, so ``import``, ``__import__``, ``importlib`` and ``sys.modules[...]`` all
  reach a tripwire, and importing a submodule fails;
* the function's globals, default arguments and closure cells that hold such a module, or a function or
  class from one, are replaced by a tripwire, and so are those of the other functions of the same notebook
  it calls (they are rebound to the same guarded globals);
* NumPy's own ``convolve`` and ``correlate`` are tripwires too.

Touching a tripwire raises ``ForbiddenLibrary`` and is recorded even if the student's code catches it.
NumPy itself, including ``numpy.lib.stride_tricks`` and ``einsum``, stays available: the tasks are meant to
be written with it. This guards against shortcuts, not against a determined attacker; the grader's
sandbox is the security boundary.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import sys
import types
from collections.abc import Callable, Iterator

import numpy as np

FORBIDDEN_ROOTS = frozenset(
    {"torch", "torchvision", "scipy", "cv2", "skimage", "tensorflow", "keras", "jax", "jaxlib", "numba", "cupy"}
)
FORBIDDEN_NUMPY = {"convolve": np.convolve, "correlate": np.correlate}


class ForbiddenLibrary(RuntimeError):
    """Raised when guarded code reaches a forbidden library."""


class _Tripwire:
    """Stands in for a forbidden object: any use raises and is recorded."""

    def __init__(self, name: str, log: list[str]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_log", log)

    def _trip(self, *args: object, **kwargs: object):
        self._log.append(self._name)
        raise ForbiddenLibrary(f"{self._name} is not allowed in this task: write it with numpy")

    __call__ = _trip

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):  # introspection, e.g. the import system's __path__
            raise AttributeError(attr)
        self._log.append(f"{self._name}.{attr}")
        raise ForbiddenLibrary(f"{self._name}.{attr} is not allowed in this task: write it with numpy")

    def __repr__(self) -> str:
        return f"<forbidden {self._name}>"


def forbidden_name(obj: object) -> str | None:
    """Return the dotted name of ``obj`` if it is (or belongs to) a forbidden library, else None."""
    for name, fn in FORBIDDEN_NUMPY.items():
        if obj is fn:
            return f"numpy.{name}"
    if isinstance(obj, types.ModuleType):
        module = obj.__name__
    elif isinstance(obj, functools.partial):
        return forbidden_name(obj.func)
    else:
        try:
            module = getattr(obj, "__module__", None)
        except Exception:
            return None
        if not isinstance(module, str):
            return None
    if module.split(".")[0] in FORBIDDEN_ROOTS:
        qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "")
        return module if isinstance(obj, types.ModuleType) else f"{module}.{qual}".rstrip(".")
    return None


def _guard_value(value: object, log: list[str]) -> object:
    name = forbidden_name(value)
    return _Tripwire(name, log) if name else value


def _rebind(fn: types.FunctionType, new_globals: dict, log: list[str]) -> types.FunctionType:
    closure = None
    if fn.__closure__:
        cells = []
        for cell in fn.__closure__:
            try:
                cells.append(types.CellType(_guard_value(cell.cell_contents, log)))
            except ValueError:  # an empty cell
                cells.append(cell)
        closure = tuple(cells)
    defaults = tuple(_guard_value(v, log) for v in fn.__defaults__) if fn.__defaults__ else fn.__defaults__
    clone = types.FunctionType(fn.__code__, new_globals, fn.__name__, defaults, closure)
    clone.__kwdefaults__ = (
        {k: _guard_value(v, log) for k, v in fn.__kwdefaults__.items()} if fn.__kwdefaults__ else None
    )
    return clone


def _guarded_import(log: list[str]):
    real_import = builtins.__import__

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002 (mirrors __import__)
        if level == 0 and name.split(".")[0] in FORBIDDEN_ROOTS:
            log.append(name)
            raise ForbiddenLibrary(f"importing {name} is not allowed in this task: write it with numpy")
        return real_import(name, globals, locals, fromlist, level)

    return guarded


def guard_function(fn: Callable, log: list[str]) -> Callable:
    """Return a copy of ``fn`` whose globals, closure and defaults cannot reach forbidden libraries."""
    if forbidden_name(fn):
        return _Tripwire(forbidden_name(fn), log)
    if not isinstance(fn, types.FunctionType):
        return fn
    original = fn.__globals__
    new_globals = {k: _guard_value(v, log) for k, v in original.items()}
    safe_builtins = dict(vars(builtins))
    safe_builtins["__import__"] = _guarded_import(log)
    new_globals["__builtins__"] = safe_builtins
    for key, value in list(new_globals.items()):
        if isinstance(value, types.FunctionType) and value.__globals__ is original:
            new_globals[key] = _rebind(value, new_globals, log)
    return _rebind(fn, new_globals, log)


@contextlib.contextmanager
def _libraries_hidden(log: list[str]) -> Iterator[None]:
    saved_modules = {k: v for k, v in sys.modules.items() if k.split(".")[0] in FORBIDDEN_ROOTS}
    saved_numpy = {name: getattr(np, name) for name in FORBIDDEN_NUMPY}
    try:
        # ``import torch`` now yields a tripwire, and importing a submodule of one fails.
        for key in saved_modules:
            sys.modules[key] = _Tripwire(key, log)  # type: ignore[assignment]
        for root in FORBIDDEN_ROOTS - set(saved_modules):
            sys.modules[root] = _Tripwire(root, log)  # type: ignore[assignment]
        for name in FORBIDDEN_NUMPY:
            setattr(np, name, _Tripwire(f"numpy.{name}", log))
        yield
    finally:
        for name, fn in saved_numpy.items():
            setattr(np, name, fn)
        for key in [k for k, v in sys.modules.items() if isinstance(v, _Tripwire)]:
            del sys.modules[key]
        sys.modules.update(saved_modules)


def run_without_libraries(fn: Callable, *args: object, **kwargs: object) -> tuple[object, list[str]]:
    """Call ``fn(*args, **kwargs)`` with forbidden libraries out of reach.

    Returns ``(result, touched)``: ``touched`` lists the forbidden names the call reached (empty when clean).
    A ``ForbiddenLibrary`` raised by the call is swallowed into ``touched`` (result None).
    """
    log: list[str] = []
    guarded = guard_function(fn, log)
    with _libraries_hidden(log):
        try:
            result = guarded(*args, **kwargs)
        except ForbiddenLibrary:
            result = None
        except ImportError as err:
            if (err.name or "").split(".")[0] in FORBIDDEN_ROOTS:
                log.append(err.name or "")
                result = None
            else:
                raise
    if isinstance(result, _Tripwire):  # e.g. a module fetched with importlib.import_module and returned
        log.append(result._name)
    return result, log
