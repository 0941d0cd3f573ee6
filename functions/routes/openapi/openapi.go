// Package openapi serves GET /openapi.json: the API document, generated
// from the routes' own Go types and checked in as openapi.json beside this
// file (a test fails when it is stale; `go test ./functions/routes/openapi
// -update` rewrites it).
package openapi

import (
	"context"
	_ "embed"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

// Document is the checked-in API document.
//
//go:embed openapi.json
var Document []byte

// Output is the document as it is stored.
type Output struct {
	ContentType  string `header:"Content-Type"`
	CacheControl string `header:"Cache-Control"`
	Body         []byte
}

// New builds GET /openapi.json.
func New(*platform.App) (api.Route, error) { return Route(), nil }

// Route answers GET /openapi.json.
func Route() api.Route {
	return api.Handle(catalog.OpenAPI, func(context.Context, *struct{}) (*Output, error) {
		return &Output{ContentType: "application/json", CacheControl: "public, max-age=300", Body: Document}, nil
	})
}
