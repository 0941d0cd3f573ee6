// Package testkit holds test helpers and fakes: real PostgreSQL, Redis,
// SQS-emulator and Lambda-emulator helpers and fakes of outside services.
// It is never linked into a Lambda.
package testkit
