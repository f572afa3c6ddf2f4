//! Message templates as data: one subject and body per template name, language (`id` default,
//! `en`) and optionally channel, in minijinja syntax. The defaults (`templates/default.toml`)
//! seed the `templates` table at start; operators edit templates over gRPC (each edit is
//! checked by rendering it with every variable the template may use) and the edit applies to
//! the next message. Dates reach templates already formatted in the city's time zone.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lapor_domain::Violations;
use minijinja::{Environment, UndefinedBehavior};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use serde::Deserialize;

use crate::entities::template;

/// Languages templates exist in; the first is the default.
pub const LANGUAGES: [&str; 2] = ["id", "en"];
/// Channels a template may be specific to (`""`: any).
pub const CHANNELS: [&str; 5] = ["", "inbox", "email", "webhook", "sms"];
/// Longest subject.
pub const MAX_SUBJECT: usize = 200;
/// Longest body.
pub const MAX_BODY: usize = 4000;

/// A template as the defaults file states it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TemplateDef {
    /// Template name, e.g. `report_received`.
    pub name: String,
    /// Language.
    pub lang: String,
    /// Channel it is specific to (`""`: any).
    #[serde(default)]
    pub channel: String,
    /// Variables it may use.
    pub vars: Vec<String>,
    /// Subject template.
    pub subject: String,
    /// Body template.
    pub body: String,
}

#[derive(Deserialize)]
struct DefaultsFile {
    template: Vec<TemplateDef>,
}

static DEFAULTS: std::sync::LazyLock<Vec<TemplateDef>> = std::sync::LazyLock::new(|| {
    toml::from_str::<DefaultsFile>(include_str!("../templates/default.toml"))
        .map(|f| f.template)
        .unwrap_or_else(|e| unreachable!("templates/default.toml is checked by a unit test: {e}"))
});

/// The default templates shipped with the service (parsed once).
pub fn defaults() -> &'static [TemplateDef] {
    &DEFAULTS
}

/// The variables a template name may use (from the defaults), if the name is known.
pub fn vars_of(name: &str) -> Option<Vec<String>> {
    defaults().iter().find(|d| d.name == name).map(|d| d.vars.clone())
}

fn step_id(step: String) -> String {
    match step.as_str() {
        "verification" => "verifikasi".into(),
        "first_follow_up" => "tindak lanjut pertama".into(),
        "completion" => "penyelesaian".into(),
        _ => step,
    }
}

fn step_en(step: String) -> String {
    match step.as_str() {
        "verification" => "verification".into(),
        "first_follow_up" => "first follow-up".into(),
        "completion" => "completion".into(),
        _ => step,
    }
}

/// The template environment: strict about undefined variables, with the step-name filters.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("step_id", step_id);
    env.add_filter("step_en", step_en);
    env
}

/// Renders one template text with `vars`.
pub fn render_text(text: &str, vars: &serde_json::Value) -> Result<String, minijinja::Error> {
    environment().render_str(text, vars)
}

/// A step's code for templates (`step_id` / `step_en` name it).
pub fn step_code(step: lapor_domain::Step) -> &'static str {
    match step {
        lapor_domain::Step::Verification => "verification",
        lapor_domain::Step::FirstFollowUp => "first_follow_up",
        lapor_domain::Step::Completion => "completion",
    }
}

/// Formats a time in the city's zone, e.g. `27-11-2026 10:15 WITA`.
pub fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%d-%m-%Y %H:%M %Z").to_string()
}

/// Every problem of a template edit, by field: unknown name, language or channel, length, and
/// subject or body that do not render with the name's variables (syntax errors, unknown
/// variables).
pub fn validate(name: &str, lang: &str, channel: &str, subject: &str, body: &str) -> Violations {
    let mut v = Violations::new();
    let Some(vars) = vars_of(name) else {
        v.add("name", "not a known template name");
        return v;
    };
    if !LANGUAGES.contains(&lang) {
        v.add("lang", "id or en");
    }
    if !CHANNELS.contains(&channel) {
        v.add("channel", "empty (any), inbox, email, webhook or sms");
    }
    let sample: serde_json::Map<String, serde_json::Value> = vars
        .iter()
        .map(|k| (k.clone(), serde_json::Value::String(format!("<{k}>"))))
        .collect();
    let sample = serde_json::Value::Object(sample);
    for (field, text, max) in [("subject", subject, MAX_SUBJECT), ("body", body, MAX_BODY)] {
        if text.trim().is_empty() {
            v.add(field, "required");
        } else if text.chars().count() > max {
            v.add(field, format!("at most {max} characters"));
        } else if let Err(e) = render_text(text, &sample) {
            v.add(field, format!("does not render: {e}"));
        }
    }
    v
}

