//! OpenTelemetry end to end: the five services run as processes of their binaries, exporting to
//! an OTLP collector inside the test. One submitted report makes one trace with spans from all
//! five, chained intake -> routing -> opd-case -> notification and sla-monitor; attributes
//! follow the semantic conventions; metrics arrive; logs are JSON lines with trace ids; and no
//! identity or report text leaks into any attribute or log line.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lapor_platform::Role;
use lapor_proto::common::v1::ReportKind;
use lapor_system_tests::process::telemetry_to;
use lapor_system_tests::{SERVICES, System, authed, eventually};
use lapor_testkit::otlp::Span;

use crate::submission;

const NAME_CANARY: &str = "Kanari Identitas Zq7";
const EMAIL_CANARY: &str = "kanari.zq7@example.org";
const PHONE_CANARY: &str = "0812 7777 4242";
const NIK_CANARY: &str = "6474011203900007";
const TEXT_CANARY: &str = "teks-laporan-kanari-Wv3";

/// The services on the path from `span` to the trace's root, consecutive repeats folded.
fn service_path<'a>(span: &'a Span, by_id: &'a BTreeMap<&str, &'a Span>) -> Vec<&'a str> {
    let mut path: Vec<&str> = Vec::new();
    let mut cur = Some(span);
    while let Some(s) = cur {
        if path.last() != Some(&s.service.as_str()) {
            path.push(&s.service);
        }
        cur = by_id.get(s.parent_span_id.as_str()).copied();
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_report_is_one_trace_across_five_processes() {
    let collector = lapor_testkit::otlp::start().await;
    let sys = System::start_processes(telemetry_to(&collector.endpoint)).await;

    let mut req = submission("otel-1", ReportKind::Pengaduan as i32, "infrastruktur.jalan");
    req.title = format!("Jalan rusak {TEXT_CANARY}");
    req.body = format!("Lubang besar di jalan, {TEXT_CANARY}, membahayakan pengendara motor.");
    req.reporter = Some(lapor_proto::intake::v1::ReporterContact {
        name: NAME_CANARY.into(),
        nik: NIK_CANARY.into(),
        phone: PHONE_CANARY.into(),
        email: EMAIL_CANARY.into(),
    });
    let accepted = sys
        .intake()
        .await
        .submit_report(authed(req, &sys.token(Role::Reporter, None)))
        .await
        .unwrap()
        .into_inner();
    let trace_id = sys
        .intake()
        .await
        .get_trace(authed(
            lapor_proto::intake::v1::GetTraceRequest {
                tracking_id: accepted.tracking_id.clone(),
            },
            &sys.token(Role::Operator, None),
        ))
        .await
        .unwrap()
        .into_inner()
        .trace_id;
    assert_eq!(trace_id.len(), 32, "intake started a trace: {trace_id:?}");

    // A message no consumer can decode: routing sets it aside, and the dead-letter counter moves.
    let nats = sys.env.nats().await.unwrap();
    nats.publish(
        format!("{}.{}", sys.env.prefix, lapor_events::subjects::REPORT_SUBMITTED),
        "not an event".into(),
    )
    .await
    .unwrap();
    nats.flush().await.unwrap();

    // Every hop's span arrives, with its whole ancestry.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let trace = loop {
        let spans: Vec<Span> = collector
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        let by_id: BTreeMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
        let chain = |leaf: &str, path: &[&str]| {
            spans
                .iter()
                .any(|s| s.service == leaf && s.kind == 5 && service_path(s, &by_id) == path)
        };
        // notification hears of the case opd-case opened; sla-monitor starts the follow-up
        // clock from routing's dispatch (and the verification clock from the submission).
        if chain("notification", &["notification", "opd-case", "routing", "intake"])
            && chain("sla-monitor", &["sla-monitor", "routing", "intake"])
        {
            break spans;
        }
        if tokio::time::Instant::now() > deadline {
            let summary: Vec<String> = spans
                .iter()
                .filter(|s| !s.attributes.contains_key("db.system"))
                .map(|s| {
                    format!(
                        "{} {} {} [{:?}]",
                        s.service,
                        s.kind,
                        s.name,
                        service_path(s, &by_id)
                    )
                })
                .collect();
            panic!(
                "no full chain in trace {trace_id} after 90 s; {} spans received in all; this trace: {summary:#?}; \
                 logs: {:#?}",
                collector.spans().len(),
                sys.lines()
                    .iter()
                    .filter(|(_, l)| l.contains("error") || l.contains("warn"))
                    .collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let by_id: BTreeMap<&str, &Span> = trace.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let services: BTreeSet<&str> = trace.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        services,
        SERVICES.into_iter().collect(),
        "spans from all five services"
    );

    // The root: intake's server span of SubmitReport, with rpc.* and lapor.* attributes.
    let roots: Vec<&Span> = trace.iter().filter(|s| s.parent_span_id.is_empty()).collect();
    assert_eq!(roots.len(), 1, "one root: {roots:#?}");
    let root = roots[0];
    assert_eq!(
        (root.service.as_str(), root.kind, root.name.as_str()),
        ("intake", 2, "lapor.intake.v1.IntakeService/SubmitReport")
    );
    for (k, v) in [
        ("rpc.system", "grpc"),
        ("rpc.service", "lapor.intake.v1.IntakeService"),
        ("rpc.method", "SubmitReport"),
        ("rpc.grpc.status_code", "0"),
        ("lapor.report.id", accepted.report_id.as_str()),
        ("lapor.tracking_id", accepted.tracking_id.as_str()),
    ] {
        assert_eq!(
            root.attributes.get(k).map(String::as_str),
            Some(v),
            "root {k}: {root:#?}"
        );
    }

    // The OPD the case was opened for (on spans and deadline gauges).
    let opd = sys
        .sql(&format!(
            "SELECT opd_id FROM opd_case.cases WHERE report_id = '{}'",
            accepted.report_id
        ))
        .await;
    assert_eq!(opd.len(), 1);
    let opd = &opd[0];
    // Every consumer span is the child of a producer span of another service (the rule in
    // ARCHITECTURE.md), carries messaging.* and the report id.
    let consumers: Vec<&Span> = trace.iter().filter(|s| s.kind == 5).collect();
    assert!(consumers.len() >= 4, "{consumers:#?}");
    for c in &consumers {
        let parent = by_id
            .get(c.parent_span_id.as_str())
            .unwrap_or_else(|| panic!("parent of {c:#?} not exported"));
        assert_eq!(parent.kind, 4, "{} parent is a producer: {parent:#?}", c.name);
        assert_ne!(parent.service, c.service, "{}", c.name);
        assert_eq!(
            parent.attributes.get("messaging.message.id"),
            c.attributes.get("messaging.message.id"),
            "the same message"
        );
        for k in [
            "messaging.system",
            "messaging.destination.name",
            "messaging.consumer.group.name",
            "messaging.operation.type",
        ] {
            assert!(c.attributes.contains_key(k), "{k} on {c:#?}");
        }
        assert_eq!(
            c.attributes.get("lapor.report.id"),
            Some(&accepted.report_id),
            "{c:#?}"
        );
        assert_eq!(
            c.attributes.get("messaging.system").map(String::as_str),
            Some("nats")
        );
    }
    // Events about an OPD's case name the OPD.
    for c in consumers
        .iter()
        .filter(|c| c.name == "process ReportDispatched" || c.name == "process CaseOpened")
    {
        assert_eq!(c.attributes.get("lapor.opd.id"), Some(opd), "{c:#?}");
    }
    // Producer spans name the destination; database spans carry db.*.
    for p in trace.iter().filter(|s| s.kind == 4) {
        assert_eq!(
            p.attributes.get("messaging.operation.type").map(String::as_str),
            Some("send")
        );
        assert!(p.attributes.contains_key("messaging.destination.name"), "{p:#?}");
    }
    let db_spans: Vec<&Span> = trace
        .iter()
        .filter(|s| s.attributes.contains_key("db.system"))
        .collect();
    let db_services: BTreeSet<&str> = db_spans.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        db_services,
        SERVICES.into_iter().collect(),
        "database spans in every service"
    );
    assert!(db_spans.iter().all(
        |s| s.attributes.get("db.system").map(String::as_str) == Some("postgresql")
            && s.attributes.contains_key("db.operation")
            && !s.attributes.contains_key("db.statement")
    ));

    // Metrics over OTLP: RPCs by method and status, event processing, outbox, consumers, dead
    // letters, deadlines per OPD.
    let points = eventually("metrics from every service", Duration::from_secs(60), || {
        let points = collector.points();
        async move {
            let has = |service: &str, metric: &str, attr: Option<(&str, &str)>| {
                points.iter().any(|p| {
                    p.service == service
                        && p.metric == metric
                        && attr.is_none_or(|(k, v)| p.attributes.get(k).map(String::as_str) == Some(v))
                })
            };
            let every = |metric: &str| SERVICES.iter().all(|s| has(s, metric, None));
            (has(
                "intake",
                "rpc.server.call.duration",
                Some(("rpc.method", "SubmitReport")),
            ) && has("routing", "messaging.process.duration", None)
                && has("routing", "lapor.consumer.dead_letters", None)
                && has("intake", "lapor.outbox.relay.lag", None)
                && has("intake", "messaging.client.sent.messages", None)
                && has(
                    "sla-monitor",
                    "lapor.sla.deadlines.open",
                    Some(("lapor.opd.id", opd.as_str())),
                )
                && has("sla-monitor", "lapor.sla.deadlines.overdue", None)
                && every("lapor.outbox.backlog")
                && SERVICES[1..]
                    .iter()
                    .all(|s| has(s, "lapor.consumer.pending", None)))
            .then_some(points)
        }
    })
    .await;
    let submit = points
        .iter()
        .find(|p| {
            p.metric == "rpc.server.call.duration"
                && p.attributes.get("rpc.method").map(String::as_str) == Some("SubmitReport")
        })
        .unwrap();
    assert_eq!(
        submit.attributes.get("rpc.grpc.status_code").map(String::as_str),
        Some("0")
    );
    assert!(submit.value >= 1.0, "{submit:?}");

    // No identity and no report text anywhere the telemetry goes.
    let canaries = [
        NAME_CANARY,
        EMAIL_CANARY,
        PHONE_CANARY,
        NIK_CANARY,
        TEXT_CANARY,
        "Lubang besar",
    ];
    for s in collector.spans() {
        for (k, v) in &s.attributes {
            for c in canaries {
                assert!(!v.contains(c), "{c:?} in span attribute {k} of {s:#?}");
            }
        }
        assert!(!canaries.iter().any(|c| s.name.contains(c)), "{s:#?}");
    }
    for p in collector.points() {
        for v in p.attributes.values() {
            assert!(!canaries.iter().any(|c| v.contains(c)), "{p:?}");
        }
    }
    let lines = sys.lines();
    for (service, line) in &lines {
        for c in canaries {
            assert!(!line.contains(c), "{c:?} in a log line of {service}: {line}");
        }
    }

    // Logs: one JSON object per line, lowercase level, a message; lines written inside the
    // report's spans carry its trace id and their span id.
    let mut traced: BTreeSet<&str> = BTreeSet::new();
    for (service, line) in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{service}: not JSON ({e}): {line}"));
        let level = v["level"].as_str().unwrap_or_default();
        assert!(
            ["trace", "debug", "info", "warn", "error"].contains(&level),
            "{line}"
        );
        assert!(v["timestamp"].is_string() && v["message"].is_string(), "{line}");
        if v["trace_id"].as_str() == Some(trace_id.as_str()) {
            let span_id = v["span_id"].as_str().unwrap_or_default();
            assert!(
                trace.iter().any(|s| s.span_id == span_id) || span_id.len() == 16,
                "{line}"
            );
            traced.insert(service);
        }
    }
    assert_eq!(
        traced,
        SERVICES.into_iter().collect(),
        "every service logged inside the report's trace"
    );

    // SIGTERM: every process exits 0 (flushing its exporters on the way out).
    sys.stop().await;
}

/// Log messages are lowercase (the convention the JSON logs rely on for grepping).
#[test]
fn log_messages_are_lowercase() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut bad = Vec::new();
    let mut stack = vec![root.join("services"), root.join("crates")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for level in ["trace", "debug", "info", "warn", "error"] {
                let needle = format!("tracing::{level}!(");
                let mut from = 0;
                while let Some(at) = text[from..].find(&needle) {
                    let start = from + at;
                    let end = text[start..].find(");").map_or(text.len(), |e| start + e);
                    let call = &text[start..end];
                    // The message is the call's last string literal.
                    if let Some(close) = call.rfind('"')
                        && let Some(open) = call[..close].rfind('"')
                    {
                        let msg = &call[open + 1..close];
                        if msg.chars().next().is_some_and(char::is_uppercase) {
                            bad.push(format!("{}: {msg}", path.display()));
                        }
                    }
                    from = end;
                }
            }
        }
    }
    assert!(bad.is_empty(), "log messages starting uppercase: {bad:#?}");
}
