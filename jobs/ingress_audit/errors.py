"""Errors the CLI turns into documented exit codes (see DESIGN.md, "Exit codes")."""

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3


class IngressAuditError(Exception):
    """Base class: the message is one line a user can act on."""

    exit_code = EXIT_USAGE


class ConfigError(IngressAuditError):
    """Bad flags, dates, URLs, policy files, buckets or credentials: exit 2, nothing written."""

    exit_code = EXIT_USAGE
