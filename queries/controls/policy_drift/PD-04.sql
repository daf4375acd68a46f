-- PD-04: ingresses, ingress classes and admission webhook configurations deleted in the period,
-- by anyone: a deletion takes a site off the network or removes a check at once, so even the
-- GitOps controller's prunes are shown for a reviewer to confirm.
WITH deletions AS (
    SELECT
        ts, cluster, audit_id, verb, "user", impersonated_by, source_ip, user_agent, resource AS resource_kind,
        namespace, name,
        is_approved_change("user", impersonated_by) AS approved
    FROM audit_events
    WHERE resource IN ('ingresses', 'ingressclasses', 'validatingwebhookconfigurations', 'mutatingwebhookconfigurations')
      AND coalesce(subresource, '') = ''
      AND stage = 'ResponseComplete'
      AND verb IN ('delete', 'deletecollection')
      AND (response_code IS NULL OR response_code < 400)
    QUALIFY audit_id IS NULL OR row_number() OVER (PARTITION BY cluster, audit_id ORDER BY ts) = 1
),
described AS (
    SELECT
        *,
        CASE resource_kind
            WHEN 'ingresses' THEN 'Ingress' WHEN 'ingressclasses' THEN 'IngressClass'
            WHEN 'validatingwebhookconfigurations' THEN 'ValidatingWebhookConfiguration'
            ELSE 'MutatingWebhookConfiguration' END AS kind_name,
        CASE resource_kind
            WHEN 'ingresses' THEN 'its hosts are no longer served (or fall through to another ingress or the default backend)'
            WHEN 'ingressclasses' THEN 'ingresses of this class are no longer served by their controller'
            ELSE 'the admission checks it ran (such as ingress-nginx validating ingresses) no longer run'
        END AS consequence
    FROM deletions
)
SELECT
    concat_ws('/', kind_name, namespace, coalesce(name, '*')) AS resource,
    format('{} deleted {} {}{} ({}): {}', coalesce("user", '(unknown)'),
           CASE WHEN verb = 'deletecollection' THEN 'every ' || kind_name || ' in' ELSE kind_name END,
           concat_ws('/', namespace, coalesce(name, '*')),
           CASE WHEN impersonated_by IS NOT NULL THEN format(' (impersonated by {})', impersonated_by) ELSE '' END,
           CASE WHEN approved THEN 'an approved actor' ELSE 'not an approved actor' END,
           consequence) AS reason,
    ts, "user", impersonated_by, verb, resource_kind, namespace, name, approved, source_ip, user_agent, audit_id, cluster
FROM described
ORDER BY ts
