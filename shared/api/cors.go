package api

import (
	"net/http"

	"github.com/rs/cors"

	"github.com/personalcrm/core/shared/catalog"
)

// CORS wraps h to answer browsers on origins (exact origins, as
// config.AllowedOrigins lists them) as API Gateway does in the cloud:
// preflights, and the CORS headers of catalog.CORS with credentials
// allowed. A request from any other origin gets no CORS headers, so the
// browser keeps the answer from the page. It is the local server's; in
// Lambda, API Gateway answers CORS before a function runs.
func CORS(origins []string, h http.Handler) http.Handler {
	if len(origins) == 0 {
		return h
	}
	return cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   catalog.CORSMethods(),
		AllowedHeaders:   catalog.CORS.AllowHeaders,
		ExposedHeaders:   catalog.CORS.ExposeHeaders,
		AllowCredentials: true,
		MaxAge:           int(catalog.CORS.MaxAge.Seconds()),
	}).Handler(h)
}
