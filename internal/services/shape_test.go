package services_test

import (
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/services"
)

// Every service of the list has the one shape docs/architecture.md
// describes ("One struct per knob, one constructor per service"): a Config
// embedding svckit.Common with Rand and Now, DefaultConfig, Validate,
// New(cfg Config, env Env) (*Server, error), Build(cfg Config, d
// *svckit.Deps) (netsvc.Handler, error), and no second struct of knobs
// (Options) copied from the first.
func TestEveryServiceHasTheOneShape(t *testing.T) {
	for _, name := range services.Names() {
		dir := filepath.Join("..", "service", name)
		fset := token.NewFileSet()
		funcs := map[string]string{} // name (Recv.Name for methods) -> signature
		types := map[string]*ast.TypeSpec{}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					key := d.Name.Name
					if d.Recv != nil {
						key = exprString(fset, d.Recv.List[0].Type) + "." + key
					}
					funcs[key] = signature(fset, d.Type)
				case *ast.GenDecl:
					for _, s := range d.Specs {
						if ts, ok := s.(*ast.TypeSpec); ok {
							types[ts.Name.Name] = ts
						}
					}
				}
			}
		}
		want := map[string]string{
			"New":             "(Config, Env) (*Server, error)",
			"Build":           "(Config, *svckit.Deps) (netsvc.Handler, error)",
			"DefaultConfig":   "() (Config)",
			"Config.Validate": "() (error)",
		}
		for fn, sig := range want {
			if got, ok := funcs[fn]; !ok || got != sig {
				t.Errorf("%s: %s is %q, want %q", name, fn, got, sig)
			}
		}
		if _, ok := types["Options"]; ok {
			t.Errorf("%s: has a type Options: knobs belong in Config (one struct per knob)", name)
		}
		if _, ok := types["Env"]; !ok {
			t.Errorf("%s: no type Env", name)
		}
		cfg, ok := types["Config"]
		if !ok {
			t.Errorf("%s: no type Config", name)
			continue
		}
		fields := map[string]string{}
		for _, f := range cfg.Type.(*ast.StructType).Fields.List {
			typ := exprString(fset, f.Type)
			if len(f.Names) == 0 {
				fields[typ] = typ
			}
			for _, n := range f.Names {
				fields[n.Name] = typ
			}
		}
		for field, typ := range map[string]string{"svckit.Common": "svckit.Common", "Rand": "io.Reader", "Now": "func() time.Time"} {
			if fields[field] != typ {
				t.Errorf("%s: Config.%s is %q, want %q", name, field, fields[field], typ)
			}
		}
	}
}

func exprString(fset *token.FileSet, e ast.Node) string {
	var b strings.Builder
	printer.Fprint(&b, fset, e)
	return b.String()
}

// signature is a function type's parameter and result types, without names:
// "(Config, Env) (*Server, error)".
func signature(fset *token.FileSet, ft *ast.FuncType) string {
	list := func(fl *ast.FieldList) string {
		var types []string
		if fl != nil {
			for _, f := range fl.List {
				for range max(len(f.Names), 1) {
					types = append(types, exprString(fset, f.Type))
				}
			}
		}
		return "(" + strings.Join(types, ", ") + ")"
	}
	return list(ft.Params) + " " + list(ft.Results)
}
