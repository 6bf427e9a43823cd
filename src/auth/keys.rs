//! The emulator's RS256 signing key: the committed development key unless `--signing-key` names
//! another PEM file (PKCS#8 or PKCS#1), parsed once into `ring`'s key pair, which signs tokens.

use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use std::sync::Arc;

use jsonwebtoken::{DecodingKey, EncodingKey};
use rcgen::{CertificateParams, DnType, KeyPair, SerialNumber};
use ring::{rand::SystemRandom, signature::RsaKeyPair};
use rsa::{
    pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey},
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
    /// The private key, parsed once: what signs the emulator's tokens.
    signer: Arc<RsaKeyPair>,
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
    /// Keys from an RSA private key PEM (2048 to 8192 bits, as `ring` signs). Also makes `ring`
    /// jsonwebtoken's backend in this process (see `auth::crypto`).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        super::crypto::install();
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| format!("not an RSA private key in PEM (PKCS#8 or PKCS#1): {e}"))?;
        let n = private.n().to_bytes_be();
        let e = private.e().to_bytes_be();
        let pkcs1 = private
            .to_pkcs1_der()
            .map_err(|e| format!("cannot re-encode the key: {e}"))?;
        let signer = RsaKeyPair::from_der(pkcs1.as_bytes()).map_err(|e| {
            format!("unusable RSA key ({e}): an RS256 signing key has 2048 to 8192 bits")
        })?;
        let encoding = EncodingKey::from_rsa_der(pkcs1.as_bytes());
        let der = certificate(&private, &n)?;
        Ok(Self {
            encoding,
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            signer: Arc::new(signer),
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

    /// The RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256) of `message`.
    pub(crate) fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let mut signature = vec![0; self.signer.public().modulus_len()];
        self.signer
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| "RSA signing failed".to_owned())?;
        Ok(signature)
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
    fn rs256_signatures_verify_with_the_public_key() {
        let k = Keys::development();
        let sig = k.sign_rs256(b"header.payload").unwrap();
        assert_eq!(sig.len(), 256);
        let n = URL_SAFE_NO_PAD.decode(&k.n).unwrap();
        let e = URL_SAFE_NO_PAD.decode(&k.e).unwrap();
        let public = ring::signature::RsaPublicKeyComponents { n: &n, e: &e };
        let params = &ring::signature::RSA_PKCS1_2048_8192_SHA256;
        assert!(public.verify(params, b"header.payload", &sig).is_ok());
        assert!(public.verify(params, b"header.payloaD", &sig).is_err());
    }

    #[test]
    fn a_key_too_small_for_rs256_is_refused_with_a_reason() {
        // A valid 1024-bit RSA key, generated for this test only.
        const SMALL: &str = "\
-----BEGIN PRIVATE KEY-----
MIICdQIBADANBgkqhkiG9w0BAQEFAASCAl8wggJbAgEAAoGBAOThLUXbs92e7Cz0
UNz6zNu25r2Ic4lucADqQ/1YC/SC+DGqF9wKDToY/0KxP9rP+qBC4HBaXyUrnvyN
hNenShB5stu1GmwbDTSTUqCHb7+vyAxJFK0DQqkDx/BKsmiYJi7UilRePH7K97v7
4R7Cj3jcZgrnookpK+3nm1wqNNmRAgMBAAECgYBP0z0f9S05KTlDwH4HZC1Yn+S/
y7xH/U1w9EN8M14QDDGV2LXzl0nfrmIwl3Mm1Iybold2t/4hD6KmgJEJSZ4pkezK
P4K13ycNtVhwoQKofzxAUhBAd0lnnqxO/T9zuh6D2u0KObAUNoaDlOLtqL28vadc
nogZRi7thNPR5HpIAQJBAPlLey7uTDIiovM49kd64Rua7Asl3t4W/eoBS5P6eRcn
w5SLkkzQ9em24uOqvPzNbeSs7bnP5219T7rdEcQKCRECQQDrCSBjnuBUHO0JMFhw
gW+TfBSIyaYQuH/ESV/Zd6W+udR7HDwm4EBxONmYFtBjWYeTRL4Agq04o5bRrtZx
AciBAkBjHC4qF1U1rW2JMwE+o8yxE+N5/yFevFdQXBl3CGJx4T4xZVfRsFXECBCm
ILAn9WgWPOX6NHy2m9ZB3Tf971txAkBvaYIa9wLrnFKYWnxxyEl1pgmt1biMkIiw
KP/wfBDrWfdo7DdvTjn98a7js1zQ222y15EheNBX2uPxPWmVY/0BAkBArPMHmAtj
ps+ZJPGdQnqVfkoM9PHw69kdWh5nfoWGA7uFAlqjR3bk6Uzc3Qk9NU0Gq416Nri3
FwhNNoNarTzq
-----END PRIVATE KEY-----
";
        let err = Keys::from_pem(SMALL).unwrap_err();
        assert!(err.contains("2048 to 8192 bits"), "{err}");
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(Keys::from_pem("nope")
            .unwrap_err()
            .contains("RSA private key"));
    }
}
