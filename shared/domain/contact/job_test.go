package contact_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/errs"
)

// TestExtractionJobOfAPage: a job names one email or a page of them, at
// most MaxExtractionEmails, none empty; the one-email form reads as it
// always has.
func TestExtractionJobOfAPage(t *testing.T) {
	user, one := uuid.New(), uuid.New()
	page := make([]uuid.UUID, contact.MaxExtractionEmails)
	for i := range page {
		page[i] = uuid.New()
	}
	for _, c := range []struct {
		name  string
		job   contact.ExtractionJob
		field string // the invalid field, or "" for a valid job
	}{
		{"one email", contact.ExtractionJob{UserID: user, EmailID: one}, ""},
		{"a page", contact.ExtractionJob{UserID: user, EmailIDs: page}, ""},
		{"no email", contact.ExtractionJob{UserID: user}, "emailId"},
		{"no user", contact.ExtractionJob{EmailIDs: page[:2]}, "userId"},
		{"too many", contact.ExtractionJob{UserID: user, EmailIDs: append(slices.Clone(page), one)}, "emailIds"},
		{"an empty id", contact.ExtractionJob{UserID: user, EmailIDs: []uuid.UUID{one, uuid.Nil}}, "emailIds"},
	} {
		err := c.job.Validate()
		e, _ := errs.As(err)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.field != "" && (e == nil || e.Fields[c.field] == nil):
			t.Errorf("%s: %v, want an error on %s", c.name, err, c.field)
		}
	}

	b, err := json.Marshal(contact.ExtractionJob{UserID: user, EmailID: one})
	if err != nil || string(b) != `{"userId":"`+user.String()+`","emailId":"`+one.String()+`"}` {
		t.Errorf("one-email job reads %s %v", b, err)
	}
	if got := (contact.ExtractionJob{UserID: user, EmailID: one, EmailIDs: page[:2]}).Emails(); !slices.Equal(got, []uuid.UUID{one, page[0], page[1]}) {
		t.Errorf("emails %v", got)
	}
}
