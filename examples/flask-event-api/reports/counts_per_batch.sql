-- name: counts_per_batch
-- description: events per ingest batch and event type (what the Spark job printed per micro-batch), for batches from start to end
-- schedule: @every 10s
-- params: start=timestamp:now-1h, end=timestamp:now
SELECT ingested_at AS batch, event_type, count(*) AS events
FROM {{events "ingested_at"}} e
WHERE ingested_at >= {{.start}} AND ingested_at < {{.end}}
GROUP BY 1, 2
ORDER BY 1, 2
