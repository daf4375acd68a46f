# syntax=docker/dockerfile:1
# The ingress-audit image: the CLI on Python 3.11 (Debian 12 bookworm), WeasyPrint's native
# libraries and fonts, nothing to build with. Runs as UID/GID 10001 on a read-only root
# filesystem (cronjob.yaml).
#
#   docker build -t ghcr.io/example/ingress-audit:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp --tmpfs /var/cache/ingress-audit:uid=10001,gid=10001 \
#     -v "$PWD/sample_data:/data:ro" ghcr.io/example/ingress-audit:0.1.0 run --source /data/archive \
#     --from 2026-11-16 --to 2026-11-23 --policy /data/policy.yaml --out /tmp/report
#
# Python packages are pinned by constraints.txt (`make constraints` regenerates it from a venv
# where the tests passed); the base image by tag. Pin it by digest for reproducible builds:
#   FROM python:3.11-slim-bookworm@sha256:…

# --- builder: a venv with the package and its pinned dependencies --------------------------------
FROM python:3.11-slim-bookworm AS builder
# Compilers live here only. Every pinned package has a manylinux wheel for amd64 today; one that
# lacks a wheel for the target platform is compiled here, never in the final image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
WORKDIR /src
# The dependencies first, in their own layer: it changes only with constraints.txt.
COPY constraints.txt ./
RUN /opt/venv/bin/pip install --prefer-binary --requirement constraints.txt
COPY pyproject.toml README.md ./
COPY jobs/ jobs/
COPY queries/ queries/
COPY report_templates/ report_templates/
# Not editable: the wheel carries queries/ and report_templates/ inside the package.
RUN /opt/venv/bin/pip install --constraint constraints.txt . \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/ingress-audit --version
# The tokenizers' kernels compiled ahead of time into the package (numba.pycc, with this stage's C
# compiler and the setuptools a Python 3.11 venv comes with; ~30 s): a run then never imports numba, which costs ~0.5 s of CPU holding the GIL
# (jobs/ingress_audit/tokenizer_aot.py). Built for a generic x86-64 CPU: any node runs them.
RUN NUMBA_CACHE_DIR=/tmp/numba-build /opt/venv/bin/python -m ingress_audit.tokenizer_aot \
 && rm -rf /tmp/numba-build

# --- the image --------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
# WeasyPrint loads Pango, HarfBuzz (and its subsetter, for embedding fonts in the PDF) and
# fontconfig at run time. DejaVu covers Latin, Greek and Cyrillic; Noto CJK the Chinese, Japanese
# and Korean that log values carry. fc-cache now: at run time the system font cache is read-only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 \
      fontconfig fonts-dejavu-core fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/* \
 && fc-cache -f
RUN groupadd --system --gid 10001 ingress-audit \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin ingress-audit
COPY --from=builder /opt/venv /opt/venv
# Fail the build, not a pod, if the compiled kernels do not load here
RUN /opt/venv/bin/python -c "from ingress_audit import tokenizer_support as t; assert t.KERNELS, 'kernels not built'"
# The root filesystem is read-only in the pod: everything that writes is pointed at /tmp or the
# cache (both emptyDirs in cronjob.yaml). HOME too: boto3 and fontconfig look under it.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/cache \
    INGRESS_AUDIT_CACHE=/var/cache/ingress-audit
RUN mkdir -p /var/cache/ingress-audit && chown 10001:10001 /var/cache/ingress-audit
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["ingress-audit"]
CMD ["--help"]
LABEL org.opencontainers.image.title="ingress-audit" \
      org.opencontainers.image.description="Weekly compliance audit of Kubernetes ingress access logs and API audit logs" \
      org.opencontainers.image.licenses="Apache-2.0"
