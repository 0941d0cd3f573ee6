// Package aianalysis is the ai-analysis job: it runs one analysis of a
// user's data (shared/domain/insight) with an OpenAI chat model and stores
// the insight. It is a package of its own so that only the ai-analysis
// function links the OpenAI client.
package aianalysis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
	"github.com/personalcrm/core/shared/queue/worker"
)

// Options are what ai-analysis needs besides the workers' dependencies.
type Options struct {
	// Client is the OpenAI client; nil fails every job as not configured.
	Client *openai.Client
	// Model is the chat model asked; default config.DefaultOpenAIModel.
	Model string
	// Gates are the environment's feature gates: a user has AI analysis
	// when the ai-agents gate and their own setting are on.
	Gates feature.Gates
}

// requestTimeout bounds one call to the model, well within the job's
// timeout.
const requestTimeout = 2 * time.Minute

// maxAnswerTokens bounds the model's answer.
const maxAnswerTokens = 1000

// New builds the ai-analysis worker of app's function: OpenAI as
// configured, SQS as the queue.
func New(app *platform.App) (*worker.Worker, error) {
	return Worker(worker.DepsOf(app, sqsqueue.For(app)), FromConfig(app.Config)), nil
}

// FromConfig builds the Options from the configuration: OpenAI with
// OPENAI_API_KEY at OPENAI_BASE_URL (or OpenAI's), OPENAI_MODEL, and the
// feature gates. Without a key the client is nil. It does no I/O.
func FromConfig(cfg *config.Config) Options {
	o := Options{Model: cfg.OpenAIModel, Gates: feature.GatesOf(cfg.Features)}
	if cfg.OpenAIAPIKey == "" {
		return o
	}
	base := ""
	if cfg.OpenAIBaseURL != nil {
		base = cfg.OpenAIBaseURL.String()
	}
	o.Client = NewClient(cfg.OpenAIAPIKey.Reveal(), base)
	return o
}

// NewClient is an OpenAI client with key, at baseURL (with its /v1) or,
// empty, at OpenAI's. Its calls are timed by the monitor in their context
// (see monitor.Transport): LabelChat for chat completions.
func NewClient(key, baseURL string) *openai.Client {
	c := openai.DefaultConfig(key)
	if baseURL != "" {
		c.BaseURL = baseURL
	}
	c.HTTPClient = &http.Client{Timeout: requestTimeout, Transport: limitHeaders{monitor.Transport(http.DefaultTransport, openAILabel)}}
	return openai.NewClientWithConfig(c)
}

// The labels under which a call to OpenAI is timed.
const (
	LabelChat  = "openai.chat"
	LabelOther = "openai.other"
)

func openAILabel(req *http.Request) string {
	if strings.HasSuffix(req.URL.Path, "/chat/completions") {
		return LabelChat
	}
	return LabelOther
}

// limitHeaders keeps the headers of a 429 answer for the caller that put
// a *limitHeader in the request's context: go-openai's errors carry no
// headers, and OpenAI says in them when to try again.
type limitHeaders struct{ base http.RoundTripper }

type limitHeader struct{ h http.Header }

type limitHeaderKey struct{}

func (t limitHeaders) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	if err == nil && res.StatusCode == http.StatusTooManyRequests {
		if c, ok := req.Context().Value(limitHeaderKey{}).(*limitHeader); ok {
			c.h = res.Header.Clone()
		}
	}
	return res, err
}

// defaultRetryAfter follows a rate limit whose answer says nothing of
// when to try again.
const defaultRetryAfter = 30 * time.Second

