package servicetest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"
)

// TypeSwitchCases lists, sorted, the types of package alias pkg that the
// type switches of function fn in file name as cases (`case *pkg.T` gives
// T). A consumer that reads a topic for some event types only
// (inbox.Config.Only) holds its list to its handler's switch with it, so
// that a case added to the one is not skipped by the other.
func TypeSwitchCases(t testing.TB, file, fn, pkg string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	var out []string
	found := false
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != fn || fd.Body == nil {
			continue
		}
		found = true
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			cc, ok := n.(*ast.CaseClause)
			if !ok {
				return true
			}
			for _, e := range cc.List {
				if star, ok := e.(*ast.StarExpr); ok {
					if sel, ok := star.X.(*ast.SelectorExpr); ok {
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == pkg {
							out = append(out, sel.Sel.Name)
						}
					}
				}
			}
			return true
		})
	}
	if !found {
		t.Fatalf("%s: no function %s", file, fn)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// HoldOnly fails t unless the types of package alias pkg that function fn
// of file switches on are exactly only (catalog.TypeName names): the list
// of an inbox.Config.Only topic, held to the handler that reads it.
func HoldOnly(t testing.TB, file, fn, pkg string, only []string) {
	t.Helper()
	if handled, let := TypeSwitchCases(t, file, fn, pkg), ShortNames(only); !slices.Equal(handled, let) {
		t.Fatalf("%s acts on %s's %v, Only lets through %v", fn, pkg, handled, let)
	}
}

// ShortNames are the last parts of event type names (catalog.TypeName),
// sorted.
func ShortNames(types []string) []string {
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = t[strings.LastIndex(t, ".")+1:]
	}
	slices.Sort(out)
	return out
}
