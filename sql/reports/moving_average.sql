-- name: moving_average
-- description: moving average of the sword price over each purchase and the previous_rows before it, per sword
-- schedule: @every 5m
-- params: previous_rows=int:3, start=timestamp:now-1h, end=timestamp:now
--
-- Purchases are purchase_sword events with a sword name and a numeric
-- price, as silt gen makes them. Ties in time are ordered by Kafka position
-- so both engines see the same frame.
SELECT sword, event_time, price,
  round(avg(price) OVER (PARTITION BY sword ORDER BY event_time, kafka_partition, kafka_offset
    ROWS BETWEEN {{.previous_rows}} PRECEDING AND CURRENT ROW), 6) AS moving_avg
FROM {{from "purchase_sword" "event_time" "kafka_partition" "kafka_offset" "sword" "price:double"}} p
WHERE price IS NOT NULL AND event_time >= {{.start}} AND event_time < {{.end}}
ORDER BY sword NULLS LAST, event_time, kafka_partition, kafka_offset
