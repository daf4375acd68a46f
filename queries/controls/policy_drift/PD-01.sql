-- PD-01: the ingress change log: every create, update, patch and delete of an ingress in the
-- period, with what changed, field by field, where the audit log holds the bodies.
-- A patch's request body is the change itself; for an update or a patch whose result was logged,
-- the stored object is compared with the last state of the same ingress seen earlier in the
-- period. Status updates (ingresses/status, the controller publishing its address) are not
-- changes of the ingress and are left out. Both steps are the view ingress_change_diffs,
-- queries/lib/k8s_changes.sql; this control words them.
WITH worded AS (  -- each field that changed, in words, in path order
    SELECT
        *,
        list_transform(fields, lambda f:
            CASE f.sign WHEN '+' THEN 'added ' WHEN '-' THEN 'removed ' WHEN '~' THEN 'changed ' WHEN '=' THEN 'set ' ELSE f.sign || ' ' END
            -- annotations and labels by their key, the rest by their path in the object
            || CASE WHEN f.path LIKE 'metadata.annotations.%' THEN 'annotation ' || substr(f.path, length('metadata.annotations.') + 1)
                    WHEN f.path LIKE 'metadata.labels.%' THEN 'label ' || substr(f.path, length('metadata.labels.') + 1)
                    ELSE f.path END
            || CASE
                WHEN f.sign = '-' THEN coalesce(' (was ' || left(f.old_value, 80) || ')', '')
                WHEN f.sign = '~' AND f.old_value IS NOT NULL THEN ' from ' || left(f.old_value, 80) || ' to ' || left(coalesce(f.new_value, 'null'), 80)
                ELSE coalesce(' = ' || left(f.new_value, 80), '')
            END) AS changes,
        list_transform(list_filter(fields, lambda f: f.path LIKE 'metadata.annotations.%'),
                       lambda f: substr(f.path, length('metadata.annotations.') + 1)) AS annotation_keys
    FROM ingress_change_diffs
),
logged AS (
    SELECT *, nullif(list_sort(list_distinct(annotation_keys)), []) AS annotations_changed
    FROM worded
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
