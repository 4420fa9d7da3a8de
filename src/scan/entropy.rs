//! Shannon entropy of candidate secrets, in bits per character.

/// Returns the Shannon entropy of `s` in bits per byte (0 for an empty string).
pub(crate) fn shannon(s: &str) -> f64 {
    let len = s.len();
    if len == 0 {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
    }
    let total = len as f64;
    counts
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = f64::from(n) / total;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::shannon;

    #[test]
    fn entropy_of_known_strings() {
        assert_eq!(shannon(""), 0.0);
        assert_eq!(shannon("aaaa"), 0.0);
        assert!((shannon("ab") - 1.0).abs() < 1e-9);
        assert!((shannon("abcd") - 2.0).abs() < 1e-9);
        assert!(shannon("Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB") > 4.0);
    }
}
