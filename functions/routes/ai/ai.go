// Package ai serves the AI analysis routes: asking for an analysis, which
// enqueues an ai-analysis job and needs the ai-agents feature, and listing
// the insights those jobs stored, which stay readable when the feature is
// turned off.
package ai

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/queue"
)

// ErrNotEnabled answers users without the ai-agents feature.
var ErrNotEnabled = errs.Forbidden("AI analysis is not enabled for this account")

// enabled checks the request's user has the ai-agents feature.
func enabled(ctx context.Context) (uuid.UUID, error) {
	userID, err := auth.UserID(ctx)
	if err != nil {
		return uuid.Nil, err
	}
	if !feature.Enabled(ctx, feature.AIAgents) {
		return uuid.Nil, ErrNotEnabled
	}
	return userID, nil
}

// parseContactID reads an optional contact id.
func parseContactID(s string) (*uuid.UUID, error) {
	if s == "" {
		return nil, nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return nil, errs.Field("contactId", "must be a UUID")
	}
	return &id, nil
}

// AnalyzeRequest asks for one analysis.
type AnalyzeRequest struct {
	Type      string         `json:"type" minLength:"1" maxLength:"64" doc:"The analysis; contact-summary: who a contact is to the user and what they discuss, from the mail exchanged with them" example:"contact-summary"`
	ContactID string         `json:"contactId,omitempty" format:"uuid" doc:"The contact the analysis is about; required for contact-summary"`
	Data      map[string]any `json:"data,omitempty" doc:"The analysis's options; contact-summary takes emails, how many of the newest emails to read (1 to 50, default 50)"`
}

// AnalyzeInput is a request for an analysis.
type AnalyzeInput struct {
	Body AnalyzeRequest
}

// AnalyzeOutput is the analysis's job.
type AnalyzeOutput struct {
	Body jobs.Job
}

// Requester enqueues analyses.
type Requester interface {
	Request(ctx context.Context, userID uuid.UUID, r insight.Request) (queue.Job, error)
}

// Analyze answers POST /v1/ai/analyze: it enqueues the analysis and
// answers its job, or the one of the same type and contact already
// waiting or running. Follow it at GET /v1/jobs/{id}; its insight is then
// listed at GET /v1/ai/insights.
func Analyze(svc Requester) api.Route {
	return api.Handle(catalog.AIAnalyze, func(ctx context.Context, in *AnalyzeInput) (*AnalyzeOutput, error) {
		userID, err := enabled(ctx)
		if err != nil {
			return nil, err
		}
		r := insight.Request{Type: strings.TrimSpace(in.Body.Type)}
		if r.ContactID, err = parseContactID(in.Body.ContactID); err != nil {
			return nil, err
		}
		if in.Body.Data != nil {
			if r.Data, err = json.Marshal(in.Body.Data); err != nil {
				return nil, errs.Field("data", "must be a JSON object")
			}
		}
		j, err := svc.Request(ctx, userID, r)
		if err != nil {
			return nil, err
		}
		return &AnalyzeOutput{Body: jobs.ToJob(j)}, nil
	}, api.Status(http.StatusAccepted), api.Errors(http.StatusForbidden, http.StatusNotFound))
}

// Insight is a stored analysis on the wire.
type Insight struct {
	ID        uuid.UUID      `json:"id" format:"uuid"`
	Type      string         `json:"type" doc:"The analysis" example:"contact-summary"`
	ContactID *uuid.UUID     `json:"contactId" nullable:"true" format:"uuid" doc:"The contact it is about"`
	JobID     uuid.UUID      `json:"jobId" format:"uuid" doc:"The ai-analysis job that produced it"`
	Model     string         `json:"model" doc:"The model that answered"`
	Content   map[string]any `json:"content" doc:"The result; contact-summary: summary, topics, relationship and, when there is one, suggestedFollowUp. Written by an AI model from mail anyone can send; links and payment details are removed from it"`
	// AIGenerated is always true: clients show the content as the
	// model's, not as fact.
	AIGenerated bool      `json:"aiGenerated" doc:"Always true: the content was written by an AI model (model) from the user's mail, which anyone can write to; show it as AI-generated, not as fact"`
	CreatedAt   time.Time `json:"createdAt"`
}

func toInsight(i insight.Insight) Insight {
	content := map[string]any{}
	_ = json.Unmarshal(i.Content, &content) // a jsonb object always decodes
	return Insight{
		ID: i.ID, Type: i.Type, ContactID: i.ContactID, JobID: i.JobID, Model: i.Model,
		Content: content, AIGenerated: true, CreatedAt: i.CreatedAt.UTC(),
	}
}

// ListInput selects a page of insights.
type ListInput struct {
	ContactID string `query:"contactId" format:"uuid" doc:"Only the insights about this contact"`
	Limit     int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Insights per page"`
	Cursor    string `query:"cursor" maxLength:"512" doc:"nextCursor of the previous page"`
}

// InsightPage is a page of insights, newest first.
type InsightPage struct {
	Items      []Insight `json:"items"`
	NextCursor *string   `json:"nextCursor" nullable:"true" doc:"Pass as cursor for the next page; null on the last page"`
}

// ListOutput is a page of insights.
type ListOutput struct {
	Body InsightPage
}

// Lister pages through insights.
type Lister interface {
	List(ctx context.Context, userID uuid.UUID, q insight.Query) (insight.Page, error)
}

// List answers GET /v1/ai/insights.
func List(svc Lister) api.Route {
	return api.Handle(catalog.AIInsightsList, func(ctx context.Context, in *ListInput) (*ListOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		q := insight.Query{Limit: in.Limit}
		if q.ContactID, err = parseContactID(in.ContactID); err != nil {
			return nil, err
		}
		if in.Cursor != "" {
			var c insight.Cursor
			if err := api.DecodeCursor(in.Cursor, &c); err != nil {
				return nil, err
			}
			if c.ID == uuid.Nil || c.At.IsZero() {
				return nil, errs.Field("cursor", "is not a valid cursor")
			}
			q.After = &c
		}
		page, err := svc.List(ctx, userID, q)
		if err != nil {
			return nil, err
		}
		out := &ListOutput{}
		out.Body.Items = make([]Insight, len(page.Items))
		for i, it := range page.Items {
			out.Body.Items[i] = toInsight(it)
		}
		if page.Next != nil {
			next := api.EncodeCursor(page.Next)
			out.Body.NextCursor = &next
		}
		return out, nil
	}, api.Errors(http.StatusNotFound))
}
