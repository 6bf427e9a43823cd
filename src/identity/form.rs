//! The token endpoints' request body as Entra reads it: `application/x-www-form-urlencoded`
//! only (another content type is not read at all), each parameter at most once, and every name
//! and value valid UTF-8 once percent-decoded.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{Ctx, INVALID_REQUEST_CODE};
use crate::error::Result;

/// The form media type; parameters such as `charset` may follow it.
const FORM: &str = "application/x-www-form-urlencoded";

/// True when `content_type` (the header's value) is the form media type.
pub(crate) fn is_form(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(FORM))
}

/// The parameters of a token request body. A body of another content type reads as no
/// parameters, as Entra's does (a JSON body gets AADSTS900144 for `grant_type`); a repeated
/// parameter is AADSTS9000411 and a name or value that is not UTF-8 is AADSTS9002313.
pub(crate) fn parse(
    content_type: Option<&str>,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<HashMap<String, String>> {
    let ctx = Ctx { now };
    let mut form = HashMap::new();
    if !is_form(content_type) {
        return Ok(form);
    }
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let (Some(name), Some(value)) = (decode(name), decode(value)) else {
            return Err(ctx.bad(
                "invalid_request",
                INVALID_REQUEST_CODE,
                "Invalid request. Request is malformed or invalid. A parameter of the request body is not UTF-8 once percent-decoded.",
            ));
        };
        if form.contains_key(&name) {
            return Err(ctx.bad(
                "invalid_request",
                9000411,
                format!(
                    "The request is not properly formatted. The parameter '{name}' is duplicated."
                ),
            ));
        }
        form.insert(name, value);
    }
    Ok(form)
}

/// One form-encoded name or value: `+` is a space, `%XX` a byte (a `%` not followed by two hex
/// digits stays as it is, as browsers and `form_urlencoded` treat it); `None` when the bytes are
/// not UTF-8.
fn decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (raw.get(i + 1).and_then(hex), raw.get(i + 2).and_then(hex)) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(b: &u8) -> Option<u8> {
    char::from(*b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    fn now() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH
    }

    fn code(r: Result<HashMap<String, String>>) -> u32 {
        match r {
            Err(ApiError::Entra { code, .. }) => code,
            other => panic!("not an Entra error: {other:?}"),
        }
    }

    #[test]
    fn pairs_are_decoded_as_form_urlencoded_does() {
        let body = b"a=1&b=x+y%2Bz&c=&d&e=%zz&f=%C3%A9";
        let form = parse(
            Some("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
            body,
            now(),
        )
        .unwrap();
        let expected: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        assert_eq!(form, expected);
        assert_eq!(form["b"], "x y+z");
        assert_eq!(form["f"], "é");
    }

    #[test]
    fn another_content_type_reads_as_no_parameters() {
        for ct in [
            None,
            Some("application/json"),
            Some("text/plain"),
            Some("multipart/form-data"),
        ] {
            assert!(
                parse(ct, b"grant_type=client_credentials", now())
                    .unwrap()
                    .is_empty(),
                "{ct:?}"
            );
        }
    }

    #[test]
    fn a_repeated_parameter_is_9000411_naming_it() {
        let err = parse(Some(FORM), b"scope=a&grant_type=x&scope=b", now()).unwrap_err();
        assert!(err.to_string().contains("'scope' is duplicated"), "{err}");
        assert_eq!(code(Err(err)), 9000411);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_9002313() {
        for body in [&b"grant_type=%FF"[..], b"%C3=x", b"scope=\xff"] {
            assert_eq!(
                code(parse(Some(FORM), body, now())),
                INVALID_REQUEST_CODE,
                "{body:?}"
            );
        }
    }
}
