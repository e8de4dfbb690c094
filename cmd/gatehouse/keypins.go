package main

import (
	"context"
	"errors"
	"fmt"

	"gatehouse/internal/daemon"
)

const keyPinsUsage = `usage: gatehouse admin keys <command> [-config FILE] [-data DIR]

Every daemon records the fingerprint of its e2eeftp server identity and its
backup master key in the store on start; a daemon holding a different key
than the one recorded refuses to start. After a deliberate key rotation,
forget the old fingerprint so the next start records the new one.

commands:
  pins          list the recorded fingerprints
  unpin NAME    forget one (e2eeftp/server_id, backup/master.key)

examples:
  gatehouse admin keys pins -config /etc/gatehouse/gatehouse.toml
  gatehouse admin keys unpin e2eeftp/server_id -config /etc/gatehouse/gatehouse.toml
`

func runKeyPinsAdmin(e *env, args []string) error {
	out := e.stdout
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, keyPinsUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	fs := newFlagSet(e, "admin keys "+sub, "gatehouse admin keys "+sub+" [-config FILE] [-data DIR]")
	var name string
	if sub == "unpin" {
		if len(rest) == 0 || rest[0] == "" || rest[0][0] == '-' {
			fmt.Fprint(e.stderr, keyPinsUsage)
			return errors.New("unpin: want the key's NAME first")
		}
		name, rest = rest[0], rest[1:]
	} else if sub != "pins" {
		fmt.Fprintf(e.stderr, "gatehouse admin keys: unknown command %q\n\n%s", sub, keyPinsUsage)
		return errUsage
	}
	load := configFlags(e, fs)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	ctx := context.Background()
	db, err := daemon.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "unpin" {
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
