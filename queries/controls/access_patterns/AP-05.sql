-- AP-05: hours in which an upstream's (or host's) share of 4xx or of 5xx answers spiked, per cluster.
-- `status` is what the client got: a 502 that nginx retried into a 200 is a 200 (the retry
-- list is in upstream_status, which is not counted here).
WITH answered AS (
    SELECT
        coalesce(cluster, '') AS cluster,
        coalesce(upstream, '') AS upstream,
        coalesce(host, '') AS host,
        epoch_us(ts) // 3600000000 AS hour,  -- integer buckets (PERFORMANCE.md lesson 4)
        status
    FROM http_requests
    WHERE upstream IS NOT NULL OR host IS NOT NULL  -- garbage nginx refused itself has neither
),
per_hour AS (
    SELECT
        cluster, upstream, host, hour,
        count(*) AS requests,
        count(*) FILTER (WHERE status BETWEEN 400 AND 499) AS n_4xx,
        count(*) FILTER (WHERE status BETWEEN 500 AND 599) AS n_5xx,
        histogram(status) FILTER (WHERE status >= 400) AS error_statuses
    FROM answered
    GROUP BY ALL
    HAVING count(*) >= getvariable('error_min_requests')
),
per_class AS (  -- 4xx (clients refused) and 5xx (the service failing) are judged apart
    SELECT cluster, upstream, host, hour, requests, '5xx' AS status_class, n_5xx AS errors, error_statuses FROM per_hour
    UNION ALL
    SELECT cluster, upstream, host, hour, requests, '4xx', n_4xx, error_statuses FROM per_hour
),
spikes AS (
    SELECT
        cluster, upstream, host, status_class, requests, errors,
        round(100.0 * errors / requests, 1) AS error_percent,
        map_from_entries(list_filter(map_entries(error_statuses),
                         lambda e: e.key // 100 = (CASE status_class WHEN '5xx' THEN 5 ELSE 4 END))) AS statuses,
        to_timestamp(hour * 3600) AS hour_start
    FROM per_class
    WHERE 100.0 * errors / requests >= getvariable('error_rate_percent')
)
SELECT
    CASE WHEN upstream <> '' THEN upstream ELSE host END AS resource,
    format('{}% of {} requests to {} were answered with {} between {} and {}:00 UTC ({} errors)',
           error_percent, requests, CASE WHEN upstream <> '' THEN upstream ELSE host END, status_class,
           strftime(hour_start AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M'),
           strftime((hour_start + INTERVAL 1 HOUR) AT TIME ZONE 'UTC', '%H'), errors) AS reason,
    nullif(upstream, '') AS upstream,
    nullif(host, '') AS host,
    status_class, hour_start, requests, errors, error_percent, statuses::VARCHAR AS statuses,
    nullif(cluster, '') AS cluster
FROM spikes
ORDER BY status_class DESC, error_percent DESC, hour_start, cluster, upstream, host
