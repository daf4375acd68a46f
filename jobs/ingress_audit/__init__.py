"""ingress-audit: weekly compliance audit of Kubernetes ingress traffic and API audit logs."""

import os

__version__ = "0.1.0"

# numpy's OpenBLAS starts a thread per core that spins after start-up; the job makes no BLAS calls
# and wants both cores for staging. Set before any module imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
