-- CE-01: every change to a TLS secret in the period, whoever made it (the change log).
-- Which secrets are TLS secrets (a logged type kubernetes.io/tls, an ingress's spec.tls, a
-- cert-manager Certificate or the GitOps baseline, baseline_ingresses, names them) and which
-- requests changed one: the view tls_secret_changes, queries/lib/k8s_changes.sql.
WITH judged AS (
    SELECT
        *,
        is_approved_change("user", impersonated_by) AS approved
    FROM tls_secret_changes
)
SELECT
    namespace || '/' || coalesce(name, '*') AS resource,
    summary || CASE WHEN approved THEN ', an approved actor' ELSE ', not an approved actor' END AS reason,
    ts, "user", impersonated_by, verb, 'secrets' AS resource_kind, namespace, name, approved, identified_by,
    source_ip, user_agent, audit_id, cluster
FROM judged
ORDER BY ts
