"""Run a student's function where the libraries its task forbids cannot be reached.

Assignment 1 forbids library convolutions (``LIBRARY_CONVOLUTIONS``); Assignment 2 forbids, in the functions that
compute its metrics and evaluate a model, every library that computes them (``Forbidden.of``: torchmetrics,
scikit-learn, ``cnnlab.metrics``, ``cnnlab.train``). A forbidden entry is a module and everything under it:
``"torch"``, or ``"cnnlab.metrics"`` without the rest of ``cnnlab``.

Scanning the source for ``torch`` is easy to fool (``importlib``, ``__import__``, ``getattr``, an alias
imported in another cell). Instead, ``run_without_libraries`` calls the function in a world where:

* every module of a forbidden library (torch, scipy, OpenCV, scikit-image, TensorFlow, JAX…) is replaced in
  ``sys.modules`` by a tripwire, so ``import``, ``__import__``, ``importlib`` and ``sys.modules[...]`` all
  reach a tripwire, and importing a submodule fails; a forbidden submodule (``cnnlab.metrics``) is a tripwire
  as an attribute of its package too;
* the function's globals, default arguments and closure cells that hold such a module, or a function or
  class from one, are replaced by a tripwire, and so are those of the other functions of the same notebook
  it calls (they are rebound to the same guarded globals);
* NumPy's own ``convolve`` and ``correlate`` are tripwires too (Assignment 1).

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

FORBIDDEN_ROOTS = frozenset(
    {"torch", "torchvision", "scipy", "cv2", "skimage", "tensorflow", "keras", "jax", "jaxlib", "numba", "cupy"}
)
FORBIDDEN_NUMPY = {"convolve": np.convolve, "correlate": np.correlate}


@dataclass(frozen=True)
class Forbidden:
    """What a task may not reach: modules (each with everything under it), NumPy functions, and what to write
    instead (the end of the tripwire's message)."""

    modules: frozenset[str]
    numpy: Mapping[str, object] = field(default_factory=dict)
    instead: str = "write it with numpy"
    rule: str = "this task must be written with NumPy only"

    @functools.cached_property
    def roots(self) -> frozenset[str]:
        """The top-level packages of :attr:`modules` (``cnnlab`` for ``cnnlab.metrics``)."""
        return frozenset(name.partition(".")[0] for name in self.modules)

    def loaded(self) -> list[str]:
        """The names in ``sys.modules`` that :meth:`covers`, found on every guarded call: a name that does not
        begin with one of :attr:`roots` is passed over at once, so the thousands of loaded modules cost little."""
        prefixes = tuple(self.roots)  # a C-level test that leaves few names for the exact one
        return [name for name in list(sys.modules) if name.startswith(prefixes) and self.covers(name)]

    def covers(self, module: str) -> bool:
        """Whether ``module`` is one of :attr:`modules` or under one (``torch.nn`` is under ``torch``)."""
        # a dotted prefix of the name at a time
        end = module.find(".")
        while end != -1:
            if module[:end] in self.modules:
                return True
            end = module.find(".", end + 1)
        return module in self.modules


#: Assignment 1: NumPy only, no library convolution.
LIBRARY_CONVOLUTIONS = Forbidden(FORBIDDEN_ROOTS, FORBIDDEN_NUMPY)
#: Assignments 2 and 3: the functions that compute a metric or evaluate a model, written with torch, not with a
#: library that computes the metric (the course's own ``cnnlab.metrics`` and ``cnnlab.train`` included).
METRIC_LIBRARIES = Forbidden(
    frozenset(
        {"torchmetrics", "sklearn", "ignite", "monai", "segmentation_models_pytorch", "cnnlab.metrics", "cnnlab.train"}
    ),
    instead="write it yourself with torch",
    rule="write this function yourself with torch; torchmetrics, scikit-learn, cnnlab.metrics and cnnlab.train are "
    "not allowed in it",
)


class ForbiddenLibrary(RuntimeError):
    """Raised when guarded code reaches a forbidden library."""


class _Tripwire:
    """Stands in for a forbidden object: any use raises and is recorded."""

    def __init__(self, name: str, log: list[str], instead: str = LIBRARY_CONVOLUTIONS.instead) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_log", log)
        object.__setattr__(self, "_instead", instead)

    def _trip(self, *args: object, **kwargs: object):
        self._log.append(self._name)
        raise ForbiddenLibrary(f"{self._name} is not allowed in this task: {self._instead}")

    __call__ = _trip

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):  # introspection, e.g. the import system's __path__
            raise AttributeError(attr)
        self._log.append(f"{self._name}.{attr}")
        raise ForbiddenLibrary(f"{self._name}.{attr} is not allowed in this task: {self._instead}")

    def __repr__(self) -> str:
        return f"<forbidden {self._name}>"


