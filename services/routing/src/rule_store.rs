//! Routing rules as versioned data: the rules in force (`routing_rules`) and every version ever
//! made (`routing_rule_versions`). Dispatches record the rule id and version they used, so a
//! rule change never rewrites a past dispatch.

use chrono::{DateTime, Utc};
use lapor_domain::{CategoryId, OpdId, Violations};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use crate::config::Config;
use crate::entities::{routing_rule, routing_rule_version};
use crate::error::Error;
use crate::rules::{RuleSpec, validate_rule};

/// A rule in force with its version.
#[derive(Debug, Clone)]
pub struct StoredRule {
    /// The rule.
    pub spec: RuleSpec,
    /// Its version.
    pub version: i64,
    /// When that version was made.
    pub updated_at: DateTime<Utc>,
    /// By whom.
    pub updated_by: String,
}

fn spec_of(json: &serde_json::Value) -> Result<RuleSpec, Error> {
    serde_json::from_value(json.clone())
        .map_err(|e| Error::FailedPrecondition(format!("stored rule is unreadable: {e}")))
}

fn registry(cfg: &Config) -> (Vec<OpdId>, Vec<CategoryId>) {
    (
        cfg.opds.iter().map(|o| o.id.clone()).collect(),
        cfg.categories.iter().map(|c| c.id.clone()).collect(),
    )
}

/// Checks a rule against the registry, as field violations.
pub fn check(cfg: &Config, spec: &RuleSpec) -> Result<(), Error> {
    let (opds, cats) = registry(cfg);
    validate_rule(spec, &opds, &cats).map_err(|errs| {
        let mut v = Violations::new();
        for (f, d) in errs {
            v.add(format!("rule.{f}"), d);
        }
        Error::InvalidArgument(v)
    })
}

/// Seeds the store from configuration the first time (when no rule version exists yet), so that
/// rules deleted later are not brought back by a restart.
pub async fn seed<C: ConnectionTrait>(db: &C, cfg: &Config) -> Result<usize, Error> {
    for r in &cfg.rules {
        check(cfg, r).map_err(|e| Error::FailedPrecondition(format!("configured rule {}: {e}", r.id)))?;
    }
    if routing_rule_version::Entity::find().count(db).await? > 0 {
        return Ok(0);
    }
    let now = Utc::now();
    let mut seeded = 0;
    for r in &cfg.rules {
        let spec = serde_json::to_value(r).map_err(|e| Error::FailedPrecondition(e.to_string()))?;
        let inserted = routing_rule::Entity::insert(routing_rule::ActiveModel {
            id: Set(r.id.clone()),
            spec: Set(spec.clone()),
            version: Set(1),
            updated_at: Set(now),
            updated_by: Set("seed:configuration".into()),
        })
        .on_conflict(
            OnConflict::column(routing_rule::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        // Another replica seeding at the same moment inserted it: its version row is its own.
        if inserted == 1 {
            version_row(db, &r.id, 1, "created", spec, now, "seed:configuration").await?;
            seeded += 1;
        }
    }
    Ok(seeded)
}

async fn version_row<C: ConnectionTrait>(
    db: &C,
    id: &str,
    version: i64,
    change: &str,
    spec: serde_json::Value,
    at: DateTime<Utc>,
    by: &str,
) -> Result<(), Error> {
    routing_rule_version::ActiveModel {
        rule_id: Set(id.to_owned()),
        version: Set(version),
        change: Set(change.to_owned()),
        spec: Set(spec),
        changed_at: Set(at),
        changed_by: Set(by.to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The rules in force, in id order.
pub async fn load<C: ConnectionTrait>(db: &C) -> Result<Vec<StoredRule>, Error> {
    routing_rule::Entity::find()
        .order_by_asc(routing_rule::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|m| {
            Ok(StoredRule {
                spec: spec_of(&m.spec)?,
                version: m.version,
                updated_at: m.updated_at,
                updated_by: m.updated_by,
            })
        })
        .collect()
}

/// Every version of one rule, oldest first.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Vec<routing_rule_version::Model>, Error> {
    Ok(routing_rule_version::Entity::find()
        .filter(routing_rule_version::Column::RuleId.eq(id))
        .order_by_asc(routing_rule_version::Column::Id)
        .all(db)
        .await?)
}

/// Creates (`expected_version` 0) or updates (`expected_version` = current) a rule.
pub async fn put<C: ConnectionTrait>(
    db: &C,
    cfg: &Config,
    spec: RuleSpec,
    expected_version: i64,
    by: &str,
) -> Result<StoredRule, Error> {
    check(cfg, &spec)?;
    let now = Utc::now();
    let json = serde_json::to_value(&spec).map_err(|e| Error::FailedPrecondition(e.to_string()))?;
    let current = routing_rule::Entity::find_by_id(spec.id.clone()).one(db).await?;
    let version = match (current, expected_version) {
        (None, 0) => {
            routing_rule::ActiveModel {
                id: Set(spec.id.clone()),
                spec: Set(json.clone()),
                version: Set(1),
                updated_at: Set(now),
                updated_by: Set(by.to_owned()),
            }
            .insert(db)
            .await?;
            version_row(db, &spec.id, 1, "created", json, now, by).await?;
            1
        }
        (Some(cur), v) if v == cur.version => {
            let next = cur.version + 1;
            let res = routing_rule::Entity::update_many()
                .set(routing_rule::ActiveModel {
                    spec: Set(json.clone()),
                    version: Set(next),
                    updated_at: Set(now),
                    updated_by: Set(by.to_owned()),
                    ..Default::default()
                })
                .filter(routing_rule::Column::Id.eq(spec.id.clone()))
                .filter(routing_rule::Column::Version.eq(cur.version))
                .exec(db)
                .await?;
            if res.rows_affected != 1 {
                return Err(Error::FailedPrecondition(format!(
                    "rule {} changed meanwhile",
                    spec.id
                )));
            }
            version_row(db, &spec.id, next, "updated", json, now, by).await?;
            next
        }
        (None, v) => {
            return Err(Error::FailedPrecondition(format!(
                "rule {} does not exist (expected_version {v}); create it with expected_version 0",
                spec.id
            )));
        }
        (Some(cur), v) => {
            return Err(Error::FailedPrecondition(format!(
                "rule {} is at version {}, not {v}",
                spec.id, cur.version
            )));
        }
    };
    Ok(StoredRule {
        spec,
        version,
        updated_at: now,
        updated_by: by.to_owned(),
    })
}

/// Deletes a rule at `expected_version`; its history stays.
pub async fn delete<C: ConnectionTrait>(
    db: &C,
    id: &str,
    expected_version: i64,
    by: &str,
) -> Result<i64, Error> {
    let cur = routing_rule::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no rule {id}")))?;
    if cur.version != expected_version {
        return Err(Error::FailedPrecondition(format!(
            "rule {id} is at version {}, not {expected_version}",
            cur.version
        )));
    }
    let res = routing_rule::Entity::delete_many()
        .filter(routing_rule::Column::Id.eq(id))
        .filter(routing_rule::Column::Version.eq(cur.version))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Err(Error::FailedPrecondition(format!("rule {id} changed meanwhile")));
    }
    let next = cur.version + 1;
    version_row(db, id, next, "deleted", cur.spec, Utc::now(), by).await?;
    Ok(next)
}
