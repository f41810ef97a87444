package provision

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	imeta "github.com/influxdata/influxdb/services/meta"
	"github.com/influxdata/influxql"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// fakeMeta applies the changes a Plan asks for to a View, as the engine's
// meta client would once the meta store has them; the admin cannot be made.
type fakeMeta struct {
	view     *metastate.View
	recorded []string
}

func (f *fakeMeta) next(change func(d *metapb.Data)) {
	d := proto.Clone(f.view.Data()).(*metapb.Data)
	d.Index++
	change(d)
	f.view.Update(d, nil)
}

func (f *fakeMeta) CreateDatabase(name string) (*imeta.DatabaseInfo, error) {
	f.next(func(d *metapb.Data) { d.Databases = append(d.Databases, &metapb.Database{Name: name}) })
	return nil, nil
}

func (f *fakeMeta) CreateUser(name, _ string, admin bool) (imeta.User, error) {
	if admin {
		return nil, fmt.Errorf("%w: not this admin", meta.ErrInvalidCommand)
	}
	f.next(func(d *metapb.Data) { d.Users = append(d.Users, &metapb.User{Name: name}) })
	return nil, nil
}

func (f *fakeMeta) SetPrivilege(user, db string, p influxql.Privilege) error {
	f.next(func(d *metapb.Data) {
		u := meta.FindUser(d, user)
		if u.Privileges == nil {
			u.Privileges = map[string]metapb.Privilege{}
		}
		u.Privileges[db] = metastate.FromEnginePrivilege(p)
	})
	return nil
}

func (f *fakeMeta) Execute(_ context.Context, cmd *metapb.Command) (*metapb.ExecuteResponse, error) {
	key := cmd.GetRecordProvisioning().GetFingerprint()
	f.recorded = append(f.recorded, key)
	f.next(func(d *metapb.Data) {
		d.Provisioned = append(d.Provisioned, key)
		slices.Sort(d.Provisioned)
	})
	return &metapb.ExecuteResponse{}, nil
}

// TestAFailedAdminStillProvisionsTheRest: with auth on, an admin that can
// never be made keeps the node answering 503 (Run returns false), and the
// database, the users and their privileges are made and recorded all the
// same, once.
func TestAFailedAdminStillProvisionsTheRest(t *testing.T) {
	view := metastate.NewView()
	view.Update(&metapb.Data{Index: 1}, nil)
	f := &fakeMeta{view: view}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := Run(ctx, Plan{AdminUser: "admin", AdminPassword: "pw", Database: "db", ReadUser: "reader", ReadUserPassword: "pw"},
		Config{View: view, Exec: f, Meta: f, AuthEnabled: true, Log: slog.New(slog.DiscardHandler)})
	if open {
		t.Error("the node may serve without the admin of INFLUXDB_ADMIN_USER while auth is on")
	}
	d := view.Data()
	if meta.FindDatabase(d, "db") == nil {
		t.Error("INFLUXDB_DB was not created after the admin step failed")
	}
	if u := meta.FindUser(d, "reader"); u == nil || u.Privileges["db"] != metapb.Privilege_PRIVILEGE_READ {
		t.Errorf("INFLUXDB_READ_USER not made with READ on db: %v", u)
	}
	want := []string{provisionKey("database", "db"), provisionKey("user", "reader"),
		provisionKey("grant", "reader", "db", influxql.ReadPrivilege.String())}
	if !slices.Equal(f.recorded, want) {
		t.Errorf("recorded %d steps %v, want the database, the user and the grant, in order", len(f.recorded), f.recorded)
	}
}