def forbidden_name(obj: object, forbidden: Forbidden = LIBRARY_CONVOLUTIONS) -> str | None:
    """Return the dotted name of ``obj`` if it is (or belongs to) a forbidden library, else None."""
    for name, fn in forbidden.numpy.items():
        if obj is fn:
            return f"numpy.{name}"
    if isinstance(obj, types.ModuleType):
        module = obj.__name__
    elif isinstance(obj, functools.partial):
        return forbidden_name(obj.func, forbidden)
    else:
        try:
            module = getattr(obj, "__module__", None)
        except Exception:
            return None
        if not isinstance(module, str):
            return None
    if forbidden.covers(module):
        qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "")
        return module if isinstance(obj, types.ModuleType) else f"{module}.{qual}".rstrip(".")
    return None


#: Types whose values are never a library's: a notebook's namespace is mostly these (IPython's ``_i1``, ``_1``...).
PLAIN_TYPES = frozenset({str, int, float, bool, bytes, type(None)})


def _guard_value(value: object, log: list[str], forbidden: Forbidden) -> object:
    if type(value) in PLAIN_TYPES:  # the exact types: a subclass may come from a library
        return value
    name = forbidden_name(value, forbidden)
    return _Tripwire(name, log, forbidden.instead) if name else value


def _rebind(fn: types.FunctionType, new_globals: dict, log: list[str], forbidden: Forbidden) -> types.FunctionType:
    closure = None
    if fn.__closure__:
        cells = []
        for cell in fn.__closure__:
            try:
                cells.append(types.CellType(_guard_value(cell.cell_contents, log, forbidden)))
            except ValueError:  # an empty cell
                cells.append(cell)
        closure = tuple(cells)
    defaults = tuple(_guard_value(v, log, forbidden) for v in fn.__defaults__) if fn.__defaults__ else fn.__defaults__
    clone = types.FunctionType(fn.__code__, new_globals, fn.__name__, defaults, closure)
    clone.__kwdefaults__ = (
        {k: _guard_value(v, log, forbidden) for k, v in fn.__kwdefaults__.items()} if fn.__kwdefaults__ else None
    )
    return clone


def _guarded_import(log: list[str], forbidden: Forbidden):
    real_import = builtins.__import__

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002 (mirrors __import__)
        if level == 0:
            wanted = [name, *(f"{name}.{item}" for item in fromlist or () if isinstance(item, str))]
            reached = next((w for w in wanted if forbidden.covers(w)), None)
            if reached:
                log.append(reached)
                raise ForbiddenLibrary(f"importing {reached} is not allowed in this task: {forbidden.instead}")
        return real_import(name, globals, locals, fromlist, level)

    return guarded


def guard_function(fn: Callable, log: list[str], forbidden: Forbidden = LIBRARY_CONVOLUTIONS) -> Callable:
    """Return a copy of ``fn`` whose globals, closure and defaults cannot reach forbidden libraries."""
    name = forbidden_name(fn, forbidden)
    if name:
        return _Tripwire(name, log, forbidden.instead)
    if not isinstance(fn, types.FunctionType):
        return fn
    original = fn.__globals__
    new_globals = {k: _guard_value(v, log, forbidden) for k, v in original.items()}
    safe_builtins = dict(vars(builtins))
    safe_builtins["__import__"] = _guarded_import(log, forbidden)
    new_globals["__builtins__"] = safe_builtins
    for key, value in list(new_globals.items()):
        if isinstance(value, types.FunctionType) and value.__globals__ is original:
            new_globals[key] = _rebind(value, new_globals, log, forbidden)
    return _rebind(fn, new_globals, log, forbidden)