// retryAfter is when OpenAI says to try again after a 429: Retry-After
// (seconds) or retry-after-ms, else the reset of the exhausted limit
// (x-ratelimit-reset-requests or -tokens, as "6m0s"), else the later of
// both resets, else defaultRetryAfter.
func retryAfter(h http.Header) time.Duration {
	if h == nil {
		return defaultRetryAfter
	}
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if ms, err := strconv.Atoi(h.Get("Retry-After-Ms")); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	var exhausted, latest time.Duration
	for _, limit := range []string{"requests", "tokens"} {
		d, err := time.ParseDuration(h.Get("X-Ratelimit-Reset-" + limit))
		if err != nil || d <= 0 {
			continue
		}
		latest = max(latest, d)
		if h.Get("X-Ratelimit-Remaining-"+limit) == "0" {
			exhausted = max(exhausted, d)
		}
	}
	switch {
	case exhausted > 0:
		return exhausted
	case latest > 0:
		return latest
	}
	return defaultRetryAfter
}

// clientErrors are go-openai's own refusals of a request before it is
// sent: the deployment's model or request does not fit the client, which
// no retry changes.
var clientErrors = []error{
	openai.ErrChatCompletionInvalidModel, openai.ErrChatCompletionStreamNotSupported, openai.ErrContentFieldsMisused,
	openai.ErrReasoningModelMaxTokensDeprecated, openai.ErrReasoningModelLimitationsLogprobs,
	openai.ErrReasoningModelLimitationsOther, openai.ErrReasoningEffortUnsupported,
	openai.ErrReasoningToolsRequireResponses, openai.ErrReasoningSamplingUnsupported,
	openai.ErrCompletionUnsupportedModel,
}

// errConfig is what users read when the deployment's OpenAI settings are
// wrong: a refused key, an unknown model, a request the client refuses.
const errConfig = "The AI service refused this deployment's credentials or model; an operator must fix its configuration"

// errQuota is what users read when the OpenAI account's quota is used
// up.
const errQuota = "The AI service's quota is used up; AI analysis is paused until an operator restores it"

var errNotConfigured = errors.New("ai-analysis has no OpenAI client: OPENAI_API_KEY is unset")

// ErrNotEnabled ends the jobs of users whose AI analysis was turned off
// after they asked for one.
var ErrNotEnabled = queue.Permanent(errs.Forbidden("AI analysis is not enabled"))

type analyser struct {
	d        worker.Deps
	o        Options
	insights *insight.Service
	settings *feature.Settings
}

// Worker runs one analysis per job: it checks that the user still has AI
// analysis, gathers the analysis's prompt from that user's data only,
// asks the model for a JSON answer, checks it and stores it as an
// insight, once per job (a second delivery finds the insight and does
// nothing). OpenAI's rate limits and server errors are retried; a refused
// key or request ends the job with a message the user can read.
func Worker(d worker.Deps, o Options) *worker.Worker {
	if o.Model == "" {
		o.Model = config.DefaultOpenAIModel
	}
	if d.Log == nil {
		d.Log = logging.Discard()
	}
	a := &analyser{d: d, o: o, insights: insight.NewService(d.DB, nil), settings: feature.NewSettings(d.DB)}
	return worker.New(catalog.MustLookup(catalog.AIAnalysis), d.DB, d.Backend, a.run, d.Options())
}

