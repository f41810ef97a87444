package configs_test

import (
	"testing"

	"github.com/palisade-db/palisade/data"
)

// TestQueryAndLoginLimitsLoad: [http] max-query-size and
// auth-client-failure-threshold come from the file and the environment like
// every key, and 0 turns the query size limit off.
func TestQueryAndLoginLimitsLoad(t *testing.T) {
	t.Parallel()
	path := mustWriteFile(t, `
[http]
max-query-size = 0
auth-client-failure-threshold = 3
`)
	c, err := data.LoadConfig(path, nil)
	if err != nil {
		t.Fatalf("LoadData: %v", err)
	}
	if c.HTTP.MaxQuerySize != 0 || c.HTTP.AuthClientFailureThreshold != 3 {
		t.Errorf("from the file: max-query-size %d, auth-client-failure-threshold %d", c.HTTP.MaxQuerySize, c.HTTP.AuthClientFailureThreshold)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	c, err = data.LoadConfig(path, []string{"INFLUXDB_HTTP_MAX_QUERY_SIZE=2048", "INFLUXDB_HTTP_AUTH_CLIENT_FAILURE_THRESHOLD=50"})
	if err != nil {
		t.Fatalf("LoadData: %v", err)
	}
	if c.HTTP.MaxQuerySize != 2048 || c.HTTP.AuthClientFailureThreshold != 50 {
		t.Errorf("from the environment: max-query-size %d, auth-client-failure-threshold %d", c.HTTP.MaxQuerySize, c.HTTP.AuthClientFailureThreshold)
	}
}
