package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

func secretAdd(fs *flag.FlagSet) action {
	var id, valueFile string
	fs.StringVar(&id, "id", "", "the secret's `ID` (default: random)")
	fs.StringVar(&valueFile, "value-file", "", "read the secret from `file` (\"-\": stdin; default: generate one)")
	return func(ctx context.Context, x *call) error {
		if id == "" {
			id = randomID()
		}
		var value []byte
		generated := valueFile == ""
		if generated {
			value = []byte(randomSecret())
		} else {
			var err error
			if value, err = x.readSecretFile(valueFile); err != nil {
				return err
			}
			if len(value) < meta.MinSecretLength {
				return fmt.Errorf("the secret in %s is %d bytes long; it must be at least %d", valueFile, len(value), meta.MinSecretLength)
			}
		}
		err := x.execute(ctx, &metapb.Command{Op: &metapb.Command_AddJwtSecret{AddJwtSecret: &metapb.AddJWTSecret{
			Id: id, Value: value, Created: time.Now().UnixNano(),
		}}})
		if err != nil {
			return secretError(id, err)
		}
		fmt.Fprintf(x.stdout, "Added JWT secret %s.\n", id)
		if generated {
			fmt.Fprintf(x.stdout, "Secret (shown only this once, it cannot be shown again; store it now):\n%s\n", value)
		}
		return nil
	}
}

func (a *app) readSecretFile(name string) ([]byte, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(a.stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		// The error names the file, never its content.
		return nil, fmt.Errorf("reading the secret: %w", err)
	}
	return bytes.TrimRight(b, "\r\n"), nil
}

func secretList(ctx context.Context, x *call) error {
	data, err := x.state(ctx)
	if err != nil {
		return err
	}
	secrets := slices.Clone(data.JwtSecrets)
	slices.SortStableFunc(secrets, func(s, t *metapb.JWTSecret) int { return cmp.Compare(s.Created, t.Created) })
	w := tabwriter.NewWriter(x.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCreated")
	for _, s := range secrets {
		fmt.Fprintf(w, "%s\t%s\n", s.Id, time.Unix(0, s.Created).UTC().Format(time.RFC3339))
	}
	return w.Flush()
}

func secretRemove(ctx context.Context, x *call) error {
	id := x.args[0]
	if err := x.execute(ctx, &metapb.Command{Op: &metapb.Command_RemoveJwtSecret{RemoveJwtSecret: &metapb.RemoveJWTSecret{Id: id}}}); err != nil {
		return secretError(id, err)
	}
	fmt.Fprintf(x.stdout, "Removed JWT secret %s.\n", id)
	return nil
}

func secretError(id string, err error) error {
	switch {
	case errors.Is(err, meta.ErrSecretExists):
		return fmt.Errorf("a JWT secret with ID %s already exists", id)
	case errors.Is(err, meta.ErrSecretNotFound):
		return fmt.Errorf("JWT secret %s not found", id)
	case errors.Is(err, meta.ErrSecretTooShort):
		return fmt.Errorf("the secret must be at least %d bytes long", meta.MinSecretLength)
	case errors.Is(err, meta.ErrSecretIDRequired):
		return errors.New("secret ID required")
	}
	return err
}

// randomID returns a random 8-character hex ID.
func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// randomSecret returns 32 random bytes as 43 URL-safe characters; clients
// use the string itself as the HMAC key.
func randomSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
