//! The identity store's cipher: AES-256-GCM with a random nonce per row and the reporter_ref as
//! associated data, so a ciphertext cannot be moved to another reporter's row.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A reporter's identity and contact, as stored (encrypted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Name.
    pub name: String,
    /// NIK.
    pub nik: String,
    /// Phone.
    pub phone: String,
    /// E-mail.
    pub email: String,
}

/// Encrypts and decrypts identities.
#[derive(Clone)]
pub struct IdentityCipher {
    cipher: Aes256Gcm,
    key_id: String,
}

impl std::fmt::Debug for IdentityCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityCipher")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl IdentityCipher {
    /// Builds a cipher from a base64 32-byte key.
    pub fn new(key_b64: &str, key_id: &str) -> anyhow::Result<Self> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(key_b64.trim())
            .map_err(|e| anyhow::anyhow!("identity_key is not base64: {e}"))?;
        let cipher = Aes256Gcm::new_from_slice(&key)
            .map_err(|_| anyhow::anyhow!("identity_key must be 32 bytes, got {}", key.len()))?;
        Ok(Self {
            cipher,
            key_id: key_id.to_owned(),
        })
    }

    /// Key id written with each row.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts `identity` for `reporter_ref`; returns (nonce, ciphertext).
    pub fn seal(&self, reporter_ref: Uuid, identity: &Identity) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let plain = serde_json::to_vec(identity)?;
        let ct = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: reporter_ref.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        Ok((nonce.to_vec(), ct))
    }

    /// Decrypts a row sealed by [`IdentityCipher::seal`].
    pub fn open(&self, reporter_ref: Uuid, nonce: &[u8], ct: &[u8]) -> anyhow::Result<Identity> {
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| anyhow::anyhow!("bad nonce length"))?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: reporter_ref.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("identity does not decrypt (wrong key or tampered)"))?;
        Ok(serde_json::from_slice(&plain)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_binds_to_reporter() {
        let c = IdentityCipher::new(crate::config::DEV_IDENTITY_KEY, "dev").unwrap();
        let id = Identity {
            name: "Siti".into(),
            nik: "6474010101010001".into(),
            ..Default::default()
        };
        let r = Uuid::new_v4();
        let (n, ct) = c.seal(r, &id).unwrap();
        assert!(!ct.windows(4).any(|w| w == b"Siti"));
        assert_eq!(c.open(r, &n, &ct).unwrap(), id);
        assert!(c.open(Uuid::new_v4(), &n, &ct).is_err());
    }
}
