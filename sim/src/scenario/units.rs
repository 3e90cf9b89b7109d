//! The unit-bearing values of scenario files: durations (`"10ms"`, `"14d"`), sizes
//! (`"4MiB"`, `1000`), bit rates (`"56kbit"`) and ranges of them (`"1s..5s"`).
//!
//! Each parses through serde, so a bad value is reported by the TOML parser with the file,
//! line and column of the value.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Visitor};

/// A span of simulated time, written with a unit: `ms`, `s`, `m`, `h` or `d` (`"1.5s"` works).
#[derive(Clone, Copy, Debug, Default, Eq, Ord, PartialEq, PartialOrd)]
pub struct Span(pub Duration);

/// A number of bytes: a bare integer, or with `B`, `KB`, `MB`, `GB` (powers of 1000) or
/// `KiB`, `MiB`, `GiB` (powers of 1024).
#[derive(Clone, Copy, Debug, Default, Eq, Ord, PartialEq, PartialOrd)]
pub struct Size(pub u64);

/// A bit rate: `bit`, `kbit`, `Mbit`, `Gbit` per second (powers of 1000, as links are sold).
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub struct Rate {
    pub bits_per_sec: u64,
}

/// `"a..b"` (inclusive) or a single value `"a"` meaning `a..a`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Between<T> {
    pub min: T,
    pub max: T,
}

impl FromStr for Span {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (number, unit) = split_number(text)?;
        let seconds_per_unit = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(format!("`{text}`: a duration needs a unit: ms, s, m, h or d")),
        };
        let seconds = number * seconds_per_unit;
        if !(0.0..=SPAN_SECONDS_MAX).contains(&seconds) {
            return Err(format!("`{text}` is not a duration between 0 and one year"));
        }
        Ok(Self(Duration::from_secs_f64(seconds)))
    }
}

/// Scenario times stay under a simulated year: the longest BITS timer is 90 days.
const SPAN_SECONDS_MAX: f64 = 366.0 * 86_400.0;

impl FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (number, unit) = split_number(text)?;
        let multiplier: u64 = match unit {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return Err(format!("`{text}`: a size unit is B, KB, MB, GB, KiB, MiB or GiB")),
        };
        let bytes = number * multiplier as f64;
        if bytes.fract() != 0.0 || !(0.0..=SIZE_BYTES_MAX).contains(&bytes) {
            return Err(format!("`{text}` is not a whole number of bytes up to 16 GiB"));
        }
        Ok(Self(bytes as u64))
    }
}

/// The simulated disk holds files in memory; 16 GiB is far beyond any useful scenario.
const SIZE_BYTES_MAX: f64 = (16u64 << 30) as f64;

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (number, unit) = split_number(text)?;
        let multiplier = match unit.trim_end_matches("/s").trim_end_matches("ps") {
            "bit" | "b" => 1.0,
            "kbit" | "kb" | "k" => 1e3,
            "Mbit" | "Mb" | "M" => 1e6,
            "Gbit" | "Gb" | "G" => 1e9,
            _ => {
                return Err(format!(
                    "`{text}`: a rate unit is bit, kbit, Mbit or Gbit (per second)"
                ));
            }
        };
        let bits = (number * multiplier).round();
        if !(1.0..=1e12).contains(&bits) {
            return Err(format!("`{text}` is not a rate between 1 bit/s and 1 Tbit/s"));
        }
        Ok(Self { bits_per_sec: bits as u64 })
    }
}

impl<T: FromStr<Err = String> + Copy + PartialOrd> FromStr for Between<T> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (min, max) = match text.split_once("..") {
            Some((min, max)) => (min.parse()?, max.parse()?),
            None => {
                let value = text.parse()?;
                (value, value)
            }
        };
        if max < min {
            return Err(format!("`{text}`: the upper end is below the lower end"));
        }
        Ok(Self { min, max })
    }
}

/// `"12.5MiB"` -> `(12.5, "MiB")`.
fn split_number(text: &str) -> Result<(f64, &str), String> {
    let text = text.trim();
    let split =
        text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_')).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: f64 = digits
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    Ok((number, unit.trim()))
}

/// Deserializes any of these from a string, and sizes also from a bare integer.
pub(crate) struct TextVisitor<T>(pub(crate) std::marker::PhantomData<T>);

impl<T: FromStr<Err = String>> Visitor<'_> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string with a unit, such as \"10ms\", \"4MiB\" or \"56kbit\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<T, E> {
        number.to_string().parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<T, E> {
        number.to_string().parse().map_err(E::custom)
    }
}

macro_rules! text_serde {
    ($($ty:ty),*) => {$(
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any($crate::scenario::units::TextVisitor(std::marker::PhantomData))
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    )*};
}

pub(crate) use text_serde;

text_serde!(Span, Size, Rate, Between<Span>);

impl fmt::Display for Span {
    /// The shortest exact form: `1500ms`, `5s`, `2m`, `14d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let units = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")];
        for (per, unit) in units {
            if ms >= per && ms % per == 0 {
                return write!(f, "{}{unit}", ms / per);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}bit", self.bits_per_sec)
    }
}

impl<T: fmt::Display + PartialEq> fmt::Display for Between<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!("10ms".parse(), Ok(Span(Duration::from_millis(10))));
        assert_eq!("1.5s".parse(), Ok(Span(Duration::from_millis(1500))));
        assert_eq!("14d".parse(), Ok(Span(Duration::from_secs(1_209_600))));
        assert!("10".parse::<Span>().is_err(), "a bare number has no unit");
        assert!("5 parsecs".parse::<Span>().is_err());
        assert!("-1s".parse::<Span>().is_err());
    }

    #[test]
    fn sizes_parse_in_both_prefix_systems() {
        assert_eq!("4MiB".parse(), Ok(Size(4 << 20)));
        assert_eq!("100MB".parse(), Ok(Size(100_000_000)));
        assert_eq!("1_000".parse(), Ok(Size(1000)));
        assert!("1.5B".parse::<Size>().is_err());
        assert!("1TiB".parse::<Size>().is_err());
    }

    #[test]
    fn rates_are_bits_per_second() {
        assert_eq!("56kbit".parse::<Rate>().unwrap().bits_per_sec, 56_000);
        assert_eq!("10Mbit/s".parse::<Rate>().unwrap().bits_per_sec, 10_000_000);
        assert!("10MB".parse::<Rate>().is_err());
    }

    #[test]
    fn ranges_parse_and_reject_inverted_bounds() {
        let range: Between<Span> = "1s..5s".parse().unwrap();
        assert_eq!((range.min.0.as_secs(), range.max.0.as_secs()), (1, 5));
        assert!("5s..1s".parse::<Between<Span>>().is_err());
        let single: Between<Span> = "3s".parse().unwrap();
        assert_eq!(single.min, single.max);
    }

    #[test]
    fn spans_display_in_their_shortest_exact_form() {
        for text in ["1500ms", "5s", "2m", "14d", "0ms"] {
            assert_eq!(text.parse::<Span>().unwrap().to_string(), text);
        }
    }
}
