-- What several certificate and policy-drift controls need to know of the audit log: which secrets
-- are TLS secrets and which requests changed them; the states an ingress was seen in, the
-- requests that changed ingresses, and what each of those changed, field by field.
-- Views, not tables: nothing is computed unless a control selects from them. Each read of a
-- view repeats its work, so they are shaped for a control to read each one once. Whether an
-- actor is approved, and what is risky, are the controls' to judge.
-- Needs: audit_events, baseline_ingresses (policy_sql.py).


-- One row per secret known to be a TLS secret: namespace, secret, and identified_by (what says so).
-- The audit policy usually logs secrets at Metadata level (never their data), so the event alone
-- rarely says a secret is a TLS secret. A secret counts as one when its type kubernetes.io/tls was
-- logged anywhere, or an ingress's spec.tls, a cert-manager Certificate's spec.secretName or the
-- GitOps baseline names it.
CREATE OR REPLACE TEMP VIEW tls_secrets AS
WITH bodies AS (  -- the few events with a logged body that can name a TLS secret
    SELECT resource AS resource_kind, namespace, name, request_object AS obj
    FROM audit_events
    WHERE resource IN ('ingresses', 'certificates', 'secrets') AND request_object IS NOT NULL
    UNION ALL
    SELECT resource, namespace, name, response_object
    FROM audit_events
    WHERE resource IN ('ingresses', 'certificates', 'secrets') AND response_object IS NOT NULL
),
objects AS (  -- a list response holds its objects under items
    SELECT resource_kind, coalesce(obj->>'$.metadata.namespace', namespace) AS namespace,
           coalesce(obj->>'$.metadata.name', name) AS name, obj
    FROM bodies
    WHERE json_type(obj, '$.items') IS DISTINCT FROM 'ARRAY'
    UNION ALL
    SELECT resource_kind, coalesce(item->>'$.metadata.namespace', namespace), item->>'$.metadata.name', item
    FROM (SELECT resource_kind, namespace, unnest(json_extract(obj, '$.items[*]')) AS item
          FROM bodies WHERE json_type(obj, '$.items') = 'ARRAY')
),
named_tls AS (
    SELECT namespace, unnest(json_extract_string(obj, '$.spec.tls[*].secretName')) AS secret,
           'ingress ' || namespace || '/' || name || ' spec.tls' AS identified_by
    FROM objects WHERE resource_kind = 'ingresses'
    UNION ALL
    SELECT namespace, obj->>'$.spec.secretName', 'cert-manager Certificate ' || namespace || '/' || name
    FROM objects WHERE resource_kind = 'certificates'
    UNION ALL
    SELECT namespace, name, 'type kubernetes.io/tls'
    FROM objects WHERE resource_kind = 'secrets' AND obj->>'$.type' = 'kubernetes.io/tls'
    UNION ALL
    SELECT namespace, unnest(json_extract_string(manifest, '$.spec.tls[*].secretName')),
           'baseline ingress ' || namespace || '/' || name
    FROM baseline_ingresses
)
SELECT namespace, secret, list(DISTINCT identified_by ORDER BY identified_by) AS identified_by
FROM named_tls
WHERE secret IS NOT NULL
GROUP BY namespace, secret;


-- One row per request that changed a TLS secret: a create, update, patch or delete of one, or a
-- deletecollection of the secrets of a namespace that holds one (it deletes them too). Carries
-- who and how (user, impersonated_by, source_ip, user_agent), secret_type when logged, why the
-- secret counts as a TLS secret (identified_by), the logged bodies, and summary: the change in
-- words, as the TLS secret controls report it ("dave updated TLS secret shop/shop-tls").
CREATE OR REPLACE TEMP VIEW tls_secret_changes AS
WITH known AS (  -- read twice below: as a CTE it is computed once
    SELECT * FROM tls_secrets
),
secret_changes AS (
    SELECT
        ts, cluster, audit_id, verb, "user", impersonated_by, source_ip, user_agent, namespace,
        coalesce(name, request_object->>'$.metadata.name', response_object->>'$.metadata.name') AS name,
        coalesce(request_object->>'$.type', response_object->>'$.type') AS secret_type,
        request_object, response_object
    FROM audit_events
    WHERE resource = 'secrets' AND coalesce(api_group, '') = '' AND coalesce(subresource, '') = ''
      AND stage = 'ResponseComplete'  -- one event per request
      AND verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
      AND (response_code IS NULL OR response_code < 400)  -- refused attempts changed nothing
    -- the same request archived twice (log and webhook backends) is one change
    QUALIFY audit_id IS NULL OR row_number() OVER (PARTITION BY cluster, audit_id ORDER BY ts) = 1
)
SELECT
    c.*,
    CASE WHEN c.secret_type = 'kubernetes.io/tls' THEN ['type kubernetes.io/tls'] ELSE t.identified_by END AS identified_by,
    format('{} {} TLS secret {}/{}{}', coalesce(c."user", '(unknown)'),
           CASE c.verb WHEN 'create' THEN 'created' WHEN 'update' THEN 'updated' WHEN 'patch' THEN 'patched'
                       WHEN 'delete' THEN 'deleted' ELSE 'deleted all secrets including' END,
           c.namespace, coalesce(c.name, '*'),
           CASE WHEN c.impersonated_by IS NOT NULL THEN format(' (impersonated by {})', c.impersonated_by) ELSE '' END) AS summary
