//! A job file's `ranges`: bitsadmin's `/AddFileWithRanges` syntax (`"0:100,2000:100,5000:eof"`),
//! checked at load time by the rules `AddFileWithRanges` applies (spec §3.7), so a scenario
//! with overlapping ranges is refused with its file, line and field instead of running.

use std::fmt;
use std::str::FromStr;

use bitsim_engine::FileRange;
use bitsim_engine::core::ranges::{format_ranges, parse_ranges, validate_ranges};

/// The ranges of a job file, in the order given (the local file's order).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct FileRanges(pub Vec<FileRange>);

impl FromStr for FileRanges {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let field = "jobs.files.ranges";
        let ranges = parse_ranges(text).map_err(|error| format!("{field}: {error}"))?;
        validate_ranges(&ranges).map_err(|error| format!("{field}: {error}"))?;
        Ok(Self(ranges))
    }
}

impl fmt::Display for FileRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_ranges(&self.0))
    }
}

super::units::text_serde!(FileRanges);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_and_print_in_bitsadmin_syntax() {
        let ranges: FileRanges = "0:100,2000:100,5000:eof".parse().unwrap();
        assert_eq!(ranges.0.len(), 3);
        assert_eq!(ranges.to_string(), "0:100,2000:100,5000:eof");
    }

    #[test]
    fn a_bad_range_in_a_scenario_names_its_file_and_line() {
        let text = r#"
description = "x"
[[servers]]
name = "origin"
files = [{ path = "/a", size = 1000 }]
[[jobs]]
name = "job"
files = [{ remote = "http://origin/a", local = "/d/a",
           ranges = "100:0" }]
expect = { state = "ACKNOWLEDGED" }
"#;
        let error = crate::scenario::Scenario::parse(text, "bad.toml").unwrap_err();
        assert_eq!((error.path.as_str(), error.line, error.column), ("bad.toml", 9, 21), "{error}");
        assert!(error.message.contains("jobs.files.ranges"), "{error}");
        assert!(error.message.contains("BG_E_INVALID_RANGE"), "{error}");
    }

    #[test]
    fn bad_ranges_name_the_field_and_the_rule() {
        let overlap = "0:100,50:10".parse::<FileRanges>().unwrap_err();
        assert!(overlap.starts_with("jobs.files.ranges:"), "{overlap}");
        assert!(overlap.contains("BG_E_OVERLAPPING_RANGES"), "{overlap}");
        let syntax = "0-100".parse::<FileRanges>().unwrap_err();
        assert!(syntax.contains("offset:length"), "{syntax}");
        let empty = "5:0".parse::<FileRanges>().unwrap_err();
        assert!(empty.contains("BG_E_INVALID_RANGE"), "{empty}");
    }
}
