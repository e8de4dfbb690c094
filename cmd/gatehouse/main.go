// Command gatehouse is the one binary: the daemon (serve), key tools (keys),
// protocol clients (client), store administration (admin) and benchmarks
// (bench).
//
// The command tree is built with cobra by newRoot, a function of the
// command's env: there is no package-level command state, so tests run
// commands in process, each with streams, an environment and signals of its
// own. Shell completion (gatehouse completion bash|zsh|fish) and the man
// pages (gatehouse man DIR) come from the same definitions.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"gatehouse/internal/buildinfo"
)

// env is what a command reads and writes besides its arguments: main wires
// the process's standard streams, environment and os/signal; tests pass
// buffers and an environment of their own and send signals in process. No
// command touches os.Stdin, os.Stdout, os.Stderr, os.Getenv or os/signal
// directly.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// getenv and environ read the environment (the config's
	// GATEHOUSE_CONFIG and GATEHOUSE_* keys).
	getenv  func(string) string
	environ func() []string
	// notify relays the listed signals to c until stop(c) is called
	// (signal.Notify and signal.Stop for the real process).
	notify func(c chan<- os.Signal, sig ...os.Signal)
	stop   func(c chan<- os.Signal)
}

// processEnv is the env of the real process.
func processEnv() *env {
	return &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ,
		notify: signal.Notify, stop: signal.Stop}
}

// signalContext is signal.NotifyContext over e's signals: the context ends
// when one of sig arrives or stop is called; its cause is then
// errInterrupted.
func (e *env) signalContext(parent context.Context, sig ...os.Signal) (context.Context, context.CancelFunc) {
	ch := make(chan os.Signal, 1)
	e.notify(ch, sig...)
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		select {
		case <-ch:
			cancel(errInterrupted)
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		e.stop(ch)
		cancel(nil)
	}
}

// errInterrupted is what a client command returns when Ctrl-C (SIGINT)
// ended it: run prints "interrupted" and exits 130, as shells do.
var errInterrupted = errors.New("interrupted")

// interruptible runs body with a context that SIGINT ends; an error body
// returns after the signal becomes errInterrupted (the command's own
// clean-up, e.g. removing a partial download, has run by then).
func interruptible(e *env, parent context.Context, body func(ctx context.Context) error) error {
	ctx, stop := e.signalContext(parent, os.Interrupt)
	defer stop()
	err := body(ctx)
	if err != nil && errors.Is(context.Cause(ctx), errInterrupted) {
		return errInterrupted
	}
	return err
}

// errUsage marks an error whose usage text was already printed.
var errUsage = errors.New("usage")

// exitCode is an error that sets the exit code (its text was printed).
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit %d", int(c)) }

func main() {
	os.Exit(run(os.Args[1:], processEnv()))
}

// run runs the command args names with e's streams and signals and returns
// the process exit code.
func run(args []string, e *env) int {
	err := execute(context.Background(), e, args)
	var code exitCode
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(e.stderr, "interrupted")
		return 130
	case errors.Is(err, errUsage):
		return 1
	}
	name := "gatehouse"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name += " " + args[0]
	}
	fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
	return 1
}

// execute runs the command args names in process. It returns flag.ErrHelp
// when it only printed help.
func execute(ctx context.Context, e *env, args []string) error {
	root := newRoot(e)
	helped := new(atomic.Bool)
	root.SetHelpFunc(func(c *cobra.Command, _ []string) {
		// Asked-for help (-h, --help, help CMD) goes to stdout, so
		// 'gatehouse help serve | less' works; usage after a mistake goes
		// to stderr (writeHelp's other callers).
		helped.Store(true)
		writeHelp(c.OutOrStdout(), c)
	})
	root.SetArgs(canonicalArgs(root, args))
	if err := root.ExecuteContext(ctx); err != nil {
		return err
	}
	if helped.Load() {
		return flag.ErrHelp
	}
	return nil
}

