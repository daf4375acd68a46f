-- CE-02: changes to TLS secrets by anyone outside the approved actors (a person, a stray tool).
-- Which secrets are TLS secrets (a logged type kubernetes.io/tls, an ingress's spec.tls, a
-- cert-manager Certificate or the GitOps baseline, baseline_ingresses, names them) and which
-- requests changed one: the view tls_secret_changes, queries/lib/k8s_changes.sql, as in CE-01.
WITH unapproved AS (  -- an impersonated request is approved only when both actors are
    SELECT *, false AS approved
    FROM tls_secret_changes
    WHERE NOT is_approved_change("user", impersonated_by)
)
SELECT
    namespace || '/' || coalesce(name, '*') AS resource,
    summary || ', outside the certificate pipeline (not an approved actor)' AS reason,
    ts, "user", impersonated_by, verb, 'secrets' AS resource_kind, namespace, name, approved, identified_by,
    source_ip, user_agent, audit_id, cluster
FROM unapproved
ORDER BY ts
