package scanner

// Token is the kind of a lexical token.
type Token int

const (
	EOF Token = iota

	// Tokens that carry a literal.
	IDENT  // pid, printf, tracepoint, if
	INT    // 42, 0x2a, 052
	STRING // "hello\n" (the literal is the decoded value)
	VAR    // $name (the literal includes the $)
	MAP    // @name or @ (the literal includes the @)

	// Operators and punctuation.
	ADD // +
	SUB // -
	MUL // *
	QUO // /
	REM // %
	AND // &
	OR  // |
	XOR // ^
	SHL // <<
	SHR // >>

	LAND // &&
	LOR  // ||
	NOT  // !
	BNOT // ~

	EQL // ==
	NEQ // !=
	LSS // <
	LEQ // <=
	GTR // >
	GEQ // >=

	ASSIGN     // =
	ADD_ASSIGN // +=
	SUB_ASSIGN // -=
	MUL_ASSIGN // *=
	QUO_ASSIGN // /=
	REM_ASSIGN // %=
	AND_ASSIGN // &=
	OR_ASSIGN  // |=
	XOR_ASSIGN // ^=
	SHL_ASSIGN // <<=
	SHR_ASSIGN // >>=
	INC        // ++
	DEC        // --

	LPAREN    // (
	RPAREN    // )
	LBRACK    // [
	RBRACK    // ]
	LBRACE    // {
	RBRACE    // }
	COMMA     // ,
	SEMICOLON // ;
	COLON     // :
	QUESTION  // ?
	PERIOD    // .
	ARROW     // ->
)

var tokenStrings = [...]string{
	EOF:    "end of file",
	IDENT:  "identifier",
	INT:    "integer",
	STRING: "string",
	VAR:    "variable",
	MAP:    "map",

	ADD: "+", SUB: "-", MUL: "*", QUO: "/", REM: "%",
	AND: "&", OR: "|", XOR: "^", SHL: "<<", SHR: ">>",
	LAND: "&&", LOR: "||", NOT: "!", BNOT: "~",
	EQL: "==", NEQ: "!=", LSS: "<", LEQ: "<=", GTR: ">", GEQ: ">=",

	ASSIGN: "=", ADD_ASSIGN: "+=", SUB_ASSIGN: "-=", MUL_ASSIGN: "*=",
	QUO_ASSIGN: "/=", REM_ASSIGN: "%=", AND_ASSIGN: "&=", OR_ASSIGN: "|=",
	XOR_ASSIGN: "^=", SHL_ASSIGN: "<<=", SHR_ASSIGN: ">>=",
	INC: "++", DEC: "--",

	LPAREN: "(", RPAREN: ")", LBRACK: "[", RBRACK: "]", LBRACE: "{", RBRACE: "}",
	COMMA: ",", SEMICOLON: ";", COLON: ":", QUESTION: "?", PERIOD: ".", ARROW: "->",
}

// String returns the operator's spelling, or a description of the token
// class for tokens that carry a literal.
func (t Token) String() string {
	if t >= 0 && int(t) < len(tokenStrings) {
		return tokenStrings[t]
	}
	return "invalid token"
}

// Lowest is the precedence below every binary operator; the ternary
// operator binds more loosely still and is parsed separately.
const Lowest = 0

// Precedence returns the binary-operator precedence of t, from 1 (||) to
// 10 (* / %) following C, or Lowest when t is not a binary operator.
func (t Token) Precedence() int {
	switch t {
	case LOR:
		return 1
	case LAND:
		return 2
	case OR:
		return 3
	case XOR:
		return 4
	case AND:
		return 5
	case EQL, NEQ:
		return 6
	case LSS, LEQ, GTR, GEQ:
		return 7
	case SHL, SHR:
		return 8
	case ADD, SUB:
		return 9
	case MUL, QUO, REM:
		return 10
	}
	return Lowest
}

// IsAssignOp reports whether t is = or a compound assignment such as +=.
func (t Token) IsAssignOp() bool {
	return t >= ASSIGN && t <= SHR_ASSIGN
}
