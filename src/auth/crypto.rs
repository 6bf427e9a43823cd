//! jsonwebtoken's crypto backend on `ring`, the constant-time, assembly-optimised library rustls
//! and rcgen already use: every JWS algorithm jsonwebtoken names (RSA PKCS#1 and PSS, HMAC, ECDSA
//! P-256/P-384, Ed25519), installed once per process by [`install`]. What a token may use is
//! still each caller's `Validation` (RS256 for access tokens, RS256 or PS256 for assertions).

use jsonwebtoken::{
    crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils},
    errors::{Error, ErrorKind, Result},
    jwk::{EllipticCurve, ThumbprintHash},
    signature, Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey,
};
use ring::{
    digest, hmac,
    rand::SystemRandom,
    rsa::PublicKeyComponents,
    signature::{
        self as sig, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaEncoding,
        RsaKeyPair, RsaParameters, RsaPublicKeyComponents, VerificationAlgorithm,
    },
};

/// The provider [`install`] makes the process default.
static RING: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key,
        rsa_pub_components_from_public_key,
        ec_pub_components_from_private_key,
        ed_pub_components_from_private_key,
        compute_digest,
    },
};

/// Makes `ring` jsonwebtoken's backend for this process (a no-op after the first call); `true`
/// when it is the one in use. [`Keys`](super::Keys) calls it when built, so the emulator's
/// signatures and verifications, and those of anything running beside a built emulator (tests
/// included), go through it.
pub(crate) fn install() -> bool {
    match RING.install_default() {
        Ok(()) => true,
        Err(current) => std::ptr::eq(current, &RING),
    }
}

/// One JWS algorithm in `ring`'s terms.
#[derive(Clone, Copy)]
enum Scheme {
    Hmac(hmac::Algorithm),
    /// Signing padding, and verification parameters (2048 to 8192 bits, as Entra's keys are).
    Rsa(&'static dyn RsaEncoding, &'static RsaParameters),
    /// Signing, and verification (fixed-width `r || s`, as JWS has it).
    Ecdsa(
        &'static EcdsaSigningAlgorithm,
        &'static dyn VerificationAlgorithm,
    ),
    Ed25519,
}