// newRoot builds the whole command tree over e.
func newRoot(e *env) *cobra.Command {
	root := newGroup("gatehouse", "one daemon for five legacy protocols, and their tools")
	root.Long = "Run 'gatehouse help <command>' or 'gatehouse <command> -h' for a command's flags and examples;\n" +
		"'gatehouse completion bash|zsh|fish' prints a shell completion script."
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error { return checkAliases(c.Flags()) }
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		writeHelp(c.ErrOrStderr(), c)
		return err
	})
	root.AddCommand(
		serveCmd(e),
		newGroup("keys", "create and list keys: keys <service> …", keysE2EEFTPCmd(e), keysTLSCmd(e), keysZMQCmdCmd(e)),
		newGroup("client", "talk to a service: client <service> …",
			clientBackupCmd(e), clientClockCmd(e), clientCloudreportCmd(e), clientE2EEFTPCmd(e), clientZMQCmdCmd(e)),
		newGroup("admin", "inspect and manage stored state: admin <service> …",
			adminBackupCmd(e), adminCloudreportCmd(e), adminKeysCmd(e)),
		benchCmd(e),
		versionCmd(e),
		manCmd(root),
	)
	root.SetHelpCommand(&cobra.Command{
		Use: "help [command …]", Short: "show a command's flags and examples",
		ValidArgsFunction: func(c *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil || cmd == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, s := range cmd.Commands() {
				if s.IsAvailableCommand() {
					names = append(names, cobra.CompletionWithDesc(s.Name(), s.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || cmd == nil || len(rest) > 0 && len(cmd.Commands()) > 0 {
				fmt.Fprintf(c.ErrOrStderr(), "gatehouse help: unknown command %q\n\n", strings.Join(args, " "))
				writeHelp(c.ErrOrStderr(), c.Root())
				return errUsage
			}
			return cmd.Help()
		},
	})
	return root
}

// newGroup returns a command that only holds subcommands: without one (or
// with an unknown one) it prints its usage and fails.
func newGroup(name, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: name, Short: short, Args: cobra.ArbitraryArgs,
		Annotations: map[string]string{"group": "1", "synopsis": ""}}
	path := func() string { return g.CommandPath() }
	g.RunE = func(c *cobra.Command, args []string) error {
		code := errUsage
		if !c.HasParent() {
			code = exitCode(2)
		}
		if len(args) > 0 {
			fmt.Fprintf(c.ErrOrStderr(), "%s: unknown command %q\n\n", path(), args[0])
		}
		writeHelp(c.ErrOrStderr(), c)
		return code
	}
	g.AddCommand(subs...)
	return g
}

// newCmd returns a command whose help shows synopsis, its flags and the
// examples. In its RunE, cmd.Flags().Usage() prints that help on stderr.
func newCmd(use, short, synopsis string, examples ...string) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Annotations: map[string]string{"synopsis": synopsis}}
	if len(examples) > 0 {
		c.Example = "  " + strings.Join(examples, "\n  ")
	}
	c.Flags().SortFlags = false
	c.Flags().Usage = func() { writeHelp(c.ErrOrStderr(), c) }
	return c
}

// writeHelp prints c's usage line, description, subcommands, flags and
// examples.
func writeHelp(w io.Writer, c *cobra.Command) {
	syn := c.Annotations["synopsis"]
	subs := []*cobra.Command{}
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() || s.Name() == "help" && !c.HasParent() {
			subs = append(subs, s)
		}
	}
	if syn == "" {
		syn = c.CommandPath() + " <command> [flags]"
		if len(subs) == 0 {
			syn = c.UseLine()
		}
	}
	fmt.Fprintf(w, "usage: %s\n", syn)
	if c.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Long))
	}
	if len(subs) > 0 {
		fmt.Fprint(w, "\ncommands:\n")
		for _, s := range subs {
			fmt.Fprintf(w, "  %-12s %s\n", s.Name(), s.Short)
		}
	}
	if c.Annotations["group"] == "" {
		if fl := c.LocalFlags().FlagUsages(); fl != "" {
			fmt.Fprintf(w, "\nflags:\n%s", fl)
		}
	}
	if c.Example != "" {
		fmt.Fprintf(w, "\nexamples:\n%s\n", c.Example)
	}
	if len(subs) > 0 {
		fmt.Fprintf(w, "\nRun '%s <command> -h' for a command's flags and examples.\n", c.CommandPath())
	}
}

// commandOf walks args' leading subcommand names down from root: the
// command they name and the index of the first argument after them.
func commandOf(root *cobra.Command, args []string) (*cobra.Command, int) {
	cur, i := root, 0
	for i < len(args) {
		next := subcommand(cur, args[i])
		if next == nil {
			break
		}
		cur, i = next, i+1
	}
	return cur, i
}

