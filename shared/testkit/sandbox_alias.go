package testkit

import "github.com/personalcrm/core/shared/sandbox"

// Names the sandboxes had here before they moved to shared/sandbox.
type (
	Google        = sandbox.Google
	GoogleUser    = sandbox.GoogleUser
	GoogleOptions = sandbox.GoogleOptions
	GoogleFailure = sandbox.GoogleFailure
	GmailMessage  = sandbox.GmailMessage
	GmailWatch    = sandbox.GmailWatch
	GooglePerson  = sandbox.GooglePerson
	PushToken     = sandbox.PushToken
	OpenAI        = sandbox.OpenAI
	OpenAIFailure = sandbox.OpenAIFailure
	OpenAIRequest = sandbox.OpenAIRequest
	OpenAIMessage = sandbox.OpenAIMessage
	OpenAIOptions = sandbox.OpenAIOptions
)

var (
	NewGoogle             = sandbox.NewGoogle
	NewOpenAI             = sandbox.NewOpenAI
	GoogleRateLimited     = sandbox.GoogleRateLimited
	GoogleQuotaPerMinute  = sandbox.GoogleQuotaPerMinute
	GoogleUserRateLimited = sandbox.GoogleUserRateLimited
	MessageHeaders        = sandbox.MessageHeaders
	OpenAIRateLimited     = sandbox.OpenAIRateLimited
	OpenAIQuotaExceeded   = sandbox.OpenAIQuotaExceeded
	OpenAIModelNotFound   = sandbox.OpenAIModelNotFound
	OpenAIBadKey          = sandbox.OpenAIBadKey
)
