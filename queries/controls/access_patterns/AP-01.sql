-- AP-01: traffic summary per cluster and host (and source kind), one row each.
WITH requests AS (
    SELECT coalesce(cluster, '') AS cluster, coalesce(host, '(not logged)') AS host, source_kind, client_ip, status, ts
    FROM http_requests
),
per_host AS (
    SELECT
        cluster,
        host,
        string_agg(DISTINCT source_kind, ', ' ORDER BY source_kind) AS source_kinds,
        count(*) AS requests,
        count(DISTINCT client_ip) AS clients,
        round(100.0 * count(*) FILTER (WHERE status BETWEEN 400 AND 499) / count(*), 2) AS pct_4xx,
        round(100.0 * count(*) FILTER (WHERE status >= 500) / count(*), 2) AS pct_5xx,
        min(ts) AS first_seen,
        max(ts) AS last_seen
    FROM requests
    GROUP BY cluster, host
)
SELECT
    host AS resource,
    format('{} requests from {} clients ({}% 4xx, {}% 5xx)', requests, clients, pct_4xx, pct_5xx) AS reason,
    host, source_kinds, requests, clients, pct_4xx, pct_5xx, first_seen, last_seen,
    nullif(cluster, '') AS cluster
FROM per_host
ORDER BY requests DESC, cluster, host