func (a *analyser) run(ctx context.Context, job queue.Job, p insight.AnalysisJob) error {
	t, in, err := insight.Decode(p.Type, p.Data)
	if err != nil {
		return queue.Permanent(err)
	}
	if done, err := a.insights.ByJob(ctx, p.UserID, job.ID); err == nil {
		a.d.Log.InfoContext(ctx, "insight already stored", "insight_id", done.ID)
		return nil
	} else if !errs.Is(err, errs.KindNotFound) {
		return err
	}
	own, err := a.settings.Get(ctx, p.UserID)
	if err != nil {
		return err
	}
	if !feature.Evaluate(a.o.Gates, own).Enabled(feature.AIAgents) {
		return ErrNotEnabled
	}
	if a.o.Client == nil {
		return errNotConfigured
	}
	prompt, err := a.insights.Prompt(ctx, p.UserID, t, in)
	if err != nil {
		return err
	}
	limits := &limitHeader{}
	res, err := a.o.Client.CreateChatCompletion(context.WithValue(ctx, limitHeaderKey{}, limits), openai.ChatCompletionRequest{
		Model: a.o.Model,
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: prompt.System},
			{Role: openai.ChatMessageRoleUser, Content: prompt.User},
		},
		ResponseFormat:      &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject},
		MaxCompletionTokens: maxAnswerTokens,
	})
	if err != nil {
		err = openAIErr(err, limits.h)
		if e, ok := errs.As(err); ok && (e.Message == errConfig || e.Message == errQuota) {
			// Nothing a user or a retry can fix: operators must act.
			a.d.Log.ErrorContext(ctx, "OpenAI refused the deployment's configuration; AI analysis fails until an operator fixes it",
				"model", a.o.Model, "err", err)
		}
		return err
	}
	if len(res.Choices) == 0 {
		return errs.Unavailable("The AI service", errors.New("chat completion without a choice"))
	}
	choice := res.Choices[0]
	a.d.Log.DebugContext(ctx, "model answered", "model", res.Model, "finish_reason", string(choice.FinishReason),
		"usage_prompt", res.Usage.PromptTokens, "usage_completion", res.Usage.CompletionTokens, "emails", prompt.Emails)
	content, err := t.Check(choice.Message.Content)
	if err != nil {
		// Another answer may be better: retried, up to the job's attempts.
		return fmt.Errorf("%s answer (finish reason %q): %w", t.Name, choice.FinishReason, err)
	}
	model := res.Model
	if model == "" {
		model = a.o.Model
	}
	saved, stored, err := a.insights.Save(ctx, insight.Insight{
		UserID: p.UserID, ContactID: in.ContactID, Type: t.Name, JobID: job.ID, Model: model, Content: content,
	})
	if err != nil {
		return err
	}
	a.d.Log.InfoContext(ctx, "insight stored", "insight_id", saved.ID, "type", t.Name, "model", model,
		"emails", prompt.Emails, "new", stored)
	return nil
}

// openAIErr says what a failed call means for the job, h being the
// headers of a 429 answer. Rate limits (after the answer's Retry-After or
// reset), server errors and an unreachable OpenAI are retried
// (RateLimited, Unavailable). Permanent, with a message the user can
// read: a used-up quota (429 insufficient_quota), a refused key (401,
// 403), an unknown model (404 model_not_found), go-openai's own refusals
// of the request, and any other refused request. The error keeps
// OpenAI's status, type and code, never its message, which may quote
// part of the key.
func openAIErr(err error, h http.Header) error {
	status, typ, code := 0, "", ""
	var ae *openai.APIError
	var re *openai.RequestError
	switch {
	case errors.As(err, &ae):
		status, typ = ae.HTTPStatusCode, ae.Type
		if ae.Code != nil {
			code = fmt.Sprint(ae.Code)
		}
	case errors.As(err, &re):
		status = re.HTTPStatusCode
	default:
		for _, ce := range clientErrors {
			if errors.Is(err, ce) {
				return queue.Permanent(&errs.Error{Kind: errs.KindUnavailable, Message: errConfig,
					Err: fmt.Errorf("chat completion refused by the OpenAI client: %w", err)})
			}
		}
		// No answer: the network, or the job's deadline.
		return errs.Unavailable("The AI service", fmt.Errorf("chat completion: %w", err))
	}
	cause := fmt.Errorf("chat completion: OpenAI answered %d (type %q, code %q)", status, typ, code)
	switch {
	case status == http.StatusTooManyRequests && (code == "insufficient_quota" || typ == "insufficient_quota"):
		return queue.Permanent(&errs.Error{Kind: errs.KindUnavailable, Message: errQuota, Err: cause})
	case status == http.StatusTooManyRequests:
		e := errs.RateLimit(retryAfter(h))
		e.Message, e.Err = "The AI service is limiting requests; the analysis will resume shortly", cause
		return e
	case status >= 500:
		return errs.Unavailable("The AI service", cause)
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
		return queue.Permanent(&errs.Error{Kind: errs.KindUnavailable, Message: errConfig, Err: cause})
	}
	return queue.Permanent(&errs.Error{Kind: errs.KindUnavailable,
		Message: "The AI service could not analyse this data", Err: cause})
}
