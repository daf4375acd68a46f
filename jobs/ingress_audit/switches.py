"""On/off settings read from the environment, one spelling for all of them.

INGRESS_AUDIT_TOKENIZER, INGRESS_AUDIT_S3_PATH_STYLE and INGRESS_AUDIT_S3_ETAG_MD5 take 1/0,
true/false, yes/no or on/off, in any case. Any other value is refused with a one-line error
(exit 2), not read as "off": a typo must not quietly change how a run behaves.
"""

from __future__ import annotations

import os

from .errors import ConfigError

_ON = {"1", "true", "yes", "on"}
_OFF = {"0", "false", "no", "off"}


def env_switch(name: str, default: bool) -> bool:
    """The setting `name`: on or off, or `default` when it is unset or empty."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise ConfigError(f"{name}={os.environ[name]!r} is neither on nor off (1/0, true/false, yes/no, on/off)")
