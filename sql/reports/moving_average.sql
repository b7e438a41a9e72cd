-- name: moving_average
-- description: moving average of a value column over each row and the previous_rows before it, per key, in any table (default: the sword price per sword)
-- schedule: @every 5m
-- params: table=string:purchase_sword, key=string:sword, value=string:price, previous_rows=int:3, start=timestamp:now-1h, end=timestamp:now
--
-- table, key and value name any event table, a column to group by and a
-- numeric column (e.g. --param table=tick --param key=symbol --param
-- value=price). Ties in time are ordered by Kafka position so both engines
-- see the same frame.
SELECT "{{name .key}}", event_time, "{{name .value}}",
  round(avg("{{name .value}}") OVER (PARTITION BY "{{name .key}}" ORDER BY event_time, kafka_partition, kafka_offset
    ROWS BETWEEN {{.previous_rows}} PRECEDING AND CURRENT ROW), 6) AS moving_avg
FROM {{from (name .table) "event_time" "kafka_partition" "kafka_offset" (name .key) (printf "%s:double" (name .value))}} p
WHERE "{{name .value}}" IS NOT NULL AND event_time >= {{.start}} AND event_time < {{.end}}
ORDER BY "{{name .key}}" NULLS LAST, event_time, kafka_partition, kafka_offset
