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
