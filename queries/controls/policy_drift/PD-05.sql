-- PD-05: the ingress controllers' own configuration changed by anyone outside the approved
-- actors: ConfigMaps in the controller namespaces (the controller's global settings), ingress
-- classes, and admission webhook configurations. Leader-election locks kept in ConfigMaps by
-- older controllers are bookkeeping, not configuration, and are left out.
WITH changes AS (
    SELECT
        ts, cluster, audit_id, verb, "user", impersonated_by, source_ip, user_agent, resource AS resource_kind,
        namespace,
        coalesce(name, request_object->>'$.metadata.name', response_object->>'$.metadata.name') AS name,
        request_object,
        CASE WHEN json_type(response_object, '$.metadata') = 'OBJECT'
                  AND response_object->>'$.kind' IS DISTINCT FROM 'Status' THEN response_object END AS stored
    FROM audit_events
    WHERE (   (resource = 'configmaps' AND coalesce(api_group, '') = '' AND is_controller_namespace(namespace))
           OR resource IN ('ingressclasses', 'validatingwebhookconfigurations', 'mutatingwebhookconfigurations'))
      AND coalesce(subresource, '') = ''
      AND stage = 'ResponseComplete'
      AND verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
      AND (response_code IS NULL OR response_code < 400)
    QUALIFY audit_id IS NULL OR row_number() OVER (PARTITION BY cluster, audit_id ORDER BY ts) = 1
),
configuration AS (
    SELECT *
    FROM changes
    WHERE NOT (resource_kind = 'configmaps'
               AND (coalesce(stored, request_object)->>'$.metadata.annotations."control-plane.alpha.kubernetes.io/leader"' IS NOT NULL
                    OR name LIKE '%-leader' OR name LIKE '%-leader-%'))
),
unapproved AS (
    SELECT *
    FROM configuration
    WHERE NOT is_approved_change("user", impersonated_by)
),
described AS (
    SELECT
        *,
        CASE resource_kind
            WHEN 'configmaps' THEN 'ConfigMap' WHEN 'ingressclasses' THEN 'IngressClass'
            WHEN 'validatingwebhookconfigurations' THEN 'ValidatingWebhookConfiguration'
            ELSE 'MutatingWebhookConfiguration' END AS kind_name,
        CASE
            WHEN verb IN ('delete', 'deletecollection') THEN NULL
            WHEN verb = 'patch' AND request_object IS NOT NULL THEN 'patch ' || left(json(request_object)::VARCHAR, 240)
            WHEN coalesce(stored, request_object) IS NULL THEN NULL
            WHEN resource_kind = 'configmaps' THEN 'data ' || left(json(coalesce(stored, request_object)->'$.data')::VARCHAR, 240)
            WHEN resource_kind = 'ingressclasses' THEN 'controller ' || (coalesce(stored, request_object)->>'$.spec.controller')
            ELSE 'webhooks ' || array_to_string(list_transform(json_extract(coalesce(stored, request_object), '$.webhooks[*]'),
                     lambda w: (w->>'name') || ' (failurePolicy ' || coalesce(w->>'failurePolicy', 'default') || ')'), ', ')
        END AS detail
    FROM unapproved
)
SELECT
    concat_ws('/', kind_name, namespace, coalesce(name, '*')) AS resource,
    format('{} {} {} {}{} without being an approved actor{}', coalesce("user", '(unknown)'),
           CASE verb WHEN 'create' THEN 'created' WHEN 'update' THEN 'updated' WHEN 'patch' THEN 'patched'
                     WHEN 'delete' THEN 'deleted' ELSE 'deleted every' END,
           kind_name, concat_ws('/', namespace, coalesce(name, '*')),
           CASE WHEN impersonated_by IS NOT NULL THEN format(' (impersonated by {})', impersonated_by) ELSE '' END,
           coalesce(': ' || detail, '')) AS reason,
    ts, "user", impersonated_by, verb, resource_kind, namespace, name, detail, source_ip, user_agent, audit_id, cluster
FROM described
ORDER BY ts
