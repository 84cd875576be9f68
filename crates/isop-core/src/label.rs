//! Access labels: Accumulo-style access expressions and the clearances that
//! satisfy them.
//!
//! Grammar:
//!
//! ```text
//! label := "" | expr
//! expr  := term ( "&" term )* | term ( "|" term )*
//! term  := token | "(" expr ")"
//! token := [A-Za-z0-9_.:/-]+
//! ```
//!
//! Mixing `&` and `|` at one level without parentheses is an error, there is
//! no negation and no whitespace, and the empty label means "anyone the
//! notice reaches".

use std::collections::BTreeSet;
use std::fmt;

use crate::Error;

/// The longest label accepted, in bytes.
pub const MAX_LABEL_LEN: usize = 1024;
/// The deepest nesting of parentheses accepted.
pub const MAX_LABEL_DEPTH: usize = 16;

/// A parsed access label.
#[derive(Clone, PartialEq, Eq)]
pub struct Label {
    text: String,
    expr: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    Token(String),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// What is wrong with a label, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LabelErrorKind {
    /// A character outside the token alphabet and the operators.
    UnexpectedChar(char),
    /// A token was expected (after an operator, after `(`, or at the start).
    ExpectedToken,
    /// `&` and `|` are mixed at one level without parentheses.
    MixedOperators,
    /// A `(` has no matching `)`.
    UnclosedParen,
    /// A `)` has no matching `(`.
    UnmatchedParen,
    /// The label is longer than [`MAX_LABEL_LEN`].
    TooLong,
    /// Parentheses nest deeper than [`MAX_LABEL_DEPTH`].
    TooDeep,
}

impl fmt::Display for LabelErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedChar(c) => write!(f, "unexpected character {c:?}"),
            Self::ExpectedToken => f.write_str("expected a token or '('"),
            Self::MixedOperators => f.write_str("'&' and '|' mixed without parentheses"),
            Self::UnclosedParen => f.write_str("'(' is never closed"),
            Self::UnmatchedParen => f.write_str("')' without a matching '('"),
            Self::TooLong => write!(f, "label longer than {MAX_LABEL_LEN} bytes"),
            Self::TooDeep => write!(f, "parentheses nested deeper than {MAX_LABEL_DEPTH}"),
        }
    }
}

impl Label {
    /// The empty label: anyone the notice reaches.
    pub fn anyone() -> Self {
        Self {
            text: String::new(),
            expr: None,
        }
    }

    /// Parses a label. A bad label gets [`Error::InvalidLabel`] with the byte
    /// position of the problem.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let fail = |position: usize, kind: LabelErrorKind| Error::InvalidLabel {
            label: text.chars().take(80).collect(),
            position,
            kind,
        };
        if text.len() > MAX_LABEL_LEN {
            return Err(fail(MAX_LABEL_LEN, LabelErrorKind::TooLong));
        }
        if text.is_empty() {
            return Ok(Self::anyone());
        }
        let mut p = Parser {
            s: text.as_bytes(),
            pos: 0,
            depth: 0,
        };
        let expr = p.expr().map_err(|(pos, kind)| fail(pos, kind))?;
        match p.peek() {
            None => Ok(Self {
                text: text.to_owned(),
                expr: Some(expr),
            }),
            Some(b')') => Err(fail(p.pos, LabelErrorKind::UnmatchedParen)),
            Some(_) => Err(fail(p.pos, p.unexpected())),
        }
    }

    /// The label's text, exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is the empty label.
    pub fn is_anyone(&self) -> bool {
        self.expr.is_none()
    }

    /// Whether `clearance` satisfies the label.
    pub fn allows(&self, clearance: &Clearance) -> bool {
        self.expr.as_ref().is_none_or(|e| e.eval(clearance))
    }

    /// Whether the label names a token `pattern` matches: the token
    /// itself, or with a trailing `*` any token it starts (`pii:*`
    /// matches `pii:handler`). What retention rules select fields by.
    pub fn names(&self, pattern: &str) -> bool {
        fn walk(e: &Expr, m: &dyn Fn(&str) -> bool) -> bool {
            match e {
                Expr::Token(t) => m(t),
                Expr::And(terms) | Expr::Or(terms) => terms.iter().any(|t| walk(t, m)),
            }
        }
        let m = |t: &str| match pattern.strip_suffix('*') {
            Some(prefix) => t.starts_with(prefix),
            None => t == pattern,
        };
        self.expr.as_ref().is_some_and(|e| walk(e, &m))
    }

    /// The label in words, for people: `role:agency and country:KR`,
    /// `role:agency or role:hub`, a nested term in parentheses; the empty
    /// label is `anyone`.
    pub fn words(&self) -> String {
        self.expr
            .as_ref()
            .map_or_else(|| "anyone".to_owned(), |e| e.words(false))
    }
}

