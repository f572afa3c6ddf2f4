//! Object storage outside the database: a directory for one node and development, an
//! S3-compatible bucket (feature `s3`) for several replicas in production, both through
//! `object_store`. Attachments and exported ledger checkpoints live here.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

/// A failed read or write, with the store's message.
#[derive(Debug, thiserror::Error)]
#[error("blob store: {0}")]
pub struct BlobError(pub String);

/// Where bytes live outside the database.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `data` under `key`.
    async fn put(&self, key: &str, data: Bytes) -> Result<(), BlobError>;
    /// Reads the bytes under `key`.
    async fn get(&self, key: &str) -> Result<Bytes, BlobError>;
}

/// The blob store in use.
pub type Blobs = Arc<dyn BlobStore>;

/// Blob storage: a directory (default) or an S3-compatible bucket (build with feature `s3`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BlobStoreConfig {
    /// `fs` or `s3`.
    pub kind: String,
    /// Directory for `fs` (created if missing).
    pub path: String,
    /// Bucket for `s3`.
    pub bucket: String,
    /// Endpoint for `s3` (e.g. `https://minio.bontangkota.go.id`); empty for AWS.
    pub endpoint: String,
    /// Region for `s3`.
    pub region: String,
    /// Key prefix inside the directory or bucket.
    pub prefix: String,
}

impl Default for BlobStoreConfig {
    fn default() -> Self {
        Self {
            kind: "fs".into(),
            path: ".lapor/data/blobs".into(),
            bucket: String::new(),
            endpoint: String::new(),
            region: "us-east-1".into(),
            prefix: String::new(),
        }
    }
}

/// A [`BlobStore`] over any `object_store` backend.
struct ObjectStoreBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

#[async_trait::async_trait]
impl BlobStore for ObjectStoreBlobs {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), BlobError> {
        self.store
            .put(&self.path(key), PutPayload::from_bytes(data))
            .await
            .map(|_| ())
            .map_err(|e| BlobError(e.to_string()))
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        let r = self
            .store
            .get(&self.path(key))
            .await
            .map_err(|e| BlobError(e.to_string()))?;
        r.bytes().await.map_err(|e| BlobError(e.to_string()))
    }
}

impl ObjectStoreBlobs {
    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }
}

/// Builds the configured blob store; `setting` names it in errors (e.g. `attachments.store`).
pub fn open(cfg: &BlobStoreConfig, setting: &str) -> anyhow::Result<Blobs> {
    let store: Arc<dyn ObjectStore> = match cfg.kind.as_str() {
        "fs" => {
            std::fs::create_dir_all(&cfg.path)
                .map_err(|e| anyhow::anyhow!("{setting}.path {:?}: {e}", cfg.path))?;
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&cfg.path)?)
        }
        #[cfg(feature = "s3")]
        "s3" => {
            // Credentials come from the standard AWS_* environment (a Kubernetes Secret).
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(&cfg.bucket)
                .with_region(&cfg.region);
            if !cfg.endpoint.is_empty() {
                b = b
                    .with_endpoint(&cfg.endpoint)
                    .with_allow_http(cfg.endpoint.starts_with("http://"));
            }
            Arc::new(b.build()?)
        }
        #[cfg(not(feature = "s3"))]
        "s3" => anyhow::bail!("{setting}.kind = \"s3\" needs a build with feature `s3`"),
        other => anyhow::bail!("{setting}.kind must be \"fs\" or \"s3\", got {other:?}"),
    };
    Ok(Arc::new(ObjectStoreBlobs {
        store,
        prefix: cfg.prefix.trim_matches('/').to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_directory_store_round_trips_under_its_prefix() {
        let dir = std::env::temp_dir().join(format!("lapor-blobs-{}", uuid::Uuid::new_v4().simple()));
        let cfg = BlobStoreConfig {
            path: dir.display().to_string(),
            prefix: "/ckpt/".into(),
            ..BlobStoreConfig::default()
        };
        let store = open(&cfg, "test.store").unwrap();
        store.put("a/b.json", Bytes::from_static(b"{}")).await.unwrap();
        assert_eq!(store.get("a/b.json").await.unwrap(), Bytes::from_static(b"{}"));
        assert!(dir.join("ckpt/a/b.json").is_file());
        assert!(store.get("missing").await.is_err());
        let bad = BlobStoreConfig {
            kind: "ftp".into(),
            ..cfg
        };
        let e = open(&bad, "test.store").err().unwrap().to_string();
        assert!(e.contains("test.store.kind"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
