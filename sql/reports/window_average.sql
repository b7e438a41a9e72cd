-- name: window_average
-- description: per window (a duration: 10s, 1m) and key, the count, average, min and max of a value column in any table, and the moving average over that window and the previous_windows before it
-- schedule: @every 1m
-- params: table=string:tick, key=string:symbol, value=string:price, window=duration:10s, previous_windows=int:5, start=timestamp:now-1h, end=timestamp:now
--
-- Windows are aligned to the Unix epoch; rows are the windows starting at
-- or after start and ending by end (a job with a watermark sets end to the
-- watermark). moving_avg_<value> averages every value of the window and of
-- the previous_windows windows before it (by time: a window without values
-- counts as empty), read from before start when need be, so a window's row
-- does not depend on where a run starts.
WITH w AS (
  SELECT {{window "event_time" .window}} AS window_start, "{{name .key}}" AS k,
    count(*) AS n, sum("{{name .value}}") AS total, min("{{name .value}}") AS lo, max("{{name .value}}") AS hi
  FROM {{from (name .table) "event_time" (name .key) (printf "%s:double" (name .value))}} p
  WHERE "{{name .value}}" IS NOT NULL AND "{{name .key}}" IS NOT NULL
    AND date_diff('second', TIMESTAMP '1970-01-01 00:00:00', event_time)
      >= date_diff('second', TIMESTAMP '1970-01-01 00:00:00', {{.start}}) - {{.previous_windows}} * {{.window}}
    AND event_time < {{.end}}
  GROUP BY 1, 2
), m AS (
  SELECT window_start, k, n, total, lo, hi,
    sum(total) OVER (PARTITION BY k ORDER BY date_diff('second', TIMESTAMP '1970-01-01 00:00:00', window_start) / {{.window}}
      RANGE BETWEEN {{.previous_windows}} PRECEDING AND CURRENT ROW) AS span_total,
    sum(n) OVER (PARTITION BY k ORDER BY date_diff('second', TIMESTAMP '1970-01-01 00:00:00', window_start) / {{.window}}
      RANGE BETWEEN {{.previous_windows}} PRECEDING AND CURRENT ROW) AS span_n
  FROM w
)
SELECT window_start, k AS "{{name .key}}", n AS "count", round(total / n, 6) AS "avg_{{name .value}}",
  lo AS "min_{{name .value}}", hi AS "max_{{name .value}}", round(span_total / span_n, 6) AS "moving_avg_{{name .value}}"
FROM m
WHERE window_start >= {{.start}}
  AND date_diff('second', TIMESTAMP '1970-01-01 00:00:00', window_start) + {{.window}} <= date_diff('second', TIMESTAMP '1970-01-01 00:00:00', {{.end}})
ORDER BY window_start, k
