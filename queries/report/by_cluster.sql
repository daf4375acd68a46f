-- Records per cluster and source kind, for the coverage section.
SELECT coalesce(cluster, 'default') AS cluster, source_kind, count(*) AS records
FROM http_requests
GROUP BY ALL
UNION ALL
SELECT coalesce(cluster, 'default'), 'k8s_audit', count(*)
FROM audit_events
GROUP BY ALL
ORDER BY cluster, source_kind;
