package contract_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"
)

// Reasons lists every constant of type Reason declared in this package,
// read from its source: a reason added without being listed would be sent
// to customers as TransferFailed.
func TestReasonsListsEveryReason(t *testing.T) {
	pkgs, err := parser.ParseDir(token.NewFileSet(), ".", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, f := range pkgs["contract"].Files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				v := spec.(*ast.ValueSpec)
				if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Reason" {
					continue
				}
				for _, val := range v.Values {
					s, err := strconv.Unquote(val.(*ast.BasicLit).Value)
					if err != nil {
						t.Fatal(err)
					}
					declared = append(declared, s)
				}
			}
		}
	}
	listed := contract.Names(contract.Reasons...)
	slices.Sort(declared)
	slices.Sort(listed)
	if !slices.Equal(listed, declared) {
		t.Fatalf("contract.Reasons is\n  %v\nthe declared reasons are\n  %v", listed, declared)
	}
	if contract.Reason("PanicError").Known() || !contract.OriginNotFound.Known() {
		t.Error("Known does not follow Reasons")
	}
}
