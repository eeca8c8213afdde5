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

    ``code``: the inserted cell (``{course}``, ``{repo}``, ``{port}``, ``{token}``, ``{canary}`` — a root-only file
    outside the course — and ``{secret_file}`` are filled in);
    ``work``: "correct" (the instructor's answers), "flipped" (a wrong conv2d: the kernel is flipped) or "blank"
    (the release as it is: every point must come from the attack);
    ``outcome``: "honest" (the honest points of the work), "killed" (the points before the cell, zero after),
    "zero" (nothing gradable); ``affected``: cells that must score zero on top of that;
    ``flags``: problem kinds the report must contain (one of each tuple); ``place``: where the cell goes
    ("after": after ``AFTER``; "end": after the last cell); ``edit``: a change to a test cell instead;
    ``raw``: the bytes of the submitted file instead of a notebook; ``name``: the submitted file's name;
    ``links``: symbolic links placed in the collected submission folder (name -> target, filled in as ``code``);
    ``change``: the name of a change made to the whole notebook (see ``tests/test_adversarial.py``).
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
    links: tuple[tuple[str, str], ...] = ()
    change: str = ""


def _connect(host: str, port: str) -> str:
    return (
        f"import socket\ns = socket.socket(); s.settimeout(3)\ntry:\n    s.connect(({host}, {port}))\n"
        "    print('CONNECTED')\nexcept OSError as err:\n    print('BLOCKED', err)"
    )


#: Every name the test cells read from the kernel (the graded functions and answers), rebound by the launderers.
GRADED_NAMES = (
    *("KERNEL_EFFECTS", "M", "SIZE_ANSWERS", "avg_pool2d", "avg_pool2d_backward", "conv1d_matrix", "conv2d"),
    *("conv2d_backward", "conv2d_naive", "conv_matrix", "conv_output_size", "conv_transpose2d", "max_pool2d"),
    *("max_pool2d_backward", "out", "receptive_field", "v", "w", "x"),
)


def _launder(register: str, forge_probe: bool = False) -> str:
    """A blank notebook's cell that turns every test cell into ``pass`` and rebinds every graded name to a module
    object (so that nothing can be replayed); ``register`` is the statement that installs the transformer."""
    code = (
        "import types\nip = get_ipython()\n"
        "def _launder(lines):\n    return ['pass\\n'] if 'checks.' in ''.join(lines) else lines\n"
        f"{register}\n"
        f"for _n in {GRADED_NAMES!r}:\n    globals()[_n] = types.ModuleType(_n)\n"
    )
    if forge_probe:  # the grader's question "which hooks are there?" answered with "none"
        code += "import importlib\nimportlib.import_module('autograder.verify.' + 'hooks').registered = lambda: ''\n"
    return code.replace("{", "{{").replace("}", "}}")


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
        "checks.compare = lambda *a, **k: None\nchecks.convolution.compare = lambda *a, **k: None",
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
    # --- links: the grader never writes, reads, copies or chmods through a link the submission made -----------
    Attack(
        "link_write_outside",
        "import os\nos.remove('01_layers.ipynb')\nos.symlink('{canary}', '01_layers.ipynb')\n"
        "os.symlink('{canary}', 'problems.json')",
    ),
    Attack(
        "link_write_other_student",
        "import os\nos.remove('01_layers.ipynb')\n"
        "os.symlink('{course}/submitted/instructor/01_layers/01_layers.ipynb', '01_layers.ipynb')",
    ),
    Attack(
        "link_write_gradebook",
        "import os\nos.remove('01_layers.ipynb')\nos.symlink('{course}/gradebook.db', '01_layers.ipynb')",
    ),
    Attack("link_read", "import os\nos.symlink('{secret_file}', 'stolen.txt')\nos.symlink('/', 'root')", secrets=True),
    Attack(
        "collected_link",
        links=(("data.txt", "{secret_file}"), ("notes", "{secret_dir}")),
        secrets=True,
        flags=(("link_ignored",),),
    ),
    Attack("collected_dangling_link", links=(("weights.npy", "/nonexistent/weights.npy"),), flags=(("link_ignored",),)),
    # --- verdicts a kernel cannot launder -------------------------------------------------------------------
    Attack(
        "launder_hooks",
        _launder("ip.input_transformers_post.append(_launder)"),
        work="blank",
        flags=(("hook_registered",),),
    ),
    Attack(
        "launder_hooks_hidden",
        _launder("getattr(ip, 'input_' + 'transformers_post').append(_launder)"),
        work="blank",
        flags=(("hook_registered",),),
    ),
    Attack(
        "launder_hooks_forged",
        _launder("getattr(ip, 'input_' + 'transformers_post').append(_launder)", forge_probe=True),
        work="blank",
        flags=(("verdict_overturned", "unverifiable"),),
    ),
    Attack(
        "ast_transformer",
        "import ast\nclass _Pass(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
        "        return ast.Module(body=[ast.Pass()], type_ignores=[])\n"
        "get_ipython().ast_transformers.append(_Pass())",
        work="flipped",
        outcome="killed",
        flags=(("hook_registered",),),
    ),
    # --- bounds: each breach flagged, zero for what it touched, the batch going on ----------------------------
    Attack(
        "inflate_records",  # the first record after the cell is 120 MB, the largest message a worker accepts
        "import autograder.verify.record as R\n_f, _n = R.finish, [0]\n"
        "def _fat():\n    _n[0] += 1\n    pad = 'x' * (120_000_000 if _n[0] == 1 else 0)\n"
        "    return _f()[:-1] + ', \"pad\": \"' + pad + '\"}}'\n"
        "R.finish = _fat",
        affected=frozenset({"test_conv1d_matrix"}),
        flags=(("verdict_overturned",), ("tamper_attempt",)),
    ),
    Attack(
        "sparse_files",
        "for i in range(3):\n    f = open(f'big{{i}}', 'wb'); f.seek(1000 * 2**20 - 1); f.write(b'x'); f.close()",
        outcome="zero",
        flags=(("working_copy_limit",),),
    ),
    Attack(
        "many_files",
        "import os\nos.makedirs('d')\nfor i in range(50_000):\n    open(f'd/{{i}}', 'w').close()",
        outcome="zero",
        flags=(("working_copy_limit",),),
    ),
    Attack(
        "display_update",
        "from IPython.display import display, update_display\ndisplay('x', display_id='z')\n"
        "update_display('y' * 5_000_000, display_id='z')",
        flags=(("output_limit",),),
    ),
    Attack("many_cells", change="many_cells", outcome="zero", flags=(("notebook_too_large",),)),
    Attack("huge_notebook", change="huge_notebook", outcome="zero", flags=(("file_too_large", "notebook_too_large"),)),
    # --- never stuck: what made nbgrader fail is scored, not retried forever ---------------------------------
    Attack("duplicate_ids", change="duplicate_ids", flags=(("cell_metadata_removed",),)),
    Attack("hostile_grade_id", change="hostile_grade_id", flags=(("cell_metadata_removed",),)),
    # --- no student script in a TA's or a student's browser (the feedback, opened in Chromium) ----------------
    Attack("script_injection", change="script_injection", flags=(("tamper_attempt",), ("cell_metadata_removed",))),
    Attack(
        "invalid_schema",
        raw=b'{"cells": [{"cell_type": "code", "source": 5, "metadata": {}, "outputs": []}], "metadata": {}, '
        b'"nbformat": 4, "nbformat_minor": 5}',
        outcome="zero",
        flags=(("corrupt", "ungradable"),),
    ),
    # --- the kernel's environment is an allow-list: the grader's secrets stay out ---------------------------
    Attack("read_environment", "import os\nprint(dict(os.environ))", secrets=True),
]

#: The cell the edit attacks change (it checks conv2d, which the flipped work gets wrong).
EDITED_CELL = "test_conv2d"
