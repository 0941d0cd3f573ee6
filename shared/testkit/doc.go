// Package testkit holds test helpers: real PostgreSQL, Redis,
// SQS-emulator and Lambda-emulator helpers, and conveniences for starting
// the sandboxes of shared/sandbox on test servers. It is never linked into
// a Lambda or the local server.
package testkit
