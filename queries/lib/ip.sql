-- IP addresses as 128-bit numbers, so CIDR membership is a range check (DuckDB's inet extension
-- is not bundled and nothing may be downloaded at run time). IPv4 maps into ::ffff:0:0/96, the
-- IPv4-mapped IPv6 range, so one number line holds both families.

-- the 8 hextets of an IPv6 address: '::' expanded, an embedded dotted quad converted
CREATE OR REPLACE MACRO ip6_hextets(ip) AS (
    WITH parts AS (
        SELECT
            CASE WHEN strpos(ip, '.') > 0
                 THEN regexp_replace(ip, '(\d+)\.(\d+)\.(\d+)\.(\d+)$', '') ||
                      printf('%x:%x',
                             (regexp_extract(ip, '(\d+)\.(\d+)\.\d+\.\d+$', 1)::INTEGER << 8) + regexp_extract(ip, '(\d+)\.(\d+)\.\d+\.\d+$', 2)::INTEGER,
                             (regexp_extract(ip, '(\d+)\.(\d+)$', 1)::INTEGER << 8) + regexp_extract(ip, '(\d+)\.(\d+)$', 2)::INTEGER)
                 ELSE ip END AS full_ip
    ),
    halves AS (
        SELECT
            CASE WHEN split_part(full_ip, '::', 1) = '' THEN []::VARCHAR[] ELSE string_split(split_part(full_ip, '::', 1), ':') END AS head,
            CASE WHEN strpos(full_ip, '::') = 0 OR split_part(full_ip, '::', 2) = '' THEN []::VARCHAR[]
                 ELSE string_split(split_part(full_ip, '::', 2), ':') END AS tail,
            strpos(full_ip, '::') > 0 AS compressed
        FROM parts
    )
    SELECT CASE WHEN compressed THEN list_concat(head, list_transform(range(8 - len(head) - len(tail)), lambda i: '0'), tail)
                ELSE head END
    FROM halves
);

CREATE OR REPLACE MACRO ip_num(ip) AS (
    CASE
        WHEN ip IS NULL OR ip = '' THEN NULL
        WHEN strpos(ip, ':') = 0 THEN
            CASE WHEN regexp_full_match(ip, '\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}')
                      AND list_bool_and(list_transform(string_split(ip, '.'), lambda o: o::INTEGER <= 255)) THEN
                281470681743360::UHUGEINT
                + (split_part(ip, '.', 1)::UHUGEINT << 24) + (split_part(ip, '.', 2)::UHUGEINT << 16)
                + (split_part(ip, '.', 3)::UHUGEINT << 8) + split_part(ip, '.', 4)::UHUGEINT
            END
        WHEN strpos(ip, ':::') > 0 OR length(ip) - length(replace(ip, '::', '')) > 2 THEN NULL
        ELSE (
            SELECT CASE WHEN len(h) = 8 AND list_bool_and(list_transform(h, lambda g: regexp_full_match(g, '[0-9a-f]{1,4}')))
                        THEN list_reduce(list_transform(h, lambda g: ('0x' || g)::UHUGEINT), lambda acc, g: (acc << 16) + g)
                   END
            FROM (SELECT ip6_hextets(lower(split_part(ip, '%', 1))) AS h)
        )
    END
);
