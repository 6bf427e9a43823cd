//! The emulator's RS256 signing key: the committed development key unless `--signing-key` names
//! another PEM file (PKCS#8 or PKCS#1).

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::{
    pkcs1::DecodeRsaPrivateKey, pkcs8::DecodePrivateKey, traits::PublicKeyParts, RsaPrivateKey,
};
use sha2::{Digest, Sha256};

/// The well-known development key (`keys/dev-signing-key.pem`). Public on purpose, like Azurite's
/// development account key: tokens it signs prove nothing outside the emulator.
pub const DEV_SIGNING_KEY_PEM: &str = include_str!("../../keys/dev-signing-key.pem");

/// A signing key and everything derived from it.
#[derive(Clone)]
pub struct Keys {
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// Key id in token headers and the JWKS: base64url of the SHA-256 of the modulus, shortened.
    pub kid: String,
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
        let digest = Sha256::digest(&n);
        Ok(Self {
            encoding,
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            kid: URL_SAFE_NO_PAD.encode(&digest[..20]),
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
    fn garbage_is_refused_with_a_reason() {
        assert!(Keys::from_pem("nope")
            .unwrap_err()
            .contains("RSA private key"));
    }
}
