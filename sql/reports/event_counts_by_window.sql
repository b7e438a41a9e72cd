-- name: event_counts_by_window
-- description: events per event type per window (a duration: 10s, 1m, 1h), from start to end; window_minutes is the older form of window
-- schedule: @every 5m
-- params: window=duration:0s, window_minutes=int:5, start=timestamp:now-1h, end=timestamp:now
SELECT {{window "event_time" (or .window .window_minutes)}} AS window_start, event_type, count(*) AS events
FROM {{events "event_time"}} e
WHERE event_time >= {{.start}} AND event_time < {{.end}}
GROUP BY 1, 2
ORDER BY 1, 2
