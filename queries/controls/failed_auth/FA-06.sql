-- FA-06: repeated RBAC denials for one user: someone probing for permissions they do not have
-- (or a workload with too few), judged per cluster: each cluster has its own API server and
-- RBAC, and N/2 denials in each is no probing of either. One request is one (cluster, audit_id):
-- long-running requests (exec, watch) log ResponseStarted and ResponseComplete for the same
-- refusal.
WITH denials AS (
    SELECT audit_id, coalesce(cluster, '') AS cluster, user, impersonated_by, source_ip, verb, resource, subresource, namespace, name, ts
    FROM audit_events
    WHERE user IS NOT NULL
      AND (decision = 'forbid'
           -- events without the authorization annotation (older policies): the status code
           OR (decision IS NULL AND response_code = 403))
),
per_request AS (
    SELECT
        cluster,
        audit_id,
        any_value(user) AS user,
        any_value(impersonated_by) AS impersonated_by,
        any_value(source_ip) AS source_ip,
        any_value(verb || ' ' || concat_ws('/', resource, subresource)) AS action,
        any_value(namespace) AS namespace,
        min(ts) AS ts
    FROM denials
    GROUP BY cluster, audit_id
),
per_user AS (
    SELECT
        cluster,
        user,
        string_agg(DISTINCT impersonated_by, ', ' ORDER BY impersonated_by) AS impersonated_by,
        count(*) AS denials,
        count(DISTINCT action) AS distinct_actions,
        list(DISTINCT action ORDER BY action)[1:10] AS sample_actions,
        list(DISTINCT namespace ORDER BY namespace) FILTER (WHERE namespace IS NOT NULL)[1:10] AS namespaces,
        list(DISTINCT source_ip ORDER BY source_ip)[1:5] AS source_ips,
        min(ts) AS first_seen,
        max(ts) AS last_seen
    FROM per_request
    GROUP BY cluster, user
    HAVING count(*) >= getvariable('rbac_denials_per_user')
)
SELECT
    user AS resource,
    format('{} was refused by RBAC {} times ({} different actions, e.g. {}) between {} and {}',
           user, denials, distinct_actions, array_to_string(sample_actions[1:3], ', '),
           strftime(first_seen AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M'),
           strftime(last_seen AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC')) AS reason,
    user, impersonated_by, denials, distinct_actions, sample_actions, namespaces, source_ips,
    nullif(cluster, '') AS cluster, first_seen, last_seen
FROM per_user
ORDER BY denials DESC, user, cluster
