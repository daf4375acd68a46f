-- PD-06: RBAC changes that give power over ingresses and secrets, or over RBAC itself: roles
-- written with such rules, and bindings that hand them out. A role alone grants nothing until
-- it is bound, but it is reported when it is written: an updated role changes every existing
-- binding at once, and the binding may predate the period. A binding is judged by the rules of
-- the role it names as last seen in the period, or by the built-in roles everyone knows.
-- Whoever made the change: a grant is a grant even when it came through GitOps.
WITH bodies AS (  -- every logged body of an RBAC object
    SELECT coalesce(cluster, '') AS cluster, audit_id, stage_ts, verb, resource AS resource_kind, namespace, name,
           0 AS seq, request_object AS obj
    FROM audit_events
    WHERE resource IN ('roles', 'clusterroles', 'rolebindings', 'clusterrolebindings')
      AND request_object IS NOT NULL AND (response_code IS NULL OR response_code < 400)
    UNION ALL
    SELECT coalesce(cluster, ''), audit_id, stage_ts, verb, resource, namespace, name, 1 AS seq, response_object
    FROM audit_events
    WHERE resource IN ('roles', 'clusterroles', 'rolebindings', 'clusterrolebindings')
      AND response_object IS NOT NULL AND (response_code IS NULL OR response_code < 400)
),
objects AS (  -- full objects (a list holds them under items); a patch body has no kind
    SELECT cluster, audit_id, stage_ts, verb, resource_kind, seq, obj,
           coalesce(obj->>'$.metadata.namespace', namespace, '') AS namespace,
           coalesce(obj->>'$.metadata.name', name) AS name,
           obj->>'$.kind' AS kind
    FROM bodies
    WHERE json_type(obj, '$.items') IS DISTINCT FROM 'ARRAY'
    UNION ALL
    SELECT cluster, audit_id, stage_ts, verb, resource_kind, seq, item,
           coalesce(item->>'$.metadata.namespace', namespace, ''), item->>'$.metadata.name',
           replace(list_kind, 'List', '')
    FROM (SELECT *, obj->>'$.kind' AS list_kind, unnest(json_extract(obj, '$.items[*]')) AS item
          FROM bodies WHERE json_type(obj, '$.items') = 'ARRAY')
),
role_bodies AS (
    SELECT row_number() OVER () AS body_id, *
    FROM objects
    WHERE resource_kind IN ('roles', 'clusterroles') AND json_type(obj, '$.rules') = 'ARRAY'
),
rules AS (
    SELECT body_id, unnest(json_extract(obj, '$.rules[*]')) AS rule
    FROM role_bodies
),
rule_parts AS (
    SELECT
        body_id,
        coalesce(json_extract_string(rule, '$.verbs[*]'), []) AS verbs,
        coalesce(json_extract_string(rule, '$.resources[*]'), []) AS resources,
        coalesce(json_extract_string(rule, '$.apiGroups[*]'), []) AS api_groups,
        json_extract_string(rule, '$.resourceNames[*]') AS resource_names,
        json_extract_string(rule, '$.nonResourceURLs[*]') AS urls
    FROM rules
),
rule_grants AS (  -- what one rule gives that matters here
    SELECT
        body_id,
        list_filter([
            CASE WHEN list_has_any(resources, ['secrets', '*']) AND list_has_any(api_groups, ['', '*'])
                      AND list_has_any(verbs, ['get', 'list', 'watch', '*']) THEN 'read secrets' END,
            CASE WHEN list_has_any(resources, ['secrets', '*']) AND list_has_any(api_groups, ['', '*'])
                      AND list_has_any(verbs, ['create', 'update', 'patch', 'delete', 'deletecollection', '*']) THEN 'write secrets' END,
            CASE WHEN list_has_any(resources, ['ingresses', '*']) AND list_has_any(api_groups, ['networking.k8s.io', 'extensions', '*'])
                      AND list_has_any(verbs, ['create', 'update', 'patch', 'delete', 'deletecollection', '*']) THEN 'write ingresses' END,
            CASE WHEN list_has_any(resources, ['pods/exec', 'pods/attach']) THEN 'exec into pods' END,
            CASE WHEN list_has_any(verbs, ['bind', 'escalate', 'impersonate']) THEN 'bind, escalate or impersonate' END,
            CASE WHEN list_contains(resources, '*') OR list_contains(verbs, '*') THEN 'wildcard' END
        ], lambda g: g IS NOT NULL) AS grants,
        array_to_string(verbs, ',') || ' on '
            || coalesce(nullif(array_to_string(resources, ','), ''), nullif(array_to_string(urls, ','), ''), '?')
            || coalesce(' (only ' || nullif(array_to_string(resource_names, ','), '') || ')', '') AS rule_text
    FROM rule_parts
),
role_grants AS (
    SELECT
        b.body_id,
        list_sort(list_distinct(flatten(list(g.grants)))) AS grants,
        list(g.rule_text ORDER BY g.rule_text) FILTER (WHERE len(g.grants) > 0) AS dangerous_rules
    FROM role_bodies b
    JOIN rule_grants g USING (body_id)
    GROUP BY b.body_id
),
latest_roles AS (  -- a role's rules as last seen in the period: what a binding hands out
    SELECT
        b.cluster, CASE b.resource_kind WHEN 'roles' THEN 'Role' ELSE 'ClusterRole' END AS kind,
        CASE WHEN b.resource_kind = 'roles' THEN b.namespace ELSE '' END AS namespace, b.name,
        arg_max(g.grants, (epoch_us(b.stage_ts), b.seq)) AS grants,
        arg_max(g.dangerous_rules, (epoch_us(b.stage_ts), b.seq)) AS dangerous_rules
    FROM role_bodies b
    JOIN role_grants g USING (body_id)
    WHERE b.kind IN ('Role', 'ClusterRole')
    GROUP BY ALL
),
changes AS (  -- the RBAC writes of the period
    SELECT
        ts, coalesce(cluster, '') AS cluster, audit_id, verb, "user", impersonated_by, source_ip, user_agent,
        resource AS resource_kind, namespace,
        coalesce(name, request_object->>'$.metadata.name', response_object->>'$.metadata.name') AS name,
        is_approved_change("user", impersonated_by) AS approved
    FROM audit_events
    WHERE resource IN ('roles', 'clusterroles', 'rolebindings', 'clusterrolebindings')
      AND stage = 'ResponseComplete'
      AND verb IN ('create', 'update', 'patch')
      AND (response_code IS NULL OR response_code < 400)
    QUALIFY audit_id IS NULL OR row_number() OVER (PARTITION BY cluster, audit_id ORDER BY ts) = 1
),
change_bodies AS (  -- the object after each change: the response, else the request (a patch: the patch)
    SELECT *
    FROM objects
    WHERE audit_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY cluster, audit_id ORDER BY (kind IS NOT NULL) DESC, seq DESC) = 1
),
role_changes AS (
    SELECT c.*, g.grants, g.dangerous_rules, NULL AS role_ref, NULL::VARCHAR[] AS subjects
    FROM changes c
    JOIN change_bodies b ON b.cluster = c.cluster AND b.audit_id = c.audit_id
    JOIN role_bodies rb ON rb.cluster = b.cluster AND rb.audit_id = b.audit_id AND rb.seq = b.seq
    JOIN role_grants g ON g.body_id = rb.body_id
    WHERE c.resource_kind IN ('roles', 'clusterroles') AND len(g.grants) > 0
),
bindings AS (
    SELECT
        c.*,
        b.obj->>'$.roleRef.kind' AS ref_kind,
        b.obj->>'$.roleRef.name' AS ref_name,
        list_transform(json_extract(b.obj, '$.subjects[*]'),
                       lambda s: concat_ws(' ', s->>'kind', concat_ws('/', s->>'namespace', s->>'name'))) AS subjects,
        list_transform(json_extract(b.obj, '$.subjects[*]'), lambda s: s->>'name') AS subject_names
    FROM changes c
    JOIN change_bodies b ON b.cluster = c.cluster AND b.audit_id = c.audit_id
    WHERE c.resource_kind IN ('rolebindings', 'clusterrolebindings')
),
binding_grants AS (
    SELECT
        bd.*,
        list_filter([
            CASE WHEN bd.ref_kind = 'ClusterRole' AND bd.ref_name = 'cluster-admin' THEN 'full control of the cluster (cluster-admin)' END,
            CASE WHEN bd.ref_kind = 'ClusterRole' AND bd.ref_name IN ('admin', 'edit')
                 THEN 'built-in role ' || bd.ref_name || ' (read and write secrets, write ingresses)' END,
            -- system:public-info-viewer is the default role meant for everyone (/version, /healthz)
            CASE WHEN list_has_any(bd.subject_names, ['system:anonymous', 'system:unauthenticated'])
                      AND bd.ref_name IS DISTINCT FROM 'system:public-info-viewer' THEN 'access for anonymous users' END
        ], lambda g: g IS NOT NULL) || coalesce(r.grants, []) AS grants,
        r.dangerous_rules
    FROM bindings bd
    LEFT JOIN latest_roles r
        ON r.cluster = bd.cluster AND r.kind = bd.ref_kind AND r.name = bd.ref_name
       AND r.namespace = CASE WHEN bd.ref_kind = 'Role' THEN coalesce(bd.namespace, '') ELSE '' END
),
findings AS (
    SELECT *, NULL AS ref_kind, NULL AS ref_name FROM role_changes
    UNION ALL BY NAME
    SELECT * EXCLUDE (subject_names) FROM binding_grants WHERE len(grants) > 0
),
described AS (
    SELECT
        *,
        CASE resource_kind WHEN 'roles' THEN 'Role' WHEN 'clusterroles' THEN 'ClusterRole'
                           WHEN 'rolebindings' THEN 'RoleBinding' ELSE 'ClusterRoleBinding' END AS kind_name,
        CASE verb WHEN 'create' THEN 'created' WHEN 'update' THEN 'updated' ELSE 'patched' END AS did
    FROM findings
)
SELECT
    concat_ws('/', kind_name, namespace, name) AS resource,
    coalesce("user", '(unknown)') || ' ' || did || ' ' || kind_name || ' ' || concat_ws('/', namespace, name)
    || CASE WHEN impersonated_by IS NOT NULL THEN format(' (impersonated by {})', impersonated_by) ELSE '' END
    || CASE WHEN resource_kind IN ('roles', 'clusterroles') THEN ' with rules granting ' || array_to_string(grants, ', ')
            ELSE format(' binding {} to {}: {}', coalesce(ref_kind || ' ' || ref_name, '(role not in the patch)'),
                        coalesce(array_to_string(subjects, ', '), 'no subjects'), array_to_string(grants, ', ')) END
    || coalesce(' (' || array_to_string(dangerous_rules, '; ') || ')', '')
    || CASE WHEN approved THEN ' [approved actor]' ELSE '' END AS reason,
    ts, "user", impersonated_by, verb, resource_kind, namespace, name, grants, dangerous_rules,
    ref_kind || ' ' || ref_name AS role_ref, subjects, approved, source_ip, user_agent, audit_id, nullif(cluster, '') AS cluster
FROM described
ORDER BY ts
