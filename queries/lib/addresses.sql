-- Every address seen in the period as a 128-bit number, and what the policy says of it.
-- CIDR membership is then a range check (DuckDB's inet extension is not bundled and nothing
-- may be downloaded at run time). IPv4 maps into ::ffff:0:0/96, the IPv4-mapped IPv6 range,
-- so one number line holds both families. Computed once per DISTINCT address, step by step in
-- columns: a scalar macro doing the same per row was 10x slower.
-- Needs: trusted_networks(lo, hi), trusted_proxies(lo, hi) from the policy (policy_sql.py).

CREATE OR REPLACE TEMP TABLE ip_numbers AS
WITH seen AS (
    SELECT DISTINCT ip FROM (
        SELECT client_ip AS ip FROM http_requests
        UNION ALL
        SELECT trim(unnest(string_split(forwarded_for, ','))) FROM http_requests WHERE forwarded_for IS NOT NULL
        UNION ALL
        SELECT unnest(source_ips) FROM audit_events
    )
    WHERE ip IS NOT NULL AND ip <> '' AND ip <> '-'
),
v4 AS (
    SELECT ip, string_split(ip, '.') AS octets
    FROM seen
    WHERE regexp_full_match(ip, '\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}')
),
v4_num AS (
    SELECT ip,
           CASE WHEN list_bool_and(list_transform(octets, lambda o: o::INTEGER <= 255)) THEN
               281470681743360::UHUGEINT + (octets[1]::UHUGEINT << 24) + (octets[2]::UHUGEINT << 16)
               + (octets[3]::UHUGEINT << 8) + octets[4]::UHUGEINT
           END AS num
    FROM v4
),
v6 AS (
    SELECT ip, lower(split_part(ip, '%', 1)) AS addr  -- without a zone index (fe80::1%eth0)
    FROM seen
    WHERE strpos(ip, ':') > 0
),
v6_dequad AS (  -- an embedded dotted quad (::ffff:1.2.3.4) as two hextets
    SELECT ip,
           CASE WHEN regexp_matches(addr, '\d+\.\d+\.\d+\.\d+$') THEN
               regexp_replace(addr, '\d+\.\d+\.\d+\.\d+$', '') || printf('%x:%x',
                   (regexp_extract(addr, '(\d+)\.(\d+)\.(\d+)\.(\d+)$', 1)::INTEGER << 8) + regexp_extract(addr, '(\d+)\.(\d+)\.(\d+)\.(\d+)$', 2)::INTEGER,
                   (regexp_extract(addr, '(\d+)\.(\d+)\.(\d+)\.(\d+)$', 3)::INTEGER << 8) + regexp_extract(addr, '(\d+)\.(\d+)\.(\d+)\.(\d+)$', 4)::INTEGER)
               ELSE addr END AS addr
    FROM v6
),
v6_halves AS (
    SELECT ip,
           strpos(addr, '::') > 0 AS compressed,
           length(addr) - length(replace(addr, '::', '')) > 2 OR strpos(addr, ':::') > 0 AS malformed,
           CASE WHEN split_part(addr, '::', 1) = '' THEN []::VARCHAR[] ELSE string_split(split_part(addr, '::', 1), ':') END AS head,
           CASE WHEN strpos(addr, '::') = 0 OR split_part(addr, '::', 2) = '' THEN []::VARCHAR[]
                ELSE string_split(split_part(addr, '::', 2), ':') END AS tail
    FROM v6_dequad
),
v6_groups AS (
    SELECT ip, malformed,
           CASE WHEN compressed THEN list_concat(head, list_transform(range(8 - len(head) - len(tail)), lambda i: '0'), tail)
                ELSE head END AS hextets
    FROM v6_halves
),
v6_num AS (
    SELECT ip,
           CASE WHEN NOT malformed AND len(hextets) = 8
                     AND list_bool_and(list_transform(hextets, lambda g: regexp_full_match(g, '[0-9a-f]{1,4}')))
                THEN list_reduce(list_transform(hextets, lambda g: ('0x' || g)::UHUGEINT), lambda acc, g: (acc << 16) + g)
           END AS num
    FROM v6_groups
)
SELECT ip, num, strpos(ip, ':') > 0 AS is_v6_text FROM v4_num
UNION ALL
SELECT ip, num, true FROM v6_num;

-- Trust: an IPv4-mapped address (how dual-stack sockets log IPv4 clients) matches IPv4
-- networks; a dotted IPv4 address never matches an IPv6 network such as ::/16.
CREATE OR REPLACE TEMP TABLE ip_trust AS
SELECT
    n.ip,
    EXISTS (SELECT 1 FROM trusted_networks t WHERE n.num BETWEEN t.lo AND t.hi AND (t.v4 OR n.is_v6_text)) AS trusted,
    EXISTS (SELECT 1 FROM trusted_proxies t WHERE n.num BETWEEN t.lo AND t.hi AND (t.v4 OR n.is_v6_text)) AS proxy
FROM ip_numbers n;

-- The client behind trusted proxies: the rightmost X-Forwarded-For address that is not one of
-- them (the leftmost is whatever the client chose to send).
CREATE OR REPLACE TEMP TABLE client_addresses AS
WITH pairs AS (
    SELECT DISTINCT client_ip, forwarded_for
    FROM http_requests
    WHERE forwarded_for IS NOT NULL AND forwarded_for <> '-'
),
hops AS (
    SELECT client_ip, forwarded_for, trim(unnest(xs)) AS hop, generate_subscripts(xs, 1) AS pos
    FROM (
        SELECT p.client_ip, p.forwarded_for, string_split(p.forwarded_for, ',') AS xs
        FROM pairs p JOIN ip_trust t ON t.ip = p.client_ip
        WHERE t.proxy  -- only a trusted proxy's X-Forwarded-For is believed
    )
),
untrusted AS (
    SELECT client_ip, forwarded_for, arg_max(hop, pos) AS real_ip
    FROM hops LEFT JOIN ip_trust t ON t.ip = hops.hop
    WHERE NOT coalesce(t.proxy, false)
    GROUP BY client_ip, forwarded_for
)
SELECT client_ip, forwarded_for, real_ip FROM untrusted;

-- http_requests with `client`: who the request came from, proxies seen through.
CREATE OR REPLACE TEMP VIEW requests AS
SELECT r.*, coalesce(c.real_ip, r.client_ip) AS client
FROM http_requests r
LEFT JOIN client_addresses c ON c.client_ip = r.client_ip AND c.forwarded_for = r.forwarded_for;