#: Packages whose modules' attributes could hand student code a forbidden library (``checks.F``, a grader module's
#: ``torch``, ``ref`` for ``cnnlab.metrics``): while a guarded call runs, those attributes are tripwires too.
OWN_PACKAGES = ("autograder", "cnnlab")
_holders: dict[int, tuple[int, list[tuple[dict, str, object]]]] = {}


def _forbidden_holders(forbidden: Forbidden) -> list[tuple[dict, str, object]]:
    """``(module namespace, name, value)`` for every attribute of a loaded module of :data:`OWN_PACKAGES` that is a
    forbidden module, function or class; found once per set of loaded modules."""
    loaded = len(sys.modules)
    cached = _holders.get(id(forbidden))
    if cached is not None and cached[0] == loaded:
        return cached[1]
    found = []
    for name, module in list(sys.modules.items()):
        if not isinstance(module, types.ModuleType) or name.split(".")[0] not in OWN_PACKAGES:
            continue
        if forbidden.covers(name):
            continue
        namespace = vars(module)
        for key, value in list(namespace.items()):
            if key.startswith("__") or isinstance(value, (int, float, str, bytes, bool, type(None))):
                continue
            if forbidden_name(value, forbidden):
                found.append((namespace, key, value))
    _holders[id(forbidden)] = (loaded, found)
    return found


@contextlib.contextmanager
def _libraries_hidden(log: list[str], forbidden: Forbidden) -> Iterator[None]:
    saved_modules = {k: sys.modules[k] for k in forbidden.loaded()}
    held = [(ns, key, value) for ns, key, value in _forbidden_holders(forbidden) if ns.get(key) is value]
    saved_numpy = {name: getattr(np, name) for name in forbidden.numpy}
    # a forbidden submodule is also an attribute of its (allowed) package: ``cnnlab.metrics``
    saved_attributes = [
        (sys.modules[parent], child, getattr(sys.modules[parent], child))
        for parent, _, child in (m.rpartition(".") for m in forbidden.modules)
        if parent and parent in sys.modules and not forbidden.covers(parent) and hasattr(sys.modules[parent], child)
    ]
    wired = [*saved_modules, *(forbidden.modules - set(saved_modules))]
    try:
        # ``import torch`` now yields a tripwire, and importing a submodule of one fails.
        for key in wired:
            sys.modules[key] = _Tripwire(key, log, forbidden.instead)  # type: ignore[assignment]
        for package, child, _ in saved_attributes:
            setattr(package, child, _Tripwire(f"{package.__name__}.{child}", log, forbidden.instead))
        for name in forbidden.numpy:
            setattr(np, name, _Tripwire(f"numpy.{name}", log, forbidden.instead))
        for namespace, key, value in held:
            namespace[key] = _Tripwire(forbidden_name(value, forbidden) or key, log, forbidden.instead)
        yield
    finally:
        for namespace, key, value in held:
            namespace[key] = value
        for name, fn in saved_numpy.items():
            setattr(np, name, fn)
        for package, child, value in saved_attributes:
            setattr(package, child, value)
        for key in wired:
            if isinstance(sys.modules.get(key), _Tripwire):
                del sys.modules[key]
        sys.modules.update(saved_modules)


def run_without_libraries(fn: Callable, *args: object, **kwargs: object) -> tuple[object, list[str]]:
    """Call ``fn(*args, **kwargs)`` with library convolutions out of reach (Assignment 1)."""
    return run_without(LIBRARY_CONVOLUTIONS, fn, *args, **kwargs)


def run_without(forbidden: Forbidden, fn: Callable, *args: object, **kwargs: object) -> tuple[object, list[str]]:
    """Call ``fn(*args, **kwargs)`` with the ``forbidden`` libraries out of reach.

    Returns ``(result, touched)``: ``touched`` lists the forbidden names the call reached (empty when clean).
    A ``ForbiddenLibrary`` raised by the call is swallowed into ``touched`` (result None).
    """
    log: list[str] = []
    guarded = guard_function(fn, log, forbidden)
    with _libraries_hidden(log, forbidden):
        try:
            result = guarded(*args, **kwargs)
        except ForbiddenLibrary:
            result = None
        except ImportError as err:
            if forbidden.covers(err.name or ""):
                log.append(err.name or "")
                result = None
            else:
                raise
    if isinstance(result, _Tripwire):  # e.g. a module fetched with importlib.import_module and returned
        log.append(result._name)
    return result, log
