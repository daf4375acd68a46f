"""The normalized tables engineers query: names, types and one line of meaning per column.

This module is the single source of truth: staging casts to these types, `ingress-audit schema`
prints them, and a test checks that README.md documents every column.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    meaning: str


@dataclass(frozen=True)
class Table:
    name: str
    meaning: str
    columns: tuple[Column, ...]

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


_OBJECT = Column("object", "VARCHAR", "the archive object the record came from, as listed (s3://… URL or file path)")
_LINE = Column("line", "BIGINT", "1-based line number of the record within its object")

HTTP_REQUESTS = Table(
    "http_requests",
    "one row per request logged by an ingress controller or load balancer",
    (
        Column("ts", "TIMESTAMPTZ", "when the request was logged, in UTC whatever offset the log used"),
        Column("cluster", "VARCHAR", "the --source label the object came from (default: 'default')"),
        Column("source_kind", "VARCHAR", "the log format: ingress-nginx, nginx-custom, nginx-json, traefik-json, traefik-clf, aws-alb"),
        Column("client_ip", "VARCHAR", "the client address as the controller saw it, without a port"),
        Column("remote_user", "VARCHAR", "the HTTP basic-auth user, NULL when '-'"),
        Column("method", "VARCHAR", "HTTP method as sent (may be garbage on malformed requests)"),
        Column("host", "VARCHAR", "the requested host (Host header / SNI) when the format logs it"),
        Column("path", "VARCHAR", "request path as logged (not URL-decoded), without the query string"),
        Column("query", "VARCHAR", "the query string without the leading '?', NULL when absent"),
        Column("protocol", "VARCHAR", "HTTP version, e.g. HTTP/1.1, HTTP/2.0"),
        Column("status", "INTEGER", "HTTP status returned to the client"),
        Column("bytes_sent", "BIGINT", "response body bytes sent to the client"),
        Column("request_length", "BIGINT", "request bytes received (line, headers and body) when logged"),
        Column("duration_s", "DOUBLE", "total request time in seconds"),
        Column("referer", "VARCHAR", "Referer header, NULL when '-'"),
        Column("user_agent", "VARCHAR", "User-Agent header, NULL when '-'"),
        Column("upstream", "VARCHAR", "the backend: ingress-nginx proxy_upstream_name (namespace-service-port), Traefik service, ALB target group"),
        Column("upstream_addr", "VARCHAR", "backend address(es) tried, comma-separated on retries"),
        Column("upstream_status", "VARCHAR", "backend status(es), comma-separated on retries"),
        Column("request_id", "VARCHAR", "the controller's request id / trace id"),
        Column("tls", "BOOLEAN", "true for HTTPS, false for plaintext, NULL when the format does not tell"),
        Column("forwarded_for", "VARCHAR", "X-Forwarded-For as logged, NULL when the format does not log it"),
        _OBJECT,
        _LINE,
    ),
)

AUDIT_EVENTS = Table(
    "audit_events",
    "one row per Kubernetes API audit event (audit.k8s.io v1 / v1beta1)",
    (
        Column("ts", "TIMESTAMPTZ", "when the API server received the request (requestReceivedTimestamp), UTC"),
        Column("cluster", "VARCHAR", "the --source label the object came from"),
        Column("stage_ts", "TIMESTAMPTZ", "when the event's stage was reached (stageTimestamp), UTC"),
        Column("audit_id", "VARCHAR", "auditID: shared by the stages of one request"),
        Column("stage", "VARCHAR", "RequestReceived, ResponseStarted, ResponseComplete or Panic"),
        Column("level", "VARCHAR", "audit level: Metadata, Request or RequestResponse"),
        Column("verb", "VARCHAR", "get, list, watch, create, update, patch, delete, deletecollection …"),
        Column("user", "VARCHAR", "the authenticated username (the impersonated user when impersonation was used)"),
        Column("groups", "VARCHAR[]", "the user's groups"),
        Column("source_ip", "VARCHAR", "the first of sourceIPs: the client as the API server saw it"),
        Column("source_ips", "VARCHAR[]", "all sourceIPs (X-Forwarded-For chain, then the peer)"),
        Column("user_agent", "VARCHAR", "the client's User-Agent"),
        Column("resource", "VARCHAR", "objectRef.resource, e.g. ingresses, secrets, pods"),
        Column("subresource", "VARCHAR", "objectRef.subresource, e.g. exec, status"),
        Column("api_group", "VARCHAR", "objectRef.apiGroup ('' for the core group)"),
        Column("api_version", "VARCHAR", "objectRef.apiVersion"),
        Column("namespace", "VARCHAR", "objectRef.namespace"),
        Column("name", "VARCHAR", "objectRef.name"),
        Column("request_uri", "VARCHAR", "requestURI"),
        Column("response_code", "INTEGER", "responseStatus.code"),
        Column("decision", "VARCHAR", "authorization.k8s.io/decision annotation: allow or forbid"),
        Column("reason", "VARCHAR", "authorization.k8s.io/reason annotation, else responseStatus.reason"),
        Column("request_object", "JSON", "requestObject when the audit level logged it (Request, RequestResponse)"),
        Column("response_object", "JSON", "responseObject when the audit level logged it (RequestResponse)"),
        Column("impersonated_by", "VARCHAR", "the real user when the request used impersonation, else NULL"),
        _OBJECT,
        _LINE,
    ),
)

REJECTS = Table(
    "rejects",
    "every record read that could not be parsed, with the reason; nothing read is dropped silently",
    (
        Column("object", "VARCHAR", "the archive object the record came from"),
        Column("line", "BIGINT", "1-based line number within the object"),
        Column("source_kind", "VARCHAR", "the format the object was read as"),
        Column("reason", "VARCHAR", "why the record was rejected"),
        Column("raw", "VARCHAR", "the record's text, truncated to 2,000 characters"),
    ),
)



RAW_TRUNCATE = 2000

OBJECTS = Table(
    "objects",
    "one row per archive object considered for the period: what it was read as and what came of it",
    (
        Column("object", "VARCHAR", "the object's URL or path as listed"),
        Column("cluster", "VARCHAR", "the --source label"),
        Column("source_kind", "VARCHAR", "the format it was sniffed as, NULL when unreadable or unclassified"),
        Column("size", "BIGINT", "bytes as stored"),
        Column("sha256", "VARCHAR", "SHA-256 of the bytes as stored (before gunzip)"),
        Column("records_read", "BIGINT", "non-blank records read (= records_parsed + records_rejected)"),
        Column("records_parsed", "BIGINT", "records that became rows of http_requests or audit_events"),
        Column("records_rejected", "BIGINT", "records that went to rejects"),
        Column("records_outside_period", "BIGINT", "parsed records whose own timestamp lies outside the period"),
        Column("error", "VARCHAR", "why the object could not be read (corrupt gzip, access denied …), else NULL"),
    ),
)

TABLES = (HTTP_REQUESTS, AUDIT_EVENTS, REJECTS, OBJECTS)
