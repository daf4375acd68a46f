-- Refused requests per hour: at the ingress (HTTP 401/403) and at the API server (401/403).
WITH refused AS (
    SELECT date_trunc('hour', ts) AS hour, 'ingress ' || status::VARCHAR AS kind
    FROM http_requests
    WHERE status IN (401, 403)
    UNION ALL
    SELECT date_trunc('hour', ts), 'API ' || response_code::VARCHAR
    FROM audit_events
    WHERE response_code IN (401, 403) AND stage = 'ResponseComplete'
)
SELECT hour, kind, count(*) AS requests
FROM refused
GROUP BY ALL
ORDER BY hour, kind;
