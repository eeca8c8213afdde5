"""What a sandboxed student kernel may use: its limits and their defaults.

The defaults fit a 2-core, 8 GiB grading machine running two kernels at once (one per core): each kernel may
hold 3 GiB, use an hour of CPU time (a notebook is limited to 30 minutes of wall time anyway), start 256
processes or threads (PyTorch alone starts a few dozen), and write files of up to 1 GiB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class SandboxPolicy:
    """Limits of one sandboxed kernel (all of its processes together for memory)."""

    memory_mb: int = 3072
    cpu_seconds: int = 3600
    max_processes: int = 256
    max_file_mb: int = 1024
    network: bool = False
    #: Fork kernels from a server of pre-imported interpreters (a grader running as root), each into a sandbox
    #: of its own; otherwise every kernel starts Python and its imports inside a bubblewrap of its own.
    fork_server: bool = True

    def describe(self) -> str:
        """One line for reports: the limits in words."""
        net = "network allowed" if self.network else "no network"
        return (
            f"{net}, memory {self.memory_mb} MiB, CPU time {self.cpu_seconds} s, "
            f"{self.max_processes} processes, files up to {self.max_file_mb} MiB"
        )

    def as_config(self) -> dict[str, object]:
        """The policy as ``SandboxedKernelManager`` settings (for an nbgrader ``Config``)."""
        return asdict(self)
