"""Errors the CLI turns into documented exit codes (see DESIGN.md, "Exit codes")."""

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_VERIFY_FAILED = 1  # `verify`: a signature or hash did not check out
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
# `run --out s3://…`: the report was written locally but could not be published (a different
# report is already there for the period, or an upload failed or did not read back). Not 2,
# which promises nothing was written; not 1 or 3, which describe the audit's own result.
EXIT_PUBLISH = 4
# A bug, not a finding: Python's own exit 1 for an uncaught exception would read as "controls
# failed" (EX_SOFTWARE, from sysexits.h).
EXIT_INTERNAL = 70
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it


class IngressAuditError(Exception):
    """Base class: the message is one line a user can act on."""

    exit_code = EXIT_USAGE


class ConfigError(IngressAuditError):
    """Bad flags, dates, URLs, policy files, buckets or credentials: exit 2, nothing written."""

    exit_code = EXIT_USAGE
