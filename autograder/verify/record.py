"""Recording a test cell's calls in the student's kernel, and replaying them in the grader.

In the kernel, before a graded test cell runs, :func:`start` wraps every student function the cell names
in a :class:`Recorder`; the cell runs as usual; :func:`finish` puts the names back and returns, as JSON,
the values the cell read and every call's arguments (their fingerprint) and outcome. Checks call student
code through :func:`boundary`-decorated functions (``call_student``, ``run_numpy_only``), which record the
outcome the check saw, including a ``CheckFailed`` for a forbidden library.

In the grader, :class:`Replayer` stands in for the student's function: it hands back the recorded outcomes,
in order, and refuses a call whose arguments differ from the recorded ones. The checks then run again on
those outcomes in a process the student's code never ran in. Tampering with this module in the kernel can
only remove or falsify records; a missing or mismatching record fails the cell, and falsified outcomes are
judged by the real checks.
"""

from __future__ import annotations

import builtins
import functools
import json
import random
import sys
import types
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from .codec import decode, digest, encode

FORMAT = 1


class NotReplayable(Exception):
    """The cell uses something that cannot be judged outside the kernel (timing, a model object)."""


class ReplayMismatch(AssertionError):
    """The grader's replay asked for a call the kernel did not record: the record is not for this cell."""


_STATE: dict[str, Any] = {"recording": None, "depth": 0, "replaying": False}


def replaying() -> bool:
    """True while the grader replays a cell (checks that cannot be replayed raise ``NotReplayable``)."""
    return bool(_STATE["replaying"])


def kernel_only(check: Callable) -> Callable:
    """Mark a check whose verdict depends on the live kernel (e.g. timing): not replayed outside."""

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if replaying():
            _STATE["not_replayable"] = check.__name__
            raise NotReplayable(check.__name__)
        return check(*args, **kwargs)

    return wrapper


