"""Starting and stopping a grading kernel: ready as soon as it answers and IOPub delivers, gone when stopped.

Real kernels, through the grader's kernel managers (unsandboxed and, as root with bubblewrap, sandboxed); the
schedule of looks at a stopping kernel is checked on its own, since when a real process dies is not ours to say.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile

import psutil
import pytest

from autograder.sandbox import command
from autograder.sandbox.kernel import (
    STOP_POLL_FIRST_S,
    STOP_POLL_MAX_S,
    GuardedKernelManager,
    PromptKernelClient,
    kernel_env,
)
from autograder.sandbox.manager import SandboxedKernelManager

SANDBOXED = pytest.param(
    SandboxedKernelManager,
    marks=pytest.mark.skipif(
        command.bwrap_path() is None or not sys.platform.startswith("linux") or os.geteuid() != 0,
        reason="sandboxed kernels need bubblewrap, as root",
    ),
    id="sandboxed",
)
MANAGERS = [pytest.param(GuardedKernelManager, id="unsandboxed"), SANDBOXED]
#: A cell whose every output must reach the grader: text on both streams, a rich display, a result.
FIRST_CELL = (
    "import sys\nprint('out')\nprint('err', file=sys.stderr)\n"
    "from IPython.display import display, HTML\ndisplay(HTML('<b>shown</b>'))\n6 * 7"
)


async def _first_cell_outputs(manager_class: type) -> tuple[list[str], type]:
    work = tempfile.mkdtemp(prefix="autograder-work-", dir=getattr(manager_class, "work_parent", lambda: None)())
    command.hand_over([work])
    km = manager_class()
    await km.start_kernel(cwd=work, env=kernel_env(), preload=["numpy"])
    kc = km.client()
    kc.start_channels()
    seen: list[str] = []
    try:
        await kc.wait_for_ready(timeout=120)

        def keep(msg: dict) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                seen.append(f"{content['name']}:{content['text'].strip()}")
            elif kind in ("display_data", "execute_result"):
                seen.append(f"{kind}:{content['data'].get('text/html') or content['data']['text/plain']}")

        reply = await kc.execute_interactive(FIRST_CELL, timeout=60, output_hook=keep)
        assert reply["content"]["status"] == "ok"
        return seen, type(kc)
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


@pytest.mark.parametrize("manager_class", MANAGERS)
def test_every_output_of_the_first_cell_arrives_right_after_the_kernel_is_ready(manager_class):
    for _ in range(3):  # IOPub connects on its own time: a client that ran before it would lose outputs
        seen, client = asyncio.run(_first_cell_outputs(manager_class))
        assert client is PromptKernelClient
        assert seen == ["stdout:out", "stderr:err", "display_data:<b>shown</b>", "execute_result:42"]


@pytest.mark.parametrize("manager_class", MANAGERS)
def test_a_kernel_stopped_at_once_is_gone_when_the_manager_returns(manager_class):
    async def go() -> None:
        work = tempfile.mkdtemp(prefix="autograder-work-", dir=getattr(manager_class, "work_parent", lambda: None)())
        command.hand_over([work])
        km = manager_class()
        await km.start_kernel(cwd=work, env=kernel_env())
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        kc.stop_channels()
        pid = km.provisioner.process.pid
        await km.shutdown_kernel(now=True)
        assert not await km.is_alive()
        gone = not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert gone, "the kernel's first process outlived its shutdown"

    asyncio.run(go())


def test_a_stopping_kernel_is_looked_at_again_after_milliseconds_then_less_often(monkeypatch):
    km = GuardedKernelManager()
    answers = iter([True] * 9 + [False])
    pauses: list[float] = []

    async def alive() -> bool:
        return next(answers)

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(km, "_async_is_alive", alive)
    monkeypatch.setattr(asyncio, "sleep", pause)
    asyncio.run(km._async_wait())
    assert len(pauses) == 9  # one pause after each "still alive", none once it has gone
    assert pauses[0] == STOP_POLL_FIRST_S
    assert all(b == min(2 * a, STOP_POLL_MAX_S) for a, b in zip(pauses, pauses[1:]))
    assert max(pauses) == STOP_POLL_MAX_S  # never longer apart than jupyter_client's own interval

    pauses.clear()
    answers = iter([True, True, False])
    asyncio.run(km._async_wait(pollinterval=0.001))  # a caller's shorter interval is kept
    assert pauses == [0.001, 0.001]
