package insight

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/errs"
)

// AnalysisJob is the ai-analysis job: it runs one kind of analysis for a
// user.
type AnalysisJob struct {
	UserID uuid.UUID `json:"userId"`
	// Type names the analysis ("contact-summary", ...).
	Type string `json:"type"`
	// Data is the analysis's input, a JSON object.
	Data json.RawMessage `json:"data,omitempty"`
}

// MaxAnalysisData bounds AnalysisJob.Data, in bytes.
const MaxAnalysisData = 64 << 10

// Kind implements queue.Payload.
func (AnalysisJob) Kind() string { return catalog.AIAnalysis }

// Owner implements queue.Owned.
func (p AnalysisJob) Owner() uuid.UUID { return p.UserID }

// Validate implements queue.Payload.
func (p AnalysisJob) Validate() error {
	f := errs.Fields{}
	if p.UserID == uuid.Nil {
		f.Add("userId", "is required")
	}
	if t := strings.TrimSpace(p.Type); t == "" || len(t) > 64 {
		f.Add("type", "must be a name of 1 to 64 characters")
	}
	if len(p.Data) > 0 {
		switch d := bytes.TrimSpace(p.Data); {
		case len(d) > MaxAnalysisData:
			f.Add("data", fmt.Sprintf("must be at most %d bytes", MaxAnalysisData))
		case string(d) != "null" && (len(d) == 0 || d[0] != '{' || !json.Valid(d)):
			f.Add("data", "must be a JSON object")
		}
	}
	return f.Err()
}
