-- Successful changes to the front door per day: ingress rules, secrets (TLS certificates live
-- there), RBAC, and network policy.
WITH changes AS (
    SELECT
        date_trunc('day', ts) AS day,
        CASE
            WHEN resource IN ('ingresses', 'ingressclasses') THEN 'ingress rules'
            WHEN resource = 'secrets' THEN 'secrets'
            WHEN resource IN ('roles', 'rolebindings', 'clusterroles', 'clusterrolebindings') THEN 'RBAC'
            WHEN resource = 'networkpolicies' THEN 'network policy'
        END AS kind
    FROM audit_events
    WHERE stage = 'ResponseComplete'
      AND verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
      AND coalesce(response_code, 0) < 400
      AND coalesce(subresource, '') = ''
)
SELECT day, kind, count(*) AS changes
FROM changes
WHERE kind IS NOT NULL
GROUP BY ALL
ORDER BY day, kind;
