//! STIX 2.1 patterns (STIX 2.1 §9): the one form isop writes, an equality
//! on one observable's property, and a parser for the whole grammar, so
//! that an imported indicator's pattern is either read, refused as
//! malformed with where and why, or named as more than isop takes.

use std::fmt;

/// `[ty:property = 'value']`, the value quoted as §9.3 asks (`\` and `'`
/// escaped).
pub fn equals(ty: &str, property: &str, value: &str) -> String {
    format!("[{ty}:{property} = '{}']", quote(value))
}

fn quote(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\'', "\\'")
}

/// Why a pattern does not parse: what was found, and where (a character
/// offset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// The character offset.
    pub at: usize,
    /// What is wrong.
    pub why: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pattern does not parse at character {}: {}",
            self.at, self.why
        )
    }
}

impl std::error::Error for PatternError {}

/// A comparison in a pattern: `object:path op value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// The object type (`domain-name`).
    pub object: String,
    /// The property path after the colon (`value`, `hashes.'SHA-256'`).
    pub path: String,
    /// The operator as written (`=`, `!=`, `LIKE`, `IN`…), with `NOT `
    /// before it if negated; `EXISTS` for an existence test.
    pub op: String,
    /// The value, if it is a string literal; the literal's text otherwise.
    pub value: String,
}

/// A parsed pattern: every comparison in it, and whether anything but
/// equalities joined by AND and OR is there (FOLLOWEDBY, qualifiers,
/// other operators).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pattern {
    /// Each comparison, in order.
    pub comparisons: Vec<Comparison>,
    /// What beyond plain equalities it uses, in words, if anything.
    pub beyond_equality: Vec<String>,
}

/// Parses `text` as a STIX 2.1 pattern.
pub fn parse(text: &str) -> Result<Pattern, PatternError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        at: 0,
        end: text.chars().count(),
        out: Pattern::default(),
        depth: 0,
    };
    p.observation_expressions()?;
    if let Some(t) = p.peek() {
        return Err(p.error(format!("unexpected {} after the pattern's end", t.tok)));
    }
    Ok(p.out)
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Colon,
    Comma,
    Dot,
    Op(&'static str),
    Word(String),
    Str(String),
    Number(String),
    Typed(char, String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LBracket => f.write_str("'['"),
            Self::RBracket => f.write_str("']'"),
            Self::LParen => f.write_str("'('"),
            Self::RParen => f.write_str("')'"),
            Self::Colon => f.write_str("':'"),
            Self::Comma => f.write_str("','"),
            Self::Dot => f.write_str("'.'"),
            Self::Op(o) => write!(f, "'{o}'"),
            Self::Word(w) => write!(f, "{w:?}"),
            Self::Str(s) => write!(f, "string '{s}'"),
            Self::Number(n) => write!(f, "number {n}"),
            Self::Typed(c, s) => write!(f, "{c}'{s}'"),
        }
    }
}

struct Token {
    tok: Tok,
    at: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, PatternError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at: usize, why: String| PatternError { at, why };
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        let single = match c {
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ':' => Some(Tok::Colon),
            ',' => Some(Tok::Comma),
            '.' if !chars.get(i + 1).is_some_and(char::is_ascii_digit) => Some(Tok::Dot),
            _ => None,
        };
        if let Some(t) = single {
            out.push(Token { tok: t, at });
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if let Some(op) = ["!=", "<=", ">=", "<>"].into_iter().find(|o| *o == two) {
            if op == "<>" {
                return Err(err(at, "'<>' is not an operator; write '!='".into()));
            }
            out.push(Token {
                tok: Tok::Op(op),
                at,
            });
            i += 2;
            continue;
        }
        if let Some(op) = ["=", "<", ">"].into_iter().find(|o| o.starts_with(c)) {
            out.push(Token {
                tok: Tok::Op(op),
                at,
            });
            i += 1;
            continue;
        }
        if c == '\'' || (matches!(c, 'b' | 'h' | 't') && chars.get(i + 1) == Some(&'\'')) {
            let prefix = (c != '\'').then_some(c);
            i += usize::from(prefix.is_some()) + 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(err(at, "a string is not closed by '".into())),
                    Some('\\') => match chars.get(i + 1) {
                        Some(e @ ('\\' | '\'')) => {
                            s.push(*e);
                            i += 2;
                        }
                        _ => {
                            return Err(err(
                                i,
                                "in a string, '\\' may only escape '\\' or '''".into(),
                            ));
                        }
                    },
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Token {
                tok: match prefix {
                    Some(p) => Tok::Typed(p, s),
                    None => Tok::Str(s),
                },
                at,
            });
            continue;
        }
        if c.is_ascii_digit()
            || ((c == '-' || c == '+' || c == '.')
                && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while chars
                .get(i)
                .is_some_and(|d| d.is_ascii_digit() || *d == '.')
            {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Number(chars[start..i].iter().collect()),
                at,
            });
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '_' || *d == '-')
            {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Word(chars[start..i].iter().collect()),
                at,
            });
            continue;
        }
        if c == '*' {
            out.push(Token {
                tok: Tok::Word("*".into()),
                at,
            });
            i += 1;
            continue;
        }
        return Err(err(at, format!("unexpected character {c:?}")));
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    end: usize,
    out: Pattern,
    /// How deep in parentheses and brackets the parser is.
    depth: usize,
}

