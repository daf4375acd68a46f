-- CV-05: records read but not parsed, by source kind and reason (the rejects table), with
-- their share of what each source kind read, so the report states what it did not examine.
-- Per cluster: rejects carry no cluster, the objects table does (one label per object).
WITH object_cluster AS (
    SELECT object, min(coalesce(cluster, '')) AS cluster FROM objects GROUP BY object
),
read_per_kind AS (
    SELECT coalesce(cluster, '') AS cluster, coalesce(source_kind, '(unclassified)') AS source_kind, sum(records_read) AS records_read
    FROM objects
    GROUP BY 1, 2
),
rejected AS (
    SELECT coalesce(o.cluster, '') AS cluster, coalesce(r.source_kind, '(unclassified)') AS source_kind, r.reason, r.object, r.line, r.raw
    FROM rejects r
    LEFT JOIN object_cluster o USING (object)
),
per_reason AS (
    SELECT
        cluster, source_kind, reason,
        count(*) AS records_rejected,
        count(DISTINCT object) AS objects,
        arg_min(object, object || lpad(line::VARCHAR, 12, '0')) AS example_object,
        arg_min(line, object || lpad(line::VARCHAR, 12, '0')) AS example_line,
        arg_min(left(raw, 200), object || lpad(line::VARCHAR, 12, '0')) AS example_raw
    FROM rejected
    GROUP BY ALL
)
SELECT
    format('{}: {}', p.source_kind, p.reason) AS resource,
    format('{} record(s) in {} object(s) were not parsed ({}% of the {} {} records read): {}',
           p.records_rejected, p.objects,
           coalesce(round(100.0 * p.records_rejected / nullif(k.records_read, 0), 3)::VARCHAR, '?'),
           coalesce(k.records_read, 0), p.source_kind, p.reason) AS reason,
    p.source_kind, p.reason AS reject_reason, p.records_rejected, p.objects,
    round(100.0 * p.records_rejected / nullif(k.records_read, 0), 3) AS percent_of_read,
    p.example_object AS object, p.example_line AS line, p.example_raw AS raw,
    nullif(p.cluster, '') AS cluster
FROM per_reason p
LEFT JOIN read_per_kind k USING (cluster, source_kind)
ORDER BY p.records_rejected DESC, p.source_kind, p.reason, p.cluster
