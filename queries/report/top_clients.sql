-- The ten busiest clients (seen through trusted proxies), with how many of their requests were
-- refused or failed.
SELECT
    client,
    count(*) AS requests,
    count(*) FILTER (WHERE status IN (401, 403)) AS denied,
    count(*) FILTER (WHERE status >= 500) AS server_errors,
    count(DISTINCT host) AS hosts
FROM requests
GROUP BY client
ORDER BY requests DESC, client
LIMIT 10;
