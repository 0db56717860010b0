//! Exact Kubernetes quantities for quota and LimitRange arithmetic: the
//! value in nano-units (an `i128`, so `Ei` of memory fits) and the format it
//! was written in, printed in Kubernetes' canonical form (`1500m`, `2`,
//! `1536Mi`, `1Gi`) as the API server's error texts show them. Sums keep
//! the format of their first non-zero term, as `resource.Quantity.Add` does.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// How a quantity was written (and is printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `500m`, `2`, `1G`.
    DecimalSi,
    /// `1Gi`, `512Mi`.
    BinarySi,
    /// `1e3`.
    DecimalExponent,
}

/// An exact quantity.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

/// Resource name → quantity (`requests.cpu`, `pods`…).
pub type ResourceList = BTreeMap<String, Quantity>;

const NANO: i128 = 1_000_000_000;

impl Quantity {
    /// A whole count (`pods=1`), decimal.
    pub fn count(n: i64) -> Self {
        Self {
            nanos: i128::from(n) * NANO,
            format: Format::DecimalSi,
        }
    }

    /// Parses `<sign><digits>[.<digits>]<suffix>`; sub-nano fractions round up.
    pub fn parse(s: &str) -> Option<Self> {
        let (neg, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, suffix) = rest.split_at(end);
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if (int.is_empty() && frac.is_empty()) || num.matches('.').count() > 1 {
            return None;
        }
        let digits: i128 = format!("{int}{frac}").parse().ok()?;
        let (format, base2, exp10) = match suffix {
            "" => (Format::DecimalSi, 0, 0),
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
                let k = "KMGTPE".find(&suffix[..1])? as u32 + 1;
                (Format::BinarySi, 10 * k, 0)
            }
            "n" => (Format::DecimalSi, 0, -9),
            "u" => (Format::DecimalSi, 0, -6),
            "m" => (Format::DecimalSi, 0, -3),
            "k" => (Format::DecimalSi, 0, 3),
            "M" => (Format::DecimalSi, 0, 6),
            "G" => (Format::DecimalSi, 0, 9),
            "T" => (Format::DecimalSi, 0, 12),
            "P" => (Format::DecimalSi, 0, 15),
            "E" => (Format::DecimalSi, 0, 18),
            e if e.starts_with(['e', 'E']) => {
                let n: i32 = e[1..].parse().ok()?;
                (Format::DecimalExponent, 0, n)
            }
            _ => return None,
        };
        let scaled = digits.checked_mul(1i128.checked_shl(base2)?)?;
        let exp = 9 - frac.len() as i32 + exp10;
        let nanos = if exp >= 0 {
            scaled.checked_mul(10i128.checked_pow(exp as u32)?)?
        } else {
            let d = 10i128.checked_pow(exp.unsigned_abs())?;
            (scaled + d - 1) / d
        };
        Some(Self {
            nanos: if neg { -nanos } else { nanos },
            format,
        })
    }

    /// The value in nano-units.
    pub fn nanos(self) -> i128 {
        self.nanos
    }

    /// True for zero.
    pub fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// `self + y`, keeping `self`'s format unless `self` is zero.
    pub fn add(self, y: Quantity) -> Self {
        Self {
            nanos: self.nanos + y.nanos,
            format: if self.is_zero() {
                y.format
            } else {
                self.format
            },
        }
    }

    /// `self - y`.
    pub fn sub(self, y: Quantity) -> Self {
        Self {
            nanos: self.nanos - y.nanos,
            format: self.format,
        }
    }
}

impl PartialEq for Quantity {
    fn eq(&self, o: &Self) -> bool {
        self.nanos == o.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Quantity {
    fn cmp(&self, o: &Self) -> Ordering {
        self.nanos.cmp(&o.nanos)
    }
}

impl fmt::Display for Quantity {
    /// Kubernetes' canonical form: binary only for whole values of at least
    /// 1024 (`1536Mi`), else the largest power-of-1000 suffix that keeps
    /// the mantissa whole (`1500m`, `2`, `129M`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n == 0 {
            return write!(f, "0");
        }
        if self.format == Format::BinarySi && n.abs() >= 1024 * NANO && n % NANO == 0 {
            let (mut m, mut k) = (n / NANO, 0);
            while m % 1024 == 0 && k < 6 {
                m /= 1024;
                k += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k];
            return write!(f, "{m}{suffix}");
        }
        let (mut m, mut e) = (n, -9i32);
        while m % 1000 == 0 && e < 18 {
            m /= 1000;
            e += 3;
        }
        if self.format == Format::DecimalExponent {
            return match e {
                0 => write!(f, "{m}"),
                e => write!(f, "{m}e{e}"),
            };
        }
        let suffix = match e {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => "",
        };
        write!(f, "{m}{suffix}")
    }
}

/// The quantities of a JSON map (`resources.requests`); unparsable
/// values (refused at apply) are skipped.
pub fn list_of(v: Option<&Value>) -> ResourceList {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let q = match v {
                Value::String(s) => Quantity::parse(s)?,
                Value::Number(n) => Quantity::parse(&n.to_string())?,
                _ => return None,
            };
            Some((k.clone(), q))
        })
        .collect()
}

/// `a + b`, key by key.
pub fn add(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut out = a.clone();
    for (k, v) in b {
        let sum = out.get(k).map_or(*v, |q| q.add(*v));
        out.insert(k.clone(), sum);
    }
    out
}

/// `k=v` pairs sorted by name and joined by `,` (the quota plugin's `prettyPrint`).
pub fn pretty(list: &ResourceList) -> String {
    let parts: Vec<String> = list.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn canonical_forms_as_kubernetes_prints_them() {
        for (input, shown) in [
            ("500m", "500m"),
            ("0.5", "500m"),
            ("1", "1"),
            ("1000m", "1"),
            ("1.5", "1500m"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("129M", "129M"),
            ("100Mi", "100Mi"),
            ("512", "512"),
            ("0", "0"),
            ("1E", "1E"),
            ("1e3", "1e3"),
            ("0.1n", "1n"),
        ] {
            assert_eq!(q(input).to_string(), shown, "{input}");
        }
    }

    #[test]
    fn values_compare_exactly_across_formats() {
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("0.1"), q("100m"));
        assert!(q("1G") < q("1Gi"));
        assert!(q("800m") < q("1"));
        for bad in ["", "m", "1.2.3", "12Q", "lots", "1 Gi", "."] {
            assert!(Quantity::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sums_keep_the_first_format() {
        let used = q("600Mi").add(q("700Mi"));
        assert_eq!(used.to_string(), "1300Mi");
        assert_eq!(q("0").add(q("1Gi")).to_string(), "1Gi");
        assert_eq!(q("400m").add(q("400m")).to_string(), "800m");
        assert_eq!(q("1").sub(q("400m")).to_string(), "600m");
        let list = add(
            &[("pods".to_string(), Quantity::count(1))].into(),
            &[("pods".to_string(), Quantity::count(1))].into(),
        );
        assert_eq!(pretty(&list), "pods=2");
    }
}
