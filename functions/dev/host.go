package main

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/errs"
)

// listen opens the local server's socket on HOST:PORT; HOST is the
// loopback address unless set, so others on the network do not reach a
// server that signs anyone in without a password.
func listen(cfg *config.Config) (net.Listener, error) {
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (set PORT, or HOST, to use another)", addr, err)
	}
	return ln, nil
}

// hostGuard refuses a request whose Host header names neither a loopback
// host nor AUTH_URL's host. A web page on another site can make a
// browser's requests reach the local server by pointing its own name at
// 127.0.0.1 (DNS rebinding); such requests carry that site's name.
func hostGuard(cfg *config.Config, srv *api.Server, next http.Handler) http.Handler {
	own := ""
	if cfg.AuthURL != nil {
		own = strings.ToLower(cfg.AuthURL.Hostname())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowedHost(r.Host, own) {
			srv.WriteError(w, r, errs.Forbidden("This local server answers only to localhost, a loopback address or AUTH_URL's host"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHost reports whether host (a Host header, with or without a
// port) is a loopback name or address, or own.
func allowedHost(host, own string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), "."))
	switch {
	case host == "":
		return false
	case host == own:
		return true
	case host == "localhost":
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sandboxGoogle reports whether sign-in goes to a sandbox Google (the
// local server's own or GOOGLE_SANDBOX_URL's) rather than the real one,
// whose accounts hold real mail.
func sandboxGoogle(cfg *config.Config) bool {
	return cfg.GoogleClientID == "" || cfg.GoogleSandboxURL != nil
}
