//! What one scrape sees: the SDK's metric families as `opentelemetry-prometheus` gathers them,
//! plus our histogram families, with registry label names and constant labels, in name order.

use crate::metrics::data::{Exemplar, HistogramFamily, HistogramSource};
use crate::semconv::{self, MetricDef};
use prometheus::proto::{Bucket, Histogram, LabelPair, Metric, MetricFamily, MetricType};
use std::collections::HashMap;
use std::sync::Arc;

/// One family ready to encode in either format.
pub(crate) struct Family {
    pub(crate) mf: MetricFamily,
    /// The registry definition, when the family is one of ours (its unit names `# UNIT`).
    pub(crate) def: Option<&'static MetricDef>,
    /// Per metric of `mf` (same order), the exemplars of its buckets; empty for SDK families.
    pub(crate) exemplars: Vec<Vec<Exemplar>>,
}

/// Every family of one scrape, sorted by name.
pub(crate) struct Exposition {
    pub(crate) families: Vec<Family>,
}

/// How OTel attribute keys and constant labels become Prometheus labels.
pub(crate) struct Labeling {
    /// Sanitized attribute key (`error_category`) to registry label (`category`).
    renames: HashMap<String, &'static str>,
    constant: Vec<(String, String)>,
}

impl Labeling {
    pub(crate) fn new(constant: Vec<(String, String)>) -> Labeling {
        // The exporter sanitizes attribute keys (`error.category` -> `error_category`); map
        // those to the registry's Prometheus label names.
        let renames = semconv::ATTRIBUTES
            .iter()
            .map(|a| (sanitize(a.id), a.prometheus_label))
            .filter(|(from, to)| from != to)
            .collect();
        Labeling { renames, constant }
    }

    pub(crate) fn constant(&self) -> &[(String, String)] {
        &self.constant
    }

    /// Renames the exporter's labels and adds the constant ones, sorted by name.
    fn relabel(&self, labels: &mut Vec<LabelPair>) {
        for l in labels.iter_mut() {
            if let Some(to) = self.renames.get(l.name()) {
                l.set_name((*to).to_string());
            }
        }
        self.add_constant(labels);
    }

    fn add_constant(&self, labels: &mut Vec<LabelPair>) {
        for (k, v) in &self.constant {
            if !labels.iter().any(|l| l.name() == k) {
                labels.push(pair(k.clone(), v.clone()));
            }
        }
        labels.sort_by(|a, b| a.name().cmp(b.name()));
    }
}

fn sanitize(key: &str) -> String {
    key.replace(['.', '-'], "_")
}

fn pair(name: String, value: String) -> LabelPair {
    let mut lp = LabelPair::default();
    lp.set_name(name);
    lp.set_value(value);
    lp
}

/// Gathers the SDK families from `registry` and our histograms from `sources`.
pub(crate) fn gather(
    registry: &prometheus::Registry,
    sources: &[Arc<dyn HistogramSource>],
    labeling: &Labeling,
) -> Exposition {
    let mut families: Vec<Family> = registry
        .gather()
        .into_iter()
        .map(|mut mf| {
            for m in mf.mut_metric() {
                let mut labels = m.take_label();
                labeling.relabel(&mut labels);
                m.set_label(labels);
            }
            let def = semconv::lookup(mf.name());
            Family { mf, def, exemplars: Vec::new() }
        })
        .collect();
    let mut histograms = Vec::new();
    for source in sources {
        source.collect(&mut histograms);
    }
    families.extend(histograms.iter().map(|h| histogram_family(h, labeling)));
    families.sort_by(|a, b| a.mf.name().cmp(b.mf.name()));
    Exposition { families }
}

/// Our histogram family as the `MetricFamily` the SDK bridge would have produced for it.
fn histogram_family(h: &HistogramFamily, labeling: &Labeling) -> Family {
    let mut mf = MetricFamily::default();
    mf.set_name(h.def.prometheus_name.to_string());
    mf.set_help(h.def.brief.to_string());
    mf.set_field_type(MetricType::HISTOGRAM);
    let mut exemplars = Vec::with_capacity(h.points.len());
    let metrics = h
        .points
        .iter()
        .map(|p| {
            let mut labels: Vec<LabelPair> = p
                .attributes
                .iter()
                .map(|kv| {
                    let key = kv.key.as_str();
                    let name = h
                        .def
                        .attributes
                        .iter()
                        .find(|a| a.id == key)
                        .map_or_else(|| sanitize(key), |a| a.prometheus_label.to_string());
                    pair(name, kv.value.as_str().into_owned())
                })
                .collect();
            labeling.add_constant(&mut labels);
            let mut cumulative = 0;
            let buckets = p
                .bounds
                .iter()
                .zip(&p.bucket_counts)
                .map(|(&bound, &n)| {
                    cumulative += n;
                    let mut b = Bucket::default();
                    b.set_upper_bound(bound);
                    b.set_cumulative_count(cumulative);
                    b
                })
                .collect();
            let mut hist = Histogram::default();
            hist.set_sample_count(p.count);
            hist.set_sample_sum(p.sum);
            hist.set_bucket(buckets);
            let mut m = Metric::from_label(labels);
            m.set_histogram(hist);
            exemplars.push(p.exemplars.clone());
            m
        })
        .collect();
    mf.set_metric(metrics);
    Family { mf, def: Some(h.def), exemplars }
}
