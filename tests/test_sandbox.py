"""The sandbox's pieces: the bwrap command line, what a sandboxed program can reach, exit words, refusal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import AutograderError
from autograder.pipeline.coordinator import describe_sandbox
from autograder.sandbox import SandboxPolicy, command, fontcache
from autograder.sandbox.manager import describe_exit
from tests.support.nbcourse import ROOT

needs_bwrap = pytest.mark.skipif(command.bwrap_path() is None, reason="bubblewrap is not installed")


def _flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


@needs_bwrap
def test_the_command_shows_packages_but_not_the_repository_around_them(tmp_path):
    argv = command.bwrap_argv(SandboxPolicy(), [str(tmp_path)], str(tmp_path))
    mounted = _flag_values(argv, "--ro-bind") + _flag_values(argv, "--bind")
    assert str(ROOT / "autograder") in mounted and str(ROOT) not in mounted
    assert not any("solutions" in path for path in mounted)
    assert _flag_values(argv, "--bind") == [str(tmp_path)]  # the only writable folder
    assert "--unshare-net" in argv and "--unshare-pid" in argv and "--die-with-parent" in argv
    assert "--unshare-net" not in command.bwrap_argv(SandboxPolicy(network=True), [], "/")


def test_limits_follow_the_policy():
    argv = command.limit_argv(SandboxPolicy(memory_mb=1000, cpu_seconds=60, max_processes=32), address_space=True)
    assert "--cpu=60:65" in argv and f"--as={(1000 + 4096) * 1024 * 1024}" in argv
    assert any(a.startswith("--nproc=") for a in argv)
    assert not any(a.startswith("--as=") for a in command.limit_argv(SandboxPolicy(), address_space=False))


@needs_bwrap
@pytest.mark.parametrize("drop_root", [True, False], ids=["as-root", "user-namespace"])
def test_a_sandboxed_program_reaches_only_its_working_copy(tmp_path, drop_root):
    work = tmp_path / "work"
    work.mkdir()
    command.hand_over([work])
    outside = tmp_path / "outside.txt"
    probe = f"""
import os, socket
print("solutions", os.path.exists({str(ROOT / "solutions")!r}))
print("package", os.path.exists({str(ROOT / "autograder" / "__init__.py")!r}))
open("inside.txt", "w").write("ok")
try:
    open({str(outside)!r}, "w").write("no")
except OSError as err:
    print("write outside refused", type(err).__name__)
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("1.1.1.1", 80))
except OSError as err:
    print("network refused", type(err).__name__)
