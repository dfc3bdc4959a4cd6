package main

import (
	"fmt"
	"os"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/parser"
)

func main() {
	prog, err := parser.ParseFile("-e", os.Args[1])
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println(ast.Sexpr(prog))
}
