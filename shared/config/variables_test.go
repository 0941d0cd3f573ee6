package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// TestVariablesCoverTheList: every Var constant but APP_ENV (which Load
// reads first) has one row in variables, pointing at a field of its own
// of a type the rows can parse.
func TestVariablesCoverTheList(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Names) == 1 && len(vs.Values) == 1 && len(vs.Names[0].Name) > 3 && vs.Names[0].Name[:3] == "Var" {
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
				name, _ := strconv.Unquote(lit.Value)
				listed[name] = true
			}
		}
		return true
	})
	delete(listed, VarAppEnv)
	if len(listed) < 30 {
		t.Fatalf("found %d Var constants in config.go", len(listed))
	}

	var cfg Config
	fields := map[any]string{}
	for _, v := range variables() {
		if !listed[v.name] {
			t.Errorf("%s: in variables twice, or not a Var constant", v.name)
		}
		delete(listed, v.name)
		p := v.field(&cfg)
		if other, ok := fields[p]; ok {
			t.Errorf("%s and %s set the same field", v.name, other)
		}
		fields[p] = v.name
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: %v", v.name, r)
				}
			}()
			_ = v.set(&cfg, "1")
		}()
	}
	for name := range listed {
		t.Errorf("%s has no row in variables", name)
	}
}
