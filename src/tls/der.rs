//! Just enough DER to read a certificate's validity and public key (rcgen's parser needs a
//! feature this crate does not enable).

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// The parts of an X.509 certificate the CA checks use.
pub(super) struct Cert {
    pub(super) not_before: OffsetDateTime,
    pub(super) not_after: OffsetDateTime,
    /// The whole SubjectPublicKeyInfo element, as `rcgen`'s `subject_public_key_info`.
    pub(super) spki: Vec<u8>,
}

/// One element: (tag, contents, the whole element, what follows).
type Element<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn next(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((tag, &rest[..len], &input[..header + len], &rest[len..]))
}

fn time(tag: u8, v: &[u8]) -> Option<OffsetDateTime> {
    let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let (year, s) = match tag {
        0x17 => {
            let yy: i32 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let n = |i: usize| -> Option<u8> { s.get(i..i + 2)?.parse().ok() };
    if s.len() != 10 {
        return None;
    }
    let date = Date::from_calendar_date(year, Month::try_from(n(0)?).ok()?, n(2)?).ok()?;
    let t = Time::from_hms(n(4)?, n(6)?, n(8)?).ok()?;
    Some(PrimitiveDateTime::new(date, t).assume_utc())
}

impl Cert {
    pub(super) fn parse(der: &[u8]) -> Option<Self> {
        let (0x30, cert, _, _) = next(der)? else {
            return None;
        };
        let (0x30, tbs, _, _) = next(cert)? else {
            return None;
        };
        let (tag, _, _, mut rest) = next(tbs)?;
        if tag == 0xa0 {
            (_, _, _, rest) = next(rest)?; // version, then the serial number
        }
        let (_, _, _, rest) = next(rest)?; // signature algorithm
        let (_, _, _, rest) = next(rest)?; // issuer
        let (0x30, validity, _, rest) = next(rest)? else {
            return None;
        };
        let (_, _, _, rest) = next(rest)?; // subject
        let (0x30, _, spki, _) = next(rest)? else {
            return None;
        };
        let (t1, v1, _, after) = next(validity)?;
        let (t2, v2, _, _) = next(after)?;
        Some(Self {
            not_before: time(t1, v1)?,
            not_after: time(t2, v2)?,
            spki: spki.to_vec(),
        })
    }
}
