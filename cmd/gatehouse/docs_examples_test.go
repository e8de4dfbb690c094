package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// docsHiddenOK are hidden flags the docs may name: internal ones they
// explain, not older spellings (those are for old scripts; examples use
// the listed names).
var docsHiddenOK = map[string]bool{"gatehouse bench --serve-echo": true}

// Every gatehouse command line in docs/*.md (code blocks and inline code)
// uses flags its command lists in -h, spelled --long (or a -x shorthand):
// no single-dash long flags, no hidden older spellings.
func TestDocsExamplesUseListedFlags(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	files = append(files, "../../README.md")
	root := newRoot(bufEnv(nil, nil))
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		md := string(b)
		if filepath.Base(f) == "README.md" {
			// "Upgrading scripts" lists the older spellings on purpose.
			md = withoutSection(md, "### Upgrading scripts")
		}
		for _, ex := range docsCommandLines(md) {
			checked++
			for _, p := range checkExample(root, ex.args) {
				t.Errorf("%s:%d: %s\n  %s", filepath.Base(f), ex.line, p, strings.Join(ex.args, " "))
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d command lines found in docs/*.md", checked)
	}
}

// withoutSection blanks the lines of md from the heading to the next
// heading of the same or a higher level (line numbers stay right).
func withoutSection(md, heading string) string {
	lines := strings.Split(md, "\n")
	level := strings.Count(strings.Fields(heading)[0], "#")
	in := false
	for i, l := range lines {
		if l == heading {
			in = true
		} else if in && strings.HasPrefix(l, "#") {
			if h := strings.Fields(l)[0]; strings.Trim(h, "#") == "" && len(h) <= level {
				in = false
			}
		}
		if in {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

type docsExample struct {
	line int
	args []string // after "gatehouse"
}

var (
	docsInline  = regexp.MustCompile("`([^`]+)`")
	docsCommand = regexp.MustCompile(`(?:^|[\s(])(?:\./|/usr/local/bin/)?gatehouse ((?:serve|keys|client|admin|bench|version|man)(?:\s.*)?)$`)
)

// docsCommandLines finds the gatehouse command lines of a markdown text:
// lines of fenced code blocks (joined over trailing backslashes) and
// inline code spans.
func docsCommandLines(md string) []docsExample {
	var out []docsExample
	lines := strings.Split(md, "\n")
	fenced := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		var spans []string
		n := i + 1
		if fenced {
			for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
				i++
				l = strings.TrimSuffix(l, "\\") + " " + lines[i]
			}
			spans = []string{l}
		} else {
			// An inline span may go on over line breaks: the paragraph
			// is searched as one line.
			for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" && !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "```") {
				i++
				l += " " + lines[i]
			}
			for _, m := range docsInline.FindAllStringSubmatch(l, -1) {
				spans = append(spans, m[1])
			}
		}
		for _, s := range spans {
			if m := docsCommand.FindStringSubmatch(s); m != nil {
				out = append(out, docsExample{n, shellWords(m[1])})
			}
		}
	}
	return out
}

// shellWords splits a command line as a shell would, roughly: quotes
// group, and it ends at a comment, pipe, redirection or list operator.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
			continue
		case c == '\'' || c == '"':
			quote, in = c, true
			continue
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
			continue
		case !in && (c == '#' || c == '|' || c == '>' || c == '<' || c == ';' || c == '&'):
			return words
		}
		cur.WriteByte(c)
		in = true
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// checkExample returns what is wrong with the flags of gatehouse args.
func checkExample(root *cobra.Command, args []string) []string {
	cur, i := commandOf(root, args)
	if cur == root {
		return []string{"no such command"}
	}
	cur.InitDefaultHelpFlag()
	fs := cur.Flags()
	dashArgs := cur.Annotations["dash-args"] != ""
	var bad []string
	for j := i; j < len(args); j++ {
		a := strings.TrimRight(strings.TrimLeft(args[j], "["), "]")
		if a == "--" {
			break
		}
		if len(a) < 2 || a[0] != '-' || a == "-…" {
			continue
		}
		var f *pflag.Flag
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case strings.HasPrefix(a, "--"):
			if f = fs.Lookup(name); f == nil {
				bad = append(bad, "unknown flag "+a)
				continue
			}
			if f.Hidden && !docsHiddenOK[cur.CommandPath()+" --"+name] {
				what := "hidden flag " + a
				if to := f.Annotations[aliasOf]; len(to) == 1 {
					what += " (use --" + to[0] + ")"
				}
				bad = append(bad, what)
			}
		case len(name) > 1 && fs.Lookup(name) != nil:
			f = fs.Lookup(name)
			bad = append(bad, "single-dash long flag "+a+" (use -"+a+")")
		default:
			if f = fs.ShorthandLookup(name[:1]); f != nil {
				hasValue = len(name) > 1
			} else if !dashArgs {
				bad = append(bad, "unknown flag "+a)
			}
		}
		if f != nil && !hasValue && f.NoOptDefVal == "" {
			j++ // its value
		}
	}
	return bad
}