// canonicalArgs rewrites the arguments of the command args name so that
// cobra parses them as the pre-cobra CLI did and as GNU tools do: the
// flags of the command (in any position, also after its arguments), "--",
// then its arguments in order. A single-dash long flag of the command
// (-data, -config, -set, as README and scripts spell them) becomes its
// --form. An argument that starts with "-" but is no flag of the command
// stays an argument if the command takes such arguments (zmqcmd's os
// parameters: rm -rf); "--" ends the flags explicitly.
func canonicalArgs(root *cobra.Command, args []string) []string {
	cur, i := commandOf(root, args)
	if cur == root || cur.Annotations["group"] != "" {
		return args
	}
	cur.InitDefaultHelpFlag()
	fs := cur.Flags()
	passDash := cur.Annotations["dash-args"] != ""
	out := append([]string{}, args[:i]...)
	var pos []string
	rest := args[i:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			pos = append(pos, rest[j+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		var f *pflag.Flag
		body := strings.TrimPrefix(a, "-")
		name, _, hasValue := strings.Cut(strings.TrimPrefix(body, "-"), "=")
		switch {
		case strings.HasPrefix(a, "--"):
			f = fs.Lookup(name)
		case len(name) > 1 && fs.Lookup(name) != nil:
			f = fs.Lookup(name)
			a = "-" + a
		default:
			if f = fs.ShorthandLookup(body[:1]); f != nil {
				hasValue = len(body) > 1
			}
		}
		if f == nil {
			if passDash {
				pos = append(pos, a)
			} else {
				out = append(out, a) // cobra reports the unknown flag
			}
			continue
		}
		out = append(out, a)
		if !hasValue && f.NoOptDefVal == "" && j+1 < len(rest) {
			j++
			out = append(out, rest[j])
		}
	}
	if len(pos) > 0 {
		out = append(append(out, "--"), pos...)
	}
	return out
}

func subcommand(c *cobra.Command, name string) *cobra.Command {
	for _, s := range c.Commands() {
		if s.Name() == name || s.HasAlias(name) {
			return s
		}
	}
	return nil
}

// short sets c's one-line summary.
func short(c *cobra.Command, s string) *cobra.Command {
	c.Short = s
	return c
}

// aliasFlag makes --old a hidden second name of the flag --name (an
// earlier spelling that scripts may use). Giving both is an error
// (checkAliases), not the last one silently winning.
func aliasFlag(fs *pflag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	fs.Var(f.Value, old, "alias of --"+name)
	fs.Lookup(old).NoOptDefVal = f.NoOptDefVal
	fs.MarkHidden(old)
	fs.SetAnnotation(old, aliasOf, []string{name})
}

// aliasOf is the annotation aliasFlag puts on the old name.
const aliasOf = "gatehouse-alias-of"

// checkAliases fails when a flag and its alias were both given.
func checkAliases(fs *pflag.FlagSet) error {
	var err error
	fs.Visit(func(f *pflag.Flag) {
		if to := f.Annotations[aliasOf]; err == nil && len(to) == 1 && fs.Changed(to[0]) {
			err = fmt.Errorf("--%s and its older spelling --%s both given: use --%s alone", to[0], f.Name, to[0])
		}
	})
	return err
}

func versionCmd(e *env) *cobra.Command {
	c := newCmd("version", "print the version", "gatehouse version",
		"gatehouse version    # e.g. gatehouse v1.2.0 (rev 8c7fd24…, 2026-12-04T20:14:41Z) go1.26.8 linux/amd64")
	c.Args = cobra.NoArgs
	c.RunE = func(*cobra.Command, []string) error {
		fmt.Fprintln(e.stdout, versionLine(buildinfo.Current()))
		return nil
	}
	return c
}

func versionLine(b buildinfo.Info) string {
	line := "gatehouse " + b.Version
	if b.Revision != "" {
		line += " (rev " + b.Revision
		if b.Time != "" {
			line += ", " + b.Time
		}
		if b.Modified {
			line += ", modified"
		}
		line += ")"
	}
	return line + " " + b.GoVersion + " " + b.Platform
}

// manCmd writes one man page per command into a folder, from the same
// definitions as the help and the completion.
func manCmd(root *cobra.Command) *cobra.Command {
	c := newCmd("man DIR", "write the man pages (section 1) into DIR", "gatehouse man DIR",
		"gatehouse man /usr/local/share/man/man1 && man gatehouse-client-e2eeftp-get")
	c.Args = cobra.ExactArgs(1)
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := os.MkdirAll(args[0], 0o755); err != nil {
			return err
		}
		root.DisableAutoGenTag = true
		hdr := &doc.GenManHeader{Title: "GATEHOUSE", Section: "1", Source: "gatehouse " + buildinfo.Current().Version}
		if err := doc.GenManTree(root, hdr, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "wrote the man pages to %s\n", args[0])
		return nil
	}
	return c
}
