//! The emulator's RS256 signing key: the committed development key unless `--signing-key` names
//! another PEM file (PKCS#8 or PKCS#1).

use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rcgen::{CertificateParams, DnType, KeyPair, SerialNumber};
use rsa::{
    pkcs1::DecodeRsaPrivateKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding},
    traits::PublicKeyParts,
    RsaPrivateKey,
};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The well-known development key (`keys/dev-signing-key.pem`). Public on purpose, like Azurite's
/// development account key: tokens it signs prove nothing outside the emulator.
pub(crate) const DEV_SIGNING_KEY_PEM: &str = include_str!("../../keys/dev-signing-key.pem");

/// A signing key and everything derived from it.
#[derive(Clone)]
pub struct Keys {
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// Key id in token headers and the JWKS. As in Entra, equal to `x5t`: the base64url SHA-1
    /// thumbprint of the key's certificate.
    pub kid: String,
    /// The key's self-signed certificate (DER, standard base64), for the JWKS `x5c`.
    pub x5c: String,
    /// Base64url modulus and exponent, for the JWKS.
    pub n: String,
    pub e: String,
    /// The private key PEM, for components that need it (TLS certificates, JWKS `x5c`).
    pub pem: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Keys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Keys from an RSA private key PEM.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| format!("not an RSA private key in PEM (PKCS#8 or PKCS#1): {e}"))?;
        let n = private.n().to_bytes_be();
        let e = private.e().to_bytes_be();
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| format!("unusable RSA key: {e}"))?;
        let der = certificate(&private, &n)?;
        Ok(Self {
            encoding,
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            kid: URL_SAFE_NO_PAD.encode(Sha1::digest(&der)),
            x5c: STANDARD.encode(&der),
            n: URL_SAFE_NO_PAD.encode(&n),
            e: URL_SAFE_NO_PAD.encode(&e),
            pem: pem.to_owned(),
        })
    }

    /// The development keys.
    pub fn development() -> Self {
        // The committed key is checked by a unit test, so this cannot fail in a built binary.
        Self::from_pem(DEV_SIGNING_KEY_PEM).unwrap_or_else(|e| panic!("development key: {e}"))
    }

    /// Keys from `--signing-key FILE`, or the development keys.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, String> {
        match path {
            None => Ok(Self::development()),
            Some(p) => {
                let pem =
                    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
                Self::from_pem(&pem).map_err(|e| format!("{}: {e}", p.display()))
            }
        }
    }
}

/// A self-signed certificate for the key, identical for the same key every time (fixed serial
/// and validity; RSA PKCS#1 v1.5 signatures are deterministic), so `kid` is stable across
/// processes: `defender-mock token` and the server agree without talking.
fn certificate(private: &RsaPrivateKey, n: &[u8]) -> Result<Vec<u8>, String> {
    let pkcs8 = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("cannot re-encode the key: {e}"))?;
    let key = KeyPair::from_pem_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| format!("unusable RSA key: {e}"))?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "defender-mock token signing");
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    params.serial_number = Some(SerialNumber::from_slice(&Sha256::digest(n)[..16]));
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot certify the key: {e}"))?;
    Ok(cert.der().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_key_loads() {
        let k = Keys::from_pem(DEV_SIGNING_KEY_PEM).unwrap();
        assert_eq!(k.e, "AQAB");
        assert!(!k.kid.is_empty());
    }

    #[test]
    fn the_kid_is_the_certificate_thumbprint_and_is_stable() {
        let a = Keys::from_pem(DEV_SIGNING_KEY_PEM).unwrap();
        let b = Keys::from_pem(DEV_SIGNING_KEY_PEM).unwrap();
        assert_eq!(a.kid, b.kid);
        assert_eq!(a.x5c, b.x5c);
        let der = STANDARD.decode(&a.x5c).unwrap();
        assert_eq!(a.kid, URL_SAFE_NO_PAD.encode(Sha1::digest(&der)));
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(Keys::from_pem("nope")
            .unwrap_err()
            .contains("RSA private key"));
    }
}
