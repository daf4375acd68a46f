-- PD-07: ingresses whose last state seen in the period differs from the GitOps baseline (the
-- manifests in policy baseline.ingress_manifests) in spec or in an ingress-nginx annotation,
-- ingresses seen in the cluster that the baseline does not hold, and baseline ingresses deleted
-- from the cluster. An ingress the audit log never shows in full cannot be judged and is left
-- out (PD-08 says how much of the baseline was seen). Without a baseline there is nothing to
-- compare with: no rows, and PD-08 reports that drift was not evaluated. The states an ingress
-- was seen in and the changes to it: the views ingress_states and ingress_changes,
-- queries/lib/k8s_changes.sql.
WITH changes AS (  -- who changed each ingress last, and deletions
    SELECT cluster, namespace, name, stage_ts, verb, "user"
    FROM ingress_changes
    WHERE verb <> 'deletecollection' AND name IS NOT NULL
),
timeline AS (  -- every state seen, and deletions
    SELECT cluster, namespace, name, stage_ts, seq, obj, false AS deleted FROM ingress_states
    UNION ALL
    SELECT cluster, namespace, name, stage_ts, 2, NULL, true FROM changes WHERE verb = 'delete'
),
last_state AS (
    SELECT
        cluster, namespace, name,
        arg_max(obj, (epoch_us(stage_ts), seq)) AS obj,
        arg_max(deleted, (epoch_us(stage_ts), seq)) AS deleted,
        max(stage_ts) AS last_seen
    FROM timeline
    GROUP BY ALL
),
last_change AS (
    SELECT cluster, namespace, name, arg_max("user", stage_ts) AS last_changed_by, max(stage_ts) AS last_change
    FROM changes
    GROUP BY ALL
),
compared AS (  -- only ingresses the period shows; nothing at all without a baseline
    SELECT s.*, b.manifest, b.file AS baseline_file
    FROM last_state s
    LEFT JOIN baseline_ingresses b ON b.namespace = s.namespace AND b.name = s.name
    WHERE getvariable('baseline_loaded')
),
docs AS (
    SELECT cluster, namespace, name, 'cluster' AS side, obj AS doc FROM compared WHERE NOT deleted AND manifest IS NOT NULL
    UNION ALL
    SELECT cluster, namespace, name, 'git', manifest FROM compared WHERE NOT deleted AND manifest IS NOT NULL
),
leaves AS (  -- spec and the ingress-nginx annotations, as path = text
    SELECT d.cluster, d.namespace, d.name, d.side, replace(substr(t.fullkey, 3), '"', '') AS path,
           CASE WHEN t.type IN ('OBJECT', 'ARRAY') THEN t.value::VARCHAR ELSE t.value::JSON->>'$' END AS value
    FROM docs d, json_tree(d.doc) t
    WHERE (t.type NOT IN ('OBJECT', 'ARRAY') OR t.value::VARCHAR IN ('[]', '{}'))
      AND (t.fullkey LIKE '$.spec%' OR t.fullkey LIKE '$.metadata.annotations."nginx.ingress.kubernetes.io/%')
),
differences AS (
    SELECT
        coalesce(c.cluster, g.cluster) AS cluster, coalesce(c.namespace, g.namespace) AS namespace,
        coalesce(c.name, g.name) AS name, coalesce(c.path, g.path) AS path, g.value AS git_value, c.value AS cluster_value
    FROM (SELECT * FROM leaves WHERE side = 'cluster') c
    FULL JOIN (SELECT * FROM leaves WHERE side = 'git') g
        ON g.cluster = c.cluster AND g.namespace = c.namespace AND g.name = c.name AND g.path = c.path
    WHERE c.value IS DISTINCT FROM g.value
),
described AS (
    SELECT
        cluster, namespace, name,
        list(
            replace(path, 'metadata.annotations.', 'annotation ') || ': '
            || coalesce('"' || left(regexp_replace(cluster_value, '\s+', ' ', 'g'), 80) || '"', 'absent') || ' in the cluster, '
            || coalesce('"' || left(regexp_replace(git_value, '\s+', ' ', 'g'), 80) || '"', 'absent') || ' in Git'
            ORDER BY path
        ) AS differences
    FROM differences
    GROUP BY ALL
),
drift AS (
    SELECT
        c.*, d.differences,
        CASE
            WHEN c.deleted AND c.manifest IS NOT NULL THEN 'deleted from the cluster, still in Git'
            WHEN NOT c.deleted AND c.manifest IS NULL THEN 'in the cluster, not in Git'
            WHEN NOT c.deleted AND d.differences IS NOT NULL THEN 'differs from Git'
        END AS drift
    FROM compared c
    LEFT JOIN described d USING (cluster, namespace, name)
),
reported AS (
    SELECT d.*, l.last_changed_by, l.last_change
    FROM drift d
    LEFT JOIN last_change l USING (cluster, namespace, name)
    WHERE d.drift IS NOT NULL
)
SELECT
    namespace || '/' || name AS resource,
    format('Ingress {}/{} {}{}{}', namespace, name, drift,
           CASE WHEN differences IS NOT NULL THEN ': ' || left(array_to_string(list_slice(differences, 1, 3), '; '), 400)
                || CASE WHEN len(differences) > 3 THEN format(' … and {} more', len(differences) - 3) ELSE '' END
                ELSE '' END,
           coalesce(format(' (last changed by {} on {})', last_changed_by, strftime(last_change, '%Y-%m-%d %H:%M UTC')), '')) AS reason,
    namespace, name, drift, differences, last_seen, last_changed_by AS "user", last_change,
    baseline_file, 'ingresses' AS resource_kind, nullif(cluster, '') AS cluster
FROM reported
ORDER BY namespace, name
