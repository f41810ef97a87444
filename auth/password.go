package auth

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// DefaultHashCost is the bcrypt cost used when none is configured.
const DefaultHashCost = bcrypt.DefaultCost

// ErrPasswordTooLong is returned for passwords bcrypt cannot hash (over 72 bytes).
var ErrPasswordTooLong = errors.New("auth: password longer than 72 bytes")

// HashPassword returns the bcrypt hash of password at the given cost.
// The error never contains the password.
func HashPassword(password string, cost int) ([]byte, error) {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("auth: bcrypt cost %d out of range [%d, %d]", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if errors.Is(err, bcrypt.ErrPasswordTooLong) {
		return nil, ErrPasswordTooLong
	}
	if err != nil {
		return nil, fmt.Errorf("auth: hashing password: %w", err)
	}
	return h, nil
}

// CheckPassword reports whether password matches the bcrypt hash.
func CheckPassword(hash []byte, password string) bool {
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}
