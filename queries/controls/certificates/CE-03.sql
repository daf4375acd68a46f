-- CE-03: ingresses created or changed in the period so that they serve plain HTTP: no TLS
-- configured, or the HTTPS redirect switched off. Judged on the object as the API server stored
-- it after each change (the response body), else the body sent (create/update), else the
-- patch itself (only what it sets can be judged). The changes: the view ingress_changes,
-- queries/lib/k8s_changes.sql.
WITH changes AS (  -- the requests that changed an ingress (the view ingress_changes), deletions aside
    SELECT
        ts, cluster, audit_id, verb, "user", namespace, name,
        new_obj AS stored,
        CASE WHEN verb = 'patch' THEN request_object END AS patch
    FROM ingress_changes
    WHERE verb IN ('create', 'update', 'patch')
      AND (request_object IS NOT NULL OR response_object IS NOT NULL)
),
judged AS (
    SELECT
        *,
        coalesce(stored, patch) AS body,
        json_extract_string(stored, '$.spec.rules[*].host') AS hosts,
        CASE
            WHEN stored IS NOT NULL THEN
                coalesce(json_array_length(stored, '$.spec.tls'), 0) = 0
                -- TLS configured outside spec.tls: Traefik's router.tls, an ALB listener certificate
                AND coalesce(stored->>'$.metadata.annotations."traefik.ingress.kubernetes.io/router.tls"', '') <> 'true'
                AND stored->>'$.metadata.annotations."alb.ingress.kubernetes.io/certificate-arn"' IS NULL
            -- a merge patch that drops spec.tls
            ELSE json_type(patch, '$.spec.tls') = 'NULL' OR json_array_length(patch, '$.spec.tls') = 0
        END AS no_tls,
        lower(coalesce(stored, patch)->>'$.metadata.annotations."nginx.ingress.kubernetes.io/ssl-redirect"') = 'false' AS ssl_redirect_off,
        lower(coalesce(stored, patch)->>'$.metadata.annotations."nginx.ingress.kubernetes.io/force-ssl-redirect"') = 'false' AS force_redirect_off
    FROM changes
),
exempt AS (  -- hosts the policy lets serve plain http (plaintext_allowed_hosts)
    SELECT
        *,
        len(hosts) > 0 AND list_bool_and(list_transform(hosts, lambda h: coalesce(is_plaintext_allowed_host(h), false))) AS all_hosts_plaintext_allowed
    FROM judged
),
problems AS (
    SELECT
        *,
        list_filter([
            CASE WHEN no_tls THEN 'no spec.tls' END,
            CASE WHEN ssl_redirect_off THEN 'ssl-redirect "false"' END,
            CASE WHEN force_redirect_off THEN 'force-ssl-redirect "false"' END
        ], lambda p: p IS NOT NULL) AS problems
    FROM exempt
    WHERE NOT coalesce(all_hosts_plaintext_allowed, false)
),
per_ingress AS (
    SELECT
        cluster, namespace, name,
        list_distinct(flatten(list(problems))) AS problems,
        min(ts) FILTER (WHERE len(problems) > 0) AS first_seen,
        arg_min("user", ts) FILTER (WHERE len(problems) > 0) AS first_changed_by,
        arg_min(verb, ts) FILTER (WHERE len(problems) > 0) AS first_verb,
        arg_min(audit_id, ts) FILTER (WHERE len(problems) > 0) AS audit_id,
        list(DISTINCT "user" ORDER BY "user") FILTER (WHERE len(problems) > 0) AS changed_by,
        count(*) FILTER (WHERE len(problems) > 0) AS changes,
        list_distinct(flatten(list(hosts))) AS hosts,
        -- the last stored state tells whether it is still so (a bare patch cannot)
        arg_max(len(problems) > 0, ts) FILTER (WHERE stored IS NOT NULL) AS still_at_last_change,
        max(ts) AS last_change
    FROM problems
    GROUP BY ALL
    HAVING count(*) FILTER (WHERE len(problems) > 0) > 0
)
SELECT
    namespace || '/' || name AS resource,
    format('Ingress {}/{} ({}) {} by {} on {}: {}{}', namespace, name,
           coalesce(nullif(array_to_string(hosts, ', '), ''), 'any host'),
           CASE first_verb WHEN 'create' THEN 'created' WHEN 'update' THEN 'updated' ELSE 'patched' END,
           coalesce(first_changed_by, '(unknown)'), strftime(first_seen, '%Y-%m-%d %H:%M UTC'),
           array_to_string(problems, ', '),
           CASE WHEN still_at_last_change THEN ', still so after its last change in the period'
                WHEN NOT still_at_last_change THEN ', fixed by a later change'
                ELSE '' END) AS reason,
    namespace, name, hosts, problems, first_seen, first_changed_by AS "user", changed_by,
    still_at_last_change, last_change, changes, 'ingresses' AS resource_kind, audit_id, nullif(cluster, '') AS cluster
FROM per_ingress
ORDER BY first_seen
