//! Reporter access tokens, derived as HMAC-SHA256(token_key, report_id): nothing secret is
//! stored, a retried submission gets the same token back, and rotating the key revokes all.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

fn mac(key: &str, report_id: Uuid) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    m.update(b"lapor-reporter-token:v1:");
    m.update(report_id.as_bytes());
    m
}

/// Returns the access token of a report.
pub fn derive(key: &str, report_id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac(key, report_id).finalize().into_bytes())
}

/// Checks a token in constant time.
pub fn verify(key: &str, report_id: Uuid, token: &str) -> bool {
    match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim()) {
        Ok(bytes) => mac(key, report_id).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}
