//! The tamper-evident ledger: breaches (and later monthly results) appended as entries whose hash
//! covers the previous entry's hash, so editing, deleting or reordering any entry breaks the chain
//! from there on. [`verify`] walks the chain and names the first bad entry; a signed checkpoint
//! (sequence number + hash, HMAC-SHA256) kept outside the database also catches a rewrite of the
//! whole chain.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryOrder, QuerySelect, Set, Statement,
};
use sha2::{Digest, Sha256};

use crate::entities::ledger;

/// The previous hash of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an entry.
pub fn entry_hash(prev: &str, seq: i64, at: DateTime<Utc>, kind: &str, body: &str) -> String {
    let text = format!(
        "{prev}\n{seq}\n{}\n{kind}\n{body}",
        at.to_rfc3339_opts(SecondsFormat::Micros, true)
    );
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Serializes appenders (the chain needs the last hash): a transaction-scoped advisory lock on
/// PostgreSQL; SQLite serializes writers already.
pub async fn lock(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(7375636572)".to_owned(),
        ))
        .await?;
    }
    Ok(())
}

/// Appends an entry in `txn` (serialized with other appenders) and returns its sequence number.
pub async fn append(
    txn: &impl ConnectionTrait,
    kind: &str,
    body: &serde_json::Value,
    at: DateTime<Utc>,
) -> Result<i64, DbErr> {
    lock(txn).await?;
    let last = ledger::Entity::find()
        .order_by_desc(ledger::Column::Seq)
        .limit(1)
        .one(txn)
        .await?;
    let (seq, prev) = last.map_or((1, GENESIS.to_owned()), |l| (l.seq + 1, l.hash));
    let at = at.trunc_subsecs(6);
    // serde_json's map keeps keys sorted: the body text is canonical.
    let body = serde_json::to_string(body).map_err(|e| DbErr::Custom(e.to_string()))?;
    let hash = entry_hash(&prev, seq, at, kind, &body);
    ledger::Entity::insert(ledger::ActiveModel {
        seq: Set(seq),
        at: Set(at),
        kind: Set(kind.to_owned()),
        body: Set(body),
        prev_hash: Set(prev),
        hash: Set(hash),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(seq)
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Entries read.
    pub entries: u64,
    /// The first entry that does not fit, and why.
    pub first_bad: Option<(i64, String)>,
    /// Hash of the last good entry.
    pub last_hash: String,
    /// Sequence number of the last good entry (0 if none).
    pub last_seq: i64,
}

/// Walks the whole chain in order of `seq`.
pub async fn verify(db: &impl ConnectionTrait) -> Result<Verification, DbErr> {
    let mut pages = ledger::Entity::find()
        .order_by_asc(ledger::Column::Seq)
        .paginate(db, 1000);
    let mut v = Verification {
        entries: 0,
        first_bad: None,
        last_hash: GENESIS.to_owned(),
        last_seq: 0,
    };
    while let Some(rows) = pages.fetch_and_next().await? {
        for e in rows {
            v.entries += 1;
            if v.first_bad.is_some() {
                continue;
            }
            let problem = if e.seq != v.last_seq + 1 {
                Some(format!(
                    "expected entry {} after {}, found {} (an entry is missing or moved)",
                    v.last_seq + 1,
                    v.last_seq,
                    e.seq
                ))
            } else if e.prev_hash != v.last_hash {
                Some("its previous hash does not match the entry before it".to_owned())
            } else if entry_hash(&e.prev_hash, e.seq, e.at, &e.kind, &e.body) != e.hash {
                Some("its content does not match its hash (edited)".to_owned())
            } else {
                None
            };
            match problem {
                Some(p) => v.first_bad = Some((e.seq, p)),
                None => {
                    v.last_seq = e.seq;
                    v.last_hash = e.hash;
                }
            }
        }
    }
    Ok(v)
}

/// A signed statement that the chain had `hash` at `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Sequence number.
    pub seq: i64,
    /// The entry's hash.
    pub hash: String,
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// HMAC-SHA256 over seq and hash, hex.
    pub signature: String,
}

fn mac(key: &str, seq: i64, hash: &str) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    m.update(format!("lapor-ledger-checkpoint:v1:{seq}:{hash}").as_bytes());
    m
}

/// Signs the last good entry of a verified chain.
pub fn checkpoint(key: &str, v: &Verification, at: DateTime<Utc>) -> Checkpoint {
    Checkpoint {
        seq: v.last_seq,
        hash: v.last_hash.clone(),
        at,
        signature: hex(&mac(key, v.last_seq, &v.last_hash).finalize().into_bytes()),
    }
}

/// Checks a checkpoint's signature and that the stored chain still has its hash at its seq.
pub async fn check_checkpoint(
    db: &impl ConnectionTrait,
    key: &str,
    seq: i64,
    hash: &str,
    signature: &str,
) -> Result<Result<(), String>, DbErr> {
    let sig: Option<Vec<u8>> = (0..signature.len())
        .step_by(2)
        .map(|i| {
            signature
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    if sig.is_none_or(|s| mac(key, seq, hash).verify_slice(&s).is_err()) {
        return Ok(Err("the checkpoint's signature is not valid".into()));
    }
    if seq == 0 {
        return Ok(Ok(()));
    }
    Ok(match ledger::Entity::find_by_id(seq).one(db).await? {
        Some(e) if e.hash == hash => Ok(()),
        Some(_) => Err(format!(
            "entry {seq} no longer has the checkpoint's hash (the chain was rewritten)"
        )),
        None => Err(format!("entry {seq} of the checkpoint is gone")),
    })
}

/// The text of an exported checkpoint: `key=value` lines, the same that `laporctl
/// ledger-checkpoint` prints and `laporctl ledger-verify --checkpoint` reads.
pub fn checkpoint_text(c: &Checkpoint, v: &Verification) -> String {
    let mut t = format!(
        "seq={}\nhash={}\nsignature={}\nat={}\nchain_ok={}\nentries={}\n",
        c.seq,
        c.hash,
        c.signature,
        c.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        v.first_bad.is_none(),
        v.entries
    );
    if let Some((seq, why)) = &v.first_bad {
        t.push_str(&format!("first_bad={seq}\nproblem={why}\n"));
    }
    t
}

/// Where an exported checkpoint goes: by month, named by the instant and the sequence number so
/// exports never overwrite one another and sort in time order.
pub fn checkpoint_key(c: &Checkpoint) -> String {
    format!(
        "{}/{}-seq{:012}.txt",
        c.at.format("%Y/%m"),
        c.at.format("%Y%m%dT%H%M%S%.6fZ"),
        c.seq
    )
}

/// Verifies the chain, signs its last good entry and writes the checkpoint to `store` (outside
/// the database). A broken chain is still exported (covering the entries before the break) and
/// reported loudly.
pub async fn export(
    db: &impl ConnectionTrait,
    key: &str,
    store: &dyn lapor_platform::blobs::BlobStore,
    now: DateTime<Utc>,
) -> anyhow::Result<(Checkpoint, Verification, String)> {
    let v = verify(db).await?;
    let c = checkpoint(key, &v, now);
    let path = checkpoint_key(&c);
    store
        .put(&path, bytes::Bytes::from(checkpoint_text(&c, &v)))
        .await?;
    match &v.first_bad {
        None => tracing::info!(seq = c.seq, path = %path, "ledger checkpoint exported"),
        Some((seq, why)) => tracing::error!(
            first_bad = seq,
            problem = %why,
            path = %path,
            "ledger chain is broken; checkpoint covers the entries before the break"
        ),
    }
    Ok((c, v, path))
}
