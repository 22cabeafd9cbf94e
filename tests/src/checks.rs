//! Checks on what a controller stored and counts: contiguous receipt `seq`s, and samples of
//! its Prometheus text (`GET /metrics`).

use serde_json::Value;

/// Checks the controller's receipts of one screen: every `seq` from 1 to the highest exactly
/// once. Returns the highest `seq` (0 if none). Panics naming the first gap or duplicate.
pub fn assert_contiguous(rows: &[Value]) -> u64 {
    let mut seqs: Vec<u64> = rows
        .iter()
        .map(|r| {
            r["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("row without seq: {r}"))
        })
        .collect();
    seqs.sort_unstable();
    for (i, s) in seqs.iter().enumerate() {
        let want = i as u64 + 1;
        assert!(
            *s == want,
            "receipts are not contiguous: expected seq {want}, found {s} (a {}); seqs: {:?}…",
            if *s < want { "duplicate" } else { "gap" },
            &seqs[..seqs.len().min(50)]
        );
    }
    seqs.last().copied().unwrap_or(0)
}

/// The sum of every sample of `name` in Prometheus text, labelled or not (`None` if there is
/// no sample of that name).
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((n, v)) = l.rsplit_once(' ') else {
            continue;
        };
        let base = n.split('{').next().unwrap_or(n);
        if base == name {
            if let Ok(v) = v.trim().parse::<f64>() {
                found = true;
                sum += v;
            }
        }
    }
    found.then_some(sum)
}

/// The value of an unlabelled sample `name value` in Prometheus text.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Whether a player status (its `at`, the player's own time) was sent at or after `since`: a
/// status of the player's current run, not one the controller still holds from before.
pub fn status_since(status: &Value, since: jiff::Timestamp) -> bool {
    status["at"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .is_some_and(|t| t >= since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_metrics_and_checks_contiguity() {
        let text = "# HELP a x\n# TYPE a gauge\na 3\nab 4\n";
        assert_eq!(metric_value(text, "a"), Some(3.0));
        assert_eq!(metric_value(text, "ab"), Some(4.0));
        assert_eq!(metric_value(text, "b"), None);
        let rows: Vec<Value> = [2, 1, 3].iter().map(|s| json!({"seq": s})).collect();
        assert_eq!(assert_contiguous(&rows), 3);
        let dup: Vec<Value> = [1, 2, 2].iter().map(|s| json!({"seq": s})).collect();
        assert!(std::panic::catch_unwind(|| assert_contiguous(&dup)).is_err());
    }
}
