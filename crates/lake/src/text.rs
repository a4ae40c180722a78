//! Rows as text: the JSON Lines and CSV forms of a batch (`OUTPUT_FORMATS` `jsonl` and `csv`, and
//! the export's files), written by arrow's own CSV and JSON writers from the very batch that
//! becomes Parquet, so the forms cannot disagree on a row. Any batch of lake columns can be
//! written, the whole lake schema or a projection of it.
//!
//! Timestamps are RFC 3339 in UTC with milliseconds (`2026-11-24T12:59:00.100Z`); CSV follows
//! RFC 4180 (a header row, fields quoted when needed, quotes doubled), with CRLF line ends in the
//! lake and the line ends pandas writes on Linux (LF) in the export ([`LineEnd`]).

use std::sync::Arc;

use arrow::{
    array::{ArrayRef, AsArray},
    csv::{QuoteStyle, WriterBuilder as CsvWriterBuilder, writer::Terminator},
    datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType},
    error::ArrowError,
    json::{
        WriterBuilder as JsonWriterBuilder,
        writer::{JsonArray, LineDelimited},
    },
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

/// The rows as one JSON array of objects, indented by two spaces and with non-ASCII text kept
/// as it is: what Python's `json.dump(rows, f, indent=2, ensure_ascii=False)` writes, so
/// `json.load` and `pd.read_json(path)` read it as they read the original pipeline's file. A
/// null is written as `null`, as Python writes `None`.
pub fn json_array(batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
    let mut writer = JsonWriterBuilder::new()
        .with_timestamp_tz_format(TIMESTAMP_FORMAT.into())
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(Vec::with_capacity(batch.get_array_memory_size()));
    writer.write(&for_text(batch)?)?;
    writer.finish()?;
    let json_error = |e: serde_json::Error| ArrowError::JsonError(e.to_string());
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&writer.into_inner()).map_err(json_error)?;
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let ordered: Vec<InColumnOrder> = (rows.iter())
        .map(|row| InColumnOrder { names: &names, row })
        .collect();
    let mut out = serde_json::to_vec_pretty(&ordered).map_err(json_error)?;
    out.push(b'\n');
    Ok(out)
}

/// A parsed row written back with its keys in the batch's column order (serde_json's map
/// sorts them).
struct InColumnOrder<'a> {
    names: &'a [&'a str],
    row: &'a serde_json::Map<String, serde_json::Value>,
}

impl serde::Serialize for InColumnOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.names.len()))?;
        for name in self.names {
            map.serialize_entry(
                name,
                self.row.get(*name).unwrap_or(&serde_json::Value::Null),
            )?;
        }
        map.end()
    }
}

/// How CSV lines end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    /// `\r\n`, as RFC 4180 has it: the lake's CSV objects.
    Crlf,
    /// `\n`, as pandas' `to_csv` writes on Linux: the export's `users_data.csv`.
    Lf,
}

/// The rows as CSV (RFC 4180) with a header row of the lake schema's column names.
pub fn csv(batch: &RecordBatch, line_end: LineEnd) -> Result<Vec<u8>, ArrowError> {
    let terminator = match line_end {
        LineEnd::Crlf => Terminator::CRLF,
        LineEnd::Lf => Terminator::Any(b'\n'),
    };
    let mut writer = CsvWriterBuilder::new()
        .with_header(true)
        .with_line_terminator(terminator)
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
    use arrow::array::StringArray;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("city", DataType::Utf8, true),
        ]);
        let names = StringArray::from(vec!["Zoë", "Ørsted, \"Jr\""]);
        let cities = StringArray::from(vec![Some("Oslo"), None]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(names), Arc::new(cities)]).unwrap()
    }

    #[test]
    fn a_json_array_is_indented_by_two_and_keeps_non_ascii_text() {
        // given two rows with non-ASCII text, when written as a JSON array
        let written = String::from_utf8(json_array(&batch()).unwrap()).unwrap();

        // then it is what Python's json.dump(rows, f, indent=2, ensure_ascii=False) writes:
        // columns in the batch's order, a null as null
        assert_eq!(
            written,
            "[\n  {\n    \"name\": \"Zoë\",\n    \"city\": \"Oslo\"\n  },\n  {\n    \"name\": \"Ørsted, \\\"Jr\\\"\",\n    \"city\": null\n  }\n]\n"
        );
    }

    #[test]
    fn csv_lines_end_as_asked() {
        // given two rows, when written with each line end
        let crlf = String::from_utf8(csv(&batch(), LineEnd::Crlf).unwrap()).unwrap();
        let lf = String::from_utf8(csv(&batch(), LineEnd::Lf).unwrap()).unwrap();

        // then only the line ends differ, and quoting is RFC 4180's
        assert_eq!(lf, "name,city\nZoë,Oslo\n\"Ørsted, \"\"Jr\"\"\",\n");
        assert_eq!(crlf, lf.replace('\n', "\r\n"));
    }
}
