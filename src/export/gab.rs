//! github-action-benchmark's custom format (`tool: customBiggerIsBetter` or
//! `customSmallerIsBetter`): an array of `{"name", "unit", "value", "range", "extra"}`, where
//! `range` and `extra` are optional strings; one direction per file.

use super::Measure;
use serde_json::{json, Value};

pub fn document(measures: &[Measure], bigger_is_better: bool) -> Value {
    let entries: Vec<Value> = measures
        .iter()
        .filter(|m| m.bigger_is_better == bigger_is_better)
        .map(|m| {
            let mut entry = json!({ "name": format!("{} {}", m.benchmark, m.name), "unit": m.unit, "value": m.value, "extra": m.note });
            if let (Some(lower), Some(upper)) = (m.lower, m.upper) {
                entry["range"] = json!(format!("± {:.4}", (upper - m.value).max(m.value - lower)));
                entry["extra"] = json!(format!("{}: [{lower:.4}, {upper:.4}]", m.note));
            }
            entry
        })
        .collect();
    Value::Array(entries)
}
