-- Kubernetes API audit events, one Event per line: the fast path of k8s_audit.sql, for a chunk
-- file of single events. DuckDB's read_json parses straight from the file into columns, which
-- measured 1.9 us an event cheaper than read_csv + json_transform (5.3 -> 3.4 us, one core).
-- It cannot vouch for every line, so staging keeps its result only when it can check that
-- nothing was lost or rejected, and otherwise parses the chunk again with k8s_audit.sql:
-- - a malformed line, or a field of the wrong JSON type, fails the whole query;
-- - blank lines are skipped silently, so the row count must equal the chunk's line count
--   (that also makes row_number() the line number; one thread reads the file in order);
-- - it keeps no raw text, so a chunk with any reject (an EventList batch too) is redone.
-- Placeholders staging fills in: :chunk_path (a SQL string), :first_line and :line_limit (integers).
-- The columns are the STRUCT of k8s_audit.sql's json_transform, in DuckDB type syntax.
WITH events AS (
    SELECT
        row_number() OVER () + :first_line - 1 AS line,
        NULL::VARCHAR AS text,
        -- the row as one STRUCT, so the shared tail reads e.field as in k8s_audit.sql
        r AS e
    FROM read_json(:chunk_path, format = 'newline_delimited', maximum_object_size = :line_limit,
        columns = {
            'kind': 'VARCHAR', 'apiVersion': 'VARCHAR', 'level': 'VARCHAR', 'auditID': 'VARCHAR',
            'stage': 'VARCHAR', 'requestURI': 'VARCHAR', 'verb': 'VARCHAR',
            'user': 'STRUCT(username VARCHAR, groups VARCHAR[])',
            'impersonatedUser': 'STRUCT(username VARCHAR, groups VARCHAR[])',
            'sourceIPs': 'VARCHAR[]', 'userAgent': 'VARCHAR',
            'objectRef': 'STRUCT(resource VARCHAR, namespace VARCHAR, name VARCHAR, apiGroup VARCHAR, apiVersion VARCHAR, subresource VARCHAR)',
            'responseStatus': 'STRUCT(code INTEGER, reason VARCHAR)',
            'requestObject': 'JSON', 'responseObject': 'JSON',
            'requestReceivedTimestamp': 'VARCHAR', 'stageTimestamp': 'VARCHAR', 'timestamp': 'VARCHAR',
            'annotations': 'STRUCT("authorization.k8s.io/decision" VARCHAR, "authorization.k8s.io/reason" VARCHAR)'
        }) AS r
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
