-- name: error_alert
-- description: log lines per level per window (a duration: 10s, 1m, 1h; or window_minutes); alerts when a window has more than threshold ERROR lines
-- schedule: @every 1m
-- params: window=duration:0s, window_minutes=int:1, threshold=int:1, start=timestamp:now-1h, end=timestamp:now
-- alert: errors > threshold
--
-- Log lines are events of type "log", e.g.
--   {"event_type":"log","timestamp":"2024-05-01T10:00:00.123Z","host":"web-1","level":"ERROR","message":"disk full"}
-- level is matched case-insensitively; WARNING counts as WARN.
SELECT {{window "event_time" (or .window .window_minutes)}} AS window_start,
  count(*) AS lines,
  count(CASE WHEN upper(level) = 'ERROR' THEN 1 END) AS errors,
  count(CASE WHEN upper(level) IN ('WARN', 'WARNING') THEN 1 END) AS warnings,
  count(CASE WHEN upper(level) = 'INFO' THEN 1 END) AS infos,
  count(CASE WHEN upper(level) = 'DEBUG' THEN 1 END) AS debugs,
  count(CASE WHEN upper(level) NOT IN ('ERROR', 'WARN', 'WARNING', 'INFO', 'DEBUG') OR level IS NULL THEN 1 END) AS others
FROM {{from "log" "event_time" "level"}} l
WHERE event_time >= {{.start}} AND event_time < {{.end}}
GROUP BY 1
ORDER BY 1
