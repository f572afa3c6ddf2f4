//! The reporter's proof of ownership outside intake. Intake derives each report's access token
//! and publishes only its SHA-256 (in `ReportSubmitted`); other services keep that hash and check
//! a presented token against it, so no service but intake holds the key that makes tokens.

use sha2::{Digest, Sha256};

/// Returns SHA-256 of a token, lowercase hex.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a presented token against a stored hash, in time independent of where they differ.
pub fn token_matches(token: &str, stored_hash: &str) -> bool {
    let h = token_hash(token);
    h.len() == stored_hash.len()
        && h.bytes()
            .zip(stored_hash.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_its_hash_only() {
        let h = token_hash("abc");
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(token_matches("abc", &h));
        assert!(token_matches(" abc ", &h));
        assert!(!token_matches("abd", &h));
        assert!(!token_matches("", &h));
        assert!(!token_matches("abc", ""));
    }
}
