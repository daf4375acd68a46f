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
-- include: k8s_audit_tail.sql
