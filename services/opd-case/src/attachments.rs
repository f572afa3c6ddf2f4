//! Attachments: uploads are read chunk by chunk and refused as soon as they pass the size limit;
//! the type is sniffed from the first bytes and must match the declared one; images lose their
//! EXIF, XMP, IPTC and comment metadata (losslessly, segment by segment) before they are stored
//! through a [`BlobStore`]. Downloads stream the stored bytes back in chunks.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use img_parts::ImageEXIF;
use sha2::{Digest, Sha256};

use crate::config::{AttachmentConfig, BlobStoreConfig};
use crate::error::{Error, invalid};

pub use lapor_platform::blobs::Blobs;

impl From<lapor_platform::blobs::BlobError> for Error {
    fn from(e: lapor_platform::blobs::BlobError) -> Self {
        Error::Internal(e.to_string())
    }
}

/// Builds the configured attachment store.
pub fn open(cfg: &BlobStoreConfig) -> anyhow::Result<Blobs> {
    lapor_platform::blobs::open(cfg, "attachments.store")
}

/// Content types recognised from their first bytes.
pub const KNOWN_TYPES: [&str; 5] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "application/pdf",
    "video/mp4",
];

/// Bytes needed to recognise every known type.
const SNIFF_LEN: usize = 12;

/// Recognises a file from its first bytes.
pub fn sniff(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else if b.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if b.len() >= 8 && &b[4..8] == b"ftyp" {
        Some("video/mp4")
    } else {
        None
    }
}

/// Removes metadata that can identify a person or place (EXIF with GPS, XMP, IPTC, comments,
/// text chunks) from an image without re-encoding its pixels. Other types pass unchanged. A file
/// that claims to be an image but does not parse as one is refused.
pub fn strip_metadata(content_type: &str, data: Bytes) -> Result<Bytes, Error> {
    let broken = |e: img_parts::Error| invalid("chunk", format!("not a valid {content_type} file: {e}"));
    match content_type {
        "image/jpeg" => {
            let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(data).map_err(broken)?;
            jpeg.segments_mut().retain(|s| {
                let m = s.marker();
                let is_icc = m == 0xE2 && s.contents().starts_with(b"ICC_PROFILE\0");
                // Keep JFIF (APP0), the ICC colour profile (APP2) and Adobe (APP14, needed to
                // decode CMYK); drop every other application segment and comments.
                !((0xE1..=0xEF).contains(&m) && m != 0xEE && !is_icc || m == 0xFE)
            });
            Ok(jpeg.encoder().bytes())
        }
        "image/png" => {
            let mut png = img_parts::png::Png::from_bytes(data).map_err(broken)?;
            png.chunks_mut()
                .retain(|c| !matches!(&c.kind(), b"eXIf" | b"tEXt" | b"iTXt" | b"zTXt" | b"tIME"));
            Ok(png.encoder().bytes())
        }
        "image/webp" => {
            let mut webp = img_parts::webp::WebP::from_bytes(data).map_err(broken)?;
            webp.set_exif(None);
            webp.remove_chunks_by_id(img_parts::webp::CHUNK_XMP);
            Ok(webp.encoder().bytes())
        }
        _ => Ok(data),
    }
}

/// A received, checked and cleaned file.
pub struct Received {
    /// Sniffed (and declared) type.
    pub content_type: String,
    /// Bytes to store.
    pub data: Bytes,
    /// SHA-256 of `data`, hex.
    pub sha256: String,
}

/// Reads an upload's chunks after its header. Refuses a declared type that is not allowed, bytes
/// that are not what was declared (as soon as the first bytes arrive), and a file larger than
/// the limit (as soon as it passes it, without reading the rest).
pub async fn receive<S>(limits: &AttachmentConfig, declared: &str, mut chunks: S) -> Result<Received, Error>
where
    S: Stream<Item = Result<Bytes, Error>> + Unpin,
{
    let declared = declared.trim().to_ascii_lowercase();
    if !limits.allowed_types.iter().any(|t| t == &declared) {
        return Err(invalid(
            "header.file.content_type",
            format!("must be one of: {}", limits.allowed_types.join(", ")),
        ));
    }
    let max = usize::try_from(limits.max_bytes).unwrap_or(usize::MAX);
    let mut buf = BytesMut::new();
    let mut sniffed = false;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        if buf.len() + chunk.len() > max {
            return Err(Error::TooLarge(format!(
                "attachment larger than the limit of {} bytes",
                limits.max_bytes
            )));
        }
        buf.extend_from_slice(&chunk);
        if !sniffed && buf.len() >= SNIFF_LEN {
            check_type(&declared, &buf)?;
            sniffed = true;
        }
    }
    if buf.is_empty() {
        return Err(invalid("chunk", "the file is empty"));
    }
    if !sniffed {
        check_type(&declared, &buf)?;
    }
    let data = strip_metadata(&declared, buf.freeze())?;
    let sha256 = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    Ok(Received {
        content_type: declared,
        data,
        sha256,
    })
}

fn check_type(declared: &str, head: &[u8]) -> Result<(), Error> {
    match sniff(head) {
        Some(t) if t == declared => Ok(()),
        Some(t) => Err(invalid(
            "header.file.content_type",
            format!("declared {declared}, but the content is {t}"),
        )),
        None => Err(invalid(
            "header.file.content_type",
            format!("declared {declared}, but the content is not a recognised file type"),
        )),
    }
}

/// Size of the chunks a download is streamed in.
pub const DOWNLOAD_CHUNK: usize = 256 * 1024;

/// Splits stored bytes into download chunks (at least one, so the description always arrives).
pub fn chunks(data: Bytes) -> Vec<Bytes> {
    if data.is_empty() {
        return vec![data];
    }
    (0..data.len())
        .step_by(DOWNLOAD_CHUNK)
        .map(|i| data.slice(i..(i + DOWNLOAD_CHUNK).min(data.len())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_reads_the_bytes_not_the_name() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42"), Some("video/mp4"));
        assert_eq!(sniff(b"MZ\x90\0 this is an exe"), None);
        assert_eq!(sniff(b"<html>"), None);
    }

    #[test]
    fn downloads_split_into_bounded_chunks() {
        let data = Bytes::from(vec![7u8; DOWNLOAD_CHUNK * 2 + 5]);
        let parts = chunks(data);
        assert_eq!(
            parts.iter().map(Bytes::len).collect::<Vec<_>>(),
            [DOWNLOAD_CHUNK, DOWNLOAD_CHUNK, 5]
        );
        assert_eq!(chunks(Bytes::new()).len(), 1);
    }
}
