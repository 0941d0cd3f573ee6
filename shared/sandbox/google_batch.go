package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// maxBatchParts is how many calls Google takes in one batch request.
const maxBatchParts = 100

// batchPart is one call of a batch request: its Content-ID and request.
type batchPart struct {
	id  string
	req *http.Request
}

// gmailBatch serves Gmail's batch endpoint (POST /batch/gmail/v1): a
// multipart/mixed body of up to 100 calls, each part an application/http
// request with a Content-ID, answered by a multipart/mixed body of their
// responses in the same order, each with Content-ID response-<its id>.
// Each call is served as if made on its own, with the batch's headers
// (its Authorization) unless it has its own: it counts as a call, checks
// its token and may fail on demand, each on its own. A call of another
// API than Gmail answers 404 in its part. The batch itself counts as
// "gmail batch". A body that is not such a
// multipart answers 400, as Google does, and no call is made.
func (g *Google) gmailBatch(api http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.calls["gmail batch"]++
		g.mu.Unlock()
		parts, err := g.readBatch(r)
		if err != nil {
			msg := "Failed to parse batch request, error: " + err.Error() + ". Received batch body: (0) bytes redacted"
			gmailError(w, http.StatusBadRequest, msg, "badRequest")
			return
		}
		var out bytes.Buffer
		mw := multipart.NewWriter(&out)
		for _, p := range parts {
			rec := httptest.NewRecorder()
			if strings.HasPrefix(p.req.URL.Path, "/gmail/v1/") {
				api.ServeHTTP(rec, p.req)
			} else {
				gmailError(rec, http.StatusNotFound, "Not Found", "notFound")
			}
			res := rec.Result()
			h := textproto.MIMEHeader{}
			h.Set("Content-Type", "application/http")
			h.Set("Content-ID", "<response-"+p.id+">")
			pw, err := mw.CreatePart(h)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			res.ContentLength = int64(rec.Body.Len())
			res.Header.Del("Transfer-Encoding")
			fmt.Fprintf(pw, "HTTP/1.1 %s\r\n", res.Status)
			res.Header.Set("Content-Length", strconv.Itoa(rec.Body.Len()))
			res.Header.Write(pw)
			io.WriteString(pw, "\r\n")
			pw.Write(rec.Body.Bytes())
		}
		mw.Close()
		w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
		w.Write(out.Bytes())
	}
}

// readBatch reads the calls of a batch request, their paths relative to
// the sandbox's base URL.
func (g *Google) readBatch(r *http.Request) ([]batchPart, error) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/mixed" {
		return nil, errors.New("Content-Type is not multipart/mixed")
	}
	if params["boundary"] == "" {
		return nil, errors.New("multipart/mixed without a boundary")
	}
	prefix := ""
	if u, err := url.Parse(g.base); err == nil {
		prefix = strings.TrimSuffix(u.Path, "/")
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	br := bufio.NewReader(nil)
	var parts []batchPart
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", len(parts)+1, err)
		}
		if len(parts) == maxBatchParts {
			return nil, fmt.Errorf("more than %d items", maxBatchParts)
		}
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct != "application/http" {
			return nil, fmt.Errorf("part %d is not application/http", len(parts)+1)
		}
		req, err := readBatchRequest(p, br)
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", len(parts)+1, err)
		}
		// A call names a path on Google's host, or a whole URL.
		req.URL.Path = strings.TrimPrefix(req.URL.Path, prefix)
		req.URL.RawPath = ""
		req.URL.Scheme, req.URL.Host, req.RequestURI = "", "", req.URL.RequestURI()
		for k, v := range r.Header {
			if _, own := req.Header[k]; !own && k != "Content-Type" && k != "Content-Length" {
				req.Header[k] = v
			}
		}
		req = req.WithContext(r.Context())
		id := strings.TrimSuffix(strings.TrimPrefix(p.Header.Get("Content-ID"), "<"), ">")
		parts = append(parts, batchPart{id: id, req: req})
	}
	if len(parts) == 0 {
		return nil, errors.New("0 items")
	}
	return parts, nil
}

// readBatchRequest reads the HTTP request of a part with br. Its request line
// may leave out the HTTP version, and a request without a body the blank
// line that ends its headers, as Google's own examples do.
func readBatchRequest(p io.Reader, br *bufio.Reader) (*http.Request, error) {
	data, err := io.ReadAll(p)
	if err != nil {
		return nil, err
	}
	line, rest, _ := bytes.Cut(data, []byte("\n"))
	head := strings.TrimRight(string(line), "\r")
	if len(strings.Fields(head)) == 2 {
		head += " HTTP/1.1"
	}
	if !bytes.HasPrefix(rest, []byte("\r\n")) && !bytes.HasPrefix(rest, []byte("\n")) &&
		!bytes.Contains(rest, []byte("\n\r\n")) && !bytes.Contains(rest, []byte("\n\n")) {
		rest = append(bytes.TrimRight(rest, "\r\n"), "\r\n\r\n"...)
		if len(bytes.TrimSpace(rest)) == 0 {
			rest = []byte("\r\n")
		}
	}
	br.Reset(io.MultiReader(strings.NewReader(head+"\r\n"), bytes.NewReader(rest)))
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	// The part's body is gone once the next part is read.
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return req, nil
}
