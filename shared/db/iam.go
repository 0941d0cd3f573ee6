package db

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	rdsauth "github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/jackc/pgx/v5"
)

// IAMAuth returns a BeforeConnect hook (Options.BeforeConnect) that signs
// in with IAM database authentication: each new connection gets a fresh
// token (valid 15 minutes, used only to open the connection) as its
// password, signed with creds for region. The token is a bearer
// credential, so the hook refuses a connection that could go out without
// TLS (sslmode below require).
//
// RDS Proxy checks the token against the function's rds-db:connect
// permission for the URL's user; the pool never holds a long-lived
// password.
func IAMAuth(region string, creds aws.CredentialsProvider) func(context.Context, *pgx.ConnConfig) error {
	return func(ctx context.Context, cc *pgx.ConnConfig) error {
		if err := requireTLS(cc); err != nil {
			return err
		}
		if region == "" {
			return errors.New("iam database auth: no AWS region")
		}
		endpoint := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
		token, err := rdsauth.BuildAuthToken(ctx, endpoint, region, cc.User, creds)
		if err != nil {
			return fmt.Errorf("iam database auth token for %s@%s: %w", cc.User, endpoint, err)
		}
		cc.Password = token
		return nil
	}
}

// requireTLS refuses a configuration that connects, or falls back to
// connecting, without TLS (sslmode disable, allow or prefer).
func requireTLS(cc *pgx.ConnConfig) error {
	plain := cc.TLSConfig == nil
	for _, f := range cc.Fallbacks {
		plain = plain || f.TLSConfig == nil
	}
	if plain {
		return errors.New("iam database auth needs TLS: set sslmode=require, verify-ca or verify-full in the database URL")
	}
	return nil
}
