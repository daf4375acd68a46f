-- AP-02: restricted hosts, paths or upstreams served to clients outside the trusted networks.
-- A refusal (403 from whitelist-source-range, 401 from auth) is the door working: only
-- requests that were answered (1xx upgrade, 2xx, 3xx) count. Judged per cluster.
WITH restricted AS (
    SELECT
        coalesce(cluster, '') AS cluster,
        client AS client_ip,  -- the address behind trusted proxies (requests view)
        host,
        upstream,
        path,
        status,
        ts,
        coalesce(is_restricted_path(path), false) AS on_restricted_path
    FROM requests
    WHERE status BETWEEN 100 AND 399
      -- the default ingress-nginx format logs no host: the upstream names the site then
      AND (coalesce(is_restricted_host(host), false)
           OR coalesce(is_restricted_path(path), false)
           OR coalesce(is_restricted_upstream(upstream), false))
),
untrusted_clients AS (  -- trust is judged once per distinct address, not per row
    SELECT c.client_ip
    FROM (SELECT DISTINCT client_ip FROM restricted) c
    LEFT JOIN ip_trust t ON t.ip = c.client_ip
    WHERE NOT coalesce(t.trusted, false)  -- an address missing or not parsing is not trusted
),
served AS (
    SELECT r.*
    FROM restricted r
    SEMI JOIN untrusted_clients u ON u.client_ip IS NOT DISTINCT FROM r.client_ip
),
per_client AS (
    SELECT
        cluster,
        client_ip,
        coalesce(host, '') AS host,
        coalesce(upstream, '') AS upstream,
        count(*) AS requests,
        count(*) FILTER (WHERE on_restricted_path) AS restricted_path_requests,
        count(DISTINCT path) AS distinct_paths,
        list(DISTINCT path ORDER BY path)[1:10] AS sample_paths,
        string_agg(DISTINCT status::VARCHAR, ', ' ORDER BY status::VARCHAR) AS statuses,
        min(ts) AS first_seen,
        max(ts) AS last_seen
    FROM served
    GROUP BY ALL
)
SELECT
    coalesce(client_ip, '(client not logged)') AS resource,
    format('{} requests from {}, outside the trusted networks, were served by {} ({} on restricted paths; status {})',
           requests, coalesce(client_ip, 'an unlogged client address'),
           CASE WHEN host <> '' THEN host ELSE 'upstream ' || upstream END,
           restricted_path_requests, statuses) AS reason,
    client_ip,
    nullif(host, '') AS host,
    nullif(upstream, '') AS upstream,
    requests, restricted_path_requests, distinct_paths, sample_paths, statuses, first_seen, last_seen,
    nullif(cluster, '') AS cluster
FROM per_client
ORDER BY requests DESC, client_ip, cluster
