-- AP-06: content served over plain http to hosts that must use TLS. Only formats that log
-- the scheme can tell (tls NULL means unknown and is not judged). A redirect is the door
-- sending the client to https: it is not content. One row per cluster and host.
WITH plaintext AS (
    SELECT coalesce(cluster, '') AS cluster, host, upstream, path, status, ts
    FROM http_requests
    WHERE tls = false
      AND status BETWEEN 100 AND 399
      AND status NOT IN (301, 302, 303, 307, 308)
),
not_allowed AS (
    SELECT *
    FROM plaintext
    WHERE NOT coalesce(is_plaintext_allowed_host(host), false)  -- a NULL host is not excepted
),
per_host AS (
    SELECT
        cluster,
        coalesce(host, '') AS host,
        string_agg(DISTINCT upstream, ', ' ORDER BY upstream) AS upstreams,
        count(*) AS requests,
        count(DISTINCT path) AS distinct_paths,
        list(DISTINCT path ORDER BY path)[1:10] AS sample_paths,
        string_agg(DISTINCT status::VARCHAR, ', ' ORDER BY status::VARCHAR) AS statuses,
        min(ts) AS first_seen,
        max(ts) AS last_seen
    FROM not_allowed
    GROUP BY 1, 2
)
SELECT
    coalesce(nullif(host, ''), '(host not logged)') AS resource,
    format('{} requests to {} were answered with content over plain http (status {}) between {} and {}',
           requests, coalesce(nullif(host, ''), 'an unlogged host'), statuses,
           strftime(first_seen AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M'),
           strftime(last_seen AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC')) AS reason,
    nullif(host, '') AS host,
    upstreams,
    requests, distinct_paths, sample_paths, statuses, first_seen, last_seen,
    nullif(cluster, '') AS cluster
FROM per_host
ORDER BY requests DESC, host, cluster
