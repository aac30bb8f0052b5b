//! Summaries of timed samples: medians and spreads, never means, because a
//! shared two-core machine gives long tails.

use serde::{Deserialize, Serialize};

/// The distribution of one measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    /// Number of samples.
    pub(crate) n: usize,
    /// The median.
    pub(crate) p50: f64,
    /// The 10th percentile.
    pub(crate) p10: f64,
    /// The 90th percentile.
    pub(crate) p90: f64,
    /// The 99th percentile.
    pub(crate) p99: f64,
    /// The smallest sample.
    pub(crate) min: f64,
    /// The largest sample.
    pub(crate) max: f64,
}

impl Summary {
    /// Summarizes `samples`, which must not be empty.
    pub(crate) fn of(samples: &[f64]) -> Summary {
        assert!(!samples.is_empty(), "a summary needs samples");
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        Summary {
            n: s.len(),
            p50: quantile(&s, 0.5),
            p10: quantile(&s, 0.1),
            p90: quantile(&s, 0.9),
            p99: quantile(&s, 0.99),
            min: s[0],
            max: s[s.len() - 1],
        }
    }

    /// Every field divided by `d`, to change units.
    pub(crate) fn scaled(&self, d: f64) -> Summary {
        Summary {
            n: self.n,
            p50: self.p50 / d,
            p10: self.p10 / d,
            p90: self.p90 / d,
            p99: self.p99 / d,
            min: self.min / d,
            max: self.max / d,
        }
    }
}

/// Linear interpolation between the closest ranks of sorted `s`.
fn quantile(s: &[f64], q: f64) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "sample counts are small")]
    let pos = q * (s.len() - 1) as f64;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "pos is in 0..len"
    )]
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(s.len() - 1);
    #[allow(clippy::cast_precision_loss, reason = "lo is small")]
    let frac = pos - lo as f64;
    s[lo] + (s[hi] - s[lo]) * frac
}

/// The median of the pairwise differences `a[i] - b[i]` of two series
/// sampled in the same rounds: an overhead with the noise both share removed.
pub(crate) fn paired_diff(a: &[f64], b: &[f64]) -> Summary {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    Summary::of(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles_of_a_known_series() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.p50, s.min, s.max, s.n), (3.0, 1.0, 5.0, 5));
        assert!((s.p10 - 1.4).abs() < 1e-9);
        let d = paired_diff(&[10.0, 12.0, 11.0], &[9.0, 9.0, 10.0]);
        assert_eq!(d.p50, 1.0);
    }
}
