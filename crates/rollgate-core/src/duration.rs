//! Human durations in tags and config: `90s`, `15m`, `1h30m`, or plain seconds.

use std::fmt;

use crate::InputError;

/// A whole number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Seconds(pub u64);

impl Seconds {
    /// The longest duration rollgate accepts anywhere (a bake, a deadline, a timeout): 366
    /// days. Longer ones are refused when parsed, so that no later date arithmetic can
    /// overflow (chrono's `TimeDelta` holds at most `i64::MAX` milliseconds).
    pub const MAX: Seconds = Seconds(366 * 86_400);

    /// Parses plain seconds (`300`) or numbers with units `s`, `m`, `h`, `d`, summed (`1h30m` is
    /// 5400); surrounding whitespace is ignored. Errors (named `what`): empty, a unit without a
    /// number, a trailing number without a unit (`15m3`), fractions, signs, an overflow, or
    /// more than [`Seconds::MAX`].
    pub fn parse(what: &'static str, s: &str) -> Result<Self, InputError> {
        let parsed = Self::parse_any(what, s)?;
        if parsed > Self::MAX {
            return Err(InputError::new(what, s, "longer than rollgate accepts: at most 366d"));
        }
        Ok(parsed)
    }

    fn parse_any(what: &'static str, s: &str) -> Result<Self, InputError> {
        let bad = || InputError::new(what, s, "expected a duration such as 90s, 15m, 1h30m or 300");
        let s = s.trim();
        if s.is_empty() {
            return Err(bad());
        }
        if let Ok(n) = s.parse::<u64>() {
            return Ok(Self(n));
        }
        let (mut total, mut number) = (0u64, None::<u64>);
        for c in s.chars() {
            if let Some(d) = c.to_digit(10) {
                number =
                    Some(number.unwrap_or(0).checked_mul(10).and_then(|n| n.checked_add(d.into())).ok_or_else(bad)?);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => return Err(bad()),
            };
            let n = number.take().ok_or_else(bad)?;
            total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
        }
        if number.is_some() {
            return Err(bad());
        }
        Ok(Self(total))
    }

    /// As a `chrono::Duration`: exact up to [`Seconds::MAX`] (all [`Seconds::parse`] returns),
    /// and saturated at chrono's largest duration above it (never a panic).
    pub fn as_chrono(self) -> chrono::Duration {
        i64::try_from(self.0).ok().and_then(chrono::Duration::try_seconds).unwrap_or(chrono::Duration::MAX)
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 % 3600 / 60, self.0 % 60);
        let mut out = String::new();
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        if s > 0 || out.is_empty() {
            out.push_str(&format!("{s}s"));
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for (s, want) in [("90s", 90), ("15m", 900), ("1h30m", 5400), ("300", 300), ("0", 0), ("2d", 172_800)] {
            assert_eq!(Seconds::parse("t", s).unwrap(), Seconds(want), "{s}");
        }
        for bad in ["", "m", "15x", "1.5m", "15m3", "-1", "99999999999999999999999h", "367d", "10000000000000"] {
            assert!(Seconds::parse("t", bad).is_err(), "{bad}");
        }
        assert_eq!(Seconds::parse("t", "366d").unwrap(), Seconds::MAX);
        // A value no parse returns still converts without a panic (found by a docs review: a
        // `rollgate:bake` of 10^13 s overflowed the bake's end and panicked the gate on every
        // run; parse now refuses it).
        for s in [Seconds(u64::MAX), Seconds(i64::MAX as u64 / 1000 + 1)] {
            assert_eq!(s.as_chrono(), chrono::Duration::MAX, "{s:?}");
        }
        assert_eq!(Seconds(5400).to_string(), "1h30m");
        assert_eq!(Seconds(0).to_string(), "0s");
    }
}
