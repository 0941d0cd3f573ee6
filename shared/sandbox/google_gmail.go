package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GmailMessage is a message in a sandbox mailbox.
type GmailMessage struct {
	// ID and ThreadID are set by AddMessage when empty.
	ID, ThreadID string
	LabelIDs     []string
	Snippet      string
	// Headers are the message's headers in order, as name-value pairs.
	Headers [][2]string
	// Received is Gmail's internalDate; zero is when it was added.
	Received time.Time

	historyID uint64
}

// gmailBox is one person's mailbox: messages in the order they arrived,
// and the history of additions.
type gmailBox struct {
	messages []*GmailMessage
	byID     map[string]*GmailMessage
	history  uint64
	// oldest is the history id before which the history is gone: a
	// start before it answers 404, as Gmail does after about a week.
	oldest uint64
	// watches are the users.watch calls of the mailbox.
	watches []GmailWatch
}

func (g *Google) mailbox(email string) *gmailBox {
	key := strings.ToLower(email)
	b, ok := g.boxes[key]
	if !ok {
		b = &gmailBox{byID: map[string]*GmailMessage{}, history: 1000}
		g.boxes[key] = b
	}
	return b
}

// AddMessage delivers m to the mailbox of email, as the newest message,
// and returns its id. Its arrival is a history record.
func (g *Google) AddMessage(email string, m GmailMessage) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.addMessage(email, m)
}

func (g *Google) addMessage(email string, m GmailMessage) string {
	b := g.mailbox(email)
	b.history++
	m.historyID = b.history
	if m.ID == "" {
		m.ID = fmt.Sprintf("18c%013x", b.history)
	}
	if m.ThreadID == "" {
		m.ThreadID = m.ID
	}
	if m.Received.IsZero() {
		m.Received = time.Now()
	}
	if m.LabelIDs == nil {
		m.LabelIDs = []string{"INBOX"}
	}
	b.messages = append(b.messages, &m)
	b.byID[m.ID] = &m
	return m.ID
}

// ExpireHistory drops the history of the mailbox of email: a history
// list from before now answers 404.
func (g *Google) ExpireHistory(email string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.mailbox(email)
	b.history++
	b.oldest = b.history
}

// gmail serves the Gmail API methods mail sync and gmail-watch call:
// users.getProfile, users.messages.list, users.messages.get,
// users.history.list and users.watch, for the user "me" or the person's
// address, with the access tokens the sandbox issued that carry a Gmail
// scope. rpc names the method in errors.
func (g *Google) gmail(rpc string, h func(w http.ResponseWriter, r *http.Request, u GoogleUser, b *gmailBox)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := g.apiCall(w, r, apiMethod{
			service: "gmail.googleapis.com", short: "gmail", method: r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:],
			rpc: "caribou.api.proto.MailboxService." + rpc, scopes: gmailScopes, fail: &g.gmailFail,
		})
		if !ok {
			return
		}
		if id := r.PathValue("user"); id != "me" && !strings.EqualFold(id, u.Email) {
			gmailError(w, http.StatusForbidden, "Delegation denied for "+u.Email, "forbidden")
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		h(w, r, u, g.mailbox(u.Email))
	}
}

func writeGmail(w http.ResponseWriter, body any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(body)
}

// pageOf reads maxResults and pageToken (an offset) of a list request.
func pageOf(r *http.Request, n int) (from, to int, next string, ok bool) {
	size := 100
	if s := r.URL.Query().Get("maxResults"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return 0, 0, "", false
		}
		size = min(v, 500)
	}
	if s := r.URL.Query().Get("pageToken"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, 0, "", false
		}
		from = v
	}
	from = min(from, n)
	to = min(from+size, n)
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next, true
}

func (g *Google) gmailProfile(w http.ResponseWriter, r *http.Request, u GoogleUser, b *gmailBox) {
	writeGmail(w, map[string]any{
		"emailAddress": u.Email, "messagesTotal": len(b.messages), "threadsTotal": len(b.messages),
		"historyId": strconv.FormatUint(b.history, 10),
	})
}

// gmailList lists message ids newest first.
func (g *Google) gmailList(w http.ResponseWriter, r *http.Request, u GoogleUser, b *gmailBox) {
	from, to, next, ok := pageOf(r, len(b.messages))
	if !ok {
		gmailError(w, http.StatusBadRequest, "Invalid pageToken or maxResults", "invalidArgument")
		return
	}
	refs := []map[string]string{}
	for i := from; i < to; i++ {
		m := b.messages[len(b.messages)-1-i]
		refs = append(refs, map[string]string{"id": m.ID, "threadId": m.ThreadID})
	}
	body := map[string]any{"resultSizeEstimate": len(refs)}
	if len(refs) > 0 {
		body["messages"] = refs
	}
	if next != "" {
		body["nextPageToken"] = next
	}
	writeGmail(w, body)
}

