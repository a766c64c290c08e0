//! An integer or a percentage (`maxUnavailable: 1`, `minAvailable: "50%"`), scaled to a replica
//! count the way each controller rounds it, with the arithmetic shown.

use std::fmt;

/// An integer or a percentage, as in `maxUnavailable: 1` or `minAvailable: "50%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    /// An absolute count.
    Int(i64),
    /// A percentage of the replica count.
    Percent(i64),
}

impl IntOrPercent {
    /// The count at `replicas`, a percentage rounded up or down.
    ///
    /// ```
    /// use changeover_k8s::model::IntOrPercent;
    /// assert_eq!(IntOrPercent::Percent(25).scaled(3, true), 1);
    /// assert_eq!(IntOrPercent::Percent(25).scaled(3, false), 0);
    /// assert_eq!(IntOrPercent::Int(2).scaled(3, false), 2);
    /// ```
    pub fn scaled(self, replicas: i64, round_up: bool) -> i64 {
        match self {
            IntOrPercent::Int(n) => n,
            IntOrPercent::Percent(p) => {
                let product = p.saturating_mul(replicas);
                if round_up {
                    product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
                } else {
                    product.div_euclid(100)
                }
            }
        }
    }

    /// How the scaled value was computed, for the arithmetic shown with a finding.
    ///
    /// ```
    /// use changeover_k8s::model::IntOrPercent;
    /// assert_eq!(IntOrPercent::Percent(50).explain(3, true), "50% of 3 = 1.5, rounded up to 2");
    /// assert_eq!(IntOrPercent::Percent(50).explain(4, true), "50% of 4 = 2");
    /// assert_eq!(IntOrPercent::Int(1).explain(4, true), "1");
    /// ```
    pub fn explain(self, replicas: i64, round_up: bool) -> String {
        match self {
            IntOrPercent::Int(n) => n.to_string(),
            IntOrPercent::Percent(p) => {
                let product = p.saturating_mul(replicas);
                let value = self.scaled(replicas, round_up);
                if product % 100 == 0 {
                    format!("{p}% of {replicas} = {value}")
                } else {
                    let direction = if round_up { "up" } else { "down" };
                    let whole = product / 100;
                    let frac = product % 100;
                    let exact = if frac % 10 == 0 {
                        format!("{whole}.{}", frac / 10)
                    } else {
                        format!("{whole}.{frac:02}")
                    };
                    format!("{p}% of {replicas} = {exact}, rounded {direction} to {value}")
                }
            }
        }
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrPercent::Int(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}
