package sandbox

import (
	"crypto/rsa"
	"time"
)

// PushToken describes the OpenID Connect token Pub/Sub sends with a push
// delivery of an authenticated push subscription.
type PushToken struct {
	// Audience is the subscription's audience.
	Audience string
	// Email is the push service account; EmailUnverified clears
	// email_verified.
	Email           string
	EmailUnverified bool
	// Expires is when it expires; zero is an hour from now.
	Expires time.Time
	// Issuer is its issuer; empty is Google's, https://accounts.google.com.
	Issuer string
	// Key signs it in the sandbox's key's name; nil is the sandbox's key.
	// Another key makes a token whose signature does not verify.
	Key *rsa.PrivateKey
}

// PushToken signs a push token as Google does (RS256, with a key the
// sandbox serves at /oauth2/v3/certs).
func (g *Google) PushToken(p PushToken) string {
	now := time.Now()
	if p.Expires.IsZero() {
		p.Expires = now.Add(time.Hour)
	}
	if p.Issuer == "" {
		p.Issuer = "https://accounts.google.com"
	}
	if p.Key == nil {
		p.Key = signingKey()
	}
	return signJWT(p.Key, map[string]any{
		"iss": p.Issuer, "aud": p.Audience, "azp": "1234567890", "sub": "1234567890",
		"email": p.Email, "email_verified": !p.EmailUnverified,
		"iat": now.Unix(), "exp": p.Expires.Unix(),
	})
}
