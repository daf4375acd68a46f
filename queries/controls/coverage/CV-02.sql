-- CV-02: signs that a source's clock (or the time it logs) is off by more than
-- clock_skew_seconds. Without the same request in two logs, skew between two sources cannot
-- be measured directly; what can be, per source, is time that contradicts itself:
--   1. records stamped later than the end of the day their object's key names (a file for
--      2026-11-18 cannot hold what happened on the 19th unless its clock ran ahead);
--   2. a record written after another (later line of the same object) but stamped more than
--      the tolerance earlier: the clock was stepped back, or writers with different clocks
--      share the object;
--   3. audit events whose stageTimestamp is before their requestReceivedTimestamp: both come
--      from the API server's own clock, so a negative duration means that clock jumped back.
-- Times are when a record was written: ts for HTTP logs, stage_ts for audit events.
WITH params AS (
    SELECT getvariable('clock_skew_seconds')::BIGINT * 1000000 AS skew_us,
           -- minute buckets this many minutes apart hold records surely more than the tolerance apart
           (getvariable('clock_skew_seconds')::BIGINT + 59) // 60 + 1 AS skew_minutes
),
-- Not materialized: read in place by its two users, the per-minute summary and (for the rare
-- objects ahead of their day) the record-by-record look; materializing 22 M rows took 2/3 of
-- this control's time (11 s of the benchmark week's 35 s of controls; 3.4 s without).
written AS NOT MATERIALIZED (
    SELECT cluster, source_kind, object, line, epoch_us(ts) AS t_us FROM http_requests
    UNION ALL
    SELECT cluster, 'k8s-audit', object, line, epoch_us(coalesce(stage_ts, ts)) FROM audit_events
),
per_object_minute AS (  -- one pass over the records: file order and time at minute resolution
    SELECT object, cluster, source_kind, t_us // 60000000 AS minute,
           min(line) AS first_line, max(line) AS last_line, max(t_us) AS last_us
    FROM written
    GROUP BY ALL
),
distinct_objects AS (
    SELECT object, cluster, source_kind, regexp_replace(object, '/[^/]*$', '') AS folder, max(last_us) AS last_us
    FROM per_object_minute
    GROUP BY ALL
),
object_days AS (  -- once per distinct object: the day its folder names, if it names one
    SELECT
        *,
        regexp_extract(folder,
                       '/(?:[A-Za-z_]+=)?((?:19|20)\d{2})[-/](?:[A-Za-z_]+=)?(\d{2})[-/](?:[A-Za-z_]+=)?(\d{2})(?:/|$)',
                       ['y', 'm', 'd']) AS day
    FROM distinct_objects
),
objects_seen AS (
    SELECT
        object, cluster, source_kind, last_us,
        regexp_replace(folder, '/([A-Za-z_]+=)?(19|20)\d{2}(-\d{2}){0,2}(/.*)?$', '') AS source,
        epoch_us(make_timestamp(nullif(day.y, '')::INTEGER, nullif(day.m, '')::INTEGER, nullif(day.d, '')::INTEGER,
                                0, 0, 0)) + 86400000000 AS day_end_us  -- NULL when the key names no day
    FROM object_days
),
objects_ahead AS (  -- usually none: only their records are looked at one by one
    SELECT object, day_end_us
    FROM objects_seen
    WHERE last_us > day_end_us + (SELECT skew_us FROM params)
),
ahead_of_day AS (
    SELECT o.cluster, o.source_kind, o.source, 'stamped after the day of its file' AS check_name,
           count(*) AS occurrences, max(w.t_us - o.day_end_us) AS worst_us,
           arg_max(w.object, w.t_us - o.day_end_us) AS example_object, arg_max(w.line, w.t_us - o.day_end_us) AS example_line
    FROM written w
    JOIN objects_ahead a USING (object)
    JOIN objects_seen o USING (object)
    WHERE w.t_us > a.day_end_us + (SELECT skew_us FROM params)
    GROUP BY ALL
),
later_minutes AS (  -- the earliest line among the minutes that lie beyond the tolerance after this one
    SELECT
        object, minute, last_line,
        min(first_line) OVER (PARTITION BY object ORDER BY minute
                              RANGE BETWEEN (SELECT skew_minutes FROM params) FOLLOWING AND UNBOUNDED FOLLOWING)
            AS later_first_line
    FROM per_object_minute
),
stepped_back_minutes AS (  -- minutes holding a line written after one stamped well later than itself
    SELECT object, minute, last_line
    FROM later_minutes
    WHERE later_first_line < last_line
),
step_sizes AS (  -- only for those few minutes: how far back, against the latest earlier-written minute
    SELECT b.object, b.minute, b.last_line, max(a.minute - b.minute) AS minutes_back
    FROM stepped_back_minutes b
    JOIN per_object_minute a
      ON a.object = b.object
     AND a.minute >= b.minute + (SELECT skew_minutes FROM params)
     AND a.first_line < b.last_line
    GROUP BY ALL
),
stepped_back AS (
    SELECT o.cluster, o.source_kind, o.source, 'clock stepped back within a file' AS check_name,
           count(*) AS occurrences, max(s.minutes_back * 60000000) AS worst_us,
           arg_max(s.object, s.minutes_back) AS example_object,
           arg_max(s.last_line, s.minutes_back) AS example_line
    FROM step_sizes s
    JOIN objects_seen o USING (object)
    GROUP BY ALL
),
negative_latency AS (
    SELECT a.cluster, 'k8s-audit' AS source_kind, o.source, 'audit stage before request received' AS check_name,
           count(*) AS occurrences, max(epoch_us(a.ts) - epoch_us(a.stage_ts)) AS worst_us,
           arg_max(a.object, epoch_us(a.ts) - epoch_us(a.stage_ts)) AS example_object,
           arg_max(a.line, epoch_us(a.ts) - epoch_us(a.stage_ts)) AS example_line
    FROM audit_events a
    JOIN objects_seen o USING (object)
    WHERE a.stage_ts < a.ts
    GROUP BY ALL
),
findings AS (
    SELECT * FROM ahead_of_day
    UNION ALL SELECT * FROM stepped_back
    UNION ALL SELECT * FROM negative_latency
)
SELECT
    source AS resource,
    format('{} ({}): {} (tolerance {} s)',
           source, source_kind,
           CASE check_name
               WHEN 'stamped after the day of its file'
                   THEN format('{} record(s) stamped after the end of the day their file is named for, by up to {} seconds',
                               occurrences, round(worst_us / 1e6)::BIGINT)
               WHEN 'clock stepped back within a file'
                   THEN format('in {} minute(s) records were written after records stamped about {} minutes later',
                               occurrences, worst_us // 60000000)
               ELSE format('{} audit event(s) reached a stage up to {} seconds before the request was received',
                           occurrences, round(worst_us / 1e6)::BIGINT) END,
           getvariable('clock_skew_seconds')) AS reason,
    cluster, source_kind, source, check_name AS skew_check, occurrences,
    round(worst_us / 1e6, 3) AS worst_seconds, example_object AS object, example_line AS line
FROM findings
ORDER BY worst_us DESC
