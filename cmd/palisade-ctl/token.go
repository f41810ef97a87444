package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

func mintToken(fs *flag.FlagSet) action {
	var user, secretID string
	exp := time.Hour
	fs.StringVar(&user, "user", "", "the `user` the token authenticates (required)")
	fs.DurationVar(&exp, "exp", exp, "lifetime of the token")
	fs.StringVar(&secretID, "secret-id", "", "sign with the JWT secret with this `ID` (default: the newest)")
	return func(ctx context.Context, x *call) error {
		if user == "" {
			return x.usageErr("-user required")
		}
		if exp <= 0 {
			return x.usageErr("-exp must be positive, got %s", exp)
		}
		data, err := x.state(ctx)
		if err != nil {
			return err
		}
		if meta.FindUser(data, user) == nil {
			return fmt.Errorf("user %s not found", user)
		}
		secret, err := pickSecret(data.JwtSecrets, secretID)
		if err != nil {
			return err
		}
		token, err := auth.MintToken(secret.Id, secret.Value, user, time.Now().Add(exp))
		if err != nil {
			return err
		}
		fmt.Fprintln(x.stdout, token)
		return nil
	}
}

// pickSecret returns the secret called id, or the newest one when id is "".
func pickSecret(secrets []*metapb.JWTSecret, id string) (*metapb.JWTSecret, error) {
	var pick *metapb.JWTSecret
	for _, s := range secrets {
		if len(s.Value) == 0 {
			continue
		}
		if id != "" {
			if s.Id == id {
				return s, nil
			}
			continue
		}
		if pick == nil || s.Created >= pick.Created {
			pick = s
		}
	}
	switch {
	case id != "":
		return nil, fmt.Errorf("JWT secret %s not found (see 'palisade-ctl secret list')", id)
	case pick == nil:
		return nil, errors.New("the cluster has no JWT secret: add one with 'palisade-ctl secret add'")
	}
	return pick, nil
}
