-- PD-02: changes by anyone outside the approved actors to what decides who reaches what:
-- ingresses, ingress classes, TLS secrets and RBAC (roles, cluster roles and their bindings).
-- Which secrets are TLS secrets (a logged type kubernetes.io/tls, an ingress's spec.tls, a
-- cert-manager Certificate or the GitOps baseline, baseline_ingresses, names them) and which
-- requests changed one: the view tls_secret_changes, queries/lib/k8s_changes.sql, as in CE-01.
WITH config_changes AS (  -- TLS secrets apart: their changes are the view tls_secret_changes
    SELECT
        ts, cluster, audit_id, verb, "user", impersonated_by, source_ip, user_agent,
        resource AS resource_kind, namespace,
        coalesce(name, request_object->>'$.metadata.name', response_object->>'$.metadata.name') AS name,
        request_object, response_object
    FROM audit_events
    WHERE resource IN ('ingresses', 'ingressclasses', 'roles', 'rolebindings', 'clusterroles', 'clusterrolebindings')
      AND coalesce(subresource, '') = ''  -- status updates are not configuration
      AND stage = 'ResponseComplete'
      AND verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
      AND (response_code IS NULL OR response_code < 400)
    QUALIFY audit_id IS NULL OR row_number() OVER (PARTITION BY cluster, audit_id ORDER BY ts) = 1
),
changes AS (
    SELECT * FROM config_changes
    UNION ALL BY NAME
    SELECT * EXCLUDE (secret_type, identified_by, summary), 'secrets' AS resource_kind FROM tls_secret_changes
),
unapproved AS (  -- an impersonated request is approved only when both actors are
    SELECT *
    FROM changes
    WHERE NOT is_approved_change("user", impersonated_by)
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
    FROM unapproved
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