"""
    if not drop_root and os.geteuid() == 0:
        work.chmod(0o777)
    policy = SandboxPolicy()
    argv = command.bwrap_argv(policy, [str(work)], str(work), drop_root=drop_root) + [sys.executable, "-c", probe]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "solutions False" in run.stdout and "package True" in run.stdout
    assert "network refused" in run.stdout
    if drop_root:  # as "nobody" the write is refused; in a user namespace it lands in the sandbox's own tmpfs
        assert "write outside refused" in run.stdout
    assert (work / "inside.txt").read_text() == "ok" and not outside.exists()


@pytest.mark.parametrize(
    "code, kind, words",
    [(3, "exit", "status 3"), (128 + signal.SIGSEGV, "crash", "segmentation fault"),
     (128 + signal.SIGXCPU, "cpu_limit", "CPU-time limit of 60 s"), (-signal.SIGKILL, "killed", "killed")],
)  # fmt: skip
def test_exit_statuses_in_words(code, kind, words):
    got_kind, text = describe_exit(code, cpu_seconds=60)
    assert got_kind == kind and words in text


def test_grading_refuses_without_bubblewrap_unless_told(monkeypatch):
    monkeypatch.setattr(command, "bwrap_path", lambda: None)
    command.check_sandbox.cache_clear()
    try:
        with pytest.raises(AutograderError, match="apt-get install bubblewrap.*--no-sandbox"):
            describe_sandbox(SandboxPolicy())
    finally:
        command.check_sandbox.cache_clear()
    assert "NONE (--no-sandbox)" in describe_sandbox(None)


def test_the_cli_passes_the_sandbox_options():
    from autograder.cli import _sandbox, build_parser

    args = build_parser().parse_args(["grade", "x", "--memory-mb", "512", "--cpu-seconds", "9"])
    assert _sandbox(args) == SandboxPolicy(memory_mb=512, cpu_seconds=9)
    assert _sandbox(build_parser().parse_args(["grade", "x", "--no-sandbox"])) is None


def test_the_setup_command_installs_bubblewrap():
    assert "bubblewrap" in (ROOT / "setup.sh").read_text()
    assert Path(ROOT / "environment.yml").exists()


@needs_bwrap
def test_packages_and_working_copies_under_tmp_are_mounted_over_the_private_tmp(tmp_path, monkeypatch):
    package = tmp_path / "checkout" / "mypkg"  # a checkout under /tmp, as in CI's fresh clone
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("ANSWER = 42\n")
    monkeypatch.setattr(command, "package_dirs", lambda names=(): [str(package)])
    work = tmp_path / "work"
    work.mkdir()
    command.hand_over([work])
    probe = "import tempfile, mypkg; print(mypkg.ANSWER, tempfile.gettempdir()); open('/tmp/x', 'w').write('1')"
    argv = command.bwrap_argv(SandboxPolicy(), [str(work)], str(work)) + [sys.executable, "-c", probe]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ,
                         "PYTHONPATH": str(package.parent)})  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["42", "/tmp"]


@needs_bwrap
def test_the_kernel_imports_the_graders_own_checks(tmp_path):
    probe = "import autograder; print(autograder.__file__)"
    argv = command.bwrap_argv(SandboxPolicy(), [], "/") + [sys.executable, "-c", probe]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(ROOT / "autograder" / "__init__.py")


@needs_bwrap
def test_kernels_read_the_graders_font_list_instead_of_scanning_fonts(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fontcache.font_list.cache_clear()
    try:
        built = fontcache.font_list()
    finally:
        fontcache.font_list.cache_clear()
    assert built is not None and Path(built).is_relative_to(tmp_path / "cache" / "autograder")
    listing = json.loads(Path(built).read_text())
    marker = {**listing["ttflist"][0], "name": "Lent By The Grader"}  # a font only the grader's list names
    Path(built).write_text(json.dumps({**listing, "ttflist": [*listing["ttflist"], marker]}))
    probe = (
        "import glob, matplotlib.font_manager as fm\n"
        "lent = glob.glob('/tmp/home/.matplotlib/fontlist-v*.json')\n"
        "try:\n    open(lent[0], 'a').write(' '); wrote = 'writable'\nexcept OSError:\n    wrote = 'read-only'\n"
        "print(len(lent), any(f.name == 'Lent By The Grader' for f in fm.fontManager.ttflist), wrote)"
    )
    monkeypatch.setattr(fontcache, "font_list", lambda: built)
    argv = command.bwrap_argv(SandboxPolicy(), [], "/") + [sys.executable, "-c", probe]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "True", "read-only"]


def test_without_a_font_list_the_sandbox_lends_none(monkeypatch):
    monkeypatch.setattr(fontcache, "font_list", lambda: None)
    assert fontcache.font_list_argv() == []


def test_a_font_list_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    """While the list is being written, a second grader looking in the cache folder finds nothing to lend."""
    folder = tmp_path / "matplotlib-x"
    seen_while_building = []

    def fake_matplotlib(argv, env, **kwargs):
        partial = Path(env["MPLCONFIGDIR"]) / "fontlist-v390.json"
        partial.write_text('{"ttflist": [')  # half-written
        seen_while_building.extend(folder.glob("fontlist-v*.json"))
        partial.write_text('{"ttflist": []}')
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(fontcache.subprocess, "run", fake_matplotlib)
    fontcache._build_font_list(folder)
    assert seen_while_building == []
    assert [p.name for p in folder.iterdir()] == ["fontlist-v390.json"]  # no temporary folder left behind
    assert json.loads((folder / "fontlist-v390.json").read_text()) == {"ttflist": []}


def test_the_memory_watchdog_sees_the_same_process_tree_as_psutil():
    import subprocess
    import time

    import psutil

    from autograder.sandbox.manager import descendants

    def spawning(code: str) -> str:
        return f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {code!r}]); time.sleep(30)"

    root = subprocess.Popen([sys.executable, "-c", spawning(spawning("import time; time.sleep(30)"))])
    try:
        expected: list[int] = []
        for _ in range(200):  # until the grandchild has started
            expected = sorted(p.pid for p in psutil.Process(root.pid).children(recursive=True))
            if len(expected) == 2:
                break
            time.sleep(0.05)
        assert len(expected) == 2
        assert sorted(descendants(root.pid)) == expected
        assert descendants(2**22 + 12345) == []  # no such process: nothing under it
    finally:
        for proc in psutil.Process(root.pid).children(recursive=True):
            proc.kill()
        root.kill()
        root.wait()
