package api

// AcceptsGzip is acceptsGzip, for tests.
var AcceptsGzip = acceptsGzip
