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

/// The tokens of `input`, or what is wrong at the first character that starts none.
pub(super) fn lex(input: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let (tok, end) = token_at(&chars, i)?;
        out.push(tok);
        i = end;
    }
    Ok(out)
}

/// The token that starts at `i` (not whitespace) and the position after it.
fn token_at(chars: &[char], i: usize) -> Result<(Tok, usize), String> {
    let one = |tok: Tok| Ok((tok, i + 1));
    match chars[i] {
        '(' => one(Tok::Open),
        ')' => one(Tok::Close),
        ',' => one(Tok::Comma),
        ':' => one(Tok::Colon),
        '/' => one(Tok::Slash),
        '\'' => string_at(chars, i + 1).map(|(s, end)| (Tok::Str(s), end)),
        _ if guid_at(chars, i) => Ok((Tok::Bare(chars[i..i + 36].iter().collect()), i + 36)),
        c if c.is_ascii_digit() || c == '-' || c == '+' => {
            let end = run_end(chars, i, |ch| {
                ch.is_ascii_alphanumeric() || "-+:.".contains(ch)
            });
            Ok((Tok::Bare(chars[i..end].iter().collect()), end))
        }
        c if c.is_alphabetic() || c == '_' || c == '$' => {
            // The first character is taken as it is: `$` may only start a word, and a loop that
            // did not consume it would never end (found by fuzzing: `$filter=$`).
            let end = run_end(chars, i + 1, |ch| {
                ch.is_alphanumeric() || ch == '_' || ch == '.'
            });
            Ok((Tok::Word(chars[i..end].iter().collect()), end))
        }
        other => Err(format!("unexpected character '{other}' at position {i}")),
    }
}

/// The string literal whose text starts at `i` (after its opening quote), `''` read as one quote:
/// its value and the position after its closing quote.
fn string_at(chars: &[char], mut i: usize) -> Result<(String, usize), String> {
    let mut s = String::new();
    loop {
        match chars.get(i) {
            None => return Err("unterminated string literal".into()),
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                s.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((s, i + 1)),
            Some(ch) => {
                s.push(*ch);
                i += 1;
            }
        }
    }
}

/// Where the run of characters satisfying `part` that starts at `start` ends.
fn run_end(chars: &[char], start: usize, part: impl Fn(char) -> bool) -> usize {
    let mut i = start;
    while i < chars.len() && part(chars[i]) {
        i += 1;
    }
    i
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
