"""Where numba keeps the tokenizers it compiles, and compiling them for the types staging uses.

numba compiles a tokenizer on its first use (nginx ~6 s, audit ~11 s of one core here) and keeps
the machine code in a cache folder, beside the module or in NUMBA_CACHE_DIR. It uses only a
folder it can write (it checks by creating a file there): where the package folder is read-only,
that is $TMPDIR/ingress-audit-numba. The container image needs neither: it carries the kernels
built ahead of time (tokenizer_aot), and then numba is not even imported.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def choose_cache_folder() -> None:
    """Point numba at a cache folder it can write. Call before importing numba: it reads
    NUMBA_CACHE_DIR when imported."""
    package = os.path.dirname(__file__)
    if "NUMBA_CACHE_DIR" not in os.environ and not os.access(package, os.W_OK):
        os.environ["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), "ingress-audit-numba")


def compile_tokenizers() -> None:
    """Compile every tokenizer (or load it from numba's cache) by tokenizing a sample line with each,
    for the argument types staging passes."""
    from . import audit_tokenizer, chunks, nginx_tokenizer

    samples = {
        nginx_tokenizer: b'192.0.2.1 - - [17/Nov/2026:00:00:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0" '
                         b'80 0.001 [default-web-80] [] 10.0.0.1:80 5 0.001 200 0123456789abcdef0123456789abcdef\n',
        audit_tokenizer: b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a",'
                         b'"stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"},'
                         b'"sourceIPs":["192.0.2.1"],"responseStatus":{"code":200},'
                         b'"requestReceivedTimestamp":"2026-11-17T00:00:00.000000Z",'
                         b'"stageTimestamp":"2026-11-17T00:00:00.000001Z"}\n',
    }
    with tempfile.TemporaryDirectory() as tmp:
        for module, line in samples.items():
            # staging passes chunks both as files and as arrays in memory: the same compiled types,
            # but both are called here so that a difference would show now (two signatures)
            chunk = Path(tmp) / "chunk"
            chunk.write_bytes(line)
            for text in (chunk, chunks.text_chunk(line)):
                if module.tokenize_file(text, 1, 1).accepted != 1:
                    raise RuntimeError(f"{module.__name__} did not take its sample line")
