package sandbox

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// GmailWatch is a users.watch call the sandbox Gmail answered.
type GmailWatch struct {
	TopicName           string   `json:"topicName"`
	LabelIDs            []string `json:"labelIds"`
	LabelFilterBehavior string   `json:"labelFilterBehavior"`
	// Expiration is when the watch ends, 7 days after the call.
	Expiration time.Time `json:"-"`
}

// gmailWatchTTL is how long Gmail keeps a watch.
const gmailWatchTTL = 7 * 24 * time.Hour

// Watches returns the watches the mailbox of email was given, oldest
// first.
func (g *Google) Watches(email string) []GmailWatch {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GmailWatch(nil), g.mailbox(email).watches...)
}

// gmailWatch is users.watch: it records the watch and answers the
// mailbox's history id and the watch's expiration in milliseconds, as
// Gmail does. Gmail checks that it may publish to the topic; the sandbox
// only checks the topic's form.
func (g *Google) gmailWatch(w http.ResponseWriter, r *http.Request, u GoogleUser, b *gmailBox) {
	var req GmailWatch
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		gmailError(w, http.StatusBadRequest, "Invalid JSON payload received.", "badRequest")
		return
	}
	project, topic, ok := strings.Cut(strings.TrimPrefix(req.TopicName, "projects/"), "/topics/")
	if !strings.HasPrefix(req.TopicName, "projects/") || !ok || project == "" || topic == "" {
		gmailError(w, http.StatusBadRequest, "Invalid topicName does not match projects/SOME-PROJECT/topics/SOME-TOPIC", "invalidArgument")
		return
	}
	switch req.LabelFilterBehavior { // Gmail's values, in its case
	case "", "include", "exclude":
	default:
		invalidEnum(w, "label_filter_behavior", "type.googleapis.com/gmail.v1.WatchRequest.LabelFilterBehavior", req.LabelFilterBehavior)
		return
	}
	req.Expiration = time.Now().Add(gmailWatchTTL)
	b.watches = append(b.watches, req)
	writeGmail(w, map[string]any{
		"historyId":  strconv.FormatUint(b.history, 10),
		"expiration": strconv.FormatInt(req.Expiration.UnixMilli(), 10),
	})
}