FROM secret_changes c
LEFT JOIN known t ON t.namespace = c.namespace AND t.secret = c.name
WHERE c.secret_type = 'kubernetes.io/tls'
   OR (c.secret_type IS NULL AND t.secret IS NOT NULL)
   OR (c.verb = 'deletecollection' AND c.namespace IN (SELECT namespace FROM known));


-- One row per ingress and instant its full object was logged: cluster ('' when unknown),
-- namespace, name, stage_ts, obj. What a change is compared with, and what the cluster last held.
-- Read from every logged body: a create or update's request, any response (a get, a list, the
-- result of a change). Where both were logged at one instant the response wins (seq 1 over 0):
-- it is what the API server stored.
CREATE OR REPLACE TEMP VIEW ingress_states AS
WITH bodies AS (
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
)
SELECT * FROM objects
QUALIFY row_number() OVER (PARTITION BY cluster, namespace, name, stage_ts ORDER BY seq DESC) = 1;


-- One row per request that changed an ingress: a create, update, patch, delete or
-- deletecollection (status updates, the controller publishing its address, are not changes of
-- the ingress). Carries who and how, the logged bodies, and new_obj: the ingress as stored after
-- the change, when logged (the response, else the body of a create or update). change_id is a
-- key that stays the same however often the view is read: the audit id (one row per request),
-- else where the event was read (object#line).
CREATE OR REPLACE TEMP VIEW ingress_changes AS
SELECT
    coalesce(cluster, '') || '/' || coalesce(audit_id, object || '#' || line) AS change_id,
    ts, stage_ts, coalesce(cluster, '') AS cluster, audit_id, verb, "user", impersonated_by, source_ip, user_agent,
    namespace,
    coalesce(name, request_object->>'$.metadata.name', response_object->>'$.metadata.name') AS name,
    request_object, response_object,
    CASE WHEN response_object->>'$.kind' = 'Ingress' THEN response_object
         WHEN verb IN ('create', 'update') AND request_object->>'$.kind' = 'Ingress' THEN request_object
    END AS new_obj
FROM audit_events
WHERE resource = 'ingresses' AND coalesce(subresource, '') = ''
  AND stage = 'ResponseComplete'
  AND verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')
  AND (response_code IS NULL OR response_code < 400)
-- the same request archived twice (log and webhook backends) is one change; where only one
-- backend logged the bodies (its own audit policy), that copy
QUALIFY audit_id IS NULL
     OR row_number() OVER (PARTITION BY cluster, audit_id
                           ORDER BY (request_object IS NOT NULL OR response_object IS NOT NULL) DESC, ts) = 1;


-- One row per row of ingress_changes, with what the change changed: prev_obj (the last state of
-- the ingress seen before it), diff_basis (what it can be described from) and fields, the
-- fields it set, removed or changed, ordered by path: a list of {path (spec.rules.0.host,
-- metadata.annotations.<key>, metadata.labels.<key>), sign (+ added, - removed, ~ changed, = set,
-- the value before unknown), old_value, new_value (JSON text)}; NULL when nothing can be said.
-- Only spec, annotations and labels: the rest is bookkeeping. A patch's request body is the
-- change itself; otherwise the stored object is compared with the previous state, and an object
-- stored without a known previous state is listed as it was stored. One row per change, fields
-- as a list, so that a control reads the view once (each read repeats the work).
CREATE OR REPLACE TEMP VIEW ingress_change_diffs AS
WITH with_previous AS (
    SELECT c.*, s.obj AS prev_obj
    FROM ingress_changes c
    ASOF LEFT JOIN ingress_states s
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
      -- a created object, or one whose previous state is unknown, is listed as it was stored (next)
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
per_change AS (
    SELECT change_id,
           list({'path': path, 'sign': sign, 'old_value': old_value, 'new_value': new_value} ORDER BY path) AS fields
    FROM entries
    GROUP BY change_id
)
SELECT b.*, p.fields
FROM based b
LEFT JOIN per_change p USING (change_id);