/// The deepest nesting of parentheses a pattern may have: no real pattern
/// comes near, and a hostile one must not exhaust the stack.
const MAX_DEPTH: usize = 64;

const WORD_OPS: [&str; 5] = ["IN", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"];

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn error(&self, why: String) -> PatternError {
        PatternError {
            at: self.peek().map_or(self.end, |t| t.at),
            why,
        }
    }

    fn next(&mut self, what: &str) -> Result<Tok, PatternError> {
        match self.tokens.get(self.at) {
            Some(t) => {
                self.at += 1;
                Ok(t.tok.clone())
            }
            None => Err(self.error(format!("the pattern ends where {what} should be"))),
        }
    }

    fn expect(&mut self, want: &Tok, what: &str) -> Result<(), PatternError> {
        match self.peek() {
            Some(t) if &t.tok == want => {
                self.at += 1;
                Ok(())
            }
            Some(t) => Err(self.error(format!("expected {what}, found {}", t.tok))),
            None => Err(self.error(format!("the pattern ends where {what} should be"))),
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w == word) {
            self.at += 1;
            return true;
        }
        false
    }

    fn beyond(&mut self, what: impl Into<String>) {
        let what = what.into();
        if !self.out.beyond_equality.contains(&what) {
            self.out.beyond_equality.push(what);
        }
    }

    fn observation_expressions(&mut self) -> Result<(), PatternError> {
        self.observation_or()?;
        while self.keyword("FOLLOWEDBY") {
            self.beyond("FOLLOWEDBY");
            self.observation_or()?;
        }
        Ok(())
    }

    fn observation_or(&mut self) -> Result<(), PatternError> {
        self.observation_and()?;
        while self.keyword("OR") {
            self.observation_and()?;
        }
        Ok(())
    }

    fn observation_and(&mut self) -> Result<(), PatternError> {
        self.observation()?;
        while self.keyword("AND") {
            self.observation()?;
        }
        Ok(())
    }

    /// Goes one level deeper, if the pattern may.
    fn deeper(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!(
                "nests deeper than {MAX_DEPTH} levels of parentheses"
            )));
        }
        Ok(())
    }

    fn observation(&mut self) -> Result<(), PatternError> {
        self.deeper()?;
        let parsed = self.observation_inner();
        self.depth -= 1;
        parsed
    }

    fn observation_inner(&mut self) -> Result<(), PatternError> {
        match self.next("an observation expression ('[' or '(')")? {
            Tok::LBracket => {
                self.comparison_or()?;
                self.expect(&Tok::RBracket, "']'")?;
            }
            Tok::LParen => {
                self.observation_expressions()?;
                self.expect(&Tok::RParen, "')'")?;
            }
            t => {
                self.at -= 1;
                return Err(self.error(format!(
                    "expected an observation expression ('[' or '('), found {t}"
                )));
            }
        }
        self.qualifiers()
    }

    fn qualifiers(&mut self) -> Result<(), PatternError> {
        loop {
            if self.keyword("WITHIN") {
                self.number("WITHIN's seconds")?;
                self.word("SECONDS")?;
                self.beyond("WITHIN");
            } else if self.keyword("REPEATS") {
                self.number("REPEATS' count")?;
                self.word("TIMES")?;
                self.beyond("REPEATS");
            } else if self.keyword("START") {
                self.timestamp("START's time")?;
                self.word("STOP")?;
                self.timestamp("STOP's time")?;
                self.beyond("START/STOP");
            } else {
                return Ok(());
            }
        }
    }

    fn word(&mut self, w: &str) -> Result<(), PatternError> {
        if self.keyword(w) {
            Ok(())
        } else {
            Err(self.error(format!("expected {w}")))
        }
    }

    fn number(&mut self, what: &str) -> Result<(), PatternError> {
        match self.next(what)? {
            Tok::Number(_) => Ok(()),
            t => {
                self.at -= 1;
                Err(self.error(format!("expected {what}, a number, found {t}")))
            }
        }
    }

    fn timestamp(&mut self, what: &str) -> Result<(), PatternError> {
        match self.next(what)? {
            Tok::Typed('t', s) if isop_core::json::parse_rfc3339(&s).is_some() => Ok(()),
            t => {
                self.at -= 1;
                Err(self.error(format!("expected {what}, t'<RFC 3339 time>', found {t}")))
            }
        }
    }

    fn comparison_or(&mut self) -> Result<(), PatternError> {
        self.comparison_and()?;
        while self.keyword("OR") {
            self.comparison_and()?;
        }
        Ok(())
    }

    fn comparison_and(&mut self) -> Result<(), PatternError> {
        self.test()?;
        while self.keyword("AND") {
            self.test()?;
        }
        Ok(())
    }

    fn test(&mut self) -> Result<(), PatternError> {
        if matches!(
            self.peek(),
            Some(Token {
                tok: Tok::LParen,
                ..
            })
        ) {
            self.at += 1;
            self.deeper()?;
            let inner = self.comparison_or();
            self.depth -= 1;
            inner?;
            return self.expect(&Tok::RParen, "')'");
        }
        if self.keyword("EXISTS") {
            let (object, path) = self.object_path()?;
            self.beyond("EXISTS");
            self.out.comparisons.push(Comparison {
                object,
                path,
                op: "EXISTS".into(),
                value: String::new(),
            });
            return Ok(());
        }
        let (object, path) = self.object_path()?;
        let negated = self.keyword("NOT");
        let op = match self.next("an operator")? {
            Tok::Op(o) => o.to_owned(),
            Tok::Word(w) if WORD_OPS.contains(&w.as_str()) => w,
            t => {
                self.at -= 1;
                return Err(self.error(format!("expected an operator, found {t}")));
            }
        };
        let value = if op == "IN" {
            self.expect(&Tok::LParen, "'(' opening IN's set")?;
            let mut items = vec![self.literal()?];
            while matches!(
                self.peek(),
                Some(Token {
                    tok: Tok::Comma,
                    ..
                })
            ) {
                self.at += 1;
                items.push(self.literal()?);
            }
            self.expect(&Tok::RParen, "')' closing IN's set")?;
            items.join(", ")
        } else {
            self.literal()?
        };
        if matches!(op.as_str(), "LIKE" | "MATCHES" | "ISSUBSET" | "ISSUPERSET") {
            // These take strings only.
            if !matches!(
                self.tokens.get(self.at - 1).map(|t| &t.tok),
                Some(Tok::Str(_))
            ) {
                self.at -= 1;
                return Err(self.error(format!("{op} takes a string")));
            }
        }
        let op = if negated { format!("NOT {op}") } else { op };
        if op != "=" {
            self.beyond(format!("the operator {op}"));
        }
        self.out.comparisons.push(Comparison {
            object,
            path,
            op,
            value,
        });
        Ok(())
    }

    fn literal(&mut self) -> Result<String, PatternError> {
        match self.next("a value")? {
            Tok::Str(s) | Tok::Number(s) => Ok(s),
            Tok::Typed('t', s) if isop_core::json::parse_rfc3339(&s).is_none() => {
                self.at -= 1;
                Err(self.error(format!("t'{s}' is not an RFC 3339 time")))
            }
            Tok::Typed(c, s) => Ok(format!("{c}'{s}'")),
            Tok::Word(w) if w == "true" || w == "false" => Ok(w),
            t => {
                self.at -= 1;
                Err(self.error(format!("expected a value, found {t}")))
            }
        }
    }

    /// `object-type:path`, the path's components joined as written.
    fn object_path(&mut self) -> Result<(String, String), PatternError> {
        let object = match self.next("an object type")? {
            Tok::Word(w) if is_object_type(&w) => w,
            t => {
                self.at -= 1;
                return Err(self.error(format!(
                    "expected an object type (lower case letters, digits and '-'), found {t}"
                )));
            }
        };
        self.expect(&Tok::Colon, "':' after the object type")?;
        let mut path = match self.next("a property name")? {
            Tok::Word(w) if w != "*" => w,
            Tok::Str(s) => format!("'{s}'"),
            t => {
                self.at -= 1;
                return Err(self.error(format!("expected a property name, found {t}")));
            }
        };
        loop {
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Dot) => {
                    self.at += 1;
                    match self.next("a property name after '.'")? {
                        Tok::Word(w) if w != "*" => {
                            path.push('.');
                            path.push_str(&w);
                        }
                        Tok::Str(s) => {
                            path.push_str(&format!(".'{s}'"));
                        }
                        t => {
                            self.at -= 1;
                            return Err(self
                                .error(format!("expected a property name after '.', found {t}")));
                        }
                    }
                }
                Some(Tok::LBracket) => {
                    self.at += 1;
                    match self.next("a list index or '*'")? {
                        Tok::Number(n) => path.push_str(&format!("[{n}]")),
                        Tok::Word(w) if w == "*" => path.push_str("[*]"),
                        t => {
                            self.at -= 1;
                            return Err(
                                self.error(format!("expected a list index or '*', found {t}"))
                            );
                        }
                    }
                    self.expect(&Tok::RBracket, "']' closing the list index")?;
                }
                _ => return Ok((object, path)),
            }
        }
    }
}

