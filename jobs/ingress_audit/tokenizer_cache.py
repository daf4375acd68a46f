"""Where numba keeps the compiled tokenizers, and compiling them ahead of time for a container image.

numba compiles a tokenizer on its first use (nginx ~6 s, audit ~11 s of one core here) and keeps the
machine code in a cache folder, beside the module or in NUMBA_CACHE_DIR. It uses only a folder it
can write (it checks by creating a file there), so a pod, whose package folder is read-only and whose
/tmp starts empty, compiled both tokenizers on every run: the benchmark week's parse took 36 s
instead of 21.

The image therefore compiles them when it is built (Dockerfile):

    NUMBA_CACHE_DIR=/opt/ingress-audit/numba python -m ingress_audit.tokenizer_cache

and names that folder in INGRESS_AUDIT_NUMBA_SEED. At run time its files are copied into the writable
cache folder before numba looks there (1.5 MB). numba keys the code by the source file's mtime and
size, the numba version and the CPU: the image sets NUMBA_CPU_NAME=generic at build and run time,
so code compiled on the build machine matches any x86-64 node (measured: the same speed for audit
events, ~4% slower for nginx lines). A seed that does not match is harmless: numba compiles, as
without one.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SEED_ENV = "INGRESS_AUDIT_NUMBA_SEED"


def choose_cache_folder() -> None:
    """Point numba at a cache folder it can write, seeded from INGRESS_AUDIT_NUMBA_SEED.

    Call before importing numba: it reads NUMBA_CACHE_DIR when imported.
    """
    package = os.path.dirname(__file__)
    if "NUMBA_CACHE_DIR" not in os.environ and not os.access(package, os.W_OK):
        os.environ["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), "ingress-audit-numba")
    seed = os.environ.get(SEED_ENV)
    if seed and "NUMBA_CACHE_DIR" in os.environ:
        copy_seed(Path(seed), Path(os.environ["NUMBA_CACHE_DIR"]))


def copy_seed(seed: Path, cache: Path) -> int:
    """Copy the seed's files that `cache` lacks; return how many were copied.

    A file already there is kept: numba may have added entries to it (another CPU, a newer
    source). Each file is written beside its place and renamed, so a reader never sees half of it.
    A missing seed costs only the compile, so it is a warning, not an error.
    """
    if not seed.is_dir():
        log.warning("%s=%s: no such folder; the tokenizers are compiled on first use", SEED_ENV, seed)
        return 0
    copied = 0
    try:
        for source in seed.rglob("*"):
            target = cache / source.relative_to(seed)
            if source.is_dir() or target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
            shutil.copyfile(source, partial)
            os.replace(partial, target)
            copied += 1
    except OSError as exc:
        log.warning("copying the compiled tokenizers from %s to %s failed (%s); they are compiled on first use",
                    seed, cache, exc)
    return copied


def compile_tokenizers() -> dict[str, int]:
    """Compile every tokenizer into numba's cache folder, by tokenizing a sample line with each.

    Returns the number of functions each module's first call compiled or loaded.
    """
    import numpy as np

    from . import audit_tokenizer, nginx_tokenizer

    samples = {
        nginx_tokenizer: b'192.0.2.1 - - [17/Nov/2026:00:00:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0" '
                         b'80 0.001 [default-web-80] [] 10.0.0.1:80 5 0.001 200 0123456789abcdef0123456789abcdef\n',
        audit_tokenizer: b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a",'
                         b'"stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"},'
                         b'"sourceIPs":["192.0.2.1"],"responseStatus":{"code":200},'
                         b'"requestReceivedTimestamp":"2026-11-17T00:00:00.000000Z",'
                         b'"stageTimestamp":"2026-11-17T00:00:00.000001Z"}\n',
    }
    compiled = {}
    with tempfile.TemporaryDirectory() as tmp:
        for module, line in samples.items():
            # staging passes chunks both as files and as arrays in memory: the same compiled types,
            # but both are called here so that a difference would be compiled now, not in a pod
            chunk = Path(tmp) / "chunk"
            chunk.write_bytes(line)
            array = np.zeros(len(line) + 16, np.uint8)  # room after the text, as chunks.SLACK gives
            array[: len(line)] = np.frombuffer(line, np.uint8)
            for text in (chunk, array[: len(line)]):
                if module.tokenize_file(text, 1, 1).accepted != 1:
                    raise RuntimeError(f"{module.__name__} did not take its sample line")
            compiled[module.__name__.rsplit(".", 1)[-1]] = len(dispatchers(module))
    return compiled


def dispatchers(module) -> list:
    """The module's compiled numba functions that hold code (called at least once)."""
    from numba.core.dispatcher import Dispatcher

    return [f for f in vars(module).values() if isinstance(f, Dispatcher) and f.signatures]


def cache_misses(*modules) -> int:
    """How many compiled functions of these modules numba compiled rather than loaded, in this process."""
    return sum(sum(f.stats.cache_misses.values()) for m in modules for f in dispatchers(m))


def main() -> int:
    folder = os.environ.get("NUMBA_CACHE_DIR")
    if not folder:
        print("set NUMBA_CACHE_DIR to the folder the compiled tokenizers go to", file=sys.stderr)
        return 2
    for name, n in compile_tokenizers().items():
        print(f"{name}: {n} compiled functions in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
