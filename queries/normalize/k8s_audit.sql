-- Kubernetes API audit events, audit.k8s.io/v1 and v1beta1, as the API server writes them:
-- one Event per line (log backend; older servers also set the legacy `timestamp`), or one
-- EventList per line (webhook backend batches, as archived by the receiving service).
-- Input: raw(line BIGINT, text VARCHAR). Output: audit_events columns plus reject_reason; every
-- event of a batch carries the batch's line number.
-- Each line is parsed once into a STRUCT (json_transform) rather than once per field with
-- json_extract_string: that is what made audit staging fast in PERFORMANCE.md. A batch's items
-- are parsed a second time, from the JSON the first parse kept.
-- This is the exact parser: any line, any reject with its reason. Staging first tries the faster
-- k8s_audit_fast.sql on a chunk of single events and comes back here when that cannot vouch for
-- every line.
-- No json_valid pass before the parse (it cost as much as half the parse): try() turns a
-- malformed line into a NULL STRUCT, and only those rows are validated, to name the reason.
WITH parsed AS (
    SELECT line, text, try(json_transform(text, '{
            "kind": "VARCHAR", "apiVersion": "VARCHAR", "level": "VARCHAR", "auditID": "VARCHAR",
            "stage": "VARCHAR", "requestURI": "VARCHAR", "verb": "VARCHAR",
            "user": {"username": "VARCHAR", "groups": ["VARCHAR"]},
            "impersonatedUser": {"username": "VARCHAR", "groups": ["VARCHAR"]},
            "sourceIPs": ["VARCHAR"], "userAgent": "VARCHAR",
            "objectRef": {"resource": "VARCHAR", "namespace": "VARCHAR", "name": "VARCHAR",
                          "apiGroup": "VARCHAR", "apiVersion": "VARCHAR", "subresource": "VARCHAR"},
            "responseStatus": {"code": "INTEGER", "reason": "VARCHAR"},
            "requestObject": "JSON", "responseObject": "JSON",
            "requestReceivedTimestamp": "VARCHAR", "stageTimestamp": "VARCHAR", "timestamp": "VARCHAR",
            "annotations": {"authorization.k8s.io/decision": "VARCHAR", "authorization.k8s.io/reason": "VARCHAR"},
            "items": ["JSON"]
        }')) AS e
    FROM raw
),
items AS (
    -- an EventList yields its items, anything else itself: one reference to `parsed`, so DuckDB
    -- does not materialize it for a UNION. A batch without items is itself (a reject in the tail):
    -- unnesting nothing would drop its line without a trace.
    SELECT line, text, e,
        unnest(CASE WHEN e.kind = 'EventList' AND len(e.items) > 0 THEN e.items ELSE [NULL::JSON] END) AS item
    FROM parsed
),
events AS (
    SELECT
        line,
        -- a rejected item of a batch keeps its own JSON as its raw text
        CASE WHEN item IS NULL THEN text ELSE item::VARCHAR END AS text,
        -- the same STRUCT as above, spelled out again: json_transform needs a constant, and
        -- parsing every line through one shared step (unnest of [text]) measured twice as slow
        CASE WHEN item IS NULL THEN e ELSE json_transform(item, '{
            "kind": "VARCHAR", "apiVersion": "VARCHAR", "level": "VARCHAR", "auditID": "VARCHAR",
            "stage": "VARCHAR", "requestURI": "VARCHAR", "verb": "VARCHAR",
            "user": {"username": "VARCHAR", "groups": ["VARCHAR"]},
            "impersonatedUser": {"username": "VARCHAR", "groups": ["VARCHAR"]},
            "sourceIPs": ["VARCHAR"], "userAgent": "VARCHAR",
            "objectRef": {"resource": "VARCHAR", "namespace": "VARCHAR", "name": "VARCHAR",
                          "apiGroup": "VARCHAR", "apiVersion": "VARCHAR", "subresource": "VARCHAR"},
            "responseStatus": {"code": "INTEGER", "reason": "VARCHAR"},
            "requestObject": "JSON", "responseObject": "JSON",
            "requestReceivedTimestamp": "VARCHAR", "stageTimestamp": "VARCHAR", "timestamp": "VARCHAR",
            "annotations": {"authorization.k8s.io/decision": "VARCHAR", "authorization.k8s.io/reason": "VARCHAR"},
            "items": ["JSON"]
        }') END AS e
    FROM items
),
-- include: k8s_audit_tail.sql
