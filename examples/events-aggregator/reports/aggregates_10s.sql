-- name: aggregates_10s
-- description: events per event type in 10-second windows (window=10s), from start to end
-- schedule: @every 10s
-- params: window=duration:10s, start=timestamp:now-1h, end=timestamp:now
SELECT {{window "event_time" .window}} AS window_start, event_type, count(*) AS events
FROM {{events "event_time"}} e
WHERE event_time >= {{.start}} AND event_time < {{.end}}
GROUP BY 1, 2
ORDER BY 1, 2
