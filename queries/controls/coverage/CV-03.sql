-- CV-03: changes the audit policy logged without their content. The drift controls diff what
-- a change set (request_object) against the baseline; a change logged at level Metadata, or
-- without a request body, can only be seen, not judged. Deletions carry no content to diff.
-- One row per kind of object and cluster: each cluster's API server has its own audit policy.
WITH changes AS (
    SELECT audit_id, coalesce(cluster, '') AS cluster, level, verb, resource, subresource, api_group, namespace, name, request_object, ts
    FROM audit_events
    WHERE stage = 'ResponseComplete'
      AND verb IN ('create', 'update', 'patch')
      AND coalesce(response_code, 0) < 400  -- a refused change changed nothing
      AND (resource IN ('ingresses', 'ingressclasses', 'secrets', 'roles', 'rolebindings', 'clusterroles',
                        'clusterrolebindings', 'validatingwebhookconfigurations', 'mutatingwebhookconfigurations',
                        'certificates', 'issuers', 'clusterissuers')
           -- ConfigMaps matter where they configure the ingress controllers
           OR (resource = 'configmaps' AND coalesce(is_controller_namespace(namespace), false)))
),
without_content AS (
    SELECT *
    FROM changes
    WHERE level = 'Metadata' OR request_object IS NULL
),
per_kind AS (
    SELECT
        cluster,
        resource AS resource_kind,
        coalesce(api_group, '') AS api_group,
        string_agg(DISTINCT level, ', ' ORDER BY level) AS levels,
        count(DISTINCT audit_id) AS changes,
        string_agg(DISTINCT verb, ', ' ORDER BY verb) AS verbs,
        list(DISTINCT concat_ws('/', namespace, name) ORDER BY concat_ws('/', namespace, name))[1:10] AS sample_objects,
        min(ts) AS first_seen,
        max(ts) AS last_seen
    FROM without_content
    GROUP BY ALL
)
SELECT
    resource_kind AS resource,
    format('{} change(s) ({}) of {} were logged without their content (level {}): what changed cannot be checked',
           changes, verbs, resource_kind, levels) AS reason,
    resource_kind, nullif(api_group, '') AS api_group, levels AS level, changes, verbs, sample_objects,
    nullif(cluster, '') AS cluster, first_seen, last_seen
FROM per_kind
ORDER BY changes DESC, resource_kind, cluster
