-- CV-04: archive objects of the period that contributed nothing the controls could use:
-- unreadable (corrupt gzip, access denied …), not recognized as any known log format, or
-- recognized but with not one record parsed. The report's conclusions do not cover them.
WITH listed AS (
    SELECT object, cluster, source_kind, size, records_read, records_parsed, records_rejected, error
    FROM objects
),
unusable AS (
    SELECT
        *,
        CASE
            WHEN error IS NOT NULL THEN 'unreadable'
            WHEN source_kind IS NULL THEN 'unclassified'
            ELSE 'nothing parsed'
        END AS problem
    FROM listed
    WHERE error IS NOT NULL
       OR source_kind IS NULL
       OR (coalesce(records_parsed, 0) = 0 AND coalesce(records_read, 0) > 0)
)
SELECT
    object AS resource,
    format('{} is {}: {}', object, problem,
           CASE problem
               WHEN 'unreadable' THEN error
               WHEN 'unclassified' THEN format('not recognized as any known log format ({} bytes)', coalesce(size, 0))
               ELSE format('all {} records were rejected as {}', records_read, source_kind) END) AS reason,
    object, cluster, source_kind, problem, error, size, records_read, records_parsed, records_rejected
FROM unusable
ORDER BY problem, object
