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
    -- does not materialize it for a UNION
    SELECT line, text, e, unnest(CASE WHEN e.kind = 'EventList' THEN e.items ELSE [NULL::JSON] END) AS item
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
-- ---- shared tail: identical in k8s_audit.sql and k8s_audit_fast.sql (a test checks) ----
typed AS (
    SELECT
        line,
        text,
        e,
        -- v1beta1 servers also wrote `timestamp`; some old events only have it
        try_cast(coalesce(e.requestReceivedTimestamp, e."timestamp") AS TIMESTAMPTZ) AS ts,
        try_cast(coalesce(e.stageTimestamp, e."timestamp", e.requestReceivedTimestamp) AS TIMESTAMPTZ) AS stage_ts
    FROM events
)
SELECT
    line,
    text,
    CASE
        -- a batch left over: any batch line in k8s_audit_fast.sql (staging then re-parses the chunk
        -- with this file), here only a batch inside a batch
        WHEN e.kind = 'EventList' THEN 'an EventList where single events were expected'
        -- json_valid only for the rows the one parse could not read: it names the reason
        WHEN e IS NULL THEN CASE WHEN json_valid(text) THEN 'JSON but not an object' ELSE 'not JSON' END
        WHEN e.kind IS DISTINCT FROM 'Event' AND (e.auditID IS NULL OR e.verb IS NULL)
            THEN 'JSON but not a Kubernetes audit Event (kind ' || coalesce(e.kind, 'missing') || ')'
        WHEN e.apiVersion IS NOT NULL AND e.apiVersion NOT LIKE 'audit.k8s.io/%'
            THEN 'unsupported apiVersion ' || e.apiVersion
        WHEN ts IS NULL THEN 'no readable requestReceivedTimestamp or timestamp'
    END AS reject_reason,
    ts,
    stage_ts,
    e.auditID AS audit_id,
    e.stage AS stage,
    e.level AS level,
    e.verb AS verb,
    coalesce(e.impersonatedUser.username, e.user.username) AS "user",
    coalesce(e.impersonatedUser.groups, e.user.groups) AS groups,
    e.sourceIPs[1] AS source_ip,
    e.sourceIPs AS source_ips,
    e.userAgent AS user_agent,
    e.objectRef.resource AS resource,
    e.objectRef.subresource AS subresource,
    coalesce(e.objectRef.apiGroup, '') AS api_group,
    e.objectRef.apiVersion AS api_version,
    e.objectRef.namespace AS namespace,
    e.objectRef.name AS name,
    e.requestURI AS request_uri,
    e.responseStatus.code AS response_code,
    e.annotations."authorization.k8s.io/decision" AS decision,
    coalesce(nullif(e.annotations."authorization.k8s.io/reason", ''), e.responseStatus.reason) AS reason,
    e.requestObject AS request_object,
    e.responseObject AS response_object,
    CASE WHEN e.impersonatedUser.username IS NOT NULL THEN e.user.username END AS impersonated_by
FROM typed
