-- FA-03: a successful login from a client right after a burst of failed logins from it:
-- the brute force (or a stuffing client) may have found a working password. Failures and
-- success are taken in one cluster: a login at another cluster's door is another story.
WITH attempts AS (
    SELECT
        coalesce(cluster, '') AS cluster,
        client AS client_ip,
        host,
        upstream,
        path,
        method,
        status,
        ts,
        epoch_us(ts) AS t_us,
        status IN (401, 403) AS failed
    FROM requests
    WHERE is_login_path(path)
      AND (status IN (401, 403)
           -- a success answers a submitted login: fetching the login form (GET) is not one
           OR (status BETWEEN 200 AND 399 AND upper(coalesce(method, '')) NOT IN ('GET', 'HEAD', 'OPTIONS')))
),
suspects AS (  -- clients that failed often enough in the period to have had a burst at all
    SELECT cluster, client_ip
    FROM attempts
    GROUP BY cluster, client_ip
    HAVING count(*) FILTER (WHERE failed) >= getvariable('success_after_failures')
       AND count(*) FILTER (WHERE NOT failed) > 0
),
windowed AS (
    SELECT
        a.*,
        count(*) FILTER (WHERE a.failed) OVER (
            PARTITION BY a.cluster, a.client_ip ORDER BY a.t_us
            RANGE BETWEEN (getvariable('brute_force_window_minutes')::BIGINT * 60000000) PRECEDING AND CURRENT ROW
        ) AS failures_before
    FROM attempts a
    SEMI JOIN suspects s ON s.client_ip = a.client_ip AND s.cluster = a.cluster
),
successes AS (
    SELECT *
    FROM windowed
    WHERE NOT failed AND failures_before >= getvariable('success_after_failures')
),
per_client AS (
    SELECT
        cluster,
        client_ip,
        min(ts) AS first_success,
        arg_min(failures_before, ts) AS failures_before_first_success,
        arg_min(coalesce(host, upstream), ts) AS site,
        arg_min(host, ts) AS host,
        arg_min(upstream, ts) AS upstream,
        arg_min(path, ts) AS path,
        arg_min(method, ts) AS method,
        arg_min(status, ts) AS status,
        count(*) AS successes_after_bursts
    FROM successes
    GROUP BY cluster, client_ip
)
SELECT
    client_ip AS resource,
    format('{} logged in successfully ({} {} -> {}) at {} right after {} failed logins within {} minutes',
           client_ip, method, concat_ws(' ', site, path), status,
           strftime(first_success AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S UTC'),
           failures_before_first_success, getvariable('brute_force_window_minutes')) AS reason,
    client_ip, host, upstream, path, method, status, first_success, failures_before_first_success,
    successes_after_bursts, nullif(cluster, '') AS cluster
FROM per_client
ORDER BY first_success, client_ip, cluster
