"""Webhooks at the end of `run`: a Slack-compatible message and/or a generic JSON POST.

The URLs are secrets (a Slack webhook URL is its own credential), so they come only from the
environment or from a file a mounted Secret provides, never from the policy file (which is
hashed into the report's evidence), and are never logged: messages name the host only.
`INGRESS_AUDIT_SLACK_WEBHOOK_URL` / `INGRESS_AUDIT_WEBHOOK_URL` win over their `…_FILE`
variants; a `…_FILE` that does not exist (an optional Secret that is absent) means "not set".

Log-derived text (object keys, error messages) is attacker-controlled: everything interpolated
into Slack mrkdwn is escaped (&, <, >), so a key like `<!channel>` cannot ping anyone or forge
a link. The generic payload is plain JSON, which json.dumps escapes.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

from . import delivery
from .errors import ConfigError
from .outcome import RunOutcome

log = logging.getLogger(__name__)

SCHEMA = "ingress-audit/notification/v1"
MAX_LISTED = 20  # failing controls listed in a message; the counts stay complete
MAX_UNREADABLE = 5


@dataclass(frozen=True)
class Webhook:
    kind: str  # "slack" or "json"
    url: str

    def __repr__(self) -> str:  # never the URL, even in a traceback's locals
        return f"Webhook({self.kind}, host={delivery.host_of(self.url)})"


_SETTINGS = (("slack", "INGRESS_AUDIT_SLACK_WEBHOOK_URL"), ("json", "INGRESS_AUDIT_WEBHOOK_URL"))


def webhooks_from_env(environ: dict[str, str] | None = None) -> list[Webhook]:
    """The configured webhooks; a malformed URL is a ConfigError (exit 2) that does not quote it."""
    env = os.environ if environ is None else environ
    hooks = []
    for kind, name in _SETTINGS:
        url, where = env.get(name, "").strip(), name
        if not url and env.get(f"{name}_FILE"):
            where = f"{name}_FILE"
            try:
                with open(env[where], encoding="utf-8") as fh:
                    url = fh.read().strip()
            except FileNotFoundError:
                log.debug("%s: the file does not exist: no %s webhook", where, kind)
                continue
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{where}: the file cannot be read ({type(exc).__name__})") from None
        if url:
            hooks.append(Webhook(kind, delivery.check_url(url, f"the {kind} webhook URL ({where})")))
    return hooks


def payload(outcome: RunOutcome) -> dict:
    """The generic JSON document (SCHEMA): what happened, what failed, where the report is."""
    findings = outcome.findings or {}
    coverage = findings.get("coverage") or {}
    staged = outcome.state.staged
    unreadable = [o for o in staged.errors] if staged is not None else []
    return {
        "schema": SCHEMA,
        "period": {"start": outcome.period.iso()[0], "end": outcome.period.iso()[1], "label": outcome.period.label()},
        "clusters": outcome.clusters,
        "outcome": "success" if outcome.success else "failure",
        "exit_code": outcome.exit_code,
        "error": outcome.error,
        "complete": outcome.complete,
        "coverage": {k: coverage[k] for k in ("objects", "records_read", "records_parsed", "records_rejected") if k in coverage},
        "unreadable_objects": {"count": len(unreadable),
                               "first": [{"object": o.object, "error": o.error} for o in unreadable[:MAX_UNREADABLE]]},
        "controls": {s: findings["summary"][s] for s in ("pass", "fail", "info", "error")} if findings else None,
        "failing_controls": [
            {"id": c["id"], "title": c["title"], "category": c["category"], "severity": c["severity"],
             "finding_count": c["finding_count"]}
            for c in outcome.failing_controls()
        ],
        "failing_at_or_above_fail_on": findings.get("summary", {}).get("failing_at_or_above_fail_on", []),
        "report": outcome.location,
    }


def escape_mrkdwn(text: object) -> str:
    """Slack's three control characters; & first, or the others' entities would be escaped twice."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def slack_message(outcome: RunOutcome) -> dict:
    """A Slack (or Mattermost, Rocket.Chat) incoming-webhook message: blocks, and text as fallback."""
    doc, e = payload(outcome), escape_mrkdwn
    state = "done" if doc["outcome"] == "success" else f"FAILED (exit {doc['exit_code']})"
    failing = doc["failing_controls"]
    headline = (f"ingress-audit {e(doc['period']['label'])} ({e(', '.join(doc['clusters']))}): {state}, "
                f"{len(failing)} failing control{'s' if len(failing) != 1 else ''}")
    facts = [f"*Period* {e(doc['period']['start'])} .. {e(doc['period']['end'])}"]
    if doc["complete"] is not None:
        facts.append("*Input* complete" if doc["complete"] else
                     f"*Input* INCOMPLETE: {doc['unreadable_objects']['count']} unreadable object(s)")
    if doc["error"]:
        facts.append(f"*Error* {e(doc['error'])}")
    facts.append(f"*Report* {e(doc['report'])}" if doc["report"] else "*Report* not written")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*\n" + "\n".join(facts)}}]
    if failing:
        ranked = sorted(failing, key=lambda c: (_SEVERITY_ORDER.get(c["severity"], 9), c["id"]))
        lines = [f"• `{e(c['id'])}` {e(c['severity'])}: {e(c['title'])} ({c['finding_count']})" for c in ranked[:MAX_LISTED]]
        if len(ranked) > MAX_LISTED:
            lines.append(f"… and {len(ranked) - MAX_LISTED} more (see the report)")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Failing controls*\n" + "\n".join(lines)}})
    if doc["unreadable_objects"]["first"]:
        lines = [f"• {e(o['object'])}: {e(o['error'])}" for o in doc["unreadable_objects"]["first"]]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Unreadable objects*\n" + "\n".join(lines)}})
    for block in blocks:  # Slack refuses a section text over 3000 characters
        block["text"]["text"] = block["text"]["text"][:3000]
    return {"text": headline, "blocks": blocks}


def send(hooks: list[Webhook], outcome: RunOutcome, budget: delivery.Budget | None = None) -> list[delivery.Outcome]:
    """POST to each webhook; a failure is logged in one line (host only) and never raised."""
    results = []
    for hook in hooks:
        body = slack_message(outcome) if hook.kind == "slack" else payload(outcome)
        result = delivery.post_json(hook.url, json.dumps(body).encode("utf-8"), budget)
        where = f"{hook.kind} webhook at {delivery.host_of(hook.url)}"
        if result.ok:
            log.info("notified the %s (%d attempt%s)", where, result.attempts, "" if result.attempts == 1 else "s")
        else:
            log.warning("could not notify the %s after %d attempt%s: %s", where, result.attempts,
                        "" if result.attempts == 1 else "s", result.reason)
        results.append(result)
    return results
