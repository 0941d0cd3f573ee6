package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/personalcrm/core/shared/config"
)

// OpenAI is a sandbox OpenAI: POST /v1/chat/completions in OpenAI's wire
// format (Bearer API key, model and messages checked; an answer with id,
// choices and usage; errors as {"error": {message, type, param, code}}),
// so that github.com/sashabaranov/go-openai runs against it unchanged.
//
// Its answers are deterministic and derived from the prompt: in JSON mode
// (response_format json_object) a contact summary object whose summary
// and topics quote the subjects of the emails in the prompt's untrusted
// block, and whose follow-up repeats the newest one's snippet; otherwise
// a text saying the same. It records every request for
// assertions and fails on demand (Fail).
//
// It serves tests (testkit.StartOpenAI) and the local server, which mounts
// Handler under /sandbox/openai when no OPENAI_API_KEY is set.
type OpenAI struct {
	key  string
	base string

	mu       sync.Mutex
	requests []OpenAIRequest
	failures []OpenAIFailure
}

// OpenAIFailure is an error the sandbox answers on demand (FailWith), in
// OpenAI's format: {"error": {message, type, param, code}} with headers.
type OpenAIFailure struct {
	Status     int
	Type, Code string
	Message    string
	Header     http.Header
}

// OpenAIRateLimited is OpenAI's 429 rate_limit_exceeded: the requests
// limit is used up until reset, which its headers say as OpenAI does
// (x-ratelimit-reset-requests, and Retry-After when withRetryAfter).
func OpenAIRateLimited(reset time.Duration, withRetryAfter bool) OpenAIFailure {
	h := http.Header{
		"X-Ratelimit-Limit-Requests": {"500"}, "X-Ratelimit-Remaining-Requests": {"0"},
		"X-Ratelimit-Reset-Requests": {reset.String()},
		"X-Ratelimit-Limit-Tokens":   {"200000"}, "X-Ratelimit-Remaining-Tokens": {"199000"},
		"X-Ratelimit-Reset-Tokens": {"300ms"},
	}
	if withRetryAfter {
		h.Set("Retry-After", strconv.Itoa(int((reset+time.Second-1)/time.Second)))
	}
	return OpenAIFailure{Status: http.StatusTooManyRequests, Type: "requests", Code: "rate_limit_exceeded", Header: h,
		Message: fmt.Sprintf("Rate limit reached for gpt-4o-mini in organization org-sandbox on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in %s.", reset)}
}

// OpenAIQuotaExceeded is OpenAI's 429 insufficient_quota: the account's
// credit is used up, and no retry helps until someone pays.
func OpenAIQuotaExceeded() OpenAIFailure {
	return OpenAIFailure{Status: http.StatusTooManyRequests, Type: "insufficient_quota", Code: "insufficient_quota",
		Message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."}
}

// OpenAIModelNotFound is OpenAI's 404 for a model that does not exist or
// that the key's project may not use.
func OpenAIModelNotFound(model string) OpenAIFailure {
	return OpenAIFailure{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found",
		Message: "The model `" + model + "` does not exist or you do not have access to it."}
}

// OpenAIBadKey is OpenAI's 401 for a key it does not know (revoked, or
// mistyped).
func OpenAIBadKey() OpenAIFailure {
	return OpenAIFailure{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key",
		Message: "Incorrect API key provided: sk-sa*****only. You can find your API key at https://platform.openai.com/account/api-keys."}
}

// openAIFailureOf is OpenAI's usual error for status.
func openAIFailureOf(status int) OpenAIFailure {
	switch {
	case status == http.StatusTooManyRequests:
		return OpenAIRateLimited(20*time.Second, true)
	case status == http.StatusUnauthorized:
		return OpenAIBadKey()
	case status == http.StatusNotFound:
		return OpenAIModelNotFound("gpt-4o-mini")
	case status >= 500:
		return OpenAIFailure{Status: status, Type: "server_error", Message: "The server had an error while processing your request. Sorry about that!"}
	}
	return OpenAIFailure{Status: status, Type: "invalid_request_error", Message: "The request was refused by the sandbox."}
}

// OpenAIRequest is a chat completion request the sandbox received.
type OpenAIRequest struct {
	Model          string          `json:"model"`
	Messages       []OpenAIMessage `json:"messages"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format,omitempty"`
	MaxTokens           int `json:"max_tokens,omitempty"`
	MaxCompletionTokens int `json:"max_completion_tokens,omitempty"`
}

// OpenAIMessage is one message of a chat.
type OpenAIMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Text is every message's content, one after the other.
func (r OpenAIRequest) Text() string {
	var b strings.Builder
	for _, m := range r.Messages {
		b.WriteString(m.Content)
		b.WriteString("\n")
	}
	return b.String()
}

// userText is the user messages' content, one after the other.
func (r OpenAIRequest) userText() string {
	var b strings.Builder
	for _, m := range r.Messages {
		if m.Role == "user" {
			b.WriteString(m.Content)
			b.WriteString("\n")
		}
	}
	return b.String()
}

// OpenAIOptions configure a sandbox OpenAI.
type OpenAIOptions struct {
	// BaseURL is the API base URL it is served at, with its /v1, which URL
	// returns. testkit.StartOpenAI sets it.
	BaseURL string
	// Key is the one API key it accepts; empty is the local server's
	// sandbox key, config.SandboxOpenAIKey.
	Key string
}

// NewOpenAI returns a sandbox OpenAI to serve with Handler.
func NewOpenAI(o OpenAIOptions) *OpenAI {
	if o.Key == "" {
		o.Key = config.SandboxOpenAIKey
	}
	return &OpenAI{key: o.Key, base: o.BaseURL}
}

// URL is the API base URL of a started sandbox, with its /v1, as OpenAI
// clients take it.
func (s *OpenAI) URL() string { return s.base }

// Key is the API key it accepts.
func (s *OpenAI) Key() string { return s.key }

// Fail makes the next requests fail with the given HTTP statuses, one
// each, in order: 429 (rate limited), 401 (bad key), 400, 500, 503...
func (s *OpenAI) Fail(statuses ...int) {
	for _, st := range statuses {
		s.FailWith(openAIFailureOf(st))
	}
}

// FailWith makes the next requests answer fs, one each, in order:
// OpenAIRateLimited, OpenAIQuotaExceeded, OpenAIModelNotFound,
// OpenAIBadKey, or any other.
func (s *OpenAI) FailWith(fs ...OpenAIFailure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, fs...)
}

