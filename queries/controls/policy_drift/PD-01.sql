-- PD-01: the ingress change log: every create, update, patch and delete of an ingress in the
-- period, with what changed, field by field, where the audit log holds the bodies.
-- A patch's request body is the change itself; for an update or a patch whose result was logged,
-- the stored object is compared with the last state of the same ingress seen earlier in the
-- period. Status updates (ingresses/status, the controller publishing its address) are not
-- changes of the ingress and are left out.
WITH bodies AS (  -- every logged body of an ingress, to know its state over time
    SELECT coalesce(cluster, '') AS cluster, namespace, name, stage_ts, 0 AS seq, request_object AS obj
    FROM audit_events
    WHERE resource = 'ingresses' AND verb IN ('create', 'update') AND request_object IS NOT NULL
      AND (response_code IS NULL OR response_code < 400)
    UNION ALL
    SELECT coalesce(cluster, ''), namespace, name, stage_ts, 1 AS seq, response_object  -- after the request
    FROM audit_events
    WHERE resource = 'ingresses' AND response_object IS NOT NULL
      AND (response_code IS NULL OR response_code < 400)
),
objects AS (  -- full Ingress objects; a list response holds them under items
    SELECT cluster, coalesce(obj->>'$.metadata.namespace', namespace) AS namespace,
           coalesce(obj->>'$.metadata.name', name) AS name, stage_ts, seq, obj
    FROM bodies
    WHERE obj->>'$.kind' = 'Ingress'
    UNION ALL
    SELECT cluster, coalesce(item->>'$.metadata.namespace', namespace), item->>'$.metadata.name', stage_ts, seq, item
    FROM (SELECT cluster, namespace, stage_ts, seq, unnest(json_extract(obj, '$.items[*]')) AS item
          FROM bodies WHERE json_type(obj, '$.items') = 'ARRAY')
),
states AS (  -- one state per ingress and instant: the response wins over the request
    SELECT * FROM objects
    QUALIFY row_number() OVER (PARTITION BY cluster, namespace, name, stage_ts ORDER BY seq DESC) = 1
),
changes AS (
    SELECT
        coalesce(audit_id, '') || '#' || row_number() OVER () AS change_id,
        ts, stage_ts, coalesce(cluster, '') AS cluster, audit_id, verb, "user", impersonated_by, source_ip, user_agent,
        namespace,
        coalesce(name, request_object->>'$.metadata.name', response_object->>'$.metadata.name') AS name,
        request_object,
        CASE WHEN response_object->>'$.kind' = 'Ingress' THEN response_object
             WHEN verb IN ('create', 'update') AND request_object->>'$.kind' = 'Ingress' THEN request_object
        END AS new_obj
    FROM audit_events
    WHERE resource = 'ingresses' AND coalesce(subresource, '') = ''
      AND stage = 'ResponseComplete'
      AND verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
      AND (response_code IS NULL OR response_code < 400)
    QUALIFY audit_id IS NULL OR row_number() OVER (PARTITION BY cluster, audit_id ORDER BY ts) = 1
),
with_previous AS (  -- the last state of the same ingress seen before this change
    SELECT c.*, s.obj AS prev_obj
    FROM changes c
    ASOF LEFT JOIN states s
        ON s.cluster = c.cluster AND s.namespace = c.namespace AND s.name = c.name AND s.stage_ts < c.stage_ts
),
based AS (
    SELECT
        *,
        CASE
            WHEN verb IN ('delete', 'deletecollection') THEN 'deleted'
            WHEN verb = 'create' AND new_obj IS NOT NULL THEN 'created'
            WHEN prev_obj IS NOT NULL AND new_obj IS NOT NULL THEN 'previous state'
            WHEN verb = 'patch' AND request_object IS NOT NULL THEN 'patch body'
            WHEN new_obj IS NOT NULL THEN 'stored object (previous state not seen)'
            ELSE 'body not logged'
        END AS diff_basis
    FROM with_previous
),
docs AS (  -- the documents each change is described from
    SELECT change_id, 'old' AS side, prev_obj AS doc FROM based WHERE diff_basis = 'previous state'
    UNION ALL
    SELECT change_id, 'new', new_obj FROM based
    WHERE diff_basis IN ('previous state', 'created', 'stored object (previous state not seen)')
    UNION ALL
    SELECT change_id, 'patch', request_object FROM based
    WHERE diff_basis = 'patch body' AND json_type(request_object) = 'OBJECT'
),
leaves AS (  -- spec, annotations and labels as path = value; bookkeeping fields left out
    SELECT d.change_id, d.side, replace(substr(t.fullkey, 3), '"', '') AS path, t.value::VARCHAR AS value
    FROM docs d, json_tree(d.doc) t
    WHERE (t.type NOT IN ('OBJECT', 'ARRAY') OR t.value::VARCHAR IN ('[]', '{}'))
      AND (t.fullkey LIKE '$.spec%' OR t.fullkey LIKE '$.metadata.annotations.%' OR t.fullkey LIKE '$.metadata.labels.%')
      AND t.fullkey NOT LIKE '%kubectl.kubernetes.io/last-applied-configuration%'
),
json_patch_ops AS (  -- a JSON patch (RFC 6902) is a list of operations on /slash/paths
    SELECT change_id, op->>'op' AS op, op->>'path' AS raw_path, (op->'value')::VARCHAR AS value
    FROM (SELECT change_id, unnest(json_extract(request_object, '$[*]')) AS op
          FROM based WHERE diff_basis = 'patch body' AND json_type(request_object) = 'ARRAY')
),
entries AS (
    SELECT coalesce(o.change_id, n.change_id) AS change_id, coalesce(o.path, n.path) AS path,
           CASE WHEN o.path IS NULL THEN '+' WHEN n.path IS NULL THEN '-' ELSE '~' END AS sign,
           o.value AS old_value, n.value AS new_value
    FROM (SELECT * FROM leaves WHERE side = 'old') o
    FULL JOIN (SELECT * FROM leaves WHERE side = 'new') n ON n.change_id = o.change_id AND n.path = o.path
    WHERE o.value IS DISTINCT FROM n.value
      -- a created object, or one whose previous state is unknown, is listed as it was stored
      AND (o.change_id IS NOT NULL OR n.change_id IN (SELECT change_id FROM based WHERE diff_basis = 'previous state'))
    UNION ALL
    SELECT l.change_id, l.path, CASE b.diff_basis WHEN 'created' THEN '+' ELSE '=' END, NULL, l.value
    FROM leaves l JOIN based b USING (change_id)
    WHERE l.side = 'new' AND b.diff_basis IN ('created', 'stored object (previous state not seen)')
    UNION ALL
    SELECT change_id, path, CASE WHEN value = 'null' THEN '-' ELSE '=' END, NULL, nullif(value, 'null')
    FROM leaves WHERE side = 'patch'
    UNION ALL
    SELECT change_id,
           array_to_string(list_transform(string_split(ltrim(raw_path, '/'), '/'),
                                          lambda s: replace(replace(s, '~1', '/'), '~0', '~')), '.'),
           CASE op WHEN 'add' THEN '+' WHEN 'remove' THEN '-' WHEN 'replace' THEN '~' ELSE op END, NULL, value
    FROM json_patch_ops
),
named AS (  -- annotations and labels by their key, the rest by their path in the object
    SELECT
        *,
        CASE WHEN path LIKE 'metadata.annotations.%' THEN 'annotation ' || substr(path, length('metadata.annotations.') + 1)
             WHEN path LIKE 'metadata.labels.%' THEN 'label ' || substr(path, length('metadata.labels.') + 1)
             ELSE path END AS field
    FROM entries
),
described AS (
    SELECT
        change_id,
        list(
            CASE sign WHEN '+' THEN 'added ' WHEN '-' THEN 'removed ' WHEN '~' THEN 'changed ' WHEN '=' THEN 'set ' ELSE sign || ' ' END
            || field || CASE
                WHEN sign = '-' THEN coalesce(' (was ' || left(old_value, 80) || ')', '')
                WHEN sign = '~' AND old_value IS NOT NULL THEN ' from ' || left(old_value, 80) || ' to ' || left(coalesce(new_value, 'null'), 80)
                ELSE coalesce(' = ' || left(new_value, 80), '')
            END
            ORDER BY path
        ) AS changes,
        list(DISTINCT substr(path, length('metadata.annotations.') + 1) ORDER BY substr(path, length('metadata.annotations.') + 1))
            FILTER (WHERE path LIKE 'metadata.annotations.%') AS annotations_changed
    FROM named
    GROUP BY change_id
),
logged AS (
    SELECT b.*, d.changes, d.annotations_changed
    FROM based b
    LEFT JOIN described d USING (change_id)
)
SELECT
    namespace || '/' || coalesce(name, '*') AS resource,
    format('{} {} ingress {}/{}{}{}', coalesce("user", '(unknown)'),
           CASE verb WHEN 'create' THEN 'created' WHEN 'update' THEN 'updated' WHEN 'patch' THEN 'patched'
                     WHEN 'delete' THEN 'deleted' ELSE 'deleted all ingresses of' END,
           namespace, coalesce(name, '*'),
           CASE WHEN impersonated_by IS NOT NULL THEN format(' (impersonated by {})', impersonated_by) ELSE '' END,
           CASE
               WHEN diff_basis = 'deleted' THEN ''
               WHEN len(changes) > 0 THEN
                   ': ' || left(array_to_string(list_slice(changes, 1, 3), '; '), 300)
                   || CASE WHEN len(changes) > 3 THEN format(' … and {} more', len(changes) - 3) ELSE '' END
               WHEN diff_basis = 'body not logged' THEN ': what changed was not logged (audit level Metadata)'
               ELSE ': no change to spec, annotations or labels'
           END) AS reason,
    ts, "user", impersonated_by, verb, 'ingresses' AS resource_kind, namespace, name,
    diff_basis, annotations_changed, list_slice(changes, 1, 40) AS changes,
    source_ip, user_agent, audit_id, nullif(cluster, '') AS cluster
FROM logged
ORDER BY ts
