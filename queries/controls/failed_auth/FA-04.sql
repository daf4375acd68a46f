-- FA-04: requests the Kubernetes API server refused for lack of valid credentials (401), per
-- source address, judged per cluster: each cluster has its own API server, and N/2 refusals at
-- each is no burst at either. A failed authentication names no user ("user":{}) and may be
-- logged only at stage ResponseStarted: one request is one (cluster, audit_id), whatever stages
-- it has.
WITH unauthorized AS (
    SELECT audit_id, source_ip, coalesce(cluster, '') AS cluster, user_agent, verb, resource, request_uri, ts
    FROM audit_events
    WHERE response_code = 401
),
requests_401 AS (  -- dedupe the stages of one request
    SELECT
        cluster,
        audit_id,
        any_value(coalesce(source_ip, '')) AS source_ip,
        any_value(user_agent) AS user_agent,
        any_value(coalesce(resource, split_part(request_uri, '?', 1))) AS target,
        min(ts) AS ts
    FROM unauthorized
    GROUP BY cluster, audit_id
),
per_source AS (
    SELECT
        cluster,
        source_ip,
        count(*) AS unauthorized_requests,
        count(DISTINCT target) AS distinct_targets,
        list(DISTINCT target ORDER BY target)[1:10] AS sample_targets,
        list(DISTINCT user_agent ORDER BY user_agent)[1:3] AS user_agents,
        min(ts) AS first_seen,
        max(ts) AS last_seen
    FROM requests_401
    GROUP BY cluster, source_ip
    HAVING count(*) >= getvariable('api_unauthorized_per_source')
)
SELECT
    coalesce(nullif(source_ip, ''), '(no source address)') AS resource,
    format('The API server refused {} requests from {} with 401 (no valid credentials) between {} and {}',
           unauthorized_requests, coalesce(nullif(source_ip, ''), 'an unlogged address'),
           strftime(first_seen AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M'),
           strftime(last_seen AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC')) AS reason,
    nullif(source_ip, '') AS source_ip,
    nullif(cluster, '') AS cluster, unauthorized_requests, distinct_targets, sample_targets, user_agents, first_seen,
    last_seen
FROM per_source
ORDER BY unauthorized_requests DESC, source_ip, cluster