fn scheme(alg: Algorithm) -> Result<Scheme> {
    use sig::*;
    Ok(match alg {
        Algorithm::HS256 => Scheme::Hmac(hmac::HMAC_SHA256),
        Algorithm::HS384 => Scheme::Hmac(hmac::HMAC_SHA384),
        Algorithm::HS512 => Scheme::Hmac(hmac::HMAC_SHA512),
        Algorithm::RS256 => Scheme::Rsa(&RSA_PKCS1_SHA256, &RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => Scheme::Rsa(&RSA_PKCS1_SHA384, &RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => Scheme::Rsa(&RSA_PKCS1_SHA512, &RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => Scheme::Rsa(&RSA_PSS_SHA256, &RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => Scheme::Rsa(&RSA_PSS_SHA384, &RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => Scheme::Rsa(&RSA_PSS_SHA512, &RSA_PSS_2048_8192_SHA512),
        Algorithm::ES256 => {
            Scheme::Ecdsa(&ECDSA_P256_SHA256_FIXED_SIGNING, &ECDSA_P256_SHA256_FIXED)
        }
        Algorithm::ES384 => {
            Scheme::Ecdsa(&ECDSA_P384_SHA384_FIXED_SIGNING, &ECDSA_P384_SHA384_FIXED)
        }
        Algorithm::EdDSA => Scheme::Ed25519,
        _ => return Err(ErrorKind::UnsupportedAlgorithm.into()),
    })
}

/// A key of the wrong family for the algorithm is refused before anything is computed (no
/// algorithm confusion: an RSA public key never becomes an HMAC secret).
fn same_family(alg: Algorithm, key: AlgorithmFamily) -> Result<()> {
    if alg.family() == key {
        Ok(())
    } else {
        Err(ErrorKind::InvalidKeyFormat.into())
    }
}

fn rsa_key_error(e: ring::error::KeyRejected) -> Error {
    ErrorKind::InvalidRsaKey(e.to_string()).into()
}

/// A signing key, parsed once per signer.
enum SigningKey {
    Hmac(hmac::Key),
    Rsa(RsaKeyPair, &'static dyn RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

struct RingSigner {
    alg: Algorithm,
    key: SigningKey,
}

impl signature::Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let rng = SystemRandom::new();
        match &self.key {
            SigningKey::Hmac(key) => Ok(hmac::sign(key, msg).as_ref().to_vec()),
            SigningKey::Rsa(key, padding) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(*padding, &rng, msg, &mut out)
                    .map_err(|_| signature::Error::new())?;
                Ok(out)
            }
            SigningKey::Ecdsa(key) => Ok(key
                .sign(&rng, msg)
                .map_err(|_| signature::Error::new())?
                .as_ref()
                .to_vec()),
            SigningKey::Ed25519(key) => Ok(key.sign(msg).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    let scheme = scheme(*alg)?;
    same_family(*alg, key.family())?;
    let der = key.as_bytes();
    let key = match scheme {
        Scheme::Hmac(h) => SigningKey::Hmac(hmac::Key::new(h, der)),
        // An RSA `EncodingKey` holds the PKCS#1 RSAPrivateKey DER.
        Scheme::Rsa(padding, _) => {
            SigningKey::Rsa(RsaKeyPair::from_der(der).map_err(rsa_key_error)?, padding)
        }
        // EC and Ed keys are PKCS#8.
        Scheme::Ecdsa(signing, _) => SigningKey::Ecdsa(
            EcdsaKeyPair::from_pkcs8(signing, der, &SystemRandom::new())
                .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?,
        ),
        Scheme::Ed25519 => SigningKey::Ed25519(
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))?,
        ),
    };
    Ok(Box::new(RingSigner { alg: *alg, key }))
}

struct RingVerifier {
    alg: Algorithm,
    scheme: Scheme,
    key: DecodingKey,
}

impl RingVerifier {
    fn check(&self, msg: &[u8], signature: &[u8]) -> std::result::Result<(), signature::Error> {
        let public = |algorithm: &'static dyn VerificationAlgorithm| {
            let der = self
                .key
                .try_get_as_bytes()
                .map_err(signature::Error::from_source)?;
            sig::UnparsedPublicKey::new(algorithm, der)
                .verify(msg, signature)
                .map_err(|_| signature::Error::new())
        };
        match (self.scheme, self.key.kind()) {
            (Scheme::Hmac(h), DecodingKeyKind::SecretOrDer(secret)) => {
                hmac::verify(&hmac::Key::new(h, secret), msg, signature)
                    .map_err(|_| signature::Error::new())
            }
            (Scheme::Rsa(_, params), DecodingKeyKind::RsaModulusExponent { n, e }) => {
                RsaPublicKeyComponents { n, e }
                    .verify(params, msg, signature)
                    .map_err(|_| signature::Error::new())
            }
            // RSA from PEM or DER: the PKCS#1 RSAPublicKey.
            (Scheme::Rsa(_, params), _) => public(params),
            (Scheme::Ecdsa(_, verification), _) => public(verification),
            (Scheme::Ed25519, _) => public(&sig::ED25519),
            (Scheme::Hmac(_), _) => Err(signature::Error::new()),
        }
    }
}

impl signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        self.check(msg, signature)
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let scheme = scheme(*alg)?;
    same_family(*alg, key.family())?;
    Ok(Box::new(RingVerifier {
        alg: *alg,
        scheme,
        key: key.clone(),
    }))
}

fn rsa_pub_components_from_private_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let key = RsaKeyPair::from_der(der).map_err(rsa_key_error)?;
    let c = PublicKeyComponents::<Vec<u8>>::from(key.public());
    Ok((c.n, c.e))
}

fn rsa_pub_components_from_public_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    use rsa::{pkcs1::DecodeRsaPublicKey, traits::PublicKeyParts, RsaPublicKey};
    let key = RsaPublicKey::from_pkcs1_der(der)
        .map_err(|e| Error::from(ErrorKind::InvalidRsaKey(e.to_string())))?;
    Ok((key.n().to_bytes_be(), key.e().to_bytes_be()))
}

fn ec_pub_components_from_private_key(
    der: &[u8],
    alg: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let (curve, width) = match alg {
        Algorithm::ES256 => (EllipticCurve::P256, 32),
        Algorithm::ES384 => (EllipticCurve::P384, 48),
        _ => return Err(ErrorKind::InvalidEcdsaKey.into()),
    };
    let Scheme::Ecdsa(signing, _) = scheme(alg)? else {
        return Err(ErrorKind::InvalidEcdsaKey.into());
    };
    let key = EcdsaKeyPair::from_pkcs8(signing, der, &SystemRandom::new())
        .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?;
    // The uncompressed point: 0x04 || x || y.
    match key.public_key().as_ref().split_first() {
        Some((4, xy)) if xy.len() == 2 * width => {
            let (x, y) = xy.split_at(width);
            Ok((curve, x.to_vec(), y.to_vec()))
        }
        _ => Err(ErrorKind::InvalidEcdsaKey.into()),
    }
}

fn ed_pub_components_from_private_key(der: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>> {
    match curve {
        EllipticCurve::Ed25519 => Ok(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))?
            .public_key()
            .as_ref()
            .to_vec()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(ErrorKind::UnsupportedAlgorithm.into()),
    };
    Ok(digest::digest(algorithm, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::crypto::{sign, verify};

    use super::*;
    use crate::auth::Keys;

    #[test]
    fn ring_is_the_installed_backend_once_keys_exist() {
        let _ = Keys::development();
        assert!(
            install(),
            "another jsonwebtoken provider was installed first"
        );
    }

    #[test]
    fn rsa_signatures_round_trip_with_both_public_key_forms() {
        use rsa::{
            pkcs1::EncodeRsaPublicKey, pkcs8::DecodePrivateKey, RsaPrivateKey, RsaPublicKey,
        };
        let keys = Keys::development();
        let private =
            RsaPrivateKey::from_pkcs8_pem(crate::auth::keys::DEV_SIGNING_KEY_PEM).unwrap();
        let der = RsaPublicKey::from(&private).to_pkcs1_der().unwrap();
        let by_der = DecodingKey::from_rsa_der(der.as_bytes());
        for alg in [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::PS256,
            Algorithm::PS512,
        ] {
            let s = sign(b"a.b", &keys.encoding, alg).unwrap();
            for public in [&keys.decoding, &by_der] {
                assert!(verify(&s, b"a.b", public, alg).unwrap(), "{alg:?}");
                assert!(!verify(&s, b"a.c", public, alg).unwrap(), "{alg:?}");
            }
        }
        // RS256 is deterministic: the same bytes as `Keys::sign_rs256`.
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let direct = keys.sign_rs256(b"a.b").unwrap();
        let s = sign(b"a.b", &keys.encoding, Algorithm::RS256).unwrap();
        assert_eq!(s, URL_SAFE_NO_PAD.encode(direct));
    }

    #[test]
    fn jwk_helpers_work_on_ring() {
        use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
        let keys = Keys::development();
        let jwk = Jwk::from_encoding_key(&keys.encoding, Algorithm::RS256).unwrap();
        let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            panic!("not an RSA JWK: {jwk:?}");
        };
        assert_eq!(
            (rsa.n.as_str(), rsa.e.as_str()),
            (keys.n.as_str(), keys.e.as_str())
        );
        assert!(!jwk.thumbprint(ThumbprintHash::SHA256).unwrap().is_empty());
    }

    #[test]
    fn a_key_of_another_family_is_refused_not_confused() {
        let keys = Keys::development();
        // The public key's bytes as an HMAC secret (the classic RS256 -> HS256 confusion).
        let secret = DecodingKey::from_secret(keys.n.as_bytes());
        let hmac = EncodingKey::from_secret(keys.n.as_bytes());
        let forged = sign(b"a.b", &hmac, Algorithm::HS256).unwrap();
        assert!(verify(&forged, b"a.b", &secret, Algorithm::HS256).unwrap());
        assert!(verify(&forged, b"a.b", &keys.decoding, Algorithm::HS256).is_err());
        assert!(verify(&forged, b"a.b", &secret, Algorithm::RS256).is_err());
        assert!(sign(b"a.b", &hmac, Algorithm::RS256).is_err());
        assert!(sign(b"a.b", &keys.encoding, Algorithm::HS256).is_err());
    }
}
