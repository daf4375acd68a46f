-- Kubernetes API audit events, audit.k8s.io/v1 and v1beta1, as the API server writes them:
-- one Event per line (log backend; older servers also set the legacy `timestamp`), or one
-- EventList per line (webhook backend batches, as archived by the receiving service).
-- Input: raw(line BIGINT, text VARCHAR). Output: audit_events columns plus reject_reason; every
-- event of a batch carries the batch's line number.
-- Each document is parsed once into a STRUCT (json_transform) rather than once per field with
-- json_extract_string: that is what made audit staging fast in PERFORMANCE.md.
WITH docs AS (
    SELECT
        line,
        text,
        json_valid(text) AS is_json
    FROM raw
),
batches AS (
    SELECT
        line,
        -- guarded: the optimizer may evaluate this before the WHERE below
        CASE WHEN is_json THEN json_transform(text, '{"kind": "VARCHAR", "items": ["JSON"]}') END AS doc,
        text
    FROM docs
    WHERE is_json
),
documents AS (
    -- a plain Event (or anything else that is JSON): judged below
    SELECT line, text, text AS event_text
    FROM batches
    WHERE doc.kind IS DISTINCT FROM 'EventList'
    UNION ALL
    -- an EventList: one row per item; a rejected item keeps its own JSON as raw text
    SELECT line, item::VARCHAR AS text, item::VARCHAR AS event_text
    FROM (SELECT line, unnest(doc.items) AS item FROM batches WHERE doc.kind = 'EventList')
    UNION ALL
    SELECT line, text, NULL AS event_text
    FROM docs
    WHERE NOT is_json
),
events AS (
    SELECT
        line,
        text,
        event_text IS NOT NULL AS is_json,
        json_transform(event_text, '{
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
            "annotations": {"authorization.k8s.io/decision": "VARCHAR", "authorization.k8s.io/reason": "VARCHAR"}
        }') AS e
    FROM documents
),
typed AS (
    SELECT
        line,
        text,
        is_json,
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
        WHEN NOT is_json THEN 'not JSON'
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
