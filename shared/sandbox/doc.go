// Package sandbox holds stand-ins for the outside services the system
// talks to, speaking their real wire formats so that the real clients run
// against them unchanged: Google (OAuth 2.0 and OpenID Connect, Gmail,
// People, Pub/Sub push signing) and OpenAI's chat completions. Their
// state lives in memory.
//
// The local server mounts them when no real credentials are configured,
// and tests start them through shared/testkit. No Lambda links this
// package, and it does not import "testing".
package sandbox
