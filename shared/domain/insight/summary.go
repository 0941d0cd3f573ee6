package insight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// ContactSummary is the name of the contact summary analysis.
const ContactSummary = "contact-summary"

// Bounds of the contact summary's prompt and answer, in emails, meetings
// and characters.
const (
	MaxEmails      = 50
	MaxMeetings    = 20
	maxSubject     = 200
	maxSnippet     = 300
	maxNotes       = 1000
	maxField       = 200
	maxSummary     = 2000
	maxTopics      = 10
	maxTopic       = 100
	maxFollowUp    = 500
	maxRelationTxt = 500
)

// Summary is the content of a contact summary insight.
type Summary struct {
	Summary      string   `json:"summary"`
	Topics       []string `json:"topics"`
	Relationship string   `json:"relationship"`
	// SuggestedFollowUp is absent when the model sees nothing to follow up.
	SuggestedFollowUp string `json:"suggestedFollowUp,omitempty"`
}

var contactSummary = Type{
	Name:         ContactSummary,
	Summary:      "Summarize one contact from the metadata of the mail exchanged with them",
	NeedsContact: true,
	options: func(in *Input, f errs.Fields) {
		if in.Emails < 0 || in.Emails > MaxEmails {
			f.Add("data.emails", fmt.Sprintf("must be between 1 and %d", MaxEmails))
		}
	},
	prompt: summaryPrompt,
	check:  checkSummary,
}

const summarySystem = `You help someone keep up with the people they know, in a personal CRM.
You are given one of their contacts, the metadata of the most recent emails exchanged with that contact (date, the contact's role in the email, subject, snippet) and of the most recent meetings with them (date and title only).
Answer with a single JSON object and nothing else, with these keys:
- "summary": two to four sentences on who the contact is to the user and what they have been discussing;
- "topics": an array of up to 10 short topics that recur in the emails and meetings;
- "relationship": a few words on the relationship (for example "colleague", "client", "friend", "vendor");
- "suggestedFollowUp": optional, one sentence on what the user could follow up on, only when the emails suggest something.
Use only the data given. Write in the language of the emails.
` + untrustedRule

// summaryData is what the contact summary's prompt says about the
// contact and its emails: the untrusted block's JSON document.
type summaryData struct {
	Contact summaryContact `json:"contact"`
	Emails  []summaryEmail `json:"emails"`
	// Meetings are titles and times only: descriptions, attendees' notes
	// and locations stay out of the prompt.
	Meetings []summaryMeeting `json:"meetings"`
}

type summaryMeeting struct {
	Date  string `json:"date"`
	Title string `json:"title,omitempty"`
}

// meetingRow is what the prompt says about one meeting.
type meetingRow struct {
	Title *string
	At    time.Time
}

type summaryContact struct {
	Name            string `json:"name,omitempty"`
	Email           string `json:"email,omitempty"`
	Company         string `json:"company,omitempty"`
	JobTitle        string `json:"jobTitle,omitempty"`
	Notes           string `json:"notes,omitempty"`
	EmailsExchanged int    `json:"emailsExchanged"`
	Meetings        int    `json:"meetings"`
	// LastEmailOn is the last interaction's day, mail or meeting; the
	// name stays for the prompt's readers.
	LastEmailOn string `json:"lastEmailOn,omitempty"`
}

type summaryEmail struct {
	Date        string `json:"date"`
	ContactRole string `json:"contactRole"`
	Subject     string `json:"subject,omitempty"`
	Snippet     string `json:"snippet,omitempty"`
}

// contactRow is what the prompt says about the contact.
type contactRow struct {
	Email, Name, Company, JobTitle, Notes *string
	EmailsExchanged, Meetings             int
	LastInteractionAt                     *time.Time
}

// emailRow is what the prompt says about one email.
type emailRow struct {
	Subject, Snippet *string
	At               time.Time
	Role             string
}

