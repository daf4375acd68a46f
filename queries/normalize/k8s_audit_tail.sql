-- The part of the audit parsers after the parse: typing, the contract's columns and the
-- rejects. Not a query of its own: k8s_audit.sql and k8s_audit_fast.sql both end with
-- `-- include: k8s_audit_tail.sql` (formats.py inlines it), so a fix here reaches both.
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
        -- with k8s_audit.sql), there a batch without items or inside a batch
        WHEN e.kind = 'EventList' THEN 'an EventList with no items, or inside another EventList'
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
