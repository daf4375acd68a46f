-- Traefik access log, common format (accessLog.format: common, the default), v1 to v3:
--   <ClientHost> - <ClientUsername> [<StartUTC>] "<RequestMethod> <RequestPath> <RequestProtocol>"
--   <DownstreamStatus> <DownstreamContentSize> "<Referer>" "<User-Agent>" <RequestCount>
--   "<RouterName>" "<ServiceURL>" <Duration>ms
-- Input: raw(line BIGINT, text VARCHAR). Output: the parsed columns plus reject_reason.
--
-- Unlike nginx, Traefik does not escape anything: it wraps values in quotes as they are, so a
-- User-Agent may itself contain '"'. Traefik v1 also wrote a missing referer as a bare - (no
-- quotes). So the quote count is not fixed: split on '"' and index the head from the front and
-- the tail from the back; the user agent is whatever lies between (re-joined on '"').
--   quoted referer:  [head, request, " st size ", referer, " ", ua…, " count ", router, " ", service, " Nms"]
--   bare referer:    [head, request, " st size - ", ua…, " count ", router, " ", service, " Nms"]
-- string_split is ~3x faster than one regexp_extract with 13 groups (PERFORMANCE.md).
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
        q[1] AS head,
        q[2] AS request,
        string_split(q[3], ' ') AS mid,
        q[3] AS mid_text,
        q[4] AS referer_or_ua,
        q[5] AS after_referer,
        q[-5] AS count_part,
        q[-4] AS router,
        q[-3] AS router_gap,
        q[-2] AS service,
        q[-1] AS duration_part,
        q
    FROM split
),
parsed AS (
    SELECT
        line,
        text,
        n_parts,
        mid_text,
        router_gap,
        count_part,
        duration_part,
        -- bare referer: the part after the size ends in "- ".
        len(mid) = 5 AND mid[4] = '-' AS bare_referer,
        after_referer,
        head,
        request,
        try_strptime(head[strpos(head, '[') + 1 : strpos(head, ']') - 1], '%d/%b/%Y:%H:%M:%S %z') AS ts,
        split_part(head, ' ', 1) AS client_ip,
        head[strpos(head, ' - ') + 3 : strpos(head, ' [') - 1] AS remote_user,
        string_split(request, ' ') AS req,
        mid[2] AS status_text,
        try_cast(mid[2] AS INTEGER) AS status,
        try_cast(mid[3] AS BIGINT) AS bytes_sent,
        CASE WHEN len(mid) = 5 AND mid[4] = '-' THEN NULL ELSE referer_or_ua END AS referer,
        CASE
            WHEN len(mid) = 5 AND mid[4] = '-' THEN array_to_string(q[4 : -6], '"')
            ELSE array_to_string(q[6 : -6], '"')
        END AS user_agent,
        router,
        service,
        -- " 247ms": the integer milliseconds Traefik rounds the duration down to.
        try_cast(duration_part[2 : -3] AS BIGINT) AS duration_ms
    FROM fields
)
SELECT
    line,
    text,
    CASE
        WHEN n_parts < 9
            OR NOT regexp_matches(duration_part, '^ \d+ms$')
            OR router_gap <> ' '
            OR NOT regexp_matches(count_part, '^ \d+ $')
            OR NOT regexp_matches(mid_text, '^ \S+ \S+ (- )?$')
            OR (NOT bare_referer AND (n_parts < 11 OR after_referer <> ' ')) THEN
            CASE
                WHEN regexp_matches(text, '^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+ ') THEN 'controller log line (klog), not an access record'
                WHEN text[1] = '{' THEN 'JSON line, not in Traefik common log format'
                ELSE 'not in Traefik common log format (… "<referer>" "<user agent>" <count> "<router>" "<service url>" <n>ms)'
            END
        WHEN ts IS NULL THEN 'unreadable time: ' || head
        WHEN status IS NULL THEN 'unreadable status: ' || status_text
    END AS reject_reason,
    ts,
    client_ip,
    CASE WHEN remote_user NOT IN ('-', '') THEN remote_user END AS remote_user,
    CASE WHEN req[1] NOT IN ('-', '') THEN req[1] END AS method,
    NULL::VARCHAR AS host,
    -- RequestPath is Go's RequestURI: escaped, so no spaces; path and query as sent.
    nullif(split_part(req[2], '?', 1), '') AS path,
    CASE WHEN strpos(req[2], '?') > 0 THEN req[2][strpos(req[2], '?') + 1 :] END AS query,
    CASE WHEN len(req) >= 3 AND req[-1] NOT IN ('-', '') THEN req[-1] END AS protocol,
    status,
    bytes_sent,
    NULL::BIGINT AS request_length,
    duration_ms / 1000.0 AS duration_s,
    CASE WHEN referer NOT IN ('-', '') THEN referer END AS referer,
    CASE WHEN user_agent NOT IN ('-', '') THEN user_agent END AS user_agent,
    -- The common format names only the router (v1: the frontend), not the service.
    CASE WHEN router NOT IN ('-', '') THEN router END AS upstream,
    -- ServiceURL (v1: BackendURL) as logged, e.g. http://10.0.0.5:8080 ("/" for Traefik's own 404).
    CASE WHEN service NOT IN ('-', '') THEN service END AS upstream_addr,
    NULL::VARCHAR AS upstream_status,
    NULL::VARCHAR AS request_id,
    NULL::BOOLEAN AS tls,
    NULL::VARCHAR AS forwarded_for
FROM parsed