type Key = (String, String, String);

/// The templates in force, read from the table.
#[derive(Debug, Default)]
pub struct Templates {
    compiled: RwLock<Compiled>,
}

/// The table's templates, each parsed once when the table is read (not at every message): the
/// environment holds every subject and body under its own name, `by_key` gives those names.
#[derive(Debug, Default)]
struct Compiled {
    env: Environment<'static>,
    by_key: HashMap<Key, [String; 2]>,
    /// Texts that do not parse (only a row written around the checks of an edit), with why: the
    /// messages that need one fail as they did when every message parsed its template.
    broken: HashMap<String, String>,
}

impl Compiled {
    fn of(rows: Vec<template::Model>) -> Self {
        let mut c = Self {
            env: environment(),
            ..Self::default()
        };
        for r in rows {
            let names = ["subject", "body"].map(|part| format!("{}|{}|{}|{part}", r.name, r.lang, r.channel));
            for (name, text) in names.iter().zip([r.subject, r.body]) {
                if let Err(e) = c.env.add_template_owned(name.clone(), text) {
                    c.broken.insert(name.clone(), e.to_string());
                }
            }
            c.by_key.insert((r.name, r.lang, r.channel), names);
        }
        c
    }

    fn render(&self, name: &str, vars: &serde_json::Value) -> Result<String, String> {
        if let Some(e) = self.broken.get(name) {
            return Err(e.clone());
        }
        self.env
            .get_template(name)
            .and_then(|t| t.render(vars))
            .map_err(|e| e.to_string())
    }
}

impl Templates {
    /// Seeds the defaults missing from the table (edits are kept) and loads the table.
    pub async fn load(db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let now = Utc::now();
        let rows: Vec<template::ActiveModel> = defaults()
            .iter()
            .map(|d| template::ActiveModel {
                name: Set(d.name.clone()),
                lang: Set(d.lang.clone()),
                channel: Set(d.channel.clone()),
                subject: Set(d.subject.clone()),
                body: Set(d.body.clone()),
                version: Set(1),
                changed_by: Set("default".into()),
                changed_at: Set(now),
            })
            .collect();
        template::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    template::Column::Name,
                    template::Column::Lang,
                    template::Column::Channel,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        let t = Self::default();
        t.reload(db).await?;
        Ok(t)
    }

    /// Reads the table again.
    pub async fn reload(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let compiled = Compiled::of(template::Entity::find().all(db).await?);
        *self
            .compiled
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = compiled;
        Ok(())
    }

    /// Renders template `name` for `channel` in `lang`, falling back to the general template,
    /// then to the default language.
    pub fn render(
        &self,
        name: &str,
        lang: &str,
        channel: &str,
        vars: &serde_json::Value,
    ) -> Result<(String, String), String> {
        let compiled = self
            .compiled
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let candidates = [
            (lang, channel),
            (lang, ""),
            (LANGUAGES[0], channel),
            (LANGUAGES[0], ""),
        ];
        let [subject, body] = candidates
            .iter()
            .find_map(|(l, c)| {
                compiled
                    .by_key
                    .get(&(name.to_owned(), (*l).to_owned(), (*c).to_owned()))
            })
            .ok_or_else(|| format!("no template {name}"))?;
        let r = |t: &str| {
            compiled
                .render(t, vars)
                .map_err(|e| format!("template {name} ({lang}): {e}"))
        };
        Ok((r(subject)?, r(body)?))
    }
}

