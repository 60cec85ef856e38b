//! How far one model's next-token distribution is from the reference's, position by position, on
//! the reference's own tokens (teacher forcing). Servers return only the top-k of a distribution,
//! so both sides are reduced to the reference's top-k tokens plus one bucket for the rest: KL over
//! that coarser partition is never more than the full-vocabulary KL (merging outcomes cannot
//! increase a divergence): a lower bound, not a guess. The one estimate: a reference top-k token
//! missing from the compared top-k gets the largest probability it can have there, and the
//! position is flagged `bounded`.

use crate::dialect::Step;

/// Log-probabilities below this are treated as this (a probability of about 1e-30), so a token
/// the compared model all but rules out gives a large finite term instead of infinity.
const FLOOR: f64 = 1e-30;

/// The comparison at one position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position {
    /// KL(reference ‖ compared) in nats over the reference's top-k tokens and the rest.
    pub kl: f64,
    /// The compared model's most likely token is the reference's greedy token.
    pub top1_agrees: bool,
    /// Some of the reference's top-k tokens were not in the compared top-k, so their probability
    /// was taken as the largest it can be (the k-th probability, or what mass is left if less).
    pub bounded: bool,
}

/// Compares the compared model's step at a position with the reference's step there.
pub fn compare(reference: &Step, compared: &Step) -> Position {
    let p: Vec<(u32, f64)> = reference.top.iter().map(|&(id, lp)| (id, lp.exp())).collect();
    let q_known: Vec<(u32, f64)> = compared.top.iter().map(|&(id, lp)| (id, lp.exp())).collect();
    let q_mass: f64 = q_known.iter().map(|(_, q)| q).sum();
    let q_kth = q_known.iter().map(|(_, q)| *q).fold(f64::INFINITY, f64::min);
    let q_left = (1.0 - q_mass).max(0.0);
    let mut bounded = false;
    let (mut kl, mut p_in, mut q_in) = (0.0, 0.0, 0.0);
    for &(id, p_t) in &p {
        let q_t = match q_known.iter().find(|(qid, _)| *qid == id) {
            Some(&(_, q)) => q,
            None => {
                bounded = true;
                q_kth.min(q_left)
            }
        };
        kl += term(p_t, q_t);
        p_in += p_t;
        q_in += q_t;
    }
    kl += term((1.0 - p_in).max(0.0), (1.0 - q_in).max(0.0));
    let top1_agrees = argmax(&compared.top) == Some(reference.token);
    Position {
        kl: kl.max(0.0),
        top1_agrees,
        bounded,
    }
}

/// p·ln(p/q), 0 for p = 0.
fn term(p: f64, q: f64) -> f64 {
    if p <= 0.0 {
        return 0.0;
    }
    p * (p.ln() - q.max(FLOOR).ln())
}

/// The most likely token of a top-k list (servers sort it, but the order is not relied on).
pub fn argmax(top: &[(u32, f64)]) -> Option<u32> {
    top.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|&(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(token: u32, probs: &[(u32, f64)]) -> Step {
        Step {
            token,
            top: probs.iter().map(|&(id, p)| (id, p.ln())).collect(),
        }
    }

    #[test]
    fn identical_distributions_have_no_divergence() {
        let s = step(1, &[(1, 0.6), (2, 0.3), (3, 0.05)]);
        let pos = compare(&s, &s);
        assert!(pos.kl.abs() < 1e-12, "{}", pos.kl);
        assert!(pos.top1_agrees && !pos.bounded);
    }

    #[test]
    fn kl_matches_a_hand_computed_value() {
        // Reference 0.5/0.5 over tokens 1 and 2 (nothing left); compared 0.25/0.75.
        let (r, c) = (step(1, &[(1, 0.5), (2, 0.5)]), step(2, &[(2, 0.75), (1, 0.25)]));
        let expected = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
        let pos = compare(&r, &c);
        assert!((pos.kl - expected).abs() < 1e-12, "{} vs {expected}", pos.kl);
        assert!(!pos.top1_agrees, "the compared model prefers token 2");
    }

    #[test]
    fn a_reference_token_outside_the_compared_top_k_is_bounded_by_the_kth_probability() {
        // Token 3 (p = 0.2) is not in the compared top-2, whose smallest probability is 0.1 and
        // whose left-over mass is 0.2: token 3 gets 0.1 at most.
        let r = step(1, &[(1, 0.7), (3, 0.2)]);
        let c = step(1, &[(1, 0.7), (2, 0.1)]);
        let pos = compare(&r, &c);
        let expected = 0.7 * (0.7f64 / 0.7).ln() + 0.2 * (0.2f64 / 0.1).ln() + 0.1 * (0.1f64 / 0.2).ln();
        assert!(pos.bounded && pos.top1_agrees);
        assert!((pos.kl - expected).abs() < 1e-12, "{} vs {expected}", pos.kl);
    }

    #[test]
    fn a_more_distorted_distribution_diverges_more() {
        let r = step(1, &[(1, 0.6), (2, 0.3), (3, 0.1)]);
        let near = compare(&r, &step(1, &[(1, 0.58), (2, 0.31), (3, 0.11)])).kl;
        let far = compare(&r, &step(1, &[(1, 0.4), (2, 0.4), (3, 0.2)])).kl;
        assert!(0.0 < near && near < far, "{near} < {far}");
    }

    #[test]
    fn a_near_impossible_token_gives_a_finite_divergence() {
        let r = step(1, &[(1, 0.5), (2, 0.5)]);
        let c = Step {
            token: 1,
            top: vec![(1, 0.0), (2, -1e6)],
        };
        assert!(compare(&r, &c).kl.is_finite());
    }
}