// summaryPrompt reads the user's contact and the newest emails exchanged
// with it, only ever of this user. Errors: NotFound (not the user's
// contact).
func summaryPrompt(ctx context.Context, s *Service, userID uuid.UUID, in Input) (Prompt, error) {
	var c contactRow
	err := s.db.QueryRow(ctx, `select email, name, company, job_title, notes, emails_sent + emails_received, meetings, last_interaction_at
		from contacts where id = $1 and user_id = $2`, *in.ContactID, userID).
		Scan(&c.Email, &c.Name, &c.Company, &c.JobTitle, &c.Notes, &c.EmailsExchanged, &c.Meetings, &c.LastInteractionAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Prompt{}, errs.NotFound("contact")
	}
	if err != nil {
		return Prompt{}, db.Err(err, "contact")
	}
	limit := in.Emails
	if limit == 0 {
		limit = MaxEmails
	}
	// Newest first through the links' own copy of each email's time
	// (email_contacts_contact_sort_idx): a page, however long the history.
	rows, err := s.db.Query(ctx, `select e.subject, e.snippet, ec.sort_at, ec.role
		from email_contacts ec join emails e on e.id = ec.email_id
		where ec.contact_id = $1 and ec.user_id = $2 and e.user_id = $2
		order by ec.sort_at desc, ec.email_id desc limit $3`, *in.ContactID, userID, limit)
	if err != nil {
		return Prompt{}, db.Err(err, "email")
	}
	emails, err := pgx.CollectRows(rows, pgx.RowToStructByPos[emailRow])
	if err != nil {
		return Prompt{}, db.Err(err, "email")
	}
	rows, err = s.db.Query(ctx, `select ev.title, x.starts_at
		from event_contacts x join calendar_events ev on ev.id = x.event_id
		where x.contact_id = $1 and x.user_id = $2 and ev.user_id = $2
		order by x.starts_at desc, x.event_id desc limit $3`, *in.ContactID, userID, MaxMeetings)
	if err != nil {
		return Prompt{}, db.Err(err, "meeting")
	}
	meetings, err := pgx.CollectRows(rows, pgx.RowToStructByPos[meetingRow])
	if err != nil {
		return Prompt{}, db.Err(err, "meeting")
	}

	field := func(v *string, max int) string {
		if v == nil {
			return ""
		}
		return clip(*v, max)
	}
	data := summaryData{
		Contact: summaryContact{
			Name: field(c.Name, maxField), Email: field(c.Email, maxField), Company: field(c.Company, maxField),
			JobTitle: field(c.JobTitle, maxField), Notes: field(c.Notes, maxNotes),
			EmailsExchanged: c.EmailsExchanged, Meetings: c.Meetings,
		},
		Emails:   make([]summaryEmail, len(emails)),
		Meetings: make([]summaryMeeting, len(meetings)),
	}
	if c.LastInteractionAt != nil {
		data.Contact.LastEmailOn = c.LastInteractionAt.UTC().Format(time.DateOnly)
	}
	for i, e := range emails {
		data.Emails[i] = summaryEmail{Date: e.At.UTC().Format(time.DateOnly), ContactRole: roleText(e.Role),
			Subject: field(e.Subject, maxSubject), Snippet: field(e.Snippet, maxSnippet)}
	}
	for i, m := range meetings {
		data.Meetings[i] = summaryMeeting{Date: m.At.UTC().Format(time.DateOnly), Title: field(m.Title, maxSubject)}
	}
	var b strings.Builder
	what := fmt.Sprintf("The contact, the %d most recent emails exchanged with them and the %d most recent meetings with them, newest first, as JSON.", len(emails), len(meetings))
	if err := untrustedBlock(&b, what, data); err != nil {
		return Prompt{}, err
	}
	return Prompt{System: summarySystem, User: b.String(), Emails: len(emails)}, nil
}

func roleText(role string) string {
	switch role {
	case "from":
		return "sender"
	case "reply_to":
		return "reply-to"
	}
	return "recipient (" + role + ")"
}

// clip trims s to max characters, on one line.
func clip(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// checkSummary validates a contact summary answer: a JSON object with a
// summary, topics and a relationship, and maybe a follow-up. Links and
// payment details are removed from every string (stripUnsafe), strings
// are trimmed and bounded, empty topics dropped, at most maxTopics kept. The
// error never quotes the answer.
func checkSummary(answer string) (json.RawMessage, error) {
	var raw struct {
		Summary           *string   `json:"summary"`
		Topics            *[]string `json:"topics"`
		Relationship      *string   `json:"relationship"`
		SuggestedFollowUp *string   `json:"suggestedFollowUp"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(answer)), &raw); err != nil {
		return nil, fmt.Errorf("the answer is not a JSON object of a contact summary (%d characters)", len(answer))
	}
	var problems []string
	out := Summary{Topics: []string{}}
	if raw.Summary == nil || strings.TrimSpace(*raw.Summary) == "" {
		problems = append(problems, "no summary")
	} else {
		out.Summary = clip(stripUnsafe(*raw.Summary), maxSummary)
	}
	if raw.Relationship == nil || strings.TrimSpace(*raw.Relationship) == "" {
		problems = append(problems, "no relationship")
	} else {
		out.Relationship = clip(stripUnsafe(*raw.Relationship), maxRelationTxt)
	}
	if raw.Topics == nil {
		problems = append(problems, "no topics")
	} else {
		for _, t := range *raw.Topics {
			if t = clip(stripUnsafe(t), maxTopic); t != "" && len(out.Topics) < maxTopics {
				out.Topics = append(out.Topics, t)
			}
		}
	}
	if raw.SuggestedFollowUp != nil {
		out.SuggestedFollowUp = clip(stripUnsafe(*raw.SuggestedFollowUp), maxFollowUp)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the answer is not a contact summary: %s", strings.Join(problems, ", "))
	}
	return json.Marshal(out)
}
