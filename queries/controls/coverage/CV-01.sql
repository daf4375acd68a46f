-- CV-01: silences in a log source that normally logs: a gap of at least gap_minutes between
-- consecutive records (or at the period's start or end) while the source logged at least
-- gap_busy_records records in the gap_minutes before and in the gap_minutes after it.
-- Requiring traffic on both sides keeps sources that are naturally quiet (nights, weekends)
-- from being reported; a source that stops while busy is.
-- A source: the cluster, the log format and the folder its objects are in, without the date
-- parts of the key (ingress-nginx/public/2026/11/18/ -> ingress-nginx/public). The API
-- server's audit events are one source per cluster, whichever backend (log files, webhook
-- batches) delivered them.
WITH params AS (
    SELECT
        getvariable('gap_minutes')::BIGINT AS gap_minutes,
        getvariable('gap_minutes')::BIGINT * 60000000 AS gap_us,
        getvariable('gap_busy_records') AS busy_records,
        epoch_us(getvariable('period_start')) AS start_us,
        epoch_us(getvariable('period_end')) AS end_us
),
http_per_object_minute AS (  -- aggregate first: one row per object and minute
    SELECT cluster, source_kind, object, epoch_us(ts) // 60000000 AS minute,
           count(*) AS records, min(epoch_us(ts)) AS first_us, max(epoch_us(ts)) AS last_us
    FROM http_requests
    GROUP BY ALL
),
object_sources AS (  -- once per distinct object: the folder without file name and date parts
    SELECT object,
           regexp_replace(regexp_replace(object, '/[^/]*$', ''),
                          '/([A-Za-z_]+=)?(19|20)\d{2}(-\d{2}){0,2}(/.*)?$', '') AS source
    FROM (SELECT DISTINCT object FROM http_per_object_minute)
),
audit_per_minute AS (  -- audit records are written at their stage time
    SELECT cluster, 'k8s-audit' AS source_kind, 'kube-apiserver audit (all backends)' AS source,
           epoch_us(coalesce(stage_ts, ts)) // 60000000 AS minute, count(*) AS records,
           min(epoch_us(coalesce(stage_ts, ts))) AS first_us, max(epoch_us(coalesce(stage_ts, ts))) AS last_us
    FROM audit_events
    GROUP BY ALL
),
per_minute AS (
    SELECT h.cluster, h.source_kind, s.source, h.minute,
           sum(h.records) AS records, min(h.first_us) AS first_us, max(h.last_us) AS last_us
    FROM http_per_object_minute h
    JOIN object_sources s USING (object)
    GROUP BY ALL
    UNION ALL
    SELECT cluster, source_kind, source, minute, records, first_us, last_us FROM audit_per_minute
),
sides AS (  -- records in the gap_minutes up to and from each active minute
    SELECT
        m.*,
        sum(m.records) OVER (PARTITION BY m.cluster, m.source_kind, m.source ORDER BY m.minute
                             RANGE BETWEEN (SELECT gap_minutes FROM params) PRECEDING AND CURRENT ROW) AS records_before,
        sum(m.records) OVER (PARTITION BY m.cluster, m.source_kind, m.source ORDER BY m.minute
                             RANGE BETWEEN CURRENT ROW AND (SELECT gap_minutes FROM params) FOLLOWING) AS records_after,
        row_number() OVER (PARTITION BY m.cluster, m.source_kind, m.source ORDER BY m.minute) AS nth,
        count(*) OVER (PARTITION BY m.cluster, m.source_kind, m.source) AS active_minutes
    FROM per_minute m
),
neighbours AS (
    SELECT
        *,
        lead(first_us) OVER w AS next_first_us,
        lead(records_after) OVER w AS next_records_after
    FROM sides
    WINDOW w AS (PARTITION BY cluster, source_kind, source ORDER BY minute)
),
silences AS (
    SELECT cluster, source_kind, source, 'inside the period' AS position,
           last_us AS gap_start_us, next_first_us AS gap_end_us, records_before, next_records_after AS records_after
    FROM neighbours
    WHERE next_first_us IS NOT NULL
    UNION ALL  -- from the period's start to the first record
    SELECT cluster, source_kind, source, 'at the start of the period',
           (SELECT start_us FROM params), first_us, NULL, records_after
    FROM neighbours
    WHERE nth = 1
    UNION ALL  -- from the last record to the period's end
    SELECT cluster, source_kind, source, 'at the end of the period',
           last_us, (SELECT end_us FROM params), records_before, NULL
    FROM neighbours
    WHERE nth = active_minutes
),
gaps AS (
    SELECT s.*, round((gap_end_us - gap_start_us) / 60e6, 1) AS gap_minutes
    FROM silences s, params p
    WHERE s.gap_end_us - s.gap_start_us >= p.gap_us
      AND coalesce(s.records_before, p.busy_records) >= p.busy_records
      AND coalesce(s.records_after, p.busy_records) >= p.busy_records
)
SELECT
    source AS resource,
    format('No records from {} ({}) for {} minutes {}, from {} to {}, '
           'although it logged {} records in the {} minutes before and {} after',
           source, source_kind, gap_minutes, position,
           strftime(make_timestamp(gap_start_us), '%Y-%m-%d %H:%M:%S'),
           strftime(make_timestamp(gap_end_us), '%Y-%m-%d %H:%M:%S UTC'),
           coalesce(records_before::VARCHAR, '(none: period start)'), getvariable('gap_minutes'),
           coalesce(records_after::VARCHAR, '(none: period end)')) AS reason,
    cluster, source_kind, source,
    to_timestamp(gap_start_us / 1e6) AS gap_start,
    to_timestamp(gap_end_us / 1e6) AS gap_end,
    gap_minutes, position,
    records_before::BIGINT AS records_before, records_after::BIGINT AS records_after
FROM gaps
ORDER BY gap_start_us, source
