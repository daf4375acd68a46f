-- CE-02: changes to TLS secrets by anyone outside the approved actors (a person, a stray tool).
-- Same identification of TLS secrets as CE-01 (kept in step with it); only the last step differs.
-- The audit policy usually logs secrets at Metadata level (never their data), so the event
-- alone rarely says a secret is a TLS secret. A secret counts as one when its type
-- kubernetes.io/tls was logged anywhere, or an ingress's spec.tls, a cert-manager Certificate's
-- spec.secretName or the GitOps baseline names it.
WITH bodies AS (  -- the few events with a logged body that can name a TLS secret
    SELECT resource AS resource_kind, namespace, name, request_object AS obj
    FROM audit_events
    WHERE resource IN ('ingresses', 'certificates', 'secrets') AND request_object IS NOT NULL
    UNION ALL
    SELECT resource, namespace, name, response_object
    FROM audit_events
    WHERE resource IN ('ingresses', 'certificates', 'secrets') AND response_object IS NOT NULL
),
objects AS (  -- a list response holds its objects under items
    SELECT resource_kind, coalesce(obj->>'$.metadata.namespace', namespace) AS namespace,
           coalesce(obj->>'$.metadata.name', name) AS name, obj
    FROM bodies
    WHERE json_type(obj, '$.items') IS DISTINCT FROM 'ARRAY'
    UNION ALL
    SELECT resource_kind, coalesce(item->>'$.metadata.namespace', namespace), item->>'$.metadata.name', item
    FROM (SELECT resource_kind, namespace, unnest(json_extract(obj, '$.items[*]')) AS item
          FROM bodies WHERE json_type(obj, '$.items') = 'ARRAY')
),
named_tls AS (
    SELECT namespace, unnest(json_extract_string(obj, '$.spec.tls[*].secretName')) AS secret,
           'ingress ' || namespace || '/' || name || ' spec.tls' AS identified_by
    FROM objects WHERE resource_kind = 'ingresses'
    UNION ALL
    SELECT namespace, obj->>'$.spec.secretName', 'cert-manager Certificate ' || namespace || '/' || name
    FROM objects WHERE resource_kind = 'certificates'
    UNION ALL
    SELECT namespace, name, 'type kubernetes.io/tls'
    FROM objects WHERE resource_kind = 'secrets' AND obj->>'$.type' = 'kubernetes.io/tls'
    UNION ALL
    SELECT namespace, unnest(json_extract_string(manifest, '$.spec.tls[*].secretName')),
           'baseline ingress ' || namespace || '/' || name
    FROM baseline_ingresses
),
tls_secrets AS (
    SELECT namespace, secret, list(DISTINCT identified_by ORDER BY identified_by) AS identified_by
    FROM named_tls
    WHERE secret IS NOT NULL
    GROUP BY namespace, secret
),
secret_changes AS (
    SELECT
        ts, cluster, audit_id, verb, "user", impersonated_by, source_ip, user_agent, namespace,
        coalesce(name, request_object->>'$.metadata.name', response_object->>'$.metadata.name') AS name,
        coalesce(request_object->>'$.type', response_object->>'$.type') AS secret_type
    FROM audit_events
    WHERE resource = 'secrets' AND coalesce(api_group, '') = '' AND coalesce(subresource, '') = ''
      AND stage = 'ResponseComplete'  -- one event per request
      AND verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
      AND (response_code IS NULL OR response_code < 400)  -- refused attempts changed nothing
    -- the same request archived twice (log and webhook backends) is one change
    QUALIFY audit_id IS NULL OR row_number() OVER (PARTITION BY cluster, audit_id ORDER BY ts) = 1
),
tls_changes AS (
    SELECT
        c.*,
        CASE WHEN c.secret_type = 'kubernetes.io/tls' THEN ['type kubernetes.io/tls'] ELSE t.identified_by END AS identified_by,
        coalesce(is_approved_actor(c."user"), false)
            AND (c.impersonated_by IS NULL OR coalesce(is_approved_actor(c.impersonated_by), false)) AS approved
    FROM secret_changes c
    LEFT JOIN tls_secrets t ON t.namespace = c.namespace AND t.secret = c.name
    WHERE c.secret_type = 'kubernetes.io/tls'
       OR (c.secret_type IS NULL AND t.secret IS NOT NULL)
       -- deleting every secret of a namespace deletes its TLS secrets too
       OR (c.verb = 'deletecollection' AND c.namespace IN (SELECT namespace FROM tls_secrets))
)
SELECT
    namespace || '/' || coalesce(name, '*') AS resource,
    format('{} {} TLS secret {}/{}{}{}', coalesce("user", '(unknown)'),
           CASE verb WHEN 'create' THEN 'created' WHEN 'update' THEN 'updated' WHEN 'patch' THEN 'patched'
                     WHEN 'delete' THEN 'deleted' ELSE 'deleted all secrets including' END,
           namespace, coalesce(name, '*'),
           CASE WHEN impersonated_by IS NOT NULL THEN format(' (impersonated by {})', impersonated_by) ELSE '' END,
           ', outside the certificate pipeline (not an approved actor)') AS reason,
    ts, "user", impersonated_by, verb, 'secrets' AS resource_kind, namespace, name, approved, identified_by,
    source_ip, user_agent, audit_id, cluster
FROM tls_changes
WHERE NOT approved
ORDER BY ts
