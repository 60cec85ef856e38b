//! The inter-token gaps of many generations as exact counts per value: gaps are whole
//! microseconds, so a count per distinct value gives every quantile exactly (the same numbers
//! as sorting all gaps) in memory that grows with the spread of the gaps, not with their number
//! — a long run has hundreds of millions of gaps but a few tens of thousands of distinct values.

use std::collections::BTreeMap;

/// Gaps shorter than this (65.5 ms: the decode gaps of most models) are counted in an array
/// indexed by the gap, longer ones in a map: the array keeps counting as fast as parsing.
const DENSE_US: usize = 1 << 16;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GapDistribution {
    /// Gap in microseconds → how many gaps had it, for gaps < `DENSE_US` (empty until one comes).
    dense: Vec<u64>,
    /// The same for longer gaps.
    sparse: BTreeMap<u64, u64>,
    n: u64,
}

impl GapDistribution {
    pub fn add(&mut self, gaps_us: &[u64]) {
        for &gap in gaps_us {
            match usize::try_from(gap) {
                Ok(i) if i < DENSE_US => {
                    if self.dense.is_empty() {
                        self.dense = vec![0; DENSE_US];
                    }
                    self.dense[i] += 1;
                }
                _ => *self.sparse.entry(gap).or_insert(0) += 1,
            }
        }
        self.n += gaps_us.len() as u64;
    }

    /// (gap, count) of every distinct gap, shortest first.
    fn counts(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let dense = self
            .dense
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(gap, c)| (gap as u64, *c));
        dense.chain(self.sparse.iter().map(|(gap, c)| (*gap, *c)))
    }

    /// How many gaps were added.
    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn max_us(&self) -> Option<u64> {
        let dense_max = || self.dense.iter().rposition(|c| *c > 0).map(|gap| gap as u64);
        self.sparse.keys().next_back().copied().or_else(dense_max)
    }

    /// The p-quantiles (each in [0, 1]) in microseconds, as `stats::quantile_type7` gives them
    /// over all gaps sorted; empty when there are no gaps.
    pub fn quantiles_us(&self, ps: &[f64]) -> Vec<f64> {
        if self.n == 0 {
            return Vec::new();
        }
        // The k-th smallest gap (from 0): the first value whose cumulative count exceeds k.
        let cumulative: Vec<(u64, u64)> = self
            .counts()
            .scan(0, |total, (value, count)| {
                *total += count;
                Some((value, *total))
            })
            .collect();
        let order_statistic = |k: u64| cumulative[cumulative.partition_point(|(_, total)| *total <= k)].0 as f64;
        ps.iter()
            .map(|p| {
                let rank = p * (self.n - 1) as f64;
                let (lo, frac) = (rank.floor() as u64, rank.fract());
                let low = order_statistic(lo);
                if lo + 1 < self.n {
                    low + (order_statistic(lo + 1) - low) * frac
                } else {
                    low
                }
            })
            .collect()
    }

    pub fn quantile_us(&self, p: f64) -> Option<f64> {
        self.quantiles_us(&[p]).first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_equal_those_of_all_gaps_sorted() {
        // Short gaps (counted in the array) and long ones (in the map) alike.
        let gaps: Vec<u64> = (0..1000u64)
            .map(|i| (i * 7919) % 613 + if i % 50 == 0 { 70_000 + i } else { 0 })
            .collect();
        let mut d = GapDistribution::default();
        d.add(&gaps[..400]);
        d.add(&gaps[400..]);
        let mut sorted: Vec<f64> = gaps.iter().map(|g| *g as f64).collect();
        sorted.sort_by(f64::total_cmp);
        for p in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                d.quantile_us(p),
                Some(crate::stats::quantile_type7(&sorted, p)),
                "p = {p}"
            );
        }
        assert_eq!((d.len(), d.max_us()), (1000, Some(sorted[999] as u64)));
        assert_eq!(GapDistribution::default().quantile_us(0.5), None);
        let mut short = GapDistribution::default();
        short.add(&[5, 3, 0]);
        assert_eq!((short.max_us(), short.quantile_us(0.5)), (Some(5), Some(3.0)));
    }
}
