-- name: game_host_breakdown
-- description: game API requests per host: home page visits, swords bought, guilds joined, from start to end
-- schedule: @every 30s
-- params: start=timestamp:now-1h, end=timestamp:now
SELECT host,
  count(CASE WHEN event_type = 'default' THEN 1 END) AS home_visits,
  count(CASE WHEN event_type = 'purchase_sword' THEN 1 END) AS swords_bought,
  count(CASE WHEN event_type = 'join_guild' THEN 1 END) AS guilds_joined,
  count(*) AS requests
FROM {{events "event_time" "host"}} e
WHERE event_time >= {{.start}} AND event_time < {{.end}}
GROUP BY host
ORDER BY host
