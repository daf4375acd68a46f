-- FA-05: requests the API server allowed without any credentials (system:anonymous), other
-- than the endpoints Kubernetes makes public on purpose, judged per cluster: each cluster has
-- its own API server and RBAC, so each finding names the one that allowed the requests.
WITH anonymous AS (
    SELECT
        audit_id, stage, coalesce(cluster, '') AS cluster, source_ip, user, verb, resource, subresource, namespace, name,
        split_part(request_uri, '?', 1) AS uri_path, response_code, decision, ts
    FROM audit_events
    WHERE (user = 'system:anonymous' OR list_contains(groups, 'system:unauthenticated'))
      AND (decision = 'allow' OR response_code BETWEEN 200 AND 399)
      AND coalesce(decision, '') <> 'forbid'
),
beyond_public_info AS (
    -- the default system:public-info-viewer role (version, health) and the service account
    -- issuer discovery documents (OIDC, used by IRSA / workload identity) are public by design
    SELECT *
    FROM anonymous
    WHERE uri_path NOT IN ('/version', '/healthz', '/livez', '/readyz',
                           '/.well-known/openid-configuration', '/openid/v1/jwks')
      AND NOT (uri_path LIKE '/healthz/%' OR uri_path LIKE '/livez/%' OR uri_path LIKE '/readyz/%')
),
per_request AS (  -- one row per request (cluster, audit_id), whatever stages were logged
    SELECT
        cluster,
        audit_id,
        any_value(source_ip) AS source_ip,
        any_value(user) AS user,
        any_value(verb) AS verb,
        any_value(coalesce(resource, uri_path)) AS resource,
        any_value(namespace) AS namespace,
        any_value(name) AS name,
        max(response_code) AS response_code,
        min(ts) AS ts
    FROM beyond_public_info
    GROUP BY cluster, audit_id
),
per_target AS (
    SELECT
        cluster,
        coalesce(source_ip, '') AS source_ip,
        coalesce(user, 'system:anonymous') AS user,
        resource,
        coalesce(namespace, '') AS namespace,
        count(*) AS requests,
        string_agg(DISTINCT verb, ', ' ORDER BY verb) AS verbs,
        list(DISTINCT name ORDER BY name) FILTER (WHERE name IS NOT NULL)[1:10] AS names,
        string_agg(DISTINCT response_code::VARCHAR, ', ' ORDER BY response_code::VARCHAR) AS response_codes,
        min(ts) AS first_seen,
        max(ts) AS last_seen
    FROM per_request
    GROUP BY ALL
)
SELECT
    concat_ws('/', nullif(namespace, ''), resource) AS resource,
    format('The API server allowed {} anonymous request(s) ({}) on {}{} from {}{}',
           requests, verbs, resource, CASE WHEN namespace <> '' THEN ' in namespace ' || namespace ELSE '' END,
           coalesce(nullif(source_ip, ''), 'an unlogged address'),
           CASE WHEN len(names) > 0 THEN ': ' || array_to_string(names, ', ') ELSE '' END) AS reason,
    user, nullif(source_ip, '') AS source_ip, resource AS resource_kind, nullif(namespace, '') AS namespace,
    names, verbs, requests, response_codes, nullif(cluster, '') AS cluster, first_seen, last_seen
FROM per_target
ORDER BY first_seen, cluster