fn is_object_type(w: &str) -> bool {
    w.len() >= 3
        && w.starts_with(|c: char| c.is_ascii_lowercase())
        && w.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_isop_writes_parses_back() {
        for v in ["streamz.example", "it's", "back\\slash", "'", "\\'"] {
            let p = parse(&equals("domain-name", "value", v)).unwrap();
            assert_eq!(p.comparisons.len(), 1);
            assert_eq!(p.comparisons[0].value, v);
            assert_eq!(p.comparisons[0].object, "domain-name");
            assert!(p.beyond_equality.is_empty());
        }
    }

    #[test]
    fn the_grammar_is_read_whole() {
        let p = parse(
            "([ipv4-addr:value = '198.51.100.1' OR ipv4-addr:value = '198.51.100.2'] AND \
             [file:hashes.'SHA-256' = 'aa']) FOLLOWEDBY [url:value LIKE 'http://%'] \
             WITHIN 600 SECONDS",
        )
        .unwrap();
        assert_eq!(p.comparisons.len(), 4);
        assert_eq!(p.comparisons[2].path, "hashes.'SHA-256'");
        assert_eq!(
            p.beyond_equality,
            ["FOLLOWEDBY", "the operator LIKE", "WITHIN"]
        );
        let p = parse("[network-traffic:dst_ref.value IN ('a', 'b')] REPEATS 5 TIMES START t'2026-01-01T00:00:00Z' STOP t'2026-02-01T00:00:00Z'").unwrap();
        assert_eq!(p.comparisons[0].path, "dst_ref.value");
        let p = parse("[x-custom-thing:list[*].name NOT = 'x' AND EXISTS file:name]").unwrap();
        assert_eq!(p.comparisons[0].op, "NOT =");
        assert_eq!(p.comparisons[1].op, "EXISTS");
    }

    #[test]
    fn malformed_patterns_say_where() {
        for (bad, at, why) in [
            ("domain-name:value = 'x'", 0, "observation expression"),
            ("[domain-name:value = 'x'", 24, "']'"),
            ("[domain-name:value = 'x]", 21, "not closed"),
            ("[domain-name:value == 'x']", 20, "expected a value"),
            ("[Domain:value = 'x']", 1, "object type"),
            ("[domain-name value = 'x']", 13, "':'"),
            ("[domain-name:value = 'x'] AND", 29, "ends"),
            ("[domain-name:value = 'x'] WITHIN x SECONDS", 33, "number"),
            ("[file:created > t'yesterday']", 16, "RFC 3339"),
            ("[domain-name:value <> 'x']", 19, "'!='"),
            ("[domain-name:value LIKE 5]", 24, "takes a string"),
            ("", 0, "ends"),
            ("(".repeat(100_000).as_str(), 64, "deeper than 64"),
            (
                format!(
                    "[{}domain-name:value = 'x'{}]",
                    "(".repeat(65),
                    ")".repeat(65)
                )
                .as_str(),
                65,
                "deeper than 64",
            ),
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.at, at, "{bad}: {e}");
            assert!(e.why.contains(why), "{bad}: {e}");
        }
    }
}
