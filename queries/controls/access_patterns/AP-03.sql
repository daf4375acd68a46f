-- AP-03: scanning, one client asking for many distinct paths that do not exist (404), judged
-- per cluster: two clusters are two front doors.
WITH not_found AS (
    SELECT
        coalesce(cluster, '') AS cluster,
        client AS client_ip,
        coalesce(host, upstream, '') AS site,  -- the default ingress-nginx format has no host
        path,
        ts
    FROM requests
    WHERE status = 404 AND client IS NOT NULL
),
per_client AS (
    SELECT
        cluster,
        client_ip,
        count(DISTINCT path) AS distinct_404_paths,
        count(*) AS requests_404,
        count(DISTINCT site) AS sites,
        list(DISTINCT nullif(site, '') ORDER BY nullif(site, ''))[1:5] AS sample_sites,
        list(DISTINCT path ORDER BY path)[1:10] AS sample_paths,
        min(ts) AS first_seen,
        max(ts) AS last_seen
    FROM not_found
    GROUP BY cluster, client_ip
    HAVING count(DISTINCT path) >= getvariable('scanning_distinct_404')
)
SELECT
    client_ip AS resource,
    format('{} requested {} distinct paths that do not exist (404) on {} site(s) between {} and {}',
           client_ip, distinct_404_paths, sites,
           strftime(first_seen AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M'),
           strftime(last_seen AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC')) AS reason,
    client_ip, distinct_404_paths, requests_404, sample_sites, sample_paths, first_seen, last_seen,
    nullif(cluster, '') AS cluster
FROM per_client
ORDER BY distinct_404_paths DESC, client_ip, cluster
