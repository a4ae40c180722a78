//! Rows as text: the JSON Lines and CSV forms of a batch (`OUTPUT_FORMATS` `jsonl` and `csv`, and
//! the export's files), written by arrow's own CSV and JSON writers from the very batch that
//! becomes Parquet, so the forms cannot disagree on a row. Any batch of lake columns can be
//! written, the whole lake schema or a projection of it.
//!
//! Timestamps are RFC 3339 in UTC with milliseconds (`2026-11-24T12:59:00.100Z`); CSV follows
//! RFC 4180 (a header row, CRLF line ends, fields quoted when needed, quotes doubled).

use std::sync::Arc;

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
