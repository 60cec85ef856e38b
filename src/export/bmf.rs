//! Bencher Metric Format (bencher.dev/docs/reference/bencher-metric-format): an object of
//! benchmarks, each an object of measures, each `{"value", "lower_value", "upper_value"}` with
//! only `value` required; submitted with `bencher run --adapter json --file bmf.json`.

use super::Measure;
use serde_json::{json, Map, Value};

pub fn document(measures: &[Measure]) -> Value {
    let mut benchmarks = Map::new();
    for m in measures {
        let mut metric = Map::new();
        metric.insert("value".into(), json!(m.value));
        if let (Some(lower), Some(upper)) = (m.lower, m.upper) {
            metric.insert("lower_value".into(), json!(lower));
            metric.insert("upper_value".into(), json!(upper));
        }
        let entry = benchmarks
            .entry(m.benchmark.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        entry
            .as_object_mut()
            .expect("benchmarks are objects")
            .insert(m.name.into(), Value::Object(metric));
    }
    Value::Object(benchmarks)
}