/// Variables of a message, as a JSON object.
pub fn vars<const N: usize>(pairs: [(&str, serde_json::Value); N]) -> serde_json::Value {
    serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Template names and their languages, for checks.
pub fn languages_by_name() -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in defaults().iter().filter(|d| d.channel.is_empty()) {
        m.entry(d.name.clone()).or_default().push(d.lang.clone());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Templates parsed once when the table is read render what parsing each text at every
    /// message rendered, with the same fallbacks; a stored text that does not parse fails the
    /// messages that need it and no other.
    #[test]
    fn templates_parsed_once_render_like_their_texts_and_a_broken_one_fails_only_its_messages() {
        let row = |name: &str, lang: &str, channel: &str, subject: &str, body: &str| template::Model {
            name: name.into(),
            lang: lang.into(),
            channel: channel.into(),
            subject: subject.into(),
            body: body.into(),
            version: 1,
            changed_by: "test".into(),
            changed_at: Utc::now(),
        };
        let mut rows: Vec<template::Model> = defaults()
            .iter()
            .map(|d| row(&d.name, &d.lang, &d.channel, &d.subject, &d.body))
            .collect();
        rows.push(row("broken", "id", "", "Laporan {{ tracking_id", "isi"));
        rows.push(row("strict", "id", "", "{{ tracking_id }}", "{{ nobody }}"));
        let templates = Templates {
            compiled: RwLock::new(Compiled::of(rows)),
        };
        for d in defaults() {
            let vars: serde_json::Map<String, serde_json::Value> = d
                .vars
                .iter()
                .map(|k| (k.clone(), serde_json::Value::String(format!("<{k}>"))))
                .collect();
            let vars = serde_json::Value::Object(vars);
            let channel = if d.channel.is_empty() {
                "inbox"
            } else {
                d.channel.as_str()
            };
            let got = templates.render(&d.name, &d.lang, channel, &vars).unwrap();
            // The general template serves a channel with none of its own.
            let own = defaults()
                .iter()
                .find(|x| x.name == d.name && x.lang == d.lang && x.channel == channel)
                .unwrap_or(d);
            let want = (
                render_text(&own.subject, &vars).unwrap(),
                render_text(&own.body, &vars).unwrap(),
            );
            assert_eq!(got, want, "{} {} {channel}", d.name, d.lang);
        }
        // An unknown language falls back to the default one.
        let vars = serde_json::json!({"tracking_id": "X"});
        let broken = templates.render("broken", "en", "sms", &vars).unwrap_err();
        assert!(broken.starts_with("template broken (en): "), "{broken}");
        assert_eq!(
            templates.render("nothing", "id", "", &vars).unwrap_err(),
            "no template nothing"
        );
        // A variable the template does not get is an error (strict), as before.
        assert!(templates.render("strict", "id", "", &vars).is_err());
    }

    #[test]
    fn every_default_renders_in_both_languages_with_its_variables() {
        for d in defaults() {
            let v = validate(&d.name, &d.lang, &d.channel, &d.subject, &d.body);
            assert!(v.is_empty(), "{} {} {:?}: {v}", d.name, d.lang, d.channel);
        }
        for (name, langs) in languages_by_name() {
            for l in LANGUAGES {
                assert!(langs.iter().any(|x| x == l), "{name} has no {l} template");
            }
        }
    }

    #[test]
    fn an_edit_with_an_unknown_variable_or_bad_syntax_is_refused_by_field() {
        let v = validate("report_received", "id", "", "Laporan {{ nomor }}", "{% if %}");
        let fields: Vec<&str> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["subject", "body"]);
        let v = validate("no_such", "fr", "fax", "x", "y");
        assert_eq!(v.0[0].field, "name");
        let v = validate("report_received", "fr", "fax", "x", "y");
        let fields: Vec<&str> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["lang", "channel"]);
    }

    #[test]
    fn step_names_and_conditions_render_per_language() {
        let v = vars([
            ("report", "R1".into()),
            ("step", "first_follow_up".into()),
            ("due", "01-12-2026 23:59 WITA".into()),
        ]);
        let d = defaults();
        let get = |lang: &str| {
            d.iter()
                .find(|t| t.name == "sla_breached" && t.lang == lang)
                .unwrap()
        };
        assert_eq!(
            render_text(&get("id").subject, &v).unwrap(),
            "Tenggat tindak lanjut pertama terlewati"
        );
        assert_eq!(
            render_text(&get("en").subject, &v).unwrap(),
            "First follow-up deadline missed"
        );
    }
}
