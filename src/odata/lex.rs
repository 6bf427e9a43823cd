//! The `$filter` lexer: tokens of the OData subset (strings with `''` escapes, words, and bare
//! literals: numbers, date-times and GUIDs).

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Open,
    Close,
    Comma,
    Colon,
    Slash,
    Str(String),
    /// Identifier or keyword.
    Word(String),
    /// Unquoted literal starting with a digit or sign: number, date-time or GUID.
    Bare(String),
}

pub(super) fn lex(input: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => (out.push(Tok::Open), i += 1).1,
            ')' => (out.push(Tok::Close), i += 1).1,
            ',' => (out.push(Tok::Comma), i += 1).1,
            ':' => (out.push(Tok::Colon), i += 1).1,
            '/' => (out.push(Tok::Slash), i += 1).1,
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
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
                out.push(Tok::Str(s));
            }
            _ if guid_at(&chars, i) => {
                out.push(Tok::Bare(chars[i..i + 36].iter().collect()));
                i += 36;
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "-+:.".contains(chars[i]))
                {
                    i += 1;
                }
                out.push(Tok::Bare(chars[start..i].iter().collect()));
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                // The first character is taken as it is: `$` may only start a word, and a loop
                // that did not consume it would never end (found by fuzzing: `$filter=$`).
                i += 1;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character '{other}' at position {i}")),
        }
    }
    Ok(out)
}

/// Whether an unquoted GUID literal (8-4-4-4-12 hex digits) starts at `i`; it may start with a
/// letter, so this is checked before identifiers.
fn guid_at(chars: &[char], i: usize) -> bool {
    let Some(window) = chars.get(i..i + 36) else {
        return false;
    };
    let shape = window.iter().enumerate().all(|(k, c)| {
        if matches!(k, 8 | 13 | 18 | 23) {
            *c == '-'
        } else {
            c.is_ascii_hexdigit()
        }
    });
    let ends = chars
        .get(i + 36)
        .is_none_or(|c| !c.is_alphanumeric() && *c != '_');
    shape && ends
}
