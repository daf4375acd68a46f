-- AP-07: interactive access into running pods: exec, attach and port-forward sessions the API
-- server allowed. Long-running requests log ResponseStarted when the session opens and
-- ResponseComplete when it ends: one session is one audit_id within its cluster (an audit ID
-- is unique only within one API server). Refused attempts are RBAC denials (FA-06), not sessions.
WITH streams AS (
    SELECT audit_id, stage, ts, stage_ts, user, impersonated_by, source_ip, user_agent, verb,
           subresource, namespace, name, response_code, decision, cluster
    FROM audit_events
    WHERE resource = 'pods' AND subresource IN ('exec', 'attach', 'portforward')
      -- `create` through SPDY; kubectl's WebSocket streaming (1.30+) is logged as `get`
      AND verb IN ('create', 'get')
),
sessions AS (
    SELECT
        audit_id,
        cluster,
        any_value(user) AS user,
        any_value(impersonated_by) AS impersonated_by,
        any_value(source_ip) AS source_ip,
        any_value(user_agent) AS user_agent,
        any_value(subresource) AS subresource,
        any_value(namespace) AS namespace,
        any_value(name) AS name,
        min(ts) AS started,
        max(stage_ts) FILTER (WHERE stage = 'ResponseComplete') AS ended,
        max(response_code) AS response_code,
        bool_or(decision = 'allow') AS allowed_by_rbac
    FROM streams
    GROUP BY cluster, audit_id
),
opened AS (
    SELECT *
    FROM sessions
    -- a session was opened (101 Switching Protocols) or, with no status logged yet, authorized
    WHERE response_code < 400 OR (response_code IS NULL AND coalesce(allowed_by_rbac, false))
)
SELECT
    format('{}/{}', namespace, name) AS resource,
    format('{} opened {} session into pod {}/{} at {}{}', coalesce(user, '(unknown user)'),
           CASE subresource WHEN 'exec' THEN 'an exec' WHEN 'attach' THEN 'an attach' ELSE 'a port-forward' END,
           namespace, name,
           strftime(started AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S UTC'),
           CASE WHEN ended IS NOT NULL
                THEN format(' for {} minutes', round((epoch_us(ended) - epoch_us(started)) / 60e6, 1))
                ELSE '' END) AS reason,
    user, impersonated_by, source_ip, subresource, namespace, name, cluster, started, ended,
    round((epoch_us(ended) - epoch_us(started)) / 60e6, 1) AS minutes, response_code, user_agent, audit_id
FROM opened
ORDER BY started, cluster, audit_id
