-- CE-05: certificates that expire within thresholds.cert_expiry_days of the period's end, as
-- cert-manager last reported them. Every Certificate body the audit log holds (its status
-- updates, changes, reads, lists) carries status.notAfter; the latest report per certificate
-- wins, so one renewed during the period (a later notAfter) is not reported.
WITH bodies AS (
    SELECT cluster, namespace, name, stage_ts, verb, 0 AS seq, request_object AS obj
    FROM audit_events
    WHERE api_group = 'cert-manager.io' AND resource = 'certificates' AND request_object IS NOT NULL
      AND (response_code IS NULL OR response_code < 400)
    UNION ALL
    SELECT cluster, namespace, name, stage_ts, verb, 1 AS seq, response_object  -- after the request
    FROM audit_events
    WHERE api_group = 'cert-manager.io' AND resource = 'certificates' AND response_object IS NOT NULL
      AND (response_code IS NULL OR response_code < 400)
),
certificates AS (  -- a list response holds its certificates under items
    SELECT cluster, coalesce(obj->>'$.metadata.namespace', namespace) AS namespace,
           coalesce(obj->>'$.metadata.name', name) AS name, stage_ts, seq, obj
    FROM bodies
    WHERE obj->>'$.kind' = 'Certificate'
    UNION ALL
    SELECT cluster, coalesce(item->>'$.metadata.namespace', namespace), item->>'$.metadata.name', stage_ts, seq, item
    FROM (SELECT cluster, namespace, stage_ts, seq, unnest(json_extract(obj, '$.items[*]')) AS item
          FROM bodies WHERE json_type(obj, '$.items') = 'ARRAY')
),
reports AS (
    SELECT
        cluster, namespace, name, stage_ts, seq, obj,
        try_cast(obj->>'$.status.notAfter' AS TIMESTAMPTZ) AS not_after
    FROM certificates
),
latest AS (
    SELECT
        cluster, namespace, name,
        arg_max(not_after, (epoch_us(stage_ts), seq)) AS not_after,
        arg_max(obj, (epoch_us(stage_ts), seq)) AS obj,
        max(stage_ts) AS reported_at
    FROM reports
    WHERE not_after IS NOT NULL
    GROUP BY ALL
),
deleted AS (  -- a certificate deleted after its last report is no longer served
    SELECT cluster, namespace, name, max(stage_ts) AS deleted_at
    FROM audit_events
    WHERE api_group = 'cert-manager.io' AND resource = 'certificates' AND verb = 'delete'
      AND stage = 'ResponseComplete' AND (response_code IS NULL OR response_code < 400)
    GROUP BY ALL
),
expiring AS (
    SELECT
        l.*,
        round((epoch_us(l.not_after) - epoch_us(getvariable('period_end'))) / 86400e6, 1) AS days_after_period_end,
        list_filter(json_extract(l.obj, '$.status.conditions[*]'), lambda c: c->>'type' = 'Issuing')[1] AS issuing
    FROM latest l
    LEFT JOIN deleted d
        ON d.namespace = l.namespace AND d.name = l.name AND d.cluster IS NOT DISTINCT FROM l.cluster
    WHERE epoch_us(l.not_after) < epoch_us(getvariable('period_end')) + getvariable('cert_expiry_days') * 86400000000
      AND (d.deleted_at IS NULL OR d.deleted_at < l.reported_at)
)
SELECT
    namespace || '/' || name AS resource,
    format('Certificate {}/{} ({}) {} {} UTC, {} days {} the period end (threshold {} days){}',
           namespace, name, coalesce(array_to_string(json_extract_string(obj, '$.spec.dnsNames[*]'), ', '), 'no dnsNames'),
           CASE WHEN not_after < getvariable('period_end') THEN 'expired' ELSE 'expires' END,
           strftime(not_after, '%Y-%m-%d %H:%M'), abs(days_after_period_end),
           CASE WHEN days_after_period_end < 0 THEN 'before' ELSE 'after' END,
           getvariable('cert_expiry_days'),
           CASE WHEN issuing->>'reason' = 'Failed' THEN '; renewal failing: ' || left(issuing->>'message', 160) ELSE '' END) AS reason,
    namespace, name, not_after, days_after_period_end,
    json_extract_string(obj, '$.spec.dnsNames[*]') AS dns_names,
    obj->>'$.spec.secretName' AS secret_name,
    obj->>'$.spec.issuerRef.name' AS issuer,
    obj->>'$.status.renewalTime' AS renewal_time,
    issuing->>'message' AS renewal_message,
    reported_at AS last_seen,
    'certificates' AS resource_kind, cluster
FROM expiring
ORDER BY not_after
