package functions_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/personalcrm/core/functions"
	"github.com/personalcrm/core/shared/catalog"
)

// TestBuildersMatchTheCatalog: the table has a constructor for every
// function of the catalog, and nothing else.
func TestBuildersMatchTheCatalog(t *testing.T) {
	for _, fn := range catalog.All() {
		if functions.Builders[fn.Name] == nil {
			t.Errorf("%s: no constructor in functions.Builders", fn.Name)
		}
	}
	for name := range functions.Builders {
		if _, ok := catalog.Lookup(name); !ok {
			t.Errorf("%s: a constructor for no function of the catalog", name)
		}
	}
}

// constructor is what a main or the table names for one function: the
// constructor's package (import path) and name.
type constructor struct{ pkg, name string }

// TestMainsAreOneLine: each Lambda's main is platform.Main with its own
// catalog entry and the constructor the table has for it, so that the
// local server runs what the Lambda runs.
func TestMainsAreOneLine(t *testing.T) {
	table := constructors(t, "functions.go", "Builders")
	for _, fn := range catalog.All() {
		file := filepath.Join("cmd", fn.Name, "main.go")
		f, imports := parse(t, file)
		var got []constructor
		var names []string
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isSelector(call.Fun, "platform", "Main") || len(call.Args) != 2 {
				return true
			}
			names = append(names, selected(call.Args[0], "catalog"))
			if pkg, name, ok := selector(call.Args[1]); ok {
				got = append(got, constructor{imports[pkg], name})
			}
			return false
		})
		want, ok := table[catalogConst(t, fn.Name)]
		if !ok {
			continue // TestBuildersMatchTheCatalog reports it
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s: main builds with %v, want platform.Main with %s.%s as in functions.Builders", file, got, want.pkg, want.name)
		}
		if len(names) != 1 || catalogConst(t, fn.Name) != names[0] {
			t.Errorf("%s: main serves catalog entry %v, want %s's", file, names, fn.Name)
		}
	}
}

// constants maps the catalog's names to their constants' identifiers.
var constants map[string]string

func catalogConst(t *testing.T, name string) string {
	t.Helper()
	if constants == nil {
		constants = map[string]string{}
		f, _ := parse(t, filepath.Join("..", "shared", "catalog", "functions.go"))
		ast.Inspect(f, func(n ast.Node) bool {
			if v, ok := n.(*ast.ValueSpec); ok && len(v.Values) == len(v.Names) {
				for i, id := range v.Names {
					if lit, ok := v.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						constants[s] = id.Name
					}
				}
			}
			return true
		})
	}
	return constants[name]
}

// constructors reads the table variable of file: catalog constant →
// constructor.
func constructors(t *testing.T, file, variable string) map[string]constructor {
	t.Helper()
	f, imports := parse(t, file)
	out := map[string]constructor{}
	ast.Inspect(f, func(n ast.Node) bool {
		v, ok := n.(*ast.ValueSpec)
		if !ok || !slices.ContainsFunc(v.Names, func(id *ast.Ident) bool { return id.Name == variable }) {
			return true
		}
		for _, e := range v.Values[0].(*ast.CompositeLit).Elts {
			kv := e.(*ast.KeyValueExpr)
			call := kv.Value.(*ast.CallExpr)
			if pkg, name, ok := selector(call.Args[0]); ok && isSelector(call.Fun, "platform", "Build") {
				out[selected(kv.Key, "catalog")] = constructor{imports[pkg], name}
			}
		}
		return false
	})
	if len(out) == 0 {
		t.Fatalf("%s: no table %s", file, variable)
	}
	return out
}

func parse(t *testing.T, file string) (*ast.File, map[string]string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string]string{}
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		name := filepath.Base(p)
		if im.Name != nil {
			name = im.Name.Name
		}
		imports[name] = p
	}
	return f, imports
}

func selector(e ast.Expr) (pkg, name string, ok bool) {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", "", false
	}
	id, ok := s.X.(*ast.Ident)
	if !ok {
		return "", "", false
	}
	return id.Name, s.Sel.Name, true
}

func isSelector(e ast.Expr, pkg, name string) bool {
	p, n, ok := selector(e)
	return ok && p == pkg && n == name
}

// selected is the name e selects from pkg (catalog.X → X), or "".
func selected(e ast.Expr, pkg string) string {
	if p, n, ok := selector(e); ok && p == pkg {
		return n
	}
	return ""
}
