package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestDecodeEvent: decodeEvent reads what encoding/json reads into
// events.APIGatewayV2HTTPRequest, escapes included, and refuses what it
// refuses.
func TestDecodeEvent(t *testing.T) {
	payload := []byte(`{"version":"2.0","rawPath":"/v1/a\u00e9","rawQueryString":"q=1&r=\"x\"",
		"cookies":["a=1","b=2"],
		"headers":{"authorization":"Bearer t","x-custom-thing":"v\\1","accept":"*/*","X-Forwarded-For":"203.0.113.7"},
		"requestContext":{"requestId":"id-1","domainName":"api.example.com","timeEpoch":17,
			"http":{"method":"POST","sourceIp":"203.0.113.7","path":"/v1/a"}},
		"body":"eyJhIjoxfQ==","isBase64Encoded":true}`)
	var ev event
	if err := decodeEvent(payload, &ev); err != nil {
		t.Fatal(err)
	}
	var want events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &want); err != nil {
		t.Fatal(err)
	}
	if ev.RawPath != want.RawPath || ev.RawQueryString != want.RawQueryString || ev.Body != want.Body ||
		ev.IsBase64Encoded != want.IsBase64Encoded || !reflect.DeepEqual(ev.Cookies, want.Cookies) ||
		ev.RequestContext.RequestID != want.RequestContext.RequestID ||
		ev.RequestContext.DomainName != want.RequestContext.DomainName ||
		ev.RequestContext.HTTP.Method != want.RequestContext.HTTP.Method ||
		ev.RequestContext.HTTP.SourceIP != want.RequestContext.HTTP.SourceIP {
		t.Errorf("decoded %+v; encoding/json %+v", ev, want)
	}
	wantHeader := http.Header{}
	for k, v := range want.Headers {
		wantHeader.Set(k, v)
	}
	if !reflect.DeepEqual(ev.header, wantHeader) {
		t.Errorf("headers %v, want %v", ev.header, wantHeader)
	}

	for _, bad := range []string{
		``, `[]`, `"x"`, `{"rawPath":1}`, `{"headers":{"a":1}}`, `{"headers":[]}`, `{"cookies":"a"}`,
		`{"cookies":[1]}`, `{"requestContext":{"http":{"method":2}}}`, `{"isBase64Encoded":"yes"}`, `{"body":"x"`,
	} {
		var ev event
		var std events.APIGatewayV2HTTPRequest
		if err := decodeEvent([]byte(bad), &ev); err == nil {
			t.Errorf("%s decoded", bad)
		}
		if err := json.Unmarshal([]byte(bad), &std); err == nil {
			t.Errorf("%s: encoding/json takes it", bad)
		}
	}
	var ev2 event
	if err := decodeEvent([]byte(`{"headers":null,"cookies":null,"requestContext":null}`), &ev2); err != nil {
		t.Errorf("nulls: %v", err)
	}
}