impl Expr {
    fn words(&self, nested: bool) -> String {
        let join = |terms: &[Self], op: &str| {
            let inner: Vec<String> = terms.iter().map(|t| t.words(true)).collect();
            if nested && terms.len() > 1 {
                format!("({})", inner.join(op))
            } else {
                inner.join(op)
            }
        };
        match self {
            Self::Token(t) => t.clone(),
            Self::And(terms) => join(terms, " and "),
            Self::Or(terms) => join(terms, " or "),
        }
    }

    fn eval(&self, c: &Clearance) -> bool {
        match self {
            Self::Token(t) => c.has(t),
            Self::And(terms) => terms.iter().all(|t| t.eval(c)),
            Self::Or(terms) => terms.iter().any(|t| t.eval(c)),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({:?})", self.text)
    }
}

/// Whether `b` may appear in a label token.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/' | b'-')
}

/// Whether `s` is a valid label token.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LABEL_LEN && s.bytes().all(is_token_byte)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

type ParseResult<T> = Result<T, (usize, LabelErrorKind)>;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn unexpected(&self) -> LabelErrorKind {
        // The label is valid UTF-8 and `pos` is at a char boundary: every byte
        // consumed so far was ASCII.
        let rest = std::str::from_utf8(&self.s[self.pos..]).unwrap_or_default();
        LabelErrorKind::UnexpectedChar(rest.chars().next().unwrap_or('\u{fffd}'))
    }

    fn expr(&mut self) -> ParseResult<Expr> {
        let first = self.term()?;
        let op = match self.peek() {
            Some(op @ (b'&' | b'|')) => op,
            _ => return Ok(first),
        };
        let mut terms = vec![first];
        while let Some(next @ (b'&' | b'|')) = self.peek() {
            if next != op {
                return Err((self.pos, LabelErrorKind::MixedOperators));
            }
            self.pos += 1;
            terms.push(self.term()?);
        }
        Ok(if op == b'&' {
            Expr::And(terms)
        } else {
            Expr::Or(terms)
        })
    }

    fn term(&mut self) -> ParseResult<Expr> {
        match self.peek() {
            Some(b'(') => {
                let open = self.pos;
                self.depth += 1;
                if self.depth > MAX_LABEL_DEPTH {
                    return Err((open, LabelErrorKind::TooDeep));
                }
                self.pos += 1;
                let inner = self.expr()?;
                if self.peek() != Some(b')') {
                    return Err(match self.peek() {
                        None => (open, LabelErrorKind::UnclosedParen),
                        Some(_) => (self.pos, self.unexpected()),
                    });
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Some(b) if is_token_byte(b) => {
                let start = self.pos;
                while self.peek().is_some_and(is_token_byte) {
                    self.pos += 1;
                }
                // Token bytes are ASCII, so this slice is valid UTF-8.
                let tok = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                Ok(Expr::Token(tok))
            }
            Some(b'&' | b'|' | b')') | None => Err((self.pos, LabelErrorKind::ExpectedToken)),
            Some(_) => Err((self.pos, self.unexpected())),
        }
    }
}

/// The set of tokens an org holds: `org:<ID>`, `role:<role>`,
/// `country:<CC>`, its groups' ids, and the roster's extra clearance tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Clearance(BTreeSet<String>);

impl Clearance {
    /// A clearance holding exactly these tokens.
    pub fn from_tokens<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(tokens.into_iter().map(Into::into).collect())
    }

    /// Whether the clearance holds `token`.
    pub fn has(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// The tokens, sorted.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub(crate) fn insert(&mut self, token: String) {
        self.0.insert(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clearance(tokens: &[&str]) -> Clearance {
        Clearance::from_tokens(tokens.iter().copied())
    }

    #[test]
    fn names_a_token_or_a_prefix_anywhere_in_it() {
        let label = Label::parse("role:agency&(pii:handler|org:KR-KNPA)").unwrap();
        for yes in ["pii:*", "pii:handler", "org:KR-KNPA", "role:*"] {
            assert!(label.names(yes), "{yes}");
        }
        for no in ["pii:", "pii:h", "country:*", "handler"] {
            assert!(!label.names(no), "{no}");
        }
        assert!(!Label::anyone().names("*"));
    }

    #[test]
    fn reads_in_words() {
        let words = |label: &str| Label::parse(label).unwrap().words();
        assert_eq!(words(""), "anyone");
        assert_eq!(
            words("role:agency&country:KR"),
            "role:agency and country:KR"
        );
        assert_eq!(words("role:agency|role:hub"), "role:agency or role:hub");
        assert_eq!(
            words("(role:agency&country:KR)|org:RH-FILMCO"),
            "(role:agency and country:KR) or org:RH-FILMCO"
        );
    }

    #[test]
    fn evaluates() {
        let agency_kr = clearance(&["role:agency", "country:KR", "org:KR-KNPA", "op:sop-2026"]);
        let partner = clearance(&["role:partner", "org:RH-FILMCO"]);
        let check = |label: &str, who: &Clearance, expected: bool| {
            assert_eq!(
                Label::parse(label).unwrap().allows(who),
                expected,
                "{label}"
            );
        };
        check("", &partner, true);
        check("role:agency", &agency_kr, true);
        check("role:agency", &partner, false);
        check("role:agency|role:hub", &agency_kr, true);
        check("role:agency&country:KR", &agency_kr, true);
        check("role:agency&country:FR", &agency_kr, false);
        check("(role:agency&country:KR)|org:RH-FILMCO", &partner, true);
        check(
            "((role:hub))|(op:sop-2026&(country:KR|country:JP))",
            &agency_kr,
            true,
        );
    }

    /// Table of bad labels: each with the error kind and its byte position.
    #[test]
    fn bad_labels_name_the_position() {
        #[track_caller]
        fn check(label: &str, position: usize, kind: LabelErrorKind) {
            match Label::parse(label) {
                Err(Error::InvalidLabel {
                    position: p,
                    kind: k,
                    ..
                }) => {
                    assert_eq!((p, k), (position, kind), "{label:?}");
                }
                other => panic!("{label:?} gave {other:?}"),
            }
        }
        use LabelErrorKind::*;
        check("a|b&c", 3, MixedOperators);
        check("a&b|c", 3, MixedOperators);
        check("(a|b", 0, UnclosedParen);
        check("x&(a|b", 2, UnclosedParen);
        check("a)", 1, UnmatchedParen);
        check("a&", 2, ExpectedToken);
        check("&a", 0, ExpectedToken);
        check("()", 1, ExpectedToken);
        check("a||b", 2, ExpectedToken);
        check("a b", 1, UnexpectedChar(' '));
        check("!a", 0, UnexpectedChar('!'));
        check("a&é", 2, UnexpectedChar('é'));
        check("(a b)", 2, UnexpectedChar(' '));
        check("a(b)", 1, UnexpectedChar('('));
        check(&"(".repeat(17), 16, TooDeep);
        check(&"a".repeat(MAX_LABEL_LEN + 1), MAX_LABEL_LEN, TooLong);
    }

    /// A reference evaluator over a deliberately different representation:
    /// the label as a formula over tokens, evaluated by brute force.
    #[derive(Clone, Debug)]
    enum Formula {
        Tok(usize),
        And(Vec<Formula>),
        Or(Vec<Formula>),
    }

    const TOKENS: [&str; 5] = ["a", "role:agency", "country:KR", "op:x-1", "org:RH-A"];

    impl Formula {
        fn render(&self, top: bool) -> String {
            let join = |v: &[Formula], op: &str| {
                let s = v
                    .iter()
                    .map(|f| f.render(false))
                    .collect::<Vec<_>>()
                    .join(op);
                if top || v.len() == 1 {
                    s
                } else {
                    format!("({s})")
                }
            };
            match self {
                Formula::Tok(i) => TOKENS[*i].to_owned(),
                Formula::And(v) => join(v, "&"),
                Formula::Or(v) => join(v, "|"),
            }
        }

        fn eval(&self, held: u8) -> bool {
            match self {
                Formula::Tok(i) => held & (1 << i) != 0,
                Formula::And(v) => v.iter().all(|f| f.eval(held)),
                Formula::Or(v) => v.iter().any(|f| f.eval(held)),
            }
        }
    }

    fn formula() -> impl Strategy<Value = Formula> {
        let leaf = (0..TOKENS.len()).prop_map(Formula::Tok);
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(Formula::And),
                prop::collection::vec(inner, 1..4).prop_map(Formula::Or),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_reference_evaluator(f in formula(), held in 0u8..32) {
            let text = f.render(true);
            let label = Label::parse(&text).unwrap();
            prop_assert_eq!(label.as_str(), text.as_str());
            let c = Clearance::from_tokens(
                (0..TOKENS.len()).filter(|i| held & (1 << i) != 0).map(|i| TOKENS[i]),
            );
            prop_assert_eq!(label.allows(&c), f.eval(held));
        }

        #[test]
        fn never_panics(s in "[a-z&|()!: ]{0,40}") {
            let _ = Label::parse(&s);
        }
    }
}
