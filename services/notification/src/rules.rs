//! Who hears what, as data: one rule per template and recipient kind says whether that recipient
//! is told at all and on which outside channels (`email`, `sms`, `webhook`) besides the in-app
//! inbox. Seeded from `templates/rules.toml`; edited over gRPC; other replicas reload every 30 s.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::Utc;
use lapor_domain::Violations;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use serde::Deserialize;

use crate::entities::rule;

/// Outside channels a rule may name.
pub const OUTSIDE_CHANNELS: [&str; 3] = ["email", "sms", "webhook"];

/// A rule as the defaults file states it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RuleDef {
    /// Template name (stands for the event and its audience).
    pub template: String,
    /// Recipient kind.
    pub recipient: String,
    /// Outside channels.
    pub channels: Vec<String>,
}

#[derive(Deserialize)]
struct RulesFile {
    rule: Vec<RuleDef>,
}

static DEFAULTS: std::sync::LazyLock<Vec<RuleDef>> = std::sync::LazyLock::new(|| {
    toml::from_str::<RulesFile>(include_str!("../templates/rules.toml"))
        .map(|f| f.rule)
        .unwrap_or_else(|e| unreachable!("templates/rules.toml is checked by a unit test: {e}"))
});

/// The shipped rules (parsed once).
pub fn defaults() -> &'static [RuleDef] {
    &DEFAULTS
}

/// Every problem of a rule edit, by field.
pub fn validate(template: &str, recipient: &str, channels: &[String]) -> Violations {
    let mut v = Violations::new();
    if !defaults()
        .iter()
        .any(|d| d.template == template && d.recipient == recipient)
    {
        v.add("template", "no such template and recipient kind pair");
    }
    for (i, c) in channels.iter().enumerate() {
        if !OUTSIDE_CHANNELS.contains(&c.as_str()) {
            v.add(format!("channels[{i}]"), "email, sms or webhook");
        }
    }
    v
}

/// Whether and where a recipient hears of a template's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Told at all.
    pub enabled: bool,
    /// Outside channels.
    pub channels: Vec<String>,
}

/// The rules in force.
#[derive(Debug, Default)]
pub struct Rules {
    by_key: RwLock<HashMap<(String, String), Decision>>,
}

/// The stored channel list.
pub fn channels_of(row: &rule::Model) -> Vec<String> {
    serde_json::from_str(&row.channels).unwrap_or_default()
}

impl Rules {
    /// Seeds the missing defaults (edits are kept) and loads the table.
    pub async fn load(db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let now = Utc::now();
        let rows: Vec<rule::ActiveModel> = defaults()
            .iter()
            .map(|d| rule::ActiveModel {
                template: Set(d.template.clone()),
                recipient_kind: Set(d.recipient.clone()),
                enabled: Set(true),
                channels: Set(serde_json::to_string(&d.channels).unwrap_or_else(|_| "[]".into())),
                version: Set(1),
                changed_by: Set("default".into()),
                changed_at: Set(now),
            })
            .collect();
        rule::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([rule::Column::Template, rule::Column::RecipientKind])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        let r = Self::default();
        r.reload(db).await?;
        Ok(r)
    }

    /// Reads the table again.
    pub async fn reload(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let map = rule::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|r| {
                let channels = channels_of(&r);
                (
                    (r.template, r.recipient_kind),
                    Decision {
                        enabled: r.enabled,
                        channels,
                    },
                )
            })
            .collect();
        *self
            .by_key
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = map;
        Ok(())
    }

    /// The decision for a template and recipient kind (none stored: not told).
    pub fn decide(&self, template: &str, recipient: &str) -> Decision {
        self.by_key
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(template.to_owned(), recipient.to_owned()))
            .cloned()
            .unwrap_or(Decision {
                enabled: false,
                channels: Vec::new(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_rule_names_a_template_with_both_languages() {
        let names = crate::templates::languages_by_name();
        for r in defaults() {
            assert!(names.contains_key(&r.template), "{}", r.template);
            assert!(validate(&r.template, &r.recipient, &r.channels).is_empty());
        }
        for name in names.keys() {
            assert!(
                defaults().iter().any(|r| &r.template == name),
                "no rule for {name}"
            );
        }
    }

    #[test]
    fn an_unknown_pair_or_channel_is_refused_by_field() {
        let v = validate("case_new", "reporter", &["fax".into()]);
        let fields: Vec<&str> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["template", "channels[0]"]);
    }
}
