-- AWS Application Load Balancer access log (what the AWS Load Balancer Controller's ingresses
-- write to S3), fields as documented by AWS ("Access log entries"), space-separated:
--   type time elb client:port target:port request_processing_time target_processing_time
--   response_processing_time elb_status_code target_status_code received_bytes sent_bytes
--   "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
--   "chosen_cert_arn" matched_rule_priority request_creation_time "actions_executed"
--   "redirect_url" "error_reason" "target:port_list" "target_status_code_list"
--   "classification" "classification_reason" conn_trace_id …
-- AWS appends new fields at the end from time to time (and asks parsers to ignore them): only
-- the fields up to "error_reason" (present since 2018) are required, anything after is
-- tolerated. Input: raw(line BIGINT, text VARCHAR). Output: parsed columns plus reject_reason.
--
-- Split on '"' (string_split is ~3x faster than one many-group regexp_extract, PERFORMANCE.md):
-- q[1] holds the 12 unquoted leading fields, q[2] the request, q[4] the user agent, q[5] the
-- ssl fields and target group, q[6] the trace id, q[8] the domain name (SNI). The quoted
-- fields hold no '"' (URLs are sent %-encoded; AWS's own Athena table assumes the same), so a
-- complete record has an even number of quotes: an odd count means a line cut short (or a quote
-- inside a field after all: rejected with that reason rather than parsed into shifted columns).
WITH split AS (
    SELECT
        line,
        text,
        string_split(text, '"') AS q
    FROM raw
),
fields AS (
    SELECT
        line,
        text,
        len(q) AS n_parts,
        -- type time elb client target t1 t2 t3 elb_status target_status received sent ''
        string_split(q[1], ' ') AS h,
        -- A request the load balancer could not read is logged as "- - - " (trailing space).
        CASE WHEN q[2][-1] = ' ' THEN q[2][: -2] ELSE q[2] END AS request,
        q[3] AS gap,
        q[4] AS user_agent,
        -- '' ssl_cipher ssl_protocol target_group_arn ''
        string_split(q[5], ' ') AS s,
        q[6] AS trace_id,
        q[8] AS domain_name
    FROM split
),
parsed AS (
    SELECT
        line,
        text,
        n_parts,
        len(h) AS n_head,
        len(s) AS n_ssl,
        gap,
        h[1] AS type,
        try_cast(h[2] AS TIMESTAMPTZ) AS ts,
        h[2] AS ts_text,
        h[4] AS client,
        nullif(h[5], '-') AS upstream_addr,
        try_cast(h[6] AS DOUBLE) AS t_request,
        try_cast(h[7] AS DOUBLE) AS t_target,
        try_cast(h[8] AS DOUBLE) AS t_response,
        h[9] AS status_text,
        try_cast(h[9] AS INTEGER) AS status,
        nullif(h[10], '-') AS upstream_status,
        try_cast(h[11] AS BIGINT) AS request_length,
        try_cast(h[12] AS BIGINT) AS bytes_sent,
        -- "GET http://www.example.com:80/path?q HTTP/1.1": method, absolute URL, version.
        split_part(request, ' ', 1) AS method,
        request[strpos(request, ' ') + 1 : len(request) - strpos(reverse(request), ' ')] AS url,
        CASE WHEN strpos(request, ' ') > 0 THEN request[len(request) - strpos(reverse(request), ' ') + 2 :] END AS protocol,
        user_agent,
        nullif(s[4], '-') AS upstream,
        trace_id,
        domain_name
    FROM fields
),
url AS (
    SELECT
        *,
        -- after "scheme://": authority up to the first '/', then path and query.
        CASE WHEN strpos(url, '://') > 0 THEN url[strpos(url, '://') + 3 :] END AS after_scheme
    FROM parsed
),
url_parts AS (
    SELECT
        *,
        CASE WHEN strpos(after_scheme, '/') > 0 THEN after_scheme[: strpos(after_scheme, '/') - 1] ELSE after_scheme END AS authority,
        CASE
            WHEN after_scheme IS NULL THEN nullif(url, '-')  -- not an absolute URL: keep it as the target
            WHEN strpos(after_scheme, '/') > 0 THEN after_scheme[strpos(after_scheme, '/') :]
        END AS target
    FROM url
)
SELECT
    line,
    text,
    CASE
        WHEN n_parts < 17 OR n_parts % 2 = 0 OR n_head <> 13 OR n_ssl <> 5 OR gap <> ' '
            OR type NOT IN ('http', 'https', 'h2', 'grpcs', 'ws', 'wss') THEN
            CASE
                WHEN regexp_matches(text, '^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+ ') THEN 'controller log line (klog), not an access record'
                WHEN text[1] = '{' THEN 'JSON line, not an AWS ALB access log record'
                WHEN n_parts % 2 = 0 AND n_head = 13 AND type IN ('http', 'https', 'h2', 'grpcs', 'ws', 'wss') THEN 'AWS ALB record with an odd number of quotes (truncated line, or a ''"'' inside a field)'
                WHEN n_parts < 17 AND n_head = 13 AND type IN ('http', 'https', 'h2', 'grpcs', 'ws', 'wss') THEN 'AWS ALB record with fewer fields than documented (truncated line?)'
                ELSE 'not an AWS ALB access log record (type time elb client:port target:port … "request" "user_agent" …)'
            END
        WHEN ts IS NULL THEN 'unreadable time: ' || ts_text
        WHEN status IS NULL AND status_text <> '-' THEN 'unreadable elb_status_code: ' || status_text
    END AS reject_reason,
    ts,
    -- client:port; IPv6 clients are logged without brackets (2001:db8::1:443): strip the
    -- last ':port'.
    CASE WHEN strpos(client, ':') > 0 THEN client[: len(client) - strpos(reverse(client), ':')] ELSE client END AS client_ip,
    NULL::VARCHAR AS remote_user,
    nullif(method, '-') AS method,
    coalesce(
        nullif(CASE
            WHEN authority[1] = '[' THEN authority[2 : strpos(authority, ']') - 1]
            ELSE split_part(authority, ':', 1)
        END, ''),
        nullif(domain_name, '-')
    ) AS host,
    nullif(split_part(target, '?', 1), '') AS path,
    CASE WHEN strpos(target, '?') > 0 THEN target[strpos(target, '?') + 1 :] END AS query,
    nullif(nullif(protocol, '-'), '') AS protocol,
    status,
    bytes_sent,
    request_length,
    -- Each processing time is -1 when the request never reached that stage (no target, a
    -- malformed request): count those as 0, but say NULL when all three are -1.
    CASE
        WHEN t_request = -1 AND t_target = -1 AND t_response = -1 THEN NULL
        -- (rounded to the microsecond: 0.001 + 0.917 is 0.9180000000000001 in binary)
        ELSE round(greatest(t_request, 0) + greatest(t_target, 0) + greatest(t_response, 0), 6)
    END AS duration_s,
    NULL::VARCHAR AS referer,
    nullif(user_agent, '-') AS user_agent,
    upstream,
    upstream_addr,
    upstream_status,
    nullif(trace_id, '-') AS request_id,
    type IN ('https', 'h2', 'grpcs', 'wss') AS tls,
    NULL::VARCHAR AS forwarded_for
FROM url_parts
