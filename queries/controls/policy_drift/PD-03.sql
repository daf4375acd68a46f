-- PD-03: ingress changes that add or loosen a security-relevant ingress-nginx annotation:
-- injected nginx configuration (snippets), authentication or the source allowlist removed, the
-- allowlist opened to every address, the HTTPS redirect switched off, encryption to the
-- backend or client-certificate checks dropped. Whoever made the change: a risky setting is
-- risky even when it came through GitOps. What changed is worked out as for PD-01 (the view
-- ingress_change_diffs, queries/lib/k8s_changes.sql): the stored object against the last state
-- seen, else the patch body.
WITH annotation_changes AS (  -- one row per ingress-nginx annotation a change touched
    SELECT
        * EXCLUDE (f),
        f.sign AS sign,
        substr(f.path, length('metadata.annotations.') + 1) AS annotation,
        f.old_value::JSON->>'$' AS old_value,
        f.new_value::JSON->>'$' AS new_value
    FROM (SELECT *, unnest(fields) AS f FROM ingress_change_diffs)
    WHERE f.path LIKE 'metadata.annotations.nginx.ingress.kubernetes.io/%'
),
judged AS (
    SELECT
        *,
        substr(annotation, length('nginx.ingress.kubernetes.io/') + 1) AS setting,
        list_transform(string_split(coalesce(new_value, ''), ','), lambda c: trim(c)) AS new_ranges
    FROM annotation_changes
),
risks AS (
    SELECT
        *,
        CASE
            WHEN setting LIKE '%-snippet' AND sign <> '-'
                THEN 'raw nginx configuration injected through the ingress'
            WHEN setting IN ('auth-url', 'auth-type', 'auth-secret', 'auth-signin', 'auth-tls-secret') AND sign = '-'
                THEN 'authentication in front of the site removed'
            WHEN setting IN ('whitelist-source-range', 'allowlist-source-range') AND sign = '-'
                THEN 'source address allowlist removed: every address may connect'
            WHEN setting IN ('whitelist-source-range', 'allowlist-source-range')
                 AND (list_contains(new_ranges, '0.0.0.0/0') OR list_contains(new_ranges, '::/0'))
                THEN 'source address allowlist opened to every address'
            WHEN setting IN ('ssl-redirect', 'force-ssl-redirect') AND sign <> '-' AND lower(new_value) = 'false'
                THEN 'redirect from http to https switched off'
            WHEN setting = 'backend-protocol' AND upper(old_value) IN ('HTTPS', 'GRPCS')
                 AND (sign = '-' OR upper(new_value) NOT IN ('HTTPS', 'GRPCS', 'AUTO_HTTP'))
                THEN 'traffic to the backend no longer encrypted'
            WHEN setting = 'auth-tls-verify-client' AND lower(old_value) IN ('on', 'optional')
                 AND (sign = '-' OR lower(new_value) IN ('off', 'optional_no_ca'))
                THEN 'client certificate verification relaxed'
            WHEN setting = 'enable-modsecurity' AND lower(old_value) = 'true' AND (sign = '-' OR lower(new_value) = 'false')
                THEN 'web application firewall (ModSecurity) switched off'
        END AS risk,
        left(regexp_replace(coalesce(old_value, '?'), '\s+', ' ', 'g'), 80) AS shown_old,
        left(regexp_replace(coalesce(new_value, ''), '\s+', ' ', 'g'), 80) AS shown_new
    FROM judged
)
SELECT
    namespace || '/' || name || ' ' || setting AS resource,
    coalesce("user", '(unknown)') || ' ' || CASE sign
        WHEN '+' THEN format('added {}="{}" to ingress {}/{}', annotation, shown_new, namespace, name)
        WHEN '-' THEN format('removed {} (was "{}") from ingress {}/{}', annotation, shown_old, namespace, name)
        WHEN '~' THEN format('changed {} on ingress {}/{} from "{}" to "{}"', annotation, namespace, name, shown_old, shown_new)
        ELSE format('set {}="{}" on ingress {}/{}', annotation, shown_new, namespace, name)
    END || ': ' || risk AS reason,
    ts, "user", impersonated_by, verb, 'ingresses' AS resource_kind, namespace, name, annotation,
    old_value, new_value, risk, diff_basis, source_ip, user_agent, audit_id, nullif(cluster, '') AS cluster
FROM risks
WHERE risk IS NOT NULL
ORDER BY ts
