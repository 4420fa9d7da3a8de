//! SARIF 2.1.0 output of a scan report, for code-scanning dashboards.

use serde_json::{json, Value};

use super::ScanReport;

/// The SARIF 2.1.0 JSON schema location.
const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Returns the SARIF 2.1.0 document of `report`: one run of the `artifact-store` tool
/// with one result per finding, located by path, line and column, and carrying only the
/// redacted excerpt of the secret.
pub fn sarif(report: &ScanReport, tool_version: &str) -> Value {
    let mut rule_ids: Vec<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
    rule_ids.sort_unstable();
    rule_ids.dedup();
    let rules: Vec<Value> = rule_ids
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "name": id,
                "shortDescription": {"text": format!("Secret matched by rule {id}")},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.rule_id,
                "ruleIndex": rule_ids.binary_search(&f.rule_id.as_str()).unwrap_or(0),
                "level": "error",
                "message": {"text": format!("{} secret detected: {}", f.rule_id, f.redacted)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path},
                        "region": {"startLine": f.line, "startColumn": f.column},
                    }
                }],
            })
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": SCHEMA,
        "runs": [{
            "tool": {"driver": {
                "name": "artifact-store",
                "version": tool_version,
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}
