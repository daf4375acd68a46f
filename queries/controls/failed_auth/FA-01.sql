-- FA-01: brute force, N failed logins from one client within a sliding window, judged per
-- cluster: two clusters are two front doors, and N/2 failures at each is no burst at either.
WITH failures AS (
    SELECT
        coalesce(cluster, '') AS cluster,
        client AS client_ip,
        coalesce(host, '') AS host,
        path,
        ts,
        epoch_us(ts) AS t_us  -- integer time: window frames over BIGINT avoid ICU (PERFORMANCE.md)
    FROM requests  -- http_requests plus `client`, seen through trusted proxies
    WHERE status IN (401, 403) AND is_login_path(path)
),
windowed AS (
    SELECT
        cluster, client_ip, host, path, ts,
        count(*) OVER (
            PARTITION BY cluster, client_ip, host, path ORDER BY t_us
            RANGE BETWEEN CURRENT ROW AND (getvariable('brute_force_window_minutes')::BIGINT * 60000000 - 1) FOLLOWING
        ) AS failures_in_window
    FROM failures
),
bursts AS (
    SELECT
        cluster, client_ip, host, path,
        max(failures_in_window) AS max_failures_in_window,
        arg_max(ts, failures_in_window) AS burst_start,
        count(*) AS failures_in_period
    FROM windowed
    GROUP BY cluster, client_ip, host, path
    HAVING max(failures_in_window) >= getvariable('brute_force_failures')
)
SELECT
    client_ip AS resource,
    format('{} failed logins on {}{} within {} minutes', max_failures_in_window, host, path,
           getvariable('brute_force_window_minutes')) AS reason,
    client_ip, nullif(host, '') AS host, path, burst_start, max_failures_in_window, failures_in_period,
    nullif(cluster, '') AS cluster
FROM bursts
ORDER BY max_failures_in_window DESC, client_ip, cluster
