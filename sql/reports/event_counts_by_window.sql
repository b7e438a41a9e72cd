-- name: event_counts_by_window
-- description: events per event type per window_minutes window, from start to end
-- schedule: @every 5m
-- params: window_minutes=int:5, start=timestamp:now-1h, end=timestamp:now
SELECT {{window "event_time" .window_minutes}} AS window_start, event_type, count(*) AS events
FROM {{events "event_time"}} e
WHERE event_time >= {{.start}} AND event_time < {{.end}}
GROUP BY 1, 2
ORDER BY 1, 2
