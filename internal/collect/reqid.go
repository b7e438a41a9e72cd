package collect

import (
	"context"
	"net/http"
)

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, reqIDKey{}, id)
}

// RequestID is the request's ID as the collector logged and echoed it.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(reqIDKey{}).(string)
	return id
}

func requestID(r *http.Request) string { return RequestID(r.Context()) }
