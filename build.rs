//! Generates the Rust side of the semantic-conventions registry.
//!
//! Why generated and not hand-written: the YAML under `semconv/registry` is the one source of
//! truth for dashboards, alert rules and docs as well as for code. Generating the constants at
//! build time makes drift impossible instead of merely detectable, and the registry is checked
//! (unresolved refs, missing `other` members, bad units, duplicate names) before any Rust code
//! can use it, so a broken registry is a build error that names the file and group.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct File {
    groups: Vec<Group>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    brief: String,
    #[serde(default)]
    attributes: Vec<AttrEntry>,
    metric_name: Option<String>,
    instrument: Option<String>,
    value_type: Option<String>,
    unit: Option<String>,
    stability: Option<String>,
    #[serde(default)]
    buckets: Vec<f64>,
    span_name: Option<String>,
    span_kind: Option<String>,
    /// `span` groups only: the span events it may carry.
    #[serde(default)]
    events: Vec<EventEntry>,
    // `derived_metric` groups only (see semconv/registry/derived.yaml).
    prometheus_name: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    derivation: Option<String>,
    window: Option<String>,
    #[serde(default)]
    numerator: Vec<Term>,
    #[serde(default)]
    denominator: Vec<Term>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventEntry {
    name: String,
    brief: String,
    #[serde(default)]
    attributes: Vec<AttrEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Term {
    metric: String,
    #[serde(default, rename = "match")]
    matchers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttrEntry {
    id: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    brief: Option<String>,
    #[serde(default)]
    examples: Vec<serde_yaml::Value>,
    #[serde(default)]
    members: Vec<Member>,
    prometheus_label: Option<String>,
    /// BitCraps extension: `bounded` marks a string attribute whose values are fixed by code
    /// at start-up (never by input), so it may label a metric.
    cardinality: Option<String>,
    requirement_level: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Member {
    id: String,
    value: String,
    brief: String,
}

struct Attr {
    id: String,
    kind: String,
    brief: String,
    members: Vec<Member>,
    prometheus_label: String,
    bounded: bool,
}

fn main() {
    let dir = PathBuf::from("semconv/registry");
    println!("cargo:rerun-if-changed=semconv");
    let mut groups = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let file: File =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("semconv registry {}: {e}", path.display()));
        groups.extend(file.groups.into_iter().map(|g| (path.clone(), g)));
    }
    let out = generate(&groups);
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("semconv_generated.rs");
    std::fs::write(&dest, out).expect("write generated semconv");
}

fn fail(path: &Path, group: &str, msg: impl std::fmt::Display) -> ! {
    panic!("semconv registry {} group `{group}`: {msg}", path.display())
}

fn generate(groups: &[(PathBuf, Group)]) -> String {
    // Pass 1: attribute definitions.
    let mut attrs: BTreeMap<String, Attr> = BTreeMap::new();
    for (path, g) in groups.iter().filter(|(_, g)| g.kind == "attribute_group") {
        for a in &g.attributes {
            let Some(id) = &a.id else { fail(path, &g.id, "attribute groups define attributes with `id`, not `ref`") };
            let kind = a.kind.clone().unwrap_or_else(|| fail(path, &g.id, format!("{id}: no type")));
            if !["string", "int", "double", "boolean", "enum"].contains(&kind.as_str()) {
                fail(path, &g.id, format!("{id}: unknown type `{kind}`"));
            }
            if kind == "enum" {
                if !a.members.iter().any(|m| m.id == "other") {
                    fail(path, &g.id, format!("{id}: enum needs an `other` member for unknown input"));
                }
                if a.members.iter().any(|m| !is_label_value_safe(&m.value)) {
                    fail(path, &g.id, format!("{id}: member values must be [A-Za-z0-9_]"));
                }
            } else if !a.members.is_empty() {
                fail(path, &g.id, format!("{id}: only enums have members"));
            }
            if a.examples.is_empty() {
                fail(path, &g.id, format!("{id}: give at least one example"));
            }
            let label = a.prometheus_label.clone().unwrap_or_else(|| sanitize(id));
            if !is_label_name(&label) {
                fail(path, &g.id, format!("{id}: `{label}` is not a Prometheus label name"));
            }
            let attr = Attr {
                id: id.clone(),
                kind,
                brief: a.brief.clone().unwrap_or_else(|| fail(path, &g.id, format!("{id}: no brief"))),
                members: a
                    .members
                    .iter()
                    .map(|m| Member { id: m.id.clone(), value: m.value.clone(), brief: m.brief.clone() })
                    .collect(),
                prometheus_label: label,
                bounded: match a.cardinality.as_deref() {
                    None => false,
                    Some("bounded") => true,
                    Some(other) => fail(path, &g.id, format!("{id}: cardinality must be `bounded`, not `{other}`")),
                },
            };
            if attrs.insert(id.clone(), attr).is_some() {
                fail(path, &g.id, format!("attribute `{id}` defined twice"));
            }
        }
    }

    let mut s = String::new();
    s.push_str("// @generated by build.rs from semconv/registry/*.yaml. Edit the YAML, not this file.\n\n");

    // Attribute definitions and enums.
    s.push_str("/// Attribute definitions of the registry.\npub mod attribute {\n    use super::*;\n");
    for a in attrs.values() {
        let members: Vec<String> = a.members.iter().map(|m| format!("{:?}", m.value)).collect();
        writeln!(
            s,
            "    /// `{}`: {}\n    pub static {}: AttributeDef = AttributeDef {{ id: {:?}, value_type: {:?}, brief: {:?}, prometheus_label: {:?}, members: &[{}] }};",
            a.id, a.brief, const_name(&a.id), a.id, a.kind, a.brief, a.prometheus_label, members.join(", ")
        )
        .ok();
    }
    s.push_str("}\n\n");
    for a in attrs.values().filter(|a| a.kind == "enum") {
        gen_enum(&mut s, a);
    }
    let all_attrs: Vec<String> = attrs.keys().map(|k| format!("&attribute::{}", const_name(k))).collect();
    writeln!(
        s,
        "/// Every attribute in the registry.\npub static ATTRIBUTES: &[&AttributeDef] = &[{}];\n",
        all_attrs.join(", ")
    )
    .ok();

    // Metrics.
    let mut metric_names = BTreeSet::new();
    let mut prom_names = BTreeSet::new();
    let mut metric_consts = Vec::new();
    s.push_str("/// Metric definitions of the registry.\npub mod metric {\n    use super::*;\n");
    for (path, g) in groups.iter().filter(|(_, g)| g.kind == "metric") {
        let name = g.metric_name.clone().unwrap_or_else(|| fail(path, &g.id, "no metric_name"));
        // OTel's own stable metrics keep OTel's names, so tools built for them work unchanged.
        let otel_name = OTEL_NAMESPACES.iter().any(|ns| name.starts_with(ns));
        if !(name.starts_with("bitcraps.") || otel_name) || name.ends_with("total") {
            fail(path, &g.id, format!("`{name}` must start with `bitcraps.` (or an OTel namespace in OTEL_NAMESPACES) and carry no `total` suffix"));
        }
        if otel_name && g.stability.as_deref() != Some("stable") {
            fail(path, &g.id, "a metric under an OTel namespace mirrors a stable OTel metric: mark it `stable`");
        }
        let instrument = g.instrument.clone().unwrap_or_else(|| fail(path, &g.id, "no instrument"));
        let variant = match instrument.as_str() {
            "counter" => "Counter",
            "updowncounter" => "UpDownCounter",
            "gauge" => "Gauge",
            "histogram" => "Histogram",
            other => fail(path, &g.id, format!("unknown instrument `{other}`")),
        };
        let value_type = match g.value_type.as_deref() {
            Some("int") => "Int",
            Some("double") => "Double",
            other => fail(path, &g.id, format!("value_type must be int or double, not {other:?}")),
        };
        let unit = g.unit.clone().unwrap_or_else(|| fail(path, &g.id, "no unit (use `1` or `{thing}`)"));
        let stability = match g.stability.as_deref() {
            Some("development") => "Development",
            Some("stable") => "Stable",
            Some("deprecated") => "Deprecated",
            other => fail(path, &g.id, format!("stability must be development, stable or deprecated, not {other:?}")),
        };
        if (instrument == "histogram") == g.buckets.is_empty() {
            fail(path, &g.id, "histograms, and only histograms, declare `buckets`");
        }
        if g.buckets.windows(2).any(|w| w[0] >= w[1]) {
            fail(path, &g.id, "buckets must increase strictly");
        }
        let mut labels = BTreeSet::new();
        let mut refs = Vec::new();
        let mut levels = Vec::new();
        for a in &g.attributes {
            let r =
                a.reference.clone().unwrap_or_else(|| fail(path, &g.id, "metrics use `ref` to registry attributes"));
            let def = attrs.get(&r).unwrap_or_else(|| fail(path, &g.id, format!("unresolved attribute ref `{r}`")));
            if def.kind != "enum" && !def.bounded {
                fail(path, &g.id, format!("`{r}` is neither an enum nor `cardinality: bounded`: metric attributes must have a bounded vocabulary"));
            }
            if !labels.insert(def.prometheus_label.clone()) {
                fail(path, &g.id, format!("two attributes map to Prometheus label `{}`", def.prometheus_label));
            }
            // Absent means required: every point carries the attribute.
            let level = match a.requirement_level.as_deref() {
                None | Some("required") => "Required",
                Some("conditionally_required") => "ConditionallyRequired",
                Some("recommended") => "Recommended",
                Some("opt_in") => "OptIn",
                Some(other) => fail(path, &g.id, format!("unknown requirement_level `{other}`")),
            };
            levels.push(format!("RequirementLevel::{level}"));
            refs.push(format!("&attribute::{}", const_name(&r)));
        }
        let prom = prometheus_name(&name, &unit, &instrument);
        if !metric_names.insert(name.clone()) || !prom_names.insert(prom.clone()) {
            fail(path, &g.id, format!("metric `{name}` ({prom}) defined twice"));
        }
        let cname = const_name(&name);
        writeln!(
            s,
            "    /// `{name}` (Prometheus `{prom}`): {brief}\n    pub static {cname}: MetricDef = MetricDef {{ name: {name:?}, prometheus_name: {prom:?}, instrument: Instrument::{variant}, value_type: ValueType::{value_type}, unit: {unit:?}, brief: {brief:?}, stability: Stability::{stability}, attributes: &[{refs}], requirement_levels: &[{levels}], buckets: &{buckets:?} }};",
            brief = g.brief,
            refs = refs.join(", "),
            levels = levels.join(", "),
            buckets = g.buckets,
        )
        .ok();
        metric_consts.push(format!("&metric::{cname}"));
    }
    s.push_str("}\n\n");
    writeln!(
        s,
        "/// Every metric in the registry, in file order.\npub static METRICS: &[&MetricDef] = &[{}];\n",
        metric_consts.join(", ")
    )
    .ok();

    // Spans.
    let mut span_consts = Vec::new();
    let mut span_names = BTreeSet::new();
    let mut all_events = BTreeSet::new();
    let mut event_src = String::new();
    s.push_str("/// Span definitions of the registry.\npub mod span {\n    use super::*;\n");
    for (path, g) in groups.iter().filter(|(_, g)| g.kind == "span") {
        let name = g.span_name.clone().unwrap_or_else(|| fail(path, &g.id, "no span_name"));
        let kind = match g.span_kind.as_deref() {
            Some("internal") => "Internal",
            Some("server") => "Server",
            Some("client") => "Client",
            Some("producer") => "Producer",
            Some("consumer") => "Consumer",
            other => fail(path, &g.id, format!("unknown span_kind {other:?}")),
        };
        let span_refs = |list: &[AttrEntry], what: &str| -> Vec<String> {
            let mut seen = BTreeSet::new();
            list.iter()
                .map(|a| {
                    let r = a.reference.clone().unwrap_or_else(|| fail(path, &g.id, format!("{what} use `ref`")));
                    if !attrs.contains_key(&r) {
                        fail(path, &g.id, format!("unresolved attribute ref `{r}`"));
                    }
                    if !seen.insert(r.clone()) {
                        fail(path, &g.id, format!("{what}: `{r}` listed twice"));
                    }
                    format!("&attribute::{}", const_name(&r))
                })
                .collect()
        };
        let refs = span_refs(&g.attributes, "spans");
        if !span_names.insert(name.clone()) {
            fail(path, &g.id, format!("span `{name}` defined twice"));
        }
        let cname = const_name(&name);
        let mut events = Vec::new();
        let mut event_names = BTreeSet::new();
        for e in &g.events {
            if !e.name.starts_with("bitcraps.") || !event_names.insert(e.name.clone()) {
                fail(path, &g.id, format!("event `{}` must start with `bitcraps.` and be listed once", e.name));
            }
            let erefs = span_refs(&e.attributes, "events");
            let ename = const_name(&e.name);
            if !all_events.insert(ename.clone()) {
                fail(path, &g.id, format!("event `{}` is already defined by another span", e.name));
            }
            writeln!(
                event_src,
                "    /// Event `{n}` of `{name}`: {brief}\n    pub static {ename}: SpanEventDef = SpanEventDef {{ name: {n:?}, brief: {brief:?}, attributes: &[{refs}] }};",
                n = e.name,
                brief = e.brief,
                refs = erefs.join(", ")
            )
            .ok();
            events.push(format!("&span_event::{ename}"));
        }
        writeln!(
            s,
            "    /// `{name}`: {brief}\n    pub static {cname}: SpanDef = SpanDef {{ name: {name:?}, kind: SpanKindDef::{kind}, brief: {brief:?}, attributes: &[{refs}], events: &[{events}] }};",
            brief = g.brief,
            refs = refs.join(", "),
            events = events.join(", ")
        )
        .ok();
        span_consts.push(format!("&span::{cname}"));
    }
    s.push_str("}\n\n");
    s.push_str("/// Span event definitions of the registry.\npub mod span_event {\n    use super::*;\n");
    s.push_str(&event_src);
    s.push_str("}\n\n");
    writeln!(s, "/// Every span in the registry.\npub static SPANS: &[&SpanDef] = &[{}];", span_consts.join(", ")).ok();

    gen_derived(&mut s, groups, &attrs, &metric_names, &prom_names);

    for (path, g) in groups {
        if !["attribute_group", "metric", "span", "derived_metric"].contains(&g.kind.as_str()) {
            fail(path, &g.id, format!("unknown group type `{}`", g.kind));
        }
        if g.kind != "span" && !g.events.is_empty() {
            fail(path, &g.id, "only span groups have `events`");
        }
    }
    s
}

/// Derived metrics: ratios and rates of registered metrics, for alert rules and recording rules.
fn gen_derived(
    s: &mut String,
    groups: &[(PathBuf, Group)],
    attrs: &BTreeMap<String, Attr>,
    metric_names: &BTreeSet<String>,
    prom_names: &BTreeSet<String>,
) {
    let mut names: BTreeSet<String> = metric_names.iter().chain(prom_names).cloned().collect();
    let mut consts = Vec::new();
    s.push_str("/// Derived metric definitions of the registry.\npub mod derived {\n    use super::*;\n");
    for (path, g) in groups.iter().filter(|(_, g)| g.kind == "derived_metric") {
        let name = g.metric_name.clone().unwrap_or_else(|| fail(path, &g.id, "no metric_name"));
        let prom = g.prometheus_name.clone().unwrap_or_else(|| fail(path, &g.id, "no prometheus_name"));
        if !name.starts_with("bitcraps.") || !prom.starts_with("bitcraps_") || !is_label_name(&prom) {
            fail(path, &g.id, "metric_name must start with `bitcraps.`, prometheus_name with `bitcraps_`");
        }
        for n in std::iter::once(&name).chain(std::iter::once(&prom)).chain(&g.aliases) {
            if !names.insert(n.clone()) {
                fail(path, &g.id, format!("name `{n}` is already taken"));
            }
        }
        let unit = g.unit.clone().unwrap_or_else(|| fail(path, &g.id, "no unit"));
        let (kind, needs_den) = match g.derivation.as_deref() {
            Some("ratio") => ("Ratio", true),
            Some("rate") => ("Rate", false),
            other => fail(path, &g.id, format!("derivation must be ratio or rate, not {other:?}")),
        };
        if g.numerator.is_empty() || needs_den == g.denominator.is_empty() {
            fail(path, &g.id, "a ratio needs numerator and denominator terms, a rate numerator terms only");
        }
        let window = g.window.as_deref().map(|w| {
            parse_window(w).unwrap_or_else(|| fail(path, &g.id, format!("bad window `{w}` (use e.g. 30s, 5m, 1h)")))
        });
        let mut all_counters = true;
        let mut terms = |list: &[Term]| -> String {
            let mut out = Vec::new();
            for t in list {
                let Some((_, mg)) = groups
                    .iter()
                    .find(|(_, m)| m.kind == "metric" && m.metric_name.as_deref() == Some(t.metric.as_str()))
                else {
                    fail(path, &g.id, format!("term metric `{}` is not a registered metric", t.metric))
                };
                let instrument = mg.instrument.as_deref().unwrap_or_default();
                if instrument == "histogram" {
                    fail(path, &g.id, format!("`{}` is a histogram; derive from counters or gauges", t.metric));
                }
                all_counters &= instrument == "counter";
                let mut matchers = Vec::new();
                for (key, value) in &t.matchers {
                    if !mg.attributes.iter().any(|a| a.reference.as_deref() == Some(key.as_str())) {
                        fail(path, &g.id, format!("`{}` has no attribute `{key}`", t.metric));
                    }
                    let def = attrs.get(key).unwrap_or_else(|| fail(path, &g.id, format!("unknown attribute `{key}`")));
                    if !def.members.iter().any(|m| &m.value == value) {
                        fail(path, &g.id, format!("`{value}` is not a member of `{key}`"));
                    }
                    matchers.push(format!("({:?}, {:?})", def.prometheus_label, value));
                }
                out.push(format!(
                    "DerivedTerm {{ metric: &metric::{}, matchers: &[{}] }}",
                    const_name(&t.metric),
                    matchers.join(", ")
                ));
            }
            out.join(", ")
        };
        let numerator = terms(&g.numerator);
        let denominator = terms(&g.denominator);
        if kind == "Rate" && !all_counters {
            fail(path, &g.id, "a rate derives from counters only");
        }
        let window_secs = match (window, all_counters) {
            (Some(w), true) => w,
            (None, true) => fail(path, &g.id, "a derivation over counters needs a `window`"),
            (_, false) => 0,
        };
        let cname = const_name(&name);
        writeln!(
            s,
            "    /// `{name}` (recording rule `{prom}`): {brief}\n    pub static {cname}: DerivedDef = DerivedDef {{ name: {name:?}, prometheus_name: {prom:?}, aliases: &{aliases:?}, brief: {brief:?}, unit: {unit:?}, derivation: Derivation::{kind}, window_seconds: {window_secs}, numerator: &[{numerator}], denominator: &[{denominator}] }};",
            brief = g.brief,
            aliases = g.aliases,
        )
        .ok();
        consts.push(format!("&derived::{cname}"));
    }
    s.push_str("}\n\n");
    writeln!(
        s,
        "/// Every derived metric in the registry.\npub static DERIVED: &[&DerivedDef] = &[{}];\n",
        consts.join(", ")
    )
    .ok();
}

/// `30s`, `5m`, `1h` -> seconds.
fn parse_window(w: &str) -> Option<u64> {
    let (num, mult) = match w.char_indices().last()? {
        (i, 's') => (&w[..i], 1),
        (i, 'm') => (&w[..i], 60),
        (i, 'h') => (&w[..i], 3600),
        _ => return None,
    };
    num.parse::<u64>().ok().filter(|n| *n > 0).map(|n| n * mult)
}

fn gen_enum(s: &mut String, a: &Attr) {
    let ty = type_name(&a.id);
    writeln!(
        s,
        "/// Values of `{}`: {}\n///\n/// Unknown input maps to [`{ty}::Other`], so the set of series stays bounded.",
        a.id, a.brief
    )
    .ok();
    if let Some(first) = a.members.first() {
        let v = type_name(&first.id);
        writeln!(
            s,
            "///\n/// ```\n/// use bitcraps_otel::semconv::{{AttributeEnum, {ty}}};\n/// assert_eq!({ty}::{v}.as_str(), {:?});\n/// assert_eq!({ty}::from_value({:?}), {ty}::{v});\n/// assert_eq!({ty}::from_value(\"not in the registry\"), {ty}::Other);\n/// ```",
            first.value, first.value
        )
        .ok();
    }
    s.push_str("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]\n");
    writeln!(s, "pub enum {ty} {{").ok();
    for m in &a.members {
        writeln!(s, "    /// {}\n    {},", m.brief, type_name(&m.id)).ok();
    }
    s.push_str("}\n\n");
    let variants: Vec<String> = a.members.iter().map(|m| format!("{ty}::{}", type_name(&m.id))).collect();
    writeln!(s, "impl AttributeEnum for {ty} {{").ok();
    writeln!(s, "    const DEF: &'static AttributeDef = &attribute::{};", const_name(&a.id)).ok();
    writeln!(s, "    const ALL: &'static [Self] = &[{}];", variants.join(", ")).ok();
    s.push_str("    fn as_str(self) -> &'static str {\n        match self {\n");
    for m in &a.members {
        writeln!(s, "            {ty}::{} => {:?},", type_name(&m.id), m.value).ok();
    }
    s.push_str("        }\n    }\n    fn from_value(value: &str) -> Self {\n        match value {\n");
    for m in &a.members {
        writeln!(s, "            {:?} => {ty}::{},", m.value, type_name(&m.id)).ok();
    }
    writeln!(s, "            _ => {ty}::Other,\n        }}\n    }}\n    fn index(self) -> usize {{\n        self as usize\n    }}\n}}\n").ok();
    writeln!(s, "impl std::fmt::Display for {ty} {{\n    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{\n        f.write_str(self.as_str())\n    }}\n}}\n").ok();
}

/// `bitcraps.network.latency` -> `NETWORK_LATENCY`; `error.category` -> `ERROR_CATEGORY`.
fn const_name(id: &str) -> String {
    id.strip_prefix("bitcraps.").unwrap_or(id).replace(['.', '-'], "_").to_uppercase()
}

/// `bitcraps.game.type` -> `GameType`; `pass_line` -> `PassLine`.
fn type_name(id: &str) -> String {
    id.strip_prefix("bitcraps.")
        .unwrap_or(id)
        .split(['.', '_', '-'])
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect()
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' }).collect()
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && !s.starts_with("__")
}

/// Upper case is allowed because OTel spells some vocabularies that way (`GET`, `_OTHER`).
fn is_label_value_safe(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// OTel semantic-convention namespaces whose stable metrics the registry may define under
/// their OTel names.
const OTEL_NAMESPACES: &[&str] = &["http.server."];

/// The translation `opentelemetry-prometheus` applies: sanitize, unit suffix, `_total` for
/// monotonic sums. Only the units the registry may use are listed; any other non-annotation
/// unit is refused so a new unit forces a look at how the bridge renders it.
fn prometheus_name(name: &str, unit: &str, instrument: &str) -> String {
    let suffix = match unit {
        "s" => Some("seconds"),
        "By" => Some("bytes"),
        "%" => Some("percent"),
        "Cel" => Some("celsius"),
        "1" => Some("ratio"),
        u if u.starts_with('{') && u.ends_with('}') => None,
        u => panic!("semconv registry: metric `{name}` has unit `{u}`, which the registry does not allow (use s, By, %, Cel, 1 or {{annotation}})"),
    };
    let mut prom = sanitize(name);
    if let Some(suffix) = suffix {
        prom.push('_');
        prom.push_str(suffix);
    }
    if instrument == "counter" {
        prom.push_str("_total");
    }
    prom
}
