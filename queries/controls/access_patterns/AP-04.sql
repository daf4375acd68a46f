-- AP-04: request-rate peak per client and cluster, over a sliding window of rate_window_minutes.
-- Requests are first counted per client and second (a log's time has at most that
-- resolution worth trusting), then the window slides over those seconds: the same answer
-- as sliding over every request, for a fraction of the sort.
WITH params AS (
    SELECT
        getvariable('rate_window_minutes') AS window_minutes,
        getvariable('request_rate_per_minute') * getvariable('rate_window_minutes') AS limit_in_window
),
per_client_total AS (  -- a client with fewer requests in the whole period cannot exceed the limit
    SELECT coalesce(cluster, '') AS cluster, client AS client_ip, count(*) AS requests_in_period
    FROM requests
    WHERE client IS NOT NULL  -- unknown clients are not one client
    GROUP BY ALL
    HAVING count(*) >= (SELECT limit_in_window FROM params)
),
per_second AS (
    SELECT coalesce(r.cluster, '') AS cluster, r.client AS client_ip, epoch_us(r.ts) // 1000000 AS second, count(*) AS requests
    FROM requests r
    SEMI JOIN per_client_total c ON c.client_ip = r.client AND c.cluster = coalesce(r.cluster, '')
    GROUP BY ALL
),
windowed AS (
    SELECT
        cluster, client_ip, second,
        sum(requests) OVER (
            PARTITION BY cluster, client_ip ORDER BY second
            RANGE BETWEEN CURRENT ROW AND (getvariable('rate_window_minutes') * 60 - 1) FOLLOWING
        ) AS requests_in_window
    FROM per_second
),
peaks AS (
    SELECT
        cluster,
        client_ip,
        max(requests_in_window)::BIGINT AS peak_requests,
        arg_max(second, requests_in_window) AS peak_second,
        count(*) FILTER (WHERE requests_in_window >= (SELECT limit_in_window FROM params)) AS seconds_over_limit
    FROM windowed
    GROUP BY cluster, client_ip
    HAVING max(requests_in_window) >= (SELECT limit_in_window FROM params)
),
described AS (
    SELECT
        p.cluster,
        p.client_ip,
        p.peak_requests,
        round(p.peak_requests / params.window_minutes, 1) AS peak_per_minute,
        to_timestamp(p.peak_second) AS peak_start,
        params.window_minutes AS window_minutes,
        c.requests_in_period
    FROM peaks p
    JOIN per_client_total c USING (cluster, client_ip)
    CROSS JOIN params
)
SELECT
    client_ip AS resource,
    format('{} sent {} requests within {} minute(s) from {} ({} per minute; limit {} per minute)',
           client_ip, peak_requests, window_minutes, strftime(peak_start AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S UTC'),
           peak_per_minute, getvariable('request_rate_per_minute')) AS reason,
    client_ip, peak_requests, peak_per_minute, peak_start, window_minutes, requests_in_period,
    nullif(cluster, '') AS cluster
FROM described
ORDER BY peak_per_minute DESC, client_ip, cluster