class Recorder:
    """Wraps a student's callable in the kernel; records its direct calls (not those made inside a check)."""

    def __init__(self, name: str, inner: Callable, log: list[dict[str, Any]]) -> None:
        self.__recorded_name__ = name
        self.__wrapped__ = inner
        self._log = log
        functools.update_wrapper(self, inner, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _STATE["recording"] is None or _STATE["depth"]:
            return self.__wrapped__(*args, **kwargs)
        return self._record(
            "direct",
            args,
            kwargs,
            lambda: self.__wrapped__(*args, **kwargs),
            Exception,
            lambda err: {"type": type(err).__name__, "message": str(err)[:2000]},
        )

    def _record(self, via: str, args: tuple, kwargs: dict, run: Callable[[], Any],
                catches: type[BaseException], describe: Callable[[BaseException], dict]) -> Any:  # fmt: skip
        """Run ``run`` (a call of the wrapped function) and log its argument fingerprint and outcome."""
        entry: dict[str, Any] = {"name": self.__recorded_name__, "via": via, "args": digest((args, kwargs))}
        before = _array_digests(args)
        _STATE["depth"] += 1
        try:
            result = run()
        except catches as err:
            entry["raise"] = describe(err)
            self._log.append(entry)
            raise
        finally:
            _STATE["depth"] -= 1
        entry["out"] = encode(result)
        entry["mutated"] = _mutations(args, before)
        self._log.append(entry)
        return result

    def __getattr__(self, name: str) -> Any:  # a callable object or class keeps its attributes
        if name.startswith("__") or name in ("_log",):
            raise AttributeError(name)
        return getattr(self.__wrapped__, name)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:  # stays usable as a method
        return self if obj is None else types.MethodType(self, obj)


def _array_digests(args: tuple) -> dict[int, str]:
    import numpy as np

    return {i: digest(a) for i, a in enumerate(args) if isinstance(a, np.ndarray)}


def _mutations(args: tuple, before: dict[int, str]) -> dict[str, Any]:
    return {str(i): encode(args[i]) for i, d in before.items() if digest(args[i]) != d}


def boundary(call: Callable) -> Callable:
    """Decorate a check helper ``call(task, fn, *args, **kwargs)`` that runs student code.

    Recording: the outcome the check sees (a value, or the ``CheckFailed`` it raises) is recorded for ``fn``.
    Replaying: ``fn`` is a :class:`Replayer` and the recorded outcome is returned or raised.
    """

    @functools.wraps(call)
    def wrapper(task: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(fn, Replayer):
            return fn.replay_check(task, args, kwargs)
        if not isinstance(fn, Recorder) or _STATE["recording"] is None or _STATE["depth"]:
            inner = fn.__wrapped__ if isinstance(fn, Recorder) else fn
            return call(task, inner, *args, **kwargs)
        return fn._record(
            "check",
            args,
            kwargs,
            lambda: call(task, fn.__wrapped__, *args, **kwargs),
            AssertionError,
            lambda err: {"type": "CheckFailed", "task": getattr(err, "task", task), "message": _message(err)},
        )

    return wrapper


def _message(err: BaseException) -> str:
    return str(getattr(err, "message", err))[:4000]


# --- the kernel side ---------------------------------------------------------------------------------------
def _rng_state() -> dict[str, Any]:
    import numpy as np

    state = {"numpy": encode(list(np.random.get_state())), "python": encode(random.getstate())}
    torch = sys.modules.get("torch")
    if torch is not None:
        state["torch"] = encode(torch.random.get_rng_state())
    return state


def start(names: Iterable[str], namespace: dict[str, Any] | None = None) -> None:
    """Wrap the student's callables among ``names`` in the kernel's namespace and note the values."""
    ns = _user_ns() if namespace is None else namespace
    log: list[dict[str, Any]] = []
    described: dict[str, Any] = {}
    wrapped: dict[str, Recorder] = {}
    for name in names:
        if name not in ns:
            described[name] = {"kind": "missing"}
            continue
        value = ns[name]
        if isinstance(value, types.ModuleType):
            described[name] = {"kind": "module", "module": value.__name__}
        elif callable(value):
            inner = value.__wrapped__ if isinstance(value, Recorder) else value
            wrapped[name] = ns[name] = Recorder(name, inner, log)
            described[name] = {"kind": "function"}
        else:
            described[name] = {"kind": "value", "value": encode(value)}
    _STATE["recording"] = {"ns": ns, "log": log, "names": described, "wrapped": wrapped, "rng": _rng_state()}


def finish() -> str:
    """Stop recording, put the student's functions back, and return the record as JSON."""
    rec = _STATE["recording"]
    _STATE["recording"], _STATE["depth"] = None, 0
    if rec is None:
        return json.dumps({"format": FORMAT, "error": "recording was not started"})
    for name, recorder in rec["wrapped"].items():
        if rec["ns"].get(name) is recorder:
            rec["ns"][name] = recorder.__wrapped__
    return json.dumps({"format": FORMAT, "names": rec["names"], "calls": rec["log"], "rng": rec["rng"]})


def _user_ns() -> dict[str, Any]:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("recording needs an IPython kernel")
    return shell.user_ns


# --- the grader side ---------------------------------------------------------------------------------------
class Replayer:
    """Stands in for a student function outside the kernel: returns the recorded outcomes in order."""

    def __init__(self, name: str, calls: Iterable[dict[str, Any]]) -> None:
        self.__recorded_name__ = name
        self.__name__ = self.__qualname__ = name
        self._calls = deque(calls)

    def _next(self, via: str, args: tuple, kwargs: dict) -> dict[str, Any]:
        if not self._calls:
            _STATE["mismatch"] = f"{self.__recorded_name__} was called, but the kernel recorded no such call"
            raise ReplayMismatch(_STATE["mismatch"])
        entry = self._calls.popleft()
        if entry.get("via") != via or entry.get("args") != digest((args, kwargs)):
            _STATE["mismatch"] = f"the recorded call of {self.__recorded_name__} does not match the replayed one"
            raise ReplayMismatch(_STATE["mismatch"])
        for index, value in (entry.get("mutated") or {}).items():
            target = args[int(index)] if str(index).isdigit() and int(index) < len(args) else None
            if target is not None and hasattr(target, "shape"):
                import numpy as np

                np.copyto(target, decode(value), casting="unsafe")
        return entry

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        entry = self._next("direct", args, kwargs)
        if "raise" in entry:
            raise _exception(entry["raise"])
        return decode(entry.get("out"))

    def replay_check(self, task: str, args: tuple, kwargs: dict) -> Any:
        entry = self._next("check", args, kwargs)
        if "raise" in entry:
            from ..failure import CheckFailed

            raised = entry["raise"]
            raise CheckFailed(str(raised.get("task", task)), str(raised.get("message", "")))
        return decode(entry.get("out"))

    @property
    def unused(self) -> int:
        return len(self._calls)


def _exception(raised: dict[str, Any]) -> BaseException:
    """The recorded exception: a built-in class of that name, else a ``RuntimeError`` that names it."""
    name, message = str(raised.get("type", "Exception")), str(raised.get("message", ""))
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception) and cls is not NotReplayable:
        try:
            return cls(message)
        except Exception:
            pass
    return RuntimeError(f"{name}: {message}")


def load(text: str) -> dict[str, Any]:
    """Parse a record; a malformed one raises ``ValueError``."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError, MemoryError) as err:
        raise ValueError(f"not JSON: {type(err).__name__}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT or "error" in record:
        raise ValueError(str(record.get("error", "not a record")) if isinstance(record, dict) else "not a record")
    return record


def replayers(record: dict[str, Any]) -> dict[str, Replayer]:
    """One :class:`Replayer` per recorded function, fed with its calls in order."""
    calls: dict[str, list[dict[str, Any]]] = {}
    for entry in record.get("calls", []):
        calls.setdefault(str(entry.get("name")), []).append(entry)
    return {
        name: Replayer(name, calls.get(name, []))
        for name, info in record.get("names", {}).items()
        if info.get("kind") == "function"
    }


def set_rng(record: dict[str, Any]) -> None:
    """Put the global random generators in the state the kernel's were in when the cell started."""
    import numpy as np

    rng = record.get("rng", {})
    try:
        if "numpy" in rng:
            np.random.set_state(tuple(decode(rng["numpy"])))
        if "python" in rng:
            state = decode(rng["python"])
            random.setstate((state[0], tuple(state[1]), state[2]))
        if "torch" in rng and "torch" in sys.modules:
            sys.modules["torch"].random.set_rng_state(decode(rng["torch"]))
    except Exception:
        pass  # a forged state only changes the inputs, which the call fingerprints then reject


def set_replaying(flag: bool) -> None:
    _STATE["replaying"] = flag
