//! Human durations in tags and config: `90s`, `15m`, `1h30m`, `2d`, or plain seconds (`300`).
//!
//! Numbers with units are read by the `humantime` crate ([`humantime::parse_duration`]), so
//! its spellings work too: units `s`/`sec`/`secs`/`seconds`, `m`/`min`/`mins`/`minutes`,
//! `h`/`hr`/`hours`, `d`/`day`/`days`, `w`/`week`/`weeks`, `M`/`month`/`months` (30.44 days)
//! and `y`/`year`/`years` (365.25 days), summed and optionally separated by spaces (`1h 30m`,
//! `15min`). rollgate adds its own limits: whole seconds only (no `500ms`), no fractions
//! (`1.5h`) or signs, and at most [`Seconds::MAX`]. A [`Seconds`] displays as
//! [`humantime::format_duration`] writes it (`5m`, `1h 30m`, `2days`, `0s`): letters, digits
//! and spaces only, so a rendering is fit for an AWS tag value and parses back to itself.

use std::fmt;
use std::time::Duration;

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

    /// Parses plain seconds (`300`) or numbers with units, summed (`1h30m` and `1h 30m` are
    /// 5400; see the module doc for the units); surrounding whitespace is ignored. Errors
    /// (named `what`): empty, a unit without a number, a number without a unit after one
    /// with (`15m3`), an unknown unit, fractions, signs, a part of a second (`500ms`), an
    /// overflow, or more than [`Seconds::MAX`].
    pub fn parse(what: &'static str, s: &str) -> Result<Self, InputError> {
        let parsed = Self::parse_any(s).map_err(|why| InputError::new(what, s, why))?;
        if parsed > Self::MAX {
            return Err(InputError::new(what, s, "longer than rollgate accepts: at most 366d"));
        }
        Ok(parsed)
    }

    /// The value, or why it is not one (in words, for [`InputError::why`]).
    fn parse_any(raw: &str) -> Result<Self, String> {
        const EXAMPLES: &str = "expected a duration such as 90s, 15m, 1h30m or 300";
        let s = raw.trim();
        if let Ok(n) = s.parse::<u64>() {
            return Ok(Self(n));
        }
        if s.contains('.') {
            return Err(format!("fractions are not accepted; {EXAMPLES}"));
        }
        if s.contains(['-', '+']) {
            return Err(format!("signs are not accepted; {EXAMPLES}"));
        }
        let duration = humantime::parse_duration(s).map_err(|e| {
            use humantime::DurationError as E;
            match e {
                E::Empty => EXAMPLES.to_owned(),
                E::NumberOverflow => format!("too large; {EXAMPLES}"),
                E::UnknownUnit { unit, .. } if unit.is_empty() => {
                    format!("a number without a unit after one with; {EXAMPLES}")
                }
                E::UnknownUnit { unit, .. } => format!("unknown unit {unit:?}; {EXAMPLES}"),
                E::InvalidCharacter(_) | E::NumberExpected(_) => EXAMPLES.to_owned(),
            }
        })?;
        if duration.subsec_nanos() != 0 {
            return Err(format!("not a whole number of seconds; {EXAMPLES}"));
        }
        Ok(Self(duration.as_secs()))
    }

    /// As a `chrono::Duration`: exact up to [`Seconds::MAX`] (all [`Seconds::parse`] returns),
    /// and saturated at chrono's largest duration above it (never a panic).
    pub fn as_chrono(self) -> chrono::Duration {
        i64::try_from(self.0).ok().and_then(chrono::Duration::try_seconds).unwrap_or(chrono::Duration::MAX)
    }
}

/// As [`humantime::format_duration`] writes it: `5m`, `1h 30m`, `2days`, `0s` (units of
/// 30.44-day months and 365.25-day years above those; [`Seconds::parse`] reads it back).
impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(Duration::from_secs(self.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let good = [
            ("90s", 90),
            ("15m", 900),
            ("1h30m", 5400),
            ("300", 300),
            ("0", 0),
            ("2d", 172_800),
            (" 15m ", 900),
            ("1h 30m", 5400),
            ("15min", 900),
            ("2days", 172_800),
            ("1w", 604_800),
            ("1000ms", 1),
            ("0s", 0),
        ];
        for (s, want) in good {
            assert_eq!(Seconds::parse("t", s).unwrap(), Seconds(want), "{s}");
        }
        let bad = [
            ("", "such as 90s"),
            ("   ", "such as 90s"),
            ("m", "such as 90s"),
            ("15x", "unknown unit \"x\""),
            ("1.5m", "fractions"),
            ("1.5", "fractions"),
            ("15m3", "without a unit"),
            ("-1", "signs"),
            ("+5m", "signs"),
            ("500ms", "whole number of seconds"),
            ("1s 1ns", "whole number of seconds"),
            ("99999999999999999999999h", "too large"),
            ("367d", "at most 366d"),
            ("10000000000000", "at most 366d"),
            ("2y", "at most 366d"),
        ];
        for (s, why) in bad {
            let err = Seconds::parse("rollgate:bake", s).unwrap_err();
            assert_eq!((err.what, err.value.as_str()), ("rollgate:bake", s));
            assert!(err.why.contains(why), "{s}: {}", err.why);
        }
        assert_eq!(Seconds::parse("t", "366d").unwrap(), Seconds::MAX);
        // A value no parse returns still converts without a panic (found by a docs review: a
        // `rollgate:bake` of 10^13 s overflowed the bake's end and panicked the gate on every
        // run; parse now refuses it).
        for s in [Seconds(u64::MAX), Seconds(i64::MAX as u64 / 1000 + 1)] {
            assert_eq!(s.as_chrono(), chrono::Duration::MAX, "{s:?}");
        }
    }

    #[test]
    fn display() {
        for (secs, shown) in [
            (0, "0s"),
            (1, "1s"),
            (300, "5m"),
            (900, "15m"),
            (3600, "1h"),
            (5400, "1h 30m"),
            (5401, "1h 30m 1s"),
            (172_800, "2days"),
            (Seconds::MAX.0, "1year 18h"),
        ] {
            assert_eq!(Seconds(secs).to_string(), shown, "{secs}");
        }
    }

    proptest::proptest! {
        /// Every duration rollgate accepts displays as letters, digits and spaces (fit for an
        /// AWS tag value) and parses back to itself.
        #[test]
        fn display_round_trips(secs in 0..=Seconds::MAX.0) {
            let shown = Seconds(secs).to_string();
            proptest::prop_assert!(shown.chars().all(|c| c.is_ascii_alphanumeric() || c == ' '), "{}", shown);
            proptest::prop_assert_eq!(Seconds::parse("t", &shown).unwrap(), Seconds(secs), "{}", shown);
        }
    }
}
