package ast

// BadExpr stands in for an expression that could not be parsed, such as an
// unknown identifier. It only appears in a Program returned together with
// errors, which later passes never see, so they need not handle it.
type BadExpr struct {
	From Pos
}

func (e *BadExpr) Pos() Pos { return e.From }

func (*BadExpr) exprNode() {}
