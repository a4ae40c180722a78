//! The lake's output formats (`OUTPUT_FORMATS`): Parquet always, and on request the same rows as
//! JSON Lines and CSV, for readers that want text, as the original pipeline wrote all three.
//!
//! Each format has its own root beside `users/` (`users_jsonl/`, `users_csv/`) and below it the
//! same partitions and file names as the Parquet object, only the extension differs. They do
//! not share `users/` because Athena (and Hive) read every object under a table's location with
//! the table's one format: a CSV file among the Parquet files would break every query of the
//! Glue `users` table.
//!
//! The text forms are written by arrow's own CSV and JSON writers from the very batch that
//! becomes Parquet, so the three cannot disagree on a row. Timestamps are RFC 3339 in UTC with
//! milliseconds (`2026-11-24T12:59:00.100Z`); CSV follows RFC 4180 (a header row, CRLF line
//! ends, fields quoted when needed, quotes doubled).

use std::{fmt, str::FromStr, sync::Arc};

use arrow::{
    array::{ArrayRef, AsArray},
    csv::{QuoteStyle, WriterBuilder as CsvWriterBuilder, writer::Terminator},
    datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType},
    error::ArrowError,
    json::{WriterBuilder as JsonWriterBuilder, writer::LineDelimited},
    record_batch::RecordBatch,
};

/// How timestamps are written in the text formats: RFC 3339, UTC, milliseconds.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

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

/// The zone the text writers see on timestamp columns: the lake's `UTC` as a fixed offset.
/// Arrow formats (and parses) a named zone only with its `chrono-tz` feature, a large
/// dependency for one name; the instants are the same and the format spells them with `Z`.
pub const TEXT_TIMEZONE: &str = "+00:00";

fn text_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Timestamp(TimeUnit::Millisecond, Some(_)) => Some(DataType::Timestamp(
            TimeUnit::Millisecond,
            Some(TEXT_TIMEZONE.into()),
        )),
        _ => None,
    }
}

/// The lake schema as the text formats carry it: timestamps in [`TEXT_TIMEZONE`]. Readers of
/// the JSON Lines and CSV objects can parse them with it.
pub fn text_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| match text_type(field.data_type()) {
            Some(data_type) => field.as_ref().clone().with_data_type(data_type),
            None => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The batch relabelled with [`text_schema`]: no value changes, buffers are shared.
fn for_text(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|column| match text_type(column.data_type()) {
            Some(_) => Arc::new(
                column
                    .as_primitive::<TimestampMillisecondType>()
                    .clone()
                    .with_timezone(TEXT_TIMEZONE),
            ) as ArrayRef,
            None => column.clone(),
        })
        .collect();
    RecordBatch::try_new(text_schema(&batch.schema()), columns)
}

/// The rows as JSON Lines: one object per row with the lake schema's column names.
pub fn jsonl(batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
    let mut writer = JsonWriterBuilder::new()
        .with_timestamp_tz_format(TIMESTAMP_FORMAT.into())
        .build::<_, LineDelimited>(Vec::with_capacity(batch.get_array_memory_size()));
    writer.write(&for_text(batch)?)?;
    writer.finish()?;
    Ok(writer.into_inner())
}

/// The rows as CSV (RFC 4180) with a header row of the lake schema's column names.
pub fn csv(batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
    let mut writer = CsvWriterBuilder::new()
        .with_header(true)
        .with_line_terminator(Terminator::CRLF)
        .with_quote_style(QuoteStyle::Necessary)
        .with_double_quote(true)
        .with_timestamp_tz_format(TIMESTAMP_FORMAT.into())
        .build(Vec::with_capacity(batch.get_array_memory_size()));
    writer.write(&for_text(batch)?)?;
    Ok(writer.into_inner())
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
