package main

import (
	"net/http"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/sandbox"
)

// mountSandbox serves a sandbox Google at AUTH_URL + /sandbox/google when
// sign-in uses the sandbox there (no Google client id and no
// GOOGLE_SANDBOX_URL elsewhere), and returns it; else nil. Each person
// who first signs in there finds mail in their mailbox (sandboxMailbox)
// and meetings in their calendar (sandboxCalendar).
func mountSandbox(srv *api.Server, cfg *config.Config) *sandbox.Google {
	if cfg.GoogleClientID != "" || cfg.GoogleSandboxURL != nil {
		return nil
	}
	g := sandbox.NewGoogle(sandbox.GoogleOptions{
		BaseURL:  cfg.AuthURL.JoinPath(google.SandboxPath).String(),
		ClientID: google.SandboxClientID, ClientSecret: google.SandboxClientSecret,
		NewMailbox: sandboxMailbox, NewCalendar: sandboxCalendar,
	})
	srv.HandleFunc(google.SandboxPath+"/", http.StripPrefix(google.SandboxPath, g.Handler()).ServeHTTP)
	return g
}

// openAISandboxPath is where the local server serves its sandbox OpenAI
// when no OPENAI_API_KEY is set.
const openAISandboxPath = "/sandbox/openai"

// mountOpenAI serves a sandbox OpenAI at AUTH_URL + /sandbox/openai, the
// OpenAI of a local server without OPENAI_API_KEY (localApp), and returns
// it.
func mountOpenAI(srv *api.Server) *sandbox.OpenAI {
	o := sandbox.NewOpenAI(sandbox.OpenAIOptions{})
	srv.HandleFunc(openAISandboxPath+"/", http.StripPrefix(openAISandboxPath, o.Handler()).ServeHTTP)
	return o
}

// homePage is where the browser lands after signing in (the development
// AUTH_REDIRECT_URL): it shows who is signed in, with the API's own
// routes, and why signing in failed when it comes back with error=<code>.
const homePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Personal CRM (local)</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:1rem;overflow:auto}</style>
</head><body><h1>Personal CRM, local server</h1>
<p id="error" hidden></p>
<p id="who">Checking your session…</p>
<p><a href="/auth/google/login">Sign in with Google</a> · <button id="out" type="button">Sign out</button> · <a href="/openapi.json">API document</a></p>
<pre id="user"></pre>
<script>
const reasons = {
  access_denied: 'Google did not let this app sign you in: access was declined, or the account\'s email address is not verified.',
  invalid_request: 'The sign-in link expired, was already used, or was started in another browser or tab. Please start again.',
  account_conflict: 'This email address already belongs to a user who signs in with a different Google account.',
  temporarily_unavailable: 'Signing in could not finish: a service did not answer. Please try again in a moment.',
  server_error: 'An unexpected error stopped the sign-in. Please try again.',
};
const code = new URLSearchParams(location.search).get('error');
if (code) {
  const p = document.getElementById('error');
  p.textContent = 'Sign-in failed: ' + (reasons[code] || code);
  p.hidden = false;
}
async function show() {
  const res = await fetch('/v1/user', {credentials: 'same-origin'});
  const body = await res.json();
  document.getElementById('who').textContent = res.ok ? 'Signed in as ' + body.email : 'Not signed in.';
  document.getElementById('user').textContent = JSON.stringify(body, null, 2);
}
document.getElementById('out').onclick = async () => {
  await fetch('/auth/logout', {method: 'POST', credentials: 'same-origin'});
  show();
};
show();
</script></body></html>
`

func home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(homePage))
}
