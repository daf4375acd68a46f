"""The tokenizers' kernels compiled ahead of time into an extension module, so that a run does not
import numba at all.

numba compiles the kernels (nginx_tokenizer._scan, audit_tokenizer._scan, tokenizer_support.index)
on first use and caches the machine code, but even loading that cache costs ~0.5 s of CPU holding
the GIL: importing numba (0.16 s) and setting up its typing and target registries (0.3 s). That is
a third of staging 1 M lines, before the first object can be cut. numba.pycc compiles the same
functions into a C extension instead (~25 s with numba's own compile, needs a C compiler);
importing it takes 0.3 ms, and the kernels run as fast (README, Performance).

    python -m ingress_audit.tokenizer_aot            # into the package folder (the Dockerfile does this)

The module is named after a digest of the kernels' source files (`_kernels_<digest>`): after any
change to them the name changes, so an outdated build is never loaded, and numba compiles as
before until the module is built again. INGRESS_AUDIT_TOKENIZER_AOT=off ignores a built module.
The kernels are compiled for a generic x86-64 CPU, so an image fits any node. numba.pycc is
deprecated upstream; while numba ships it, this is the way out of the import cost.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from .switches import env_switch

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parent
# the files whose code the kernels are compiled from
SOURCES = ("tokenizer_support.py", "nginx_tokenizer.py", "audit_tokenizer.py")
# exported name -> (module, function)
KERNELS = {"nginx_scan": ("nginx_tokenizer", "_scan"), "audit_scan": ("audit_tokenizer", "_scan"),
           "index": ("tokenizer_support", "index")}

ENABLED = env_switch("INGRESS_AUDIT_TOKENIZER_AOT", True)


def module_name(sources: Path = PACKAGE) -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((sources / name).read_bytes())
    return f"_kernels_{digest.hexdigest()[:16]}"


def load() -> ModuleType | None:
    """The kernels built for the current sources, or None (not built, outdated, or switched off)."""
    if not ENABLED:
        return None
    name = f"{__package__}.{module_name()}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:  # not built for these sources: numba compiles them
        return None
    except ImportError as exc:  # built, but does not load here (another Python, a missing library)
        log.warning("%s does not load (%s); numba compiles the tokenizers instead", name, exc)
        return None


def as_is(*args, **options):
    """Stands in for numba.njit and numba.extending.intrinsic when the kernels come built: the
    function stays as written, never called (with or without decorator arguments)."""
    if len(args) == 1 and callable(args[0]) and not options:
        return args[0]
    return lambda function: function


def build(folder: Path = PACKAGE) -> Path:
    """Compile the kernels into `folder`; returns the extension module's path.

    Runs numba as staging does (the kernels compiled for the argument types staging passes), so
    it refuses to run where the kernels were loaded built.
    """
    from numba.pycc import CC

    from . import tokenizer_cache, tokenizer_support

    if tokenizer_support.KERNELS is not None:
        raise RuntimeError("the kernels are already built and loaded: set INGRESS_AUDIT_TOKENIZER_AOT=off to rebuild")
    tokenizer_cache.compile_tokenizers()  # each kernel gets the one signature staging calls it with
    cc = CC(module_name())
    cc.output_dir = str(folder)
    cc.use_nrt = False  # as the JIT versions (_nrt=False): no reference counting
    for exported, (module, function) in KERNELS.items():
        dispatcher = getattr(importlib.import_module(f"{__package__}.{module}"), function)
        (signature,) = dispatcher.nopython_signatures
        cc.export(exported, signature)(dispatcher.py_func)
    with _releasing_the_gil():
        cc.compile()
    for old in Path(folder).glob("_kernels_*"):  # builds for earlier sources: never loaded again
        if not old.name.startswith(f"{cc.name}."):
            old.unlink()
    return Path(cc.output_dir) / cc.output_file


@contextmanager
def _releasing_the_gil():
    """Make numba.pycc's exported functions release the GIL, as the JIT kernels do (nogil=True):
    the two parse workers tokenize at once. pycc has no option for it; its compiler takes the
    flags of every export from one Flags() it creates, so that class gets release_gil set while
    it compiles."""
    from numba.pycc import compiler

    original = compiler.Flags

    class NoGilFlags(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.release_gil = True

    compiler.Flags = NoGilFlags
    try:
        yield
    finally:
        compiler.Flags = original


def main() -> int:
    from ingress_audit import tokenizer_aot  # this module under its own name, not __main__

    tokenizer_aot.ENABLED = False  # compile from the sources, whatever is built already
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else PACKAGE
    print(f"built {tokenizer_aot.build(folder)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
