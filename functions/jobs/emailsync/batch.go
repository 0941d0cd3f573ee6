package emailsync

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
)

// batchSize is how many messages one batch request reads: Google takes
// up to 100 calls in a batch and advises no more than 50, larger ones
// meeting its rate limits sooner.
const batchSize = 50

// batchGetter reads messages through Gmail's batch endpoint, which
// google.golang.org/api does not offer in Go: one multipart/mixed request
// of users.messages.get calls, answered by a multipart/mixed body of
// their responses. Each call still costs its quota units.
type batchGetter struct {
	client *http.Client
	// endpoint is the Gmail API's root URL, ending in a slash.
	endpoint string
}

// errBatchPart is the error of a call in a batch that was not answered
// or whose answer cannot be read.
var errBatchPart = errors.New("gmail batch")

// get reads the metadata of messages ids (at most batchSize, or Google
// refuses the batch) with the headers of syncedHeaders, in one batch
// request. msgs are in the order of ids, nil for a message Gmail no
// longer has (404). unauthorized are the ids whose calls Gmail refused
// with 401, which the caller reads on their own so that the client
// renews the access token. A call's other error, as *googleapi.Error
// with the call's status and headers, fails the whole; so does a batch
// that does not answer every call.
func (b batchGetter) get(ctx context.Context, ids []string) (msgs []*gmail.Message, unauthorized []string, err error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	body, contentType, err := b.request(ids)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.endpoint+"batch/gmail/v1", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	res, err := b.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	if err := googleapi.CheckResponse(res); err != nil {
		return nil, nil, err
	}
	mediaType, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/mixed" || params["boundary"] == "" {
		return nil, nil, fmt.Errorf("%w: answered %q, not multipart/mixed", errBatchPart, res.Header.Get("Content-Type"))
	}
	msgs = make([]*gmail.Message, len(ids))
	answered := make([]bool, len(ids))
	var failed error
	mr := multipart.NewReader(res.Body, params["boundary"])
	br := bufio.NewReader(nil)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: read the answer: %w", errBatchPart, err)
		}
		i, ok := callIndex(p.Header.Get("Content-ID"))
		if !ok || i >= len(ids) || answered[i] {
			return nil, nil, fmt.Errorf("%w: an answer to no call asked (Content-ID %q)", errBatchPart, p.Header.Get("Content-ID"))
		}
		answered[i] = true
		br.Reset(p)
		m, err := readMessage(br)
		var ge *googleapi.Error
		switch {
		case errors.As(err, &ge) && ge.Code == http.StatusNotFound:
			// Deleted since it was listed.
		case errors.As(err, &ge) && ge.Code == http.StatusUnauthorized:
			unauthorized = append(unauthorized, ids[i])
		case err != nil:
			if failed == nil {
				failed = fmt.Errorf("message %s: %w", ids[i], err)
			}
		default:
			if m.Id != ids[i] {
				return nil, nil, fmt.Errorf("%w: message %s answered as %q", errBatchPart, ids[i], m.Id)
			}
			msgs[i] = m
		}
	}
	if failed != nil {
		return nil, nil, failed
	}
	for i, ok := range answered {
		if !ok {
			return nil, nil, fmt.Errorf("%w: message %s not answered", errBatchPart, ids[i])
		}
	}
	return msgs, unauthorized, nil
}

// request is the body of a batch of users.messages.get calls of ids,
// and its Content-Type. Call i's Content-ID is <call-i>; Google answers
// it as <response-call-i>.
func (b batchGetter) request(ids []string) (body []byte, contentType string, err error) {
	q := url.Values{"format": {"metadata"}, "metadataHeaders": syncedHeaders, "alt": {"json"}, "prettyPrint": {"false"}}
	query := q.Encode()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i, id := range ids {
		u, err := url.Parse(b.endpoint + "gmail/v1/users/me/messages/" + url.PathEscape(id))
		if err != nil {
			return nil, "", err
		}
		u.RawQuery = query
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/http")
		h.Set("Content-Transfer-Encoding", "binary")
		h.Set("Content-ID", "<call-"+strconv.Itoa(i)+">")
		pw, err := w.CreatePart(h)
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(pw, "GET %s HTTP/1.1\r\n\r\n", u.RequestURI())
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "multipart/mixed; boundary=" + w.Boundary(), nil
}

// callIndex is the call a part's Content-ID <response-call-i> answers.
func callIndex(contentID string) (int, bool) {
	s, ok := strings.CutPrefix(strings.Trim(contentID, "<>"), "response-call-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0
}

// readMessage reads the HTTP response in a part: the message, or the
// call's error as *googleapi.Error.
func readMessage(p *bufio.Reader) (*gmail.Message, error) {
	res, err := http.ReadResponse(p, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: read an answer: %w", errBatchPart, err)
	}
	defer res.Body.Close()
	if err := googleapi.CheckResponse(res); err != nil {
		return nil, err
	}
	var m gmail.Message
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: decode a message: %w", errBatchPart, err)
	}
	m.ServerResponse = googleapi.ServerResponse{HTTPStatusCode: res.StatusCode, Header: res.Header}
	return &m, nil
}
