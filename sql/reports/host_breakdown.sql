-- name: host_breakdown
-- description: events per host and event type from start to end, across every event table with a host column
-- schedule: @every 30s
-- params: start=timestamp:now-1h, end=timestamp:now
SELECT host, event_type, count(*) AS events
FROM {{events "event_time" "host"}} e
WHERE event_time >= {{.start}} AND event_time < {{.end}}
GROUP BY host, event_type
ORDER BY host NULLS LAST, event_type