// Requests returns the chat completion requests received so far with a
// valid key, failed ones included.
func (s *OpenAI) Requests() []OpenAIRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Handler serves the API at /v1/...
func (s *OpenAI) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		openAIError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "Invalid URL ("+r.Method+" "+r.URL.Path+")")
	})
	return mux
}

func openAIError(w http.ResponseWriter, status int, typ, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var c any
	if code != "" {
		c = code
	}
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nil, "code": c}})
}

var openAIRoles = []string{"system", "developer", "user", "assistant"}

func (s *OpenAI) chat(w http.ResponseWriter, r *http.Request) {
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || auth != s.key {
		// OpenAI quotes the start and end of a wrong key.
		shown := auth
		if len(shown) > 8 {
			shown = shown[:3] + "*****" + shown[len(shown)-4:]
		}
		openAIError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			"Incorrect API key provided: "+shown+". You can find your API key at https://platform.openai.com/account/api-keys.")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "", "Content-Type must be application/json")
		return
	}
	var req OpenAIRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "", "We could not parse the JSON body of your request.")
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	var fail OpenAIFailure
	if len(s.failures) > 0 {
		fail, s.failures = s.failures[0], s.failures[1:]
	}
	s.mu.Unlock()
	if fail.Status != 0 {
		for k, v := range fail.Header {
			w.Header()[k] = v
		}
		openAIError(w, fail.Status, fail.Type, fail.Code, fail.Message)
		return
	}

	jsonMode := req.ResponseFormat != nil && req.ResponseFormat.Type == "json_object"
	switch {
	case req.Model == "":
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "", "you must provide a model parameter")
		return
	case len(req.Messages) == 0:
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "", "[] is too short - 'messages'")
		return
	case req.ResponseFormat != nil && !slices.Contains([]string{"text", "json_object", "json_schema"}, req.ResponseFormat.Type):
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "", "Invalid value for 'response_format.type'.")
		return
	case jsonMode && !strings.Contains(strings.ToLower(req.Text()), "json"):
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "",
			"'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.")
		return
	}
	for i, m := range req.Messages {
		if !slices.Contains(openAIRoles, m.Role) {
			openAIError(w, http.StatusBadRequest, "invalid_request_error", "", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'developer', 'user' and 'assistant'. ('messages[%d].role')", m.Role, i))
			return
		}
	}

	content := sandboxAnswer(req.userText(), jsonMode)
	sum := sha256.Sum256([]byte(req.Model + "\x00" + req.Text()))
	prompt, completion := tokensOf(req.Text()), tokensOf(content)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id":      "chatcmpl-sandbox" + hex.EncodeToString(sum[:12]),
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   req.Model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": content, "refusal": nil},
			"logprobs":      nil,
			"finish_reason": "stop",
		}},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	})
}

// tokensOf estimates a text's tokens as OpenAI's rule of thumb does: four
// characters each.
func tokensOf(s string) int { return (utf8.RuneCountInString(s) + 3) / 4 }

// The markers of the untrusted block in which the analyses' prompts give
// mail data, as shared/domain/insight writes them.
const (
	untrustedBegin = "<untrusted_mail_data>"
	untrustedEnd   = "</untrusted_mail_data>"
)

// sandboxAnswer is the sandbox's answer to a prompt: it quotes the
// subjects of the emails in the prompt's untrusted block, and repeats the
// newest email's snippet as the follow-up, as a model that obeys whatever
// the mail says might: links and instructions in the mail reach the
// answer.
func sandboxAnswer(prompt string, jsonMode bool) string {
	var data struct {
		Emails []struct {
			Subject string `json:"subject"`
			Snippet string `json:"snippet"`
		} `json:"emails"`
	}
	if _, rest, ok := strings.Cut(prompt, untrustedBegin); ok {
		if block, _, ok := strings.Cut(rest, untrustedEnd); ok {
			_ = json.Unmarshal([]byte(block), &data) // a prompt without the block has no emails
		}
	}
	var subjects []string
	for _, e := range data.Emails {
		if e.Subject != "" {
			subjects = append(subjects, e.Subject)
		}
	}
	summary := fmt.Sprintf("Sandbox summary of %d emails.", len(data.Emails))
	if len(subjects) > 0 {
		summary += " Subjects: " + strings.Join(subjects, "; ") + "."
	}
	if !jsonMode {
		return summary
	}
	topics := subjects[:min(len(subjects), 5)]
	if topics == nil {
		topics = []string{}
	}
	answer := map[string]any{"summary": summary, "topics": topics, "relationship": "sandbox contact"}
	if len(subjects) > 0 {
		followUp := "Follow up on \"" + subjects[0] + "\"."
		if s := data.Emails[0].Snippet; s != "" {
			followUp += " " + s
		}
		answer["suggestedFollowUp"] = followUp
	}
	b, _ := json.Marshal(answer)
	return string(b)
}
