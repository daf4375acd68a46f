-- FA-02: credential stuffing, many distinct clients failing to log in on one login path
-- within a sliding window (each of them may fail only once or twice), judged per cluster.
WITH failures AS (
    SELECT
        coalesce(cluster, '') AS cluster,
        client AS client_ip,
        coalesce(host, '') AS host,
        coalesce(upstream, '') AS upstream,  -- ties the default ingress-nginx format to a site
        path,
        ts,
        epoch_us(ts) AS t_us
    FROM requests
    WHERE status IN (401, 403) AND is_login_path(path)
),
windowed AS (
    SELECT
        cluster, host, upstream, path, ts,
        count(DISTINCT client_ip) OVER w AS clients_in_window,
        count(*) OVER w AS failures_in_window
    FROM failures
    WINDOW w AS (
        PARTITION BY cluster, host, upstream, path ORDER BY t_us
        RANGE BETWEEN CURRENT ROW AND (getvariable('stuffing_window_minutes')::BIGINT * 60000000 - 1) FOLLOWING
    )
),
peaks AS (
    SELECT
        cluster, host, upstream, path,
        max(clients_in_window) AS max_clients_in_window,
        arg_max(failures_in_window, clients_in_window) AS failures_in_peak_window,
        arg_max(ts, clients_in_window) AS window_start
    FROM windowed
    GROUP BY ALL
    HAVING max(clients_in_window) >= getvariable('stuffing_clients')
),
period_totals AS (  -- the whole period's failures on the path, for scale
    SELECT cluster, host, upstream, path, count(*) AS failures_in_period, count(DISTINCT client_ip) AS clients_in_period,
           list(DISTINCT client_ip ORDER BY client_ip)[1:10] AS sample_clients
    FROM failures
    SEMI JOIN peaks USING (cluster, host, upstream, path)
    GROUP BY ALL
)
SELECT
    concat_ws(' ', coalesce(nullif(p.host, ''), nullif(p.upstream, '')), p.path) AS resource,
    format('{} different addresses failed to log in on {} {} times within {} minutes from {}',
           p.max_clients_in_window, concat_ws(' ', coalesce(nullif(p.host, ''), nullif(p.upstream, '')), p.path),
           p.failures_in_peak_window, getvariable('stuffing_window_minutes'),
           strftime(p.window_start AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC')) AS reason,
    nullif(p.host, '') AS host,
    nullif(p.upstream, '') AS upstream,
    p.path, p.window_start, p.max_clients_in_window, p.failures_in_peak_window,
    t.clients_in_period, t.failures_in_period, t.sample_clients,
    nullif(p.cluster, '') AS cluster
FROM peaks p
JOIN period_totals t USING (cluster, host, upstream, path)
ORDER BY p.max_clients_in_window DESC, p.cluster