// gmailGet answers one message in the metadata (headers of
// metadataHeaders, or all), minimal, full or raw format; full has no body
// parts here. A format Gmail does not know, in any other case than its
// own, is refused.
func (g *Google) gmailGet(w http.ResponseWriter, r *http.Request, u GoogleUser, b *gmailBox) {
	q := r.URL.Query()
	format := q.Get("format")
	switch format {
	case "", "minimal", "full", "raw", "metadata":
	default:
		invalidEnum(w, "format", "type.googleapis.com/gmail.v1.GetMessageRequest.Format", format)
		return
	}
	m, ok := b.byID[r.PathValue("id")]
	if !ok {
		gmailError(w, http.StatusNotFound, "Requested entity was not found.", "notFound")
		return
	}
	body := gmailMessageJSON{
		ID: m.ID, ThreadID: m.ThreadID, LabelIDs: m.LabelIDs, Snippet: m.Snippet,
		HistoryID: strconv.FormatUint(m.historyID, 10), InternalDate: strconv.FormatInt(m.Received.UnixMilli(), 10),
		SizeEstimate: 1024,
	}
	switch format {
	case "minimal":
	case "raw":
		var raw strings.Builder
		for _, h := range m.Headers {
			raw.WriteString(h[0] + ": " + h[1] + "\r\n")
		}
		raw.WriteString("\r\n" + m.Snippet + "\r\n")
		body.Raw = base64.URLEncoding.EncodeToString([]byte(raw.String()))
	default:
		want := q["metadataHeaders"]
		headers := []gmailHeader{}
		for _, h := range m.Headers {
			if format != "metadata" || len(want) == 0 || slices.ContainsFunc(want, func(n string) bool { return strings.EqualFold(n, h[0]) }) {
				headers = append(headers, gmailHeader{Name: h[0], Value: h[1]})
			}
		}
		body.Payload = &gmailPayload{MimeType: "text/plain", Headers: headers}
	}
	writeGmail(w, body)
}

// gmailMessageJSON is a users.messages resource as Gmail answers it.
type gmailMessageJSON struct {
	ID           string        `json:"id"`
	ThreadID     string        `json:"threadId"`
	LabelIDs     []string      `json:"labelIds"`
	Snippet      string        `json:"snippet"`
	HistoryID    string        `json:"historyId"`
	InternalDate string        `json:"internalDate"`
	SizeEstimate int           `json:"sizeEstimate"`
	Payload      *gmailPayload `json:"payload,omitempty"`
	Raw          string        `json:"raw,omitempty"`
}

// gmailPayload is a message's top part, without a body here.
type gmailPayload struct {
	PartID   string        `json:"partId"`
	MimeType string        `json:"mimeType"`
	Filename string        `json:"filename"`
	Headers  []gmailHeader `json:"headers"`
}

type gmailHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// gmailHistory lists the additions after startHistoryId, oldest first.
func (g *Google) gmailHistory(w http.ResponseWriter, r *http.Request, u GoogleUser, b *gmailBox) {
	start, err := strconv.ParseUint(r.URL.Query().Get("startHistoryId"), 10, 64)
	if err != nil {
		gmailError(w, http.StatusBadRequest, "Invalid startHistoryId", "invalidArgument")
		return
	}
	added := false
	for _, t := range r.URL.Query()["historyTypes"] {
		if !slices.Contains([]string{"messageAdded", "messageDeleted", "labelAdded", "labelRemoved"}, t) {
			invalidEnum(w, "history_types", "type.googleapis.com/gmail.v1.ListHistoryRequest.HistoryType", t)
			return
		}
		added = added || t == "messageAdded"
	}
	if len(r.URL.Query()["historyTypes"]) == 0 {
		added = true
	}
	if start < b.oldest {
		gmailError(w, http.StatusNotFound, "Requested entity was not found.", "notFound")
		return
	}
	// The sandbox's mailboxes only ever have messages added.
	var news []*GmailMessage
	for _, m := range b.messages {
		if added && m.historyID > start {
			news = append(news, m)
		}
	}
	from, to, next, ok := pageOf(r, len(news))
	if !ok {
		gmailError(w, http.StatusBadRequest, "Invalid pageToken or maxResults", "invalidArgument")
		return
	}
	var records []map[string]any
	for _, m := range news[from:to] {
		ref := map[string]any{"id": m.ID, "threadId": m.ThreadID, "labelIds": m.LabelIDs}
		records = append(records, map[string]any{
			"id": strconv.FormatUint(m.historyID, 10), "messages": []any{ref},
			"messagesAdded": []any{map[string]any{"message": ref}},
		})
	}
	body := map[string]any{"historyId": strconv.FormatUint(b.history, 10)}
	if len(records) > 0 {
		body["history"] = records
	}
	if next != "" {
		body["nextPageToken"] = next
	}
	writeGmail(w, body)
}

// MessageHeaders builds the usual headers of a message: Date, From, To,
// Subject and a Message-ID.
func MessageHeaders(from, to, subject string, sent time.Time) [][2]string {
	return [][2]string{
		{"Date", sent.Format(time.RFC1123Z)},
		{"From", from},
		{"To", to},
		{"Subject", subject},
		{"Message-ID", fmt.Sprintf("<%d.%s@sandbox.example>", sent.UnixNano(), randomHex(4))},
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
