package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/palisade-db/palisade/proto/metapb"
)

const (
	benchUser     = "bench-user"
	benchPassword = "bench-password-123"
	benchClient   = "203.0.113.10"
)

// benchCache returns a cache whose state has n users: benchUser with a real
// bcrypt hash (at MinCost) and n-1 others sharing one precomputed hash, so
// that a million users take seconds, not hours, to set up.
func benchCache(b *testing.B, n int) *Cache {
	b.Helper()
	fake, err := bcrypt.GenerateFromPassword([]byte("not-used"), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	real, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	users := make([]*metapb.User, 0, n)
	users = append(users, &metapb.User{Name: benchUser, Hash: real,
		Privileges: map[string]metapb.Privilege{"db": metapb.Privilege_PRIVILEGE_ALL}})
	for i := 1; i < n; i++ {
		users = append(users, &metapb.User{Name: fmt.Sprintf("user-%07d", i), Hash: fake})
	}
	c := NewCache(Options{})
	c.Update(&metapb.Data{Users: users, JwtSecrets: testSecrets()})
	return c
}

var benchSizes = []int{10, 10_000, 1_000_000}

func BenchmarkAuthenticate(b *testing.B) {
	tokenExp := time.Now().Add(24 * time.Hour)
	methods := []struct {
		name  string
		creds func(b *testing.B) Credentials
	}{
		{"Basic", func(*testing.B) Credentials {
			return Credentials{Method: Basic, Username: benchUser, Password: benchPassword}
		}},
		{"Token", func(*testing.B) Credentials {
			return Credentials{Method: Token, Username: benchUser, Password: benchPassword}
		}},
		{"JWT-HS256", func(b *testing.B) Credentials {
			return Credentials{Method: Bearer, Token: mustMint(b, "s2", testSecret2, benchUser, tokenExp)}
		}},
	}
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			c := benchCache(b, n)
			for _, m := range methods {
				b.Run(m.name, func(b *testing.B) {
					creds := m.creds(b)
					// One successful verification, so that Basic and Token
					// measure the remembered path.
					if u, err := c.Authenticate(context.Background(), creds, benchClient); err != nil || u.Name() != benchUser {
						b.Fatalf("Authenticate: %v", err)
					}
					b.ReportAllocs()
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := c.Authenticate(context.Background(), creds, benchClient); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		})
	}
}

// BenchmarkVerifyJWT is the cost of a token the cache has not seen: parsing
// and the HMAC (the first request with a token, or after a state change).
func BenchmarkVerifyJWT(b *testing.B) {
	v := newTokenVerifier(0, time.Now)
	keys := newKeyring(nil, []*metapb.JWTSecret{{Id: "s2", Value: testSecret2, Created: 1}})
	tok := mustMint(b, "s2", testSecret2, benchUser, time.Now().Add(24*time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := v.verifyWindow(keys, tok); err != nil {
			b.Fatal(err)
		}
	}
}
