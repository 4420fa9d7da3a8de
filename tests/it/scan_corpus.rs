//! Recall and false-positive rate of the built-in rules on the labelled corpus (derived
//! from the gitleaks rule test strings; see fixtures/secrets-corpus/README.md).
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;

use artifact_store::scan::Scanner;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/secrets-corpus/secrets-labelled.jsonl"
);

struct Sample {
    rule_id: String,
    secret: bool,
    other_rule: bool,
    text: String,
}

fn samples() -> Vec<Sample> {
    let corpus = std::fs::read_to_string(CORPUS).expect("the labelled corpus is in fixtures/");
    corpus
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("corpus rows are JSON");
            Sample {
                rule_id: row["rule_id"].as_str().unwrap_or_default().to_string(),
                secret: row["label"] == "secret",
                other_rule: row["matches_other_rule"] == true,
                text: row["text"].as_str().unwrap_or_default().to_string(),
            }
        })
        .collect()
}

#[test]
fn corpus_recall_and_false_positive_rate() {
    let scanner = Scanner::builtin();
    let (mut secrets, mut hits, mut lookalikes, mut false_positives) =
        (0usize, 0usize, 0usize, 0usize);
    let mut misses: BTreeMap<String, usize> = BTreeMap::new();
    let mut flagged: BTreeMap<String, usize> = BTreeMap::new();
    for sample in samples() {
        let found = !scanner.scan_text("sample.txt", &sample.text).is_empty();
        if sample.secret {
            secrets += 1;
            if found {
                hits += 1;
            } else {
                *misses.entry(sample.rule_id).or_default() += 1;
            }
        } else if !sample.other_rule {
            lookalikes += 1;
            if found {
                false_positives += 1;
                *flagged.entry(sample.rule_id).or_default() += 1;
            }
        }
    }
    let recall = hits as f64 / secrets as f64;
    let fp_rate = false_positives as f64 / lookalikes as f64;
    println!("recall: {hits}/{secrets} = {:.1}%", recall * 100.0);
    println!(
        "false positives: {false_positives}/{lookalikes} = {:.1}%",
        fp_rate * 100.0
    );
    println!("missed secrets per corpus rule: {misses:?}");
    println!("flagged look-alikes per corpus rule: {flagged:?}");
    assert!(recall >= 0.90, "recall {recall:.3} below 0.90");
    assert!(
        fp_rate <= 0.05,
        "false-positive rate {fp_rate:.3} above 0.05"
    );
}
