-- Requests per hour by status class, for the access chart.
SELECT
    date_trunc('hour', ts) AS hour,
    CASE
        WHEN status BETWEEN 200 AND 299 THEN '2xx'
        WHEN status BETWEEN 300 AND 399 THEN '3xx'
        WHEN status BETWEEN 400 AND 499 THEN '4xx'
        WHEN status BETWEEN 500 AND 599 THEN '5xx'
        ELSE 'other'
    END AS status_class,
    count(*) AS requests
FROM http_requests
GROUP BY ALL
ORDER BY hour, status_class;
