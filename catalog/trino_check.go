package catalog

import (
	"context"
	"errors"
	"fmt"
)

// checkRetryTimeout bounds how long CheckTrino's client retries one
// request (a refused connection, a 503), so that the cause, not only
// ctx's deadline, reaches the caller. A request_retry_timeout in
// catalog.trino.url wins.
const checkRetryTimeout = "3s"

// CheckTrino connects to the Trino of t the way silt does (same URL,
// user, password or token, CA file), runs SELECT 1, and checks that
// catalog t.Catalog exists and whether schema t.Schema does. A missing
// schema is not an error (silt creates it when it opens the catalog), only
// said in detail. It changes nothing on the server and is bounded by ctx.
//
// detail is one line for a person, e.g. "https://trino:8443 answers as
// user silt; catalog hive exists; schema events exists". The error is the
// cause with no secret in it; ExplainTrinoError(err) says it in plain
// words with the key to fix.
func CheckTrino(ctx context.Context, t TrinoOptions) (detail string, err error) {
	server := trinoServer(t)
	db, closeDB, err := openTrinoDB(t, checkRetryTimeout)
	if err != nil {
		return "", err
	}
	defer func() { _ = closeDB() }() // closing a pool after a check: nothing to act on
	fail := func(step string, err error) (string, error) {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			err = fmt.Errorf("no answer before the check's deadline: %w", err)
		}
		return "", redactSecrets(fmt.Errorf("trino at %s: %s: %w", server, step, err), t)
	}

	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fail("SELECT 1", err)
	}
	var n int
	q := "SELECT count(*) FROM system.metadata.catalogs WHERE catalog_name = " + literal(t.Catalog)
	if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return fail("list catalogs", err)
	}
	if n == 0 {
		return "", fmt.Errorf("trino at %s: %w", server, &missingCatalogError{catalog: t.Catalog})
	}
	q = fmt.Sprintf("SELECT count(*) FROM %s.information_schema.schemata WHERE schema_name = %s", Quote(t.Catalog), literal(t.Schema))
	if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return fail("list schemas of "+t.Catalog, err)
	}
	u, err := parseTrinoURL(t.URL)
	if err != nil {
		return fail("user", err)
	}
	detail = fmt.Sprintf("%s answers as user %s; catalog %s exists; ", server, trinoUser(t, u), t.Catalog)
	if n == 0 {
		detail += fmt.Sprintf("schema %s does not exist yet (silt creates it when it first opens the catalog)", t.Schema)
	} else {
		detail += fmt.Sprintf("schema %s exists", t.Schema)
	}
	return detail, nil
}
