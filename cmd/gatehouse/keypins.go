package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func adminKeysCmd(e *env) *cobra.Command {
	g := newGroup("keys", "fingerprints of the keys daemons sharing the store must hold alike: pins|unpin NAME",
		short(keyPinsCmd(e, "pins"), "list the recorded fingerprints"),
		short(keyPinsCmd(e, "unpin"), "forget one (e2eeftp/server_id, backup/master.key)"))
	g.Long = `Every daemon records the fingerprint of its e2eeftp server identity and its
backup master key in the store on start; a daemon holding a different key
than the one recorded refuses to start. After a deliberate key rotation,
forget the old fingerprint so the next start records the new one.`
	g.Example = "  gatehouse admin keys pins --config /etc/gatehouse/gatehouse.toml\n" +
		"  gatehouse admin keys unpin e2eeftp/server_id --config /etc/gatehouse/gatehouse.toml"
	return g
}

func keyPinsCmd(e *env, sub string) *cobra.Command {
	use, args := "pins", cobra.NoArgs
	if sub == "unpin" {
		use, args = "unpin NAME", cobra.ExactArgs(1)
	}
	cmd := newCmd(use, "", "gatehouse admin keys "+use+" [--config FILE] [--data DIR]",
		"gatehouse admin keys pins --config /etc/gatehouse/gatehouse.toml",
		"gatehouse admin keys unpin e2eeftp/server_id --config /etc/gatehouse/gatehouse.toml")
	cmd.Args = args
	d := newDataFlags(e, cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		out := e.stdout
		ctx := context.Background()
		db, _, err := d.openStore(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		if sub == "unpin" {
			name := args[0]
			found, err := db.UnpinKey(ctx, name)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("no fingerprint recorded for %q (see 'gatehouse admin keys pins')", name)
			}
			fmt.Fprintf(out, "forgot the fingerprint of %s; the next daemon to start records its own\n", name)
			return nil
		}
		pins, err := db.KeyPins(ctx)
		if err != nil {
			return err
		}
		for _, p := range pins {
			fmt.Fprintf(out, "%-20s %s  pinned %s\n", p.Name, p.Fingerprint, p.PinnedAt.Format("2006-01-02 15:04:05Z"))
		}
		return nil
	}
	return cmd
}
