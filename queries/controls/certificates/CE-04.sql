-- CE-04: cert-manager Certificates, Issuers and ClusterIssuers changed by anyone outside the
-- approved actors. Status updates (certificates/status) record what cert-manager observed and
-- are not configuration changes, so only the objects themselves count.
WITH changes AS (
    SELECT
        ts, cluster, audit_id, verb, "user", impersonated_by, source_ip, user_agent, resource AS resource_kind,
        namespace,
        coalesce(name, request_object->>'$.metadata.name', response_object->>'$.metadata.name') AS name,
        request_object, response_object
    FROM audit_events
    WHERE api_group = 'cert-manager.io' AND resource IN ('certificates', 'issuers', 'clusterissuers')
      AND coalesce(subresource, '') = ''
      AND stage = 'ResponseComplete'
      AND verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
      AND (response_code IS NULL OR response_code < 400)
    QUALIFY audit_id IS NULL OR row_number() OVER (PARTITION BY cluster, audit_id ORDER BY ts) = 1
),
by_people AS (
    SELECT *
    FROM changes
    WHERE NOT is_approved_change("user", impersonated_by)
),
described AS (  -- what the change set: the patch itself, or the key fields of the stored object
    SELECT
        *,
        coalesce(CASE WHEN response_object->>'$.kind' IN ('Certificate', 'Issuer', 'ClusterIssuer') THEN response_object END,
                 CASE WHEN verb IN ('create', 'update') THEN request_object END) AS stored,
        CASE resource_kind WHEN 'certificates' THEN 'Certificate' WHEN 'issuers' THEN 'Issuer' ELSE 'ClusterIssuer' END AS kind_name
    FROM by_people
),
detailed AS (
    SELECT
        *,
        CASE
            WHEN verb IN ('delete', 'deletecollection') THEN 'deleted'
            WHEN verb = 'patch' AND request_object IS NOT NULL THEN 'patch ' || left(json(request_object)::VARCHAR, 300)
            WHEN resource_kind = 'certificates' THEN
                format('dnsNames {}, issuer {}, secret {}',
                       coalesce(array_to_string(json_extract_string(stored, '$.spec.dnsNames[*]'), ' '), '?'),
                       coalesce(stored->>'$.spec.issuerRef.name', '?'), coalesce(stored->>'$.spec.secretName', '?'))
            WHEN stored->>'$.spec.acme.server' IS NOT NULL THEN 'ACME server ' || (stored->>'$.spec.acme.server')
            WHEN stored IS NOT NULL THEN 'spec ' || left(json(stored->'$.spec')::VARCHAR, 300)
            ELSE '(body not logged)'
        END AS detail
    FROM described
)
SELECT
    concat_ws('/', kind_name, namespace, name) AS resource,
    format('{} {} {} {}{}: {}', coalesce("user", '(unknown)'),
           CASE verb WHEN 'create' THEN 'created' WHEN 'update' THEN 'updated' WHEN 'patch' THEN 'patched' ELSE 'deleted' END,
           kind_name, concat_ws('/', namespace, coalesce(name, '*')),
           CASE WHEN impersonated_by IS NOT NULL THEN format(' (impersonated by {})', impersonated_by) ELSE '' END,
           detail) AS reason,
    ts, "user", impersonated_by, verb, resource_kind, namespace, name, detail, source_ip, user_agent, audit_id, cluster
FROM detailed
ORDER BY ts
