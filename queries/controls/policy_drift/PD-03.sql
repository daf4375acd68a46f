-- PD-03: ingress changes that add or loosen a security-relevant ingress-nginx annotation:
-- injected nginx configuration (snippets), authentication or the source allowlist removed, the
-- allowlist opened to every address, the HTTPS redirect switched off, encryption to the
-- backend or client-certificate checks dropped. Whoever made the change: a risky setting is
-- risky even when it came through GitOps. What changed is worked out as in PD-01 (kept in step
-- with it): the stored object against the last state seen, else the patch body.
WITH bodies AS (  -- every logged body of an ingress, to know its state over time
    SELECT coalesce(cluster, '') AS cluster, namespace, name, stage_ts, 0 AS seq, request_object AS obj
    FROM audit_events
    WHERE resource = 'ingresses' AND verb IN ('create', 'update') AND request_object IS NOT NULL
      AND (response_code IS NULL OR response_code < 400)
    UNION ALL
    SELECT coalesce(cluster, ''), namespace, name, stage_ts, 1 AS seq, response_object  -- after the request
    FROM audit_events
    WHERE resource = 'ingresses' AND response_object IS NOT NULL
      AND (response_code IS NULL OR response_code < 400)
),
objects AS (  -- full Ingress objects; a list response holds them under items
    SELECT cluster, coalesce(obj->>'$.metadata.namespace', namespace) AS namespace,
           coalesce(obj->>'$.metadata.name', name) AS name, stage_ts, seq, obj
    FROM bodies
    WHERE obj->>'$.kind' = 'Ingress'
    UNION ALL
    SELECT cluster, coalesce(item->>'$.metadata.namespace', namespace), item->>'$.metadata.name', stage_ts, seq, item
    FROM (SELECT cluster, namespace, stage_ts, seq, unnest(json_extract(obj, '$.items[*]')) AS item
          FROM bodies WHERE json_type(obj, '$.items') = 'ARRAY')
),
states AS (  -- one state per ingress and instant: the response wins over the request
    SELECT * FROM objects
    QUALIFY row_number() OVER (PARTITION BY cluster, namespace, name, stage_ts ORDER BY seq DESC) = 1
),
changes AS (
    SELECT
        coalesce(audit_id, '') || '#' || row_number() OVER () AS change_id,
        ts, stage_ts, coalesce(cluster, '') AS cluster, audit_id, verb, "user", impersonated_by, source_ip, user_agent,
        namespace,
        coalesce(name, request_object->>'$.metadata.name', response_object->>'$.metadata.name') AS name,
        request_object,
        CASE WHEN response_object->>'$.kind' = 'Ingress' THEN response_object
             WHEN verb IN ('create', 'update') AND request_object->>'$.kind' = 'Ingress' THEN request_object
        END AS new_obj
    FROM audit_events
    WHERE resource = 'ingresses' AND coalesce(subresource, '') = ''
      AND stage = 'ResponseComplete'
      AND verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
      AND (response_code IS NULL OR response_code < 400)
    QUALIFY audit_id IS NULL OR row_number() OVER (PARTITION BY cluster, audit_id ORDER BY ts) = 1
),
with_previous AS (  -- the last state of the same ingress seen before this change
    SELECT c.*, s.obj AS prev_obj
    FROM changes c
    ASOF LEFT JOIN states s
        ON s.cluster = c.cluster AND s.namespace = c.namespace AND s.name = c.name AND s.stage_ts < c.stage_ts
),
based AS (
    SELECT
        *,
        CASE
            WHEN verb IN ('delete', 'deletecollection') THEN 'deleted'
            WHEN verb = 'create' AND new_obj IS NOT NULL THEN 'created'
            WHEN prev_obj IS NOT NULL AND new_obj IS NOT NULL THEN 'previous state'
            WHEN verb = 'patch' AND request_object IS NOT NULL THEN 'patch body'
            WHEN new_obj IS NOT NULL THEN 'stored object (previous state not seen)'
            ELSE 'body not logged'
        END AS diff_basis
    FROM with_previous
),
docs AS (  -- the documents each change is described from
    SELECT change_id, 'old' AS side, prev_obj AS doc FROM based WHERE diff_basis = 'previous state'
    UNION ALL
    SELECT change_id, 'new', new_obj FROM based
    WHERE diff_basis IN ('previous state', 'created', 'stored object (previous state not seen)')
    UNION ALL
    SELECT change_id, 'patch', request_object FROM based
    WHERE diff_basis = 'patch body' AND json_type(request_object) = 'OBJECT'
),
leaves AS (  -- spec, annotations and labels as path = value; bookkeeping fields left out
    SELECT d.change_id, d.side, replace(substr(t.fullkey, 3), '"', '') AS path, t.value::VARCHAR AS value
    FROM docs d, json_tree(d.doc) t
    WHERE (t.type NOT IN ('OBJECT', 'ARRAY') OR t.value::VARCHAR IN ('[]', '{}'))
      AND (t.fullkey LIKE '$.spec%' OR t.fullkey LIKE '$.metadata.annotations.%' OR t.fullkey LIKE '$.metadata.labels.%')
      AND t.fullkey NOT LIKE '%kubectl.kubernetes.io/last-applied-configuration%'
),
json_patch_ops AS (  -- a JSON patch (RFC 6902) is a list of operations on /slash/paths
    SELECT change_id, op->>'op' AS op, op->>'path' AS raw_path, (op->'value')::VARCHAR AS value
    FROM (SELECT change_id, unnest(json_extract(request_object, '$[*]')) AS op
          FROM based WHERE diff_basis = 'patch body' AND json_type(request_object) = 'ARRAY')
),
entries AS (
    SELECT coalesce(o.change_id, n.change_id) AS change_id, coalesce(o.path, n.path) AS path,
           CASE WHEN o.path IS NULL THEN '+' WHEN n.path IS NULL THEN '-' ELSE '~' END AS sign,
           o.value AS old_value, n.value AS new_value
    FROM (SELECT * FROM leaves WHERE side = 'old') o
    FULL JOIN (SELECT * FROM leaves WHERE side = 'new') n ON n.change_id = o.change_id AND n.path = o.path
    WHERE o.value IS DISTINCT FROM n.value
      -- a created object, or one whose previous state is unknown, is listed as it was stored
      AND (o.change_id IS NOT NULL OR n.change_id IN (SELECT change_id FROM based WHERE diff_basis = 'previous state'))
    UNION ALL
    SELECT l.change_id, l.path, CASE b.diff_basis WHEN 'created' THEN '+' ELSE '=' END, NULL, l.value
    FROM leaves l JOIN based b USING (change_id)
    WHERE l.side = 'new' AND b.diff_basis IN ('created', 'stored object (previous state not seen)')
    UNION ALL
    SELECT change_id, path, CASE WHEN value = 'null' THEN '-' ELSE '=' END, NULL, nullif(value, 'null')
    FROM leaves WHERE side = 'patch'
    UNION ALL
    SELECT change_id,
           array_to_string(list_transform(string_split(ltrim(raw_path, '/'), '/'),
                                          lambda s: replace(replace(s, '~1', '/'), '~0', '~')), '.'),
           CASE op WHEN 'add' THEN '+' WHEN 'remove' THEN '-' WHEN 'replace' THEN '~' ELSE op END, NULL, value
    FROM json_patch_ops
),
annotation_changes AS (
    SELECT
        e.change_id, e.sign,
        substr(e.path, length('metadata.annotations.') + 1) AS annotation,
        e.old_value::JSON->>'$' AS old_value,
        e.new_value::JSON->>'$' AS new_value
    FROM entries e
    WHERE e.path LIKE 'metadata.annotations.nginx.ingress.kubernetes.io/%'
),
judged AS (
    SELECT
        *,
        substr(annotation, length('nginx.ingress.kubernetes.io/') + 1) AS setting,
        list_transform(string_split(coalesce(new_value, ''), ','), lambda c: trim(c)) AS new_ranges
    FROM annotation_changes
),
risks AS (
    SELECT
        *,
        CASE
            WHEN setting LIKE '%-snippet' AND sign <> '-'
                THEN 'raw nginx configuration injected through the ingress'
            WHEN setting IN ('auth-url', 'auth-type', 'auth-secret', 'auth-signin', 'auth-tls-secret') AND sign = '-'
                THEN 'authentication in front of the site removed'
            WHEN setting IN ('whitelist-source-range', 'allowlist-source-range') AND sign = '-'
                THEN 'source address allowlist removed: every address may connect'
            WHEN setting IN ('whitelist-source-range', 'allowlist-source-range')
                 AND (list_contains(new_ranges, '0.0.0.0/0') OR list_contains(new_ranges, '::/0'))
                THEN 'source address allowlist opened to every address'
            WHEN setting IN ('ssl-redirect', 'force-ssl-redirect') AND sign <> '-' AND lower(new_value) = 'false'
                THEN 'redirect from http to https switched off'
            WHEN setting = 'backend-protocol' AND upper(old_value) IN ('HTTPS', 'GRPCS')
                 AND (sign = '-' OR upper(new_value) NOT IN ('HTTPS', 'GRPCS', 'AUTO_HTTP'))
                THEN 'traffic to the backend no longer encrypted'
            WHEN setting = 'auth-tls-verify-client' AND lower(old_value) IN ('on', 'optional')
                 AND (sign = '-' OR lower(new_value) IN ('off', 'optional_no_ca'))
                THEN 'client certificate verification relaxed'
            WHEN setting = 'enable-modsecurity' AND lower(old_value) = 'true' AND (sign = '-' OR lower(new_value) = 'false')
                THEN 'web application firewall (ModSecurity) switched off'
        END AS risk,
        left(regexp_replace(coalesce(old_value, '?'), '\s+', ' ', 'g'), 80) AS shown_old,
        left(regexp_replace(coalesce(new_value, ''), '\s+', ' ', 'g'), 80) AS shown_new
    FROM judged
),
risky AS (
    SELECT b.*, r.annotation, r.setting, r.sign, r.old_value, r.new_value, r.shown_old, r.shown_new, r.risk
    FROM risks r
    JOIN based b USING (change_id)
    WHERE r.risk IS NOT NULL
)
SELECT
    namespace || '/' || name || ' ' || setting AS resource,
    coalesce("user", '(unknown)') || ' ' || CASE sign
        WHEN '+' THEN format('added {}="{}" to ingress {}/{}', annotation, shown_new, namespace, name)
        WHEN '-' THEN format('removed {} (was "{}") from ingress {}/{}', annotation, shown_old, namespace, name)
        WHEN '~' THEN format('changed {} on ingress {}/{} from "{}" to "{}"', annotation, namespace, name, shown_old, shown_new)
        ELSE format('set {}="{}" on ingress {}/{}', annotation, shown_new, namespace, name)
    END || ': ' || risk AS reason,
    ts, "user", impersonated_by, verb, 'ingresses' AS resource_kind, namespace, name, annotation,
    old_value, new_value, risk, diff_basis, source_ip, user_agent, audit_id, nullif(cluster, '') AS cluster
FROM risky
ORDER BY ts
