"""The grader's sandbox: every student kernel runs under bubblewrap with resource limits.

- :mod:`.policy`: what a sandboxed kernel may do (memory, CPU time, processes, network) and its defaults;
- :mod:`.command`: the ``bwrap`` command line that wraps a kernel (what is visible, what is writable);
- :mod:`.fontcache`: matplotlib's font list, built once by the grader and lent read-only to every kernel;
- :mod:`.kernel`: what every kernel gets: its environment from an allow-list, and a bound on its messages;
- :mod:`.manager`: ``SandboxedKernelManager``, the jupyter_client kernel manager that nbclient and nbgrader
  start student kernels with, and the watchdog that enforces the memory limit;
- :mod:`.forkserver` and :mod:`.forkclient`: when the grader runs as root, kernels are forked from a server
  inside bubblewrap that has imported ipykernel and the notebook's modules once; each forked kernel still gets
  namespaces, a private ``/tmp``, limits and a user of its own (:mod:`.linux`: the system calls for that).
"""

from .command import SandboxUnavailable, bwrap_path, check_sandbox
from .policy import SandboxPolicy

__all__ = ["SandboxPolicy", "SandboxUnavailable", "bwrap_path", "check_sandbox"]
