package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCollectPostPathsAndResponses(t *testing.T) {
	unsetenv(t, "SILT_COLLECT_POST_PATHS")
	cfg, err := Load(writeConfig(t, `kafka: {brokers: [embedded]}
collect:
  post_paths: [/api/events]
  responses:
    "/purchase_a_sword": {status: 200, body: "You bought a sword!\n"}
`))
	require.NoError(t, err)
	require.Equal(t, []string{"/api/events"}, cfg.Collect.PostPaths)
	require.Equal(t, RouteResponse{Status: 200, Body: "You bought a sword!\n"}, cfg.Collect.Responses["/purchase_a_sword"])

	t.Setenv("SILT_COLLECT_POST_PATHS", "/a,/b")
	cfg, err = Load(writeConfig(t, "kafka: {brokers: [embedded]}\n"))
	require.NoError(t, err)
	require.Equal(t, []string{"/a", "/b"}, cfg.Collect.PostPaths)
	unsetenv(t, "SILT_COLLECT_POST_PATHS")

	for body, want := range map[string]string{
		"collect: {post_paths: []}\n":                        "collect.post_paths: empty: list at least one path",
		"collect: {post_paths: [events]}\n":                  `collect.post_paths: "events": a path starts with /`,
		"collect: {post_paths: [/healthz]}\n":                `collect.post_paths: "/healthz" is the collector's own`,
		"collect: {post_paths: [/api/events/x]}\n":           `collect.post_paths: "/api/events/x" is the collector's own`,
		"collect: {post_paths: [/], routes: {/: default}}\n": `collect.routes: "/" is also in collect.post_paths`,
		"collect: {responses: {/nope: {status: 200}}}\n":     `collect.responses./nope: "/nope" is not a GET route: add it to collect.routes`,
		"collect: {responses: {/: {status: 500}}}\n":         "collect.responses./.status: 500: a route answers success with a 2xx status",
	} {
		_, err := Load(writeConfig(t, "kafka: {brokers: [embedded]}\n"+body))
		require.ErrorContains(t, err, want, body)
	}
}

func TestDefaultEventType(t *testing.T) {
	unsetenv(t, "SILT_INGEST_DEFAULT_EVENT_TYPE")
	cfg, err := Load(writeConfig(t, "kafka: {brokers: [embedded]}\ningest: {default_event_type: tick}\n"))
	require.NoError(t, err)
	require.Equal(t, "tick", cfg.Ingest.DefaultEventType)
	_, err = Load(writeConfig(t, "kafka: {brokers: [embedded]}\ningest: {default_event_type: Stock-Tick}\n"))
	require.ErrorContains(t, err, `ingest.default_event_type: "Stock-Tick" is not a table name`)
}

func TestJobOn(t *testing.T) {
	cfg, err := Load(writeConfig(t, "kafka: {brokers: [embedded]}\njobs:\n  - {name: errors, kind: report, report: error_alert, schedule: \"@every 1m\", on: alert}\n"))
	require.NoError(t, err)
	require.Equal(t, "alert", cfg.Jobs[0].On)
	_, err = Load(writeConfig(t, "kafka: {brokers: [embedded]}\njobs:\n  - {name: errors, kind: report, report: error_alert, schedule: \"@every 1m\", on: sometimes}\n"))
	require.ErrorContains(t, err, `jobs[0].on: job "errors": "sometimes": use always or alert`)
	_, err = Load(writeConfig(t, "kafka: {brokers: [embedded]}\njobs:\n  - {name: ingest, kind: ingest, schedule: \"@every 1m\", on: alert}\n"))
	require.ErrorContains(t, err, `jobs[0].on: job "ingest": on: alert is for report jobs`)
}
