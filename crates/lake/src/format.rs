//! The lake's output formats (`OUTPUT_FORMATS`): Parquet always, and on request the same rows as
//! JSON Lines and CSV, for readers that want text, as the original pipeline wrote all three.
//!
//! Each format has its own root beside `users/` (`users_jsonl/`, `users_csv/`) and below it the
//! same partitions and file names as the Parquet object; only the extension differs. They do
//! not share `users/` because Athena (and Hive) read every object under a table's location with
//! the table's one format: a CSV file among the Parquet files would break every query of the
//! Glue `users` table.

use std::{fmt, str::FromStr};

/// One way of writing a slot's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutputFormat {
    Parquet,
    Jsonl,
    Csv,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 3] = [
        OutputFormat::Parquet,
        OutputFormat::Jsonl,
        OutputFormat::Csv,
    ];

    /// The name in `OUTPUT_FORMATS`, also the file extension.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "parquet",
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Csv => "csv",
        }
    }

    /// The directory under the lake prefix that holds this format's partitions.
    pub fn root(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "users",
            OutputFormat::Jsonl => "users_jsonl",
            OutputFormat::Csv => "users_csv",
        }
    }

    /// The `Content-Type` its objects are stored with.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "application/vnd.apache.parquet",
            OutputFormat::Jsonl => "application/x-ndjson",
            OutputFormat::Csv => "text/csv; charset=utf-8; header=present",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let value = value.trim().to_ascii_lowercase();
        OutputFormat::ALL
            .into_iter()
            .find(|format| format.name() == value)
            .ok_or_else(|| format!("unknown format {value:?}; the formats are parquet, jsonl, csv"))
    }
}

/// Parses `parquet[,jsonl][,csv]` (any order, any case, spaces allowed) into the formats in
/// their fixed order, each once. Parquet must be among them: it is what the Glue table, the
/// compactor and the queries read; the others are extra copies.
pub fn parse_formats(value: &str) -> Result<Vec<OutputFormat>, String> {
    let mut formats = value
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<OutputFormat>, String>>()?;
    formats.sort_unstable();
    formats.dedup();
    if !formats.contains(&OutputFormat::Parquet) {
        return Err(
            "must include parquet (the lake's table format); jsonl and csv are added to it".into(),
        );
    }
    Ok(formats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_in_any_order_and_case_into_a_fixed_order() {
        assert_eq!(parse_formats("parquet"), Ok(vec![OutputFormat::Parquet]));
        assert_eq!(
            parse_formats(" CSV, parquet ,jsonl,csv"),
            Ok(OutputFormat::ALL.to_vec())
        );
    }

    #[test]
    fn unknown_empty_or_parquet_less_sets_are_refused() {
        assert!(
            parse_formats("parquet,avro")
                .unwrap_err()
                .contains("\"avro\"")
        );
        assert!(parse_formats("parquet,").is_err());
        assert!(
            parse_formats("jsonl,csv")
                .unwrap_err()
                .contains("must include parquet")
        );
    }
}
