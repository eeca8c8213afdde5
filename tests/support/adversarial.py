"""The adversarial corpus: Assignment 1 submissions, each with one malicious or broken cell or file.

Every attack is the real release filled with the instructor's solution (or, for attacks on the checks, with
a wrong ``conv2d``, so that a successful attack would gain points), plus one inserted cell, an edit of a test
cell, or a broken file. Each carries what the test asserts: the points it must get (per cell: the honest
points of the same work, zero for the cells it was meant to affect), the flags the report must raise, and
the text that must not appear in its output or feedback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ASSIGNMENT = NOTEBOOK = "01_layers"

#: The cell after which an attack is inserted: the kernel-killing ones keep the points earned before it.
AFTER = "test_receptive_field_hidden"
#: Points of the graded cells up to ``AFTER`` (test_conv_output_size 3 + hidden 2, test_receptive_field 3 +
#: hidden 2), read off the assignment by hand.
POINTS_BEFORE = 10

#: Cells that call ``checks.check_conv2d``, ``check_adjoint`` or ``check_conv2d_is_vectorized``.
CONV_CHECK_CELLS = frozenset(
    {"test_conv2d_naive", "test_conv2d_naive_hidden", "test_conv2d", "test_conv2d_hidden",
     "test_conv2d_vectorized", "test_adjoint"}
)  # fmt: skip


@dataclass(frozen=True)
class Attack:
    """One submission of the corpus.

    ``code``: the inserted cell (``{course}``, ``{repo}``, ``{port}``, ``{token}`` are filled in);
    ``work``: "correct" (the instructor's answers) or "flipped" (a wrong conv2d: the kernel is flipped);
    ``outcome``: "honest" (the honest points of the work), "killed" (the points before the cell, zero after),
    "zero" (nothing gradable); ``affected``: cells that must score zero on top of that;
    ``flags``: problem kinds the report must contain (one of each tuple); ``place``: where the cell goes
    ("after": after ``AFTER``; "end": after the last cell); ``edit``: a change to a test cell instead;
    ``raw``: the bytes of the submitted file instead of a notebook; ``name``: the submitted file's name.
    """

    name: str
    code: str = ""
    work: str = "correct"
    outcome: str = "honest"
    affected: frozenset[str] = frozenset()
    flags: tuple[tuple[str, ...], ...] = ()
    place: str = "after"
    edit: str = ""
    raw: bytes | None = None
    filename: str = f"{NOTEBOOK}.ipynb"
    secrets: bool = False
    writes: tuple[str, ...] = field(default=())


def _connect(host: str, port: str) -> str:
    return (
        f"import socket\ns = socket.socket(); s.settimeout(3)\ntry:\n    s.connect(({host}, {port}))\n"
        "    print('CONNECTED')\nexcept OSError as err:\n    print('BLOCKED', err)"
    )


ATTACKS = [
    Attack("net_outside", _connect("'1.1.1.1'", "80")),
    Attack("net_loopback", _connect("'127.0.0.1'", "{port}")),
    Attack(
        "read_files",
        "import glob\nfor pattern in ['{course}/solutions/*/*.ipynb', '{course}/gradebook.db', '{course}/secret.txt',\n"
        "                '{course}/submitted/*/*/*.ipynb', '{repo}/solutions/*/*.ipynb', '{repo}/*.md']:\n"
        "    for path in glob.glob(pattern) or [pattern]:\n"
        "        try:\n            print(path, open(path, errors='replace').read())\n"
        "        except OSError as err:\n            print('BLOCKED', err)",
        secrets=True,
    ),
    Attack("read_hidden_history", "print('\\n'.join(In))", place="end", secrets=True),
    Attack(
        "write_outside",
        "for path in ['{course}/pwned.txt', '{repo}/pwned.txt', '/root/pwned.txt', '/usr/pwned.txt']:\n"
        "    try:\n        open(path, 'w').write('pwned'); print('WROTE', path)\n"
        "    except OSError as err:\n        print('BLOCKED', err)",
        writes=("{course}/pwned.txt", "{repo}/pwned.txt", "/root/pwned.txt", "/usr/pwned.txt"),
    ),
    Attack(
        "delete_files",
        "import os, shutil\nfor path in ['{course}/gradebook.db', '{course}/submitted', '{course}/secret.txt']:\n"
        "    try:\n        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path); print('DELETED', path)\n"
        "    except OSError as err:\n        print('BLOCKED', err)",
    ),
    Attack("infinite_loop", "while True:\n    pass", flags=(("timeout",),)),
    Attack("sleep", "import time\ntime.sleep(10**6)", flags=(("timeout",),)),
    Attack(
        "memory_bomb",
        "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 1024 * 1024))",
        outcome="killed",
        flags=(("memory_limit",),),
    ),
    Attack("memory_at_once", "x = bytearray(200 * 1024**3)"),
    Attack(
        "fork_bomb",
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        outcome="killed",
        flags=(("memory_limit", "killed", "cpu_limit", "dead_kernel", "crash", "exit"),),
    ),
    Attack("os_exit", "import os\nos._exit(3)", outcome="killed", flags=(("exit",),)),
    Attack("segfault", "import ctypes\nctypes.string_at(0)", outcome="killed", flags=(("crash",),)),
    Attack("huge_output", "import sys\nsys.stdout.write('x' * 100_000_000)", flags=(("output_limit",),)),
    Attack(
        "patch_numpy_allclose",
        "np.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), bool)",
        work="flipped",
        flags=(("tamper_attempt",),),
    ),
    Attack(
        "patch_numpy_testing",
        "np.testing.assert_allclose = lambda *a, **k: None\nnp.testing.assert_array_equal = lambda *a, **k: None",
        work="flipped",
        flags=(("tamper_attempt",),),
    ),
    Attack(
        "patch_torch_allclose",
        "import torch\ntorch.allclose = lambda *a, **k: True\ntorch.testing.assert_close = lambda *a, **k: None",
        work="flipped",
        flags=(("tamper_attempt",),),
    ),
    Attack(
        "patch_checks",
        "checks.check_conv2d = lambda *a, **k: None\nchecks.check_adjoint = lambda *a, **k: None\n"
        "checks.check_conv2d_is_vectorized = lambda *a, **k: None",
        work="flipped",
        affected=CONV_CHECK_CELLS,
        flags=(("tamper_attempt",), ("verdict_overturned",)),
    ),
    Attack(
        "patch_compare",
        "import autograder.checks.common as common\ncommon.compare = lambda *a, **k: None\n"
        "checks.compare = lambda *a, **k: None",
        work="flipped",
        flags=(("tamper_attempt",), ("verdict_overturned",)),
    ),
    Attack(
        "patch_builtins",
        "import builtins\nbuiltins.AssertionError = type('AssertionError', (Warning,), {{}})\n"
        "AssertionError = builtins.AssertionError",
        work="flipped",
        flags=(("tamper_attempt",),),
    ),
    Attack(
        "patch_error_display",
        "get_ipython().showtraceback = lambda *a, **k: None\nget_ipython()._showtraceback = lambda *a, **k: None\n"
        "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)",
        work="flipped",
        flags=(("tamper_attempt",),),
    ),
    Attack("edit_test_cell", edit="edit", work="flipped", flags=(("test_cell_edited",),)),
    Attack("delete_test_cell", edit="delete", work="flipped", flags=(("test_cell_deleted",),)),
    Attack("retype_test_cell", edit="retype", work="flipped", flags=(("test_cell_retyped",),)),
    Attack("invalid_json", raw=b'{"cells": [{"cell_type": "code", ', outcome="zero", flags=(("corrupt",),)),
    Attack("non_utf8", raw=b'{"cells": "\xff\xfe\xfa"}', outcome="zero", flags=(("corrupt",),)),
    Attack("other_name", filename="01_layers (1).ipynb", outcome="zero", flags=(("missing_notebook",),)),
]

#: The cell the edit attacks change (it checks conv2d, which the flipped work gets wrong).
EDITED_CELL = "test_conv2d"
