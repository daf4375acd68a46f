-- PD-08: how far the GitOps baseline could be checked (one row): whether a baseline is
-- configured, how many of its ingresses the period's audit log shows, and how many ingresses
-- it shows that the baseline lacks. It is what keeps PD-07's pass honest: with no baseline,
-- PD-07 compares nothing, and this row says so.
WITH observed AS (  -- ingresses the period shows
    SELECT DISTINCT namespace, name
    FROM audit_events
    WHERE resource = 'ingresses' AND namespace IS NOT NULL AND name IS NOT NULL
      -- seen in full (a body) or deleted: what PD-07 can compare
      AND (request_object IS NOT NULL OR response_object IS NOT NULL OR verb = 'delete')
),
baseline AS (
    SELECT b.namespace, b.name, o.name IS NOT NULL AS seen
    FROM baseline_ingresses b
    LEFT JOIN observed o USING (namespace, name)
),
summary AS (
    SELECT
        getvariable('baseline_loaded') AS baseline_loaded,
        (SELECT count(*) FROM baseline) AS manifests,
        (SELECT count(*) FROM baseline WHERE seen) AS manifests_seen,
        (SELECT list(namespace || '/' || name ORDER BY namespace, name) FROM baseline WHERE NOT seen) AS manifests_not_seen,
        (SELECT count(*) FROM observed o
          WHERE NOT EXISTS (SELECT 1 FROM baseline_ingresses b WHERE b.namespace = o.namespace AND b.name = o.name)) AS seen_not_in_baseline
)
SELECT
    'ingress baseline' AS resource,
    CASE
        WHEN NOT baseline_loaded THEN
            'No baseline configured (policy baseline.ingress_manifests): drift from the GitOps repository (PD-07) was not evaluated'
        ELSE format('{} ingress manifests in the baseline, {} of them seen in the period''s audit log and compared (PD-07); '
                    || '{} ingresses seen that the baseline does not hold', manifests, manifests_seen, seen_not_in_baseline)
    END AS reason,
    baseline_loaded, manifests, manifests_seen, manifests_not_seen, seen_not_in_baseline
FROM summary
