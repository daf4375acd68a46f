-- PD-08: how far the GitOps baseline could be checked, one row per cluster: whether a baseline
-- is configured, how many of its ingresses the cluster's audit log shows in the period, and how
-- many ingresses it shows that the baseline lacks. It is what keeps PD-07's pass honest: with no
-- baseline, PD-07 compares nothing, and then one row (no cluster: it is the policy's doing) says so.
-- The clusters are those the period's objects or audit events name (one row without a cluster
-- when there are none).
WITH observed AS (  -- ingresses the period shows, per cluster
    SELECT DISTINCT coalesce(cluster, '') AS cluster, namespace, name
    FROM audit_events
    WHERE resource = 'ingresses' AND namespace IS NOT NULL AND name IS NOT NULL
      -- seen in full (a body) or deleted: what PD-07 can compare
      AND (request_object IS NOT NULL OR response_object IS NOT NULL OR verb = 'delete')
),
named AS (
    SELECT coalesce(cluster, '') AS cluster FROM objects
    UNION
    SELECT coalesce(cluster, '') FROM audit_events
),
clusters AS (  -- `whole`: the one row that counts every cluster's ingresses
    SELECT cluster, false AS whole FROM named WHERE getvariable('baseline_loaded')
    UNION ALL
    SELECT '', true WHERE NOT getvariable('baseline_loaded') OR NOT EXISTS (SELECT 1 FROM named)
),
baseline AS (
    SELECT c.cluster, b.namespace, b.name,
           EXISTS (SELECT 1 FROM observed o
                   WHERE (c.whole OR o.cluster = c.cluster) AND o.namespace = b.namespace AND o.name = b.name) AS seen
    FROM clusters c
    CROSS JOIN baseline_ingresses b
),
summary AS (
    SELECT
        c.cluster,
        getvariable('baseline_loaded') AS baseline_loaded,
        (SELECT count(*) FROM baseline b WHERE b.cluster = c.cluster) AS manifests,
        (SELECT count(*) FROM baseline b WHERE b.cluster = c.cluster AND seen) AS manifests_seen,
        (SELECT list(namespace || '/' || name ORDER BY namespace, name) FROM baseline b
          WHERE b.cluster = c.cluster AND NOT seen) AS manifests_not_seen,
        (SELECT count(*) FROM observed o
          WHERE (c.whole OR o.cluster = c.cluster)
            AND NOT EXISTS (SELECT 1 FROM baseline_ingresses b WHERE b.namespace = o.namespace AND b.name = o.name)) AS seen_not_in_baseline
    FROM clusters c
)
SELECT
    'ingress baseline' AS resource,
    CASE
        WHEN NOT baseline_loaded THEN
            'No baseline configured (policy baseline.ingress_manifests): drift from the GitOps repository (PD-07) was not evaluated'
        ELSE format('{} ingress manifests in the baseline, {} of them seen in the period''s audit log and compared (PD-07); '
                    || '{} ingresses seen that the baseline does not hold', manifests, manifests_seen, seen_not_in_baseline)
    END AS reason,
    baseline_loaded, manifests, manifests_seen, manifests_not_seen, seen_not_in_baseline,
    nullif(cluster, '') AS cluster
FROM summary
ORDER BY cluster
