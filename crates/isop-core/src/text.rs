//! Text that came from other members, made safe to show to people.
//!
//! A notice's text values, reasons and paths are written by other orgs.
//! Shown raw, a newline forges a line of output, an escape sequence
//! recolours the terminal or sets its title, and a bidirectional control
//! makes text read other than it is stored. What is printed for people
//! goes through [`printable`]; what is written for tools (JSON) stays exact.

use std::borrow::Cow;

/// Whether `c` can rewrite or reorder what a terminal or a page shows:
/// the C0 and C1 controls with DEL (ESC among them), and the Unicode
/// bidirectional controls (embeddings, overrides, isolates and marks).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Checks one line of text a member writes (a title, a name, a value):
/// it may hold no character [`is_unsafe_char`] finds. The error names the
/// first one and where it is.
pub fn check_line(s: &str) -> Result<(), String> {
    check(s, |_| false)
}

/// Checks free text a member writes (a summary, a reason, a message): as
/// [`check_line`], but line breaks and tabs are allowed.
pub fn check_prose(s: &str) -> Result<(), String> {
    check(s, |c| matches!(c, '\n' | '\t'))
}

fn check(s: &str, allowed: impl Fn(char) -> bool) -> Result<(), String> {
    match s
        .chars()
        .enumerate()
        .find(|(_, c)| is_unsafe_char(*c) && !allowed(*c))
    {
        None => Ok(()),
        Some((at, c)) => Err(format!(
            "holds U+{:04X} at character {at}: control and bidirectional characters are refused",
            u32::from(c)
        )),
    }
}

/// `s` for people: each character [`is_unsafe_char`] finds is shown
/// escaped (`\n`, `\u{1b}`, `\u{202e}`), so that no value can forge a
/// line, a colour, a title or a reading order. `s` comes back unchanged
/// when it holds none.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_escapes_and_bidi_are_shown_escaped() {
        assert!(matches!(
            printable("streamz.example — 東京"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            printable("x\n  withheld  a.b [role:agency]"),
            "x\\n  withheld  a.b [role:agency]"
        );
        assert_eq!(
            printable("\u{1b}[31mred\u{1b}]0;title\u{7}"),
            "\\u{1b}[31mred\\u{1b}]0;title\\u{7}"
        );
        assert_eq!(printable("abc\u{202e}gpj.exe"), "abc\\u{202e}gpj.exe");
        assert_eq!(printable("\u{85}\u{9b}"), "\\u{85}\\u{9b}", "C1 controls");
        assert_eq!(printable("tab\there\r"), "tab\\there\\r");
    }

    #[test]
    fn lines_refuse_what_prose_allows() {
        assert_eq!(check_line("Live football — 東京"), Ok(()));
        assert_eq!(check_prose("two\nlines\tand a tab"), Ok(()));
        let e = check_line("two\nlines").unwrap_err();
        assert!(e.starts_with("holds U+000A at character 3"), "{e}");
        for bad in ["\r", "\u{1b}[31m", "x\u{202e}", "\u{2066}", "\u{85}"] {
            assert!(check_prose(bad).is_err(), "{bad:?}");
        }
    }
}
