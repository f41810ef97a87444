package engine

import (
	"github.com/palisade-db/palisade/proto/metapb"
)

// BootstrapAdmin creates the first admin user: the one statement InfluxDB
// lets through without credentials while auth is enabled and no admin
// exists. The command is marked as a bootstrap, so that the meta state
// machine refuses it (meta.ErrAdminExists) when an admin exists by the time
// it is applied, whatever this node believed: a node with a stale state, or
// two bootstraps racing through two nodes, cannot make a second admin.
func (e *Engine) BootstrapAdmin(name, password string) error {
	return e.meta.bootstrapAdmin(name, password)
}

func (c *MetaClient) bootstrapAdmin(name, password string) error {
	_, err := c.execute(&metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{
		Name: name, Password: password, Admin: true, Bootstrap: true,
	}}})
	return err
}
