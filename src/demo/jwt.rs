//! Minimal HS256 JSON Web Tokens for the demo API.
//!
//! The demo issues real, verifiable JWTs so that a scenario's `on_start` login
//! and `capture` of the token exercise the same path they would against a
//! Django REST framework SimpleJWT service.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub token_type: TokenType,
    pub exp: u64,
    pub jti: u64,
    pub user_id: u64,
}

pub struct Signer {
    key: hmac::Key,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

impl Signer {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        }
    }

    pub fn issue(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(HEADER);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let signing_input = format!("{header}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, signing_input.as_bytes()));
        format!("{signing_input}.{signature}")
    }

    /// Returns the claims of a token that is well-formed, correctly signed,
    /// of the expected type and not expired at `now` (Unix seconds).
    pub fn verify(&self, token: &str, expected: TokenType, now: u64) -> Option<Claims> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (_, payload) = signing_input.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        hmac::verify(&self.key, signing_input.as_bytes(), &signature).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (claims.token_type == expected && claims.exp > now).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(token_type: TokenType, exp: u64) -> Claims {
        Claims {
            token_type,
            exp,
            jti: 7,
            user_id: 1,
        }
    }

    #[test]
    fn issued_token_verifies_until_expiry() {
        let signer = Signer::new([3; 32]);
        let token = signer.issue(&claims(TokenType::Access, 100));
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(signer.verify(&token, TokenType::Access, 99).unwrap().jti, 7);
        assert!(signer.verify(&token, TokenType::Access, 100).is_none());
    }

    #[test]
    fn wrong_type_key_or_tampering_is_rejected() {
        let signer = Signer::new([3; 32]);
        let token = signer.issue(&claims(TokenType::Refresh, 100));
        assert!(signer.verify(&token, TokenType::Access, 0).is_none());
        assert!(Signer::new([4; 32])
            .verify(&token, TokenType::Refresh, 0)
            .is_none());
        let tampered = token.replacen('.', ".x", 1);
        assert!(signer.verify(&tampered, TokenType::Refresh, 0).is_none());
    }
}
