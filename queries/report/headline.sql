-- The executive summary's figures: one row.
WITH http AS (
    SELECT
        count(*) AS requests,
        count(DISTINCT client) AS clients,
        count(DISTINCT host) AS hosts,
        count(*) FILTER (WHERE status IN (401, 403)) AS denied_requests,
        count(*) FILTER (WHERE status >= 500) AS server_errors
    FROM requests
),
api AS (
    SELECT
        count(*) AS audit_events,
        count(DISTINCT "user") AS api_users,
        count(*) FILTER (WHERE response_code IN (401, 403)) AS denied_api_requests,
        count(*) FILTER (WHERE verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
                           AND coalesce(response_code, 0) < 400) AS api_changes
    FROM audit_events
    -- one row per request: the log backend writes a row per stage
    WHERE stage = 'ResponseComplete'
)
SELECT * FROM http, api;
