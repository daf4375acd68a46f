-- PD-02: changes by anyone outside the approved actors to what decides who reaches what:
-- ingresses, ingress classes, TLS secrets and RBAC (roles, cluster roles and their bindings).
-- Which secrets are TLS secrets is worked out as in CE-01 (kept in step with it).
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
changes AS (
    SELECT
        ts, cluster, audit_id, verb, "user", impersonated_by, source_ip, user_agent,
        resource AS resource_kind, api_group, namespace,
        coalesce(name, request_object->>'$.metadata.name', response_object->>'$.metadata.name') AS name,
        request_object, response_object
    FROM audit_events
    WHERE resource IN ('ingresses', 'ingressclasses', 'secrets', 'roles', 'rolebindings', 'clusterroles', 'clusterrolebindings')
      AND coalesce(subresource, '') = ''  -- status updates are not configuration
      AND stage = 'ResponseComplete'
      AND verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
      AND (response_code IS NULL OR response_code < 400)
    QUALIFY audit_id IS NULL OR row_number() OVER (PARTITION BY cluster, audit_id ORDER BY ts) = 1
),
unapproved AS (
    SELECT *
    FROM changes
    WHERE NOT (coalesce(is_approved_actor("user"), false)
               AND (impersonated_by IS NULL OR coalesce(is_approved_actor(impersonated_by), false)))
),
in_scope AS (  -- of the secrets, only TLS secrets
    SELECT u.*
    FROM unapproved u
    LEFT JOIN tls_secrets t ON u.resource_kind = 'secrets' AND t.namespace = u.namespace AND t.secret = u.name
    WHERE u.resource_kind <> 'secrets'
       OR coalesce(u.request_object->>'$.type', u.response_object->>'$.type') = 'kubernetes.io/tls'
       OR (coalesce(u.request_object->>'$.type', u.response_object->>'$.type') IS NULL AND t.secret IS NOT NULL)
       OR (u.verb = 'deletecollection' AND u.namespace IN (SELECT namespace FROM tls_secrets))
),
described AS (
    SELECT
        *,
        CASE resource_kind
            WHEN 'ingresses' THEN 'Ingress' WHEN 'ingressclasses' THEN 'IngressClass' WHEN 'secrets' THEN 'TLS secret'
            WHEN 'roles' THEN 'Role' WHEN 'rolebindings' THEN 'RoleBinding' WHEN 'clusterroles' THEN 'ClusterRole'
            ELSE 'ClusterRoleBinding' END AS kind_name,
        coalesce(CASE WHEN verb IN ('create', 'update') THEN request_object END,
                 CASE WHEN json_type(response_object, '$.metadata') = 'OBJECT'
                           AND response_object->>'$.kind' IS DISTINCT FROM 'Status' THEN response_object END) AS body
    FROM in_scope
),
detailed AS (  -- a short account of what the change set
    SELECT
        *,
        CASE
            WHEN verb IN ('delete', 'deletecollection') THEN NULL
            WHEN verb = 'patch' AND request_object IS NOT NULL THEN 'patch ' || left(json(request_object)::VARCHAR, 200)
            WHEN body IS NULL THEN NULL
            WHEN resource_kind = 'ingresses' THEN
                format('hosts {}; TLS {}', coalesce(nullif(array_to_string(json_extract_string(body, '$.spec.rules[*].host'), ', '), ''), 'any'),
                       CASE WHEN coalesce(json_array_length(body, '$.spec.tls'), 0) > 0 THEN 'yes' ELSE 'no' END)
            WHEN resource_kind IN ('rolebindings', 'clusterrolebindings') THEN
                format('{} {} to {}', body->>'$.roleRef.kind', body->>'$.roleRef.name',
                       array_to_string(list_transform(json_extract(body, '$.subjects[*]'),
                                       lambda s: concat_ws(' ', s->>'kind', concat_ws('/', s->>'namespace', s->>'name'))), ', '))
            WHEN resource_kind IN ('roles', 'clusterroles') THEN
                array_to_string(list_transform(json_extract(body, '$.rules[*]'),
                    lambda r: array_to_string(json_extract_string(r, '$.verbs[*]'), ',') || ' on '
                              || coalesce(array_to_string(json_extract_string(r, '$.resources[*]'), ','),
                                          array_to_string(json_extract_string(r, '$.nonResourceURLs[*]'), ','))), '; ')
            WHEN resource_kind = 'ingressclasses' THEN 'controller ' || (body->>'$.spec.controller')
        END AS detail
    FROM described
)
SELECT
    concat_ws('/', kind_name, namespace, coalesce(name, '*')) AS resource,
    format('{} {} {} {}{}{}', coalesce("user", '(unknown)'),
           CASE verb WHEN 'create' THEN 'created' WHEN 'update' THEN 'updated' WHEN 'patch' THEN 'patched'
                     WHEN 'delete' THEN 'deleted' ELSE 'deleted all of kind' END,
           kind_name, concat_ws('/', namespace, coalesce(name, '*')),
           CASE WHEN impersonated_by IS NOT NULL THEN format(' (impersonated by {})', impersonated_by) ELSE '' END,
           coalesce(' (' || left(detail, 240) || ')', '') || ' without being an approved actor') AS reason,
    ts, "user", impersonated_by, verb, resource_kind, namespace, name, detail, source_ip, user_agent, audit_id, cluster
FROM detailed
ORDER BY ts
