//! The table's data files: the lake's rows as Parquet that Iceberg readers accept. Two things
//! differ from the plain-files layout's objects: every column carries its Iceberg field id
//! (`PARQUET:field_id`), which readers match columns by, and timestamps are microseconds, the
//! unit of Iceberg's `timestamptz`. The rest (codec, dictionaries, statistics) is the lake's one
//! set of writer settings.

use std::{collections::BTreeMap, sync::Arc};

use arrow::{
    array::{Array, AsArray, RecordBatch, new_null_array},
    compute::{CastOptions, cast, cast_with_options, concat_batches},
    datatypes::{
        DataType, Field, Int32Type, Int64Type, Schema as ArrowSchema, TimeUnit,
        TimestampMicrosecondType,
    },
    error::ArrowError,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use parquet::{
    arrow::{PARQUET_FIELD_ID_META_KEY, arrow_reader::ParquetRecordBatchReaderBuilder},
    errors::ParquetError,
    file::properties::WriterProperties,
};

use crate::{manifest::DataFile, spec::Schema};

/// Hours since 1970-01-01T00:00Z: the value of Iceberg's `hour` transform.
pub fn hour_of(timestamp: DateTime<Utc>) -> i32 {
    timestamp.timestamp().div_euclid(3600) as i32
}

/// The partition's folder name, as Iceberg writers name it (`kafka_timestamp_hour=2026-12-07-08`).
pub fn partition_path(hour: i32) -> String {
    let start = DateTime::from_timestamp(i64::from(hour) * 3600, 0).unwrap_or_default();
    format!(
        "{}={}",
        crate::spec::PARTITION_FIELD_NAME,
        start.format("%Y-%m-%d-%H")
    )
}

/// Casts that fail on a value they cannot convert instead of making it null.
const STRICT: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: arrow::util::display::FormatOptions::new(),
};

fn timestamp_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The Arrow type a table column of Iceberg primitive type `iceberg` is written as (timestamps
/// in microseconds); `None` for a type the lake never writes.
pub fn arrow_type(iceberg: &str) -> Option<DataType> {
    Some(match iceberg {
        "string" => DataType::Utf8,
        "int" => DataType::Int32,
        "long" => DataType::Int64,
        "boolean" => DataType::Boolean,
        "float" => DataType::Float32,
        "double" => DataType::Float64,
        "date" => DataType::Date32,
        "timestamptz" => timestamp_micros(),
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        _ => return None,
    })
}

/// The lake's rows (the lake's Arrow schema, milliseconds) as the table stores them: each
/// column of `schema`, matched by name, with its field id, timestamps in microseconds.
/// A column of `schema` the batch lacks is all nulls when it is optional (a column another
/// writer added after this one was built) and an error when it is required; the batch's
/// columns `schema` lacks are dropped. Applied to a batch already in the table's form, it
/// changes nothing.
pub fn to_table_batch(batch: &RecordBatch, schema: &Schema) -> Result<RecordBatch, ArrowError> {
    let stored_schema = Arc::new(table_arrow_schema(schema)?);
    let mut columns = Vec::with_capacity(schema.fields.len());
    for (field, stored) in schema.fields.iter().zip(stored_schema.fields()) {
        let stored = stored.data_type();
        let column = match batch.column_by_name(&field.name) {
            Some(column) if column.data_type() == stored => column.clone(),
            // Milliseconds to microseconds, or another writer's string or zone spelling; a
            // value that does not convert is an error, never a null.
            Some(column) => cast_with_options(column, stored, &STRICT).map_err(|e| {
                ArrowError::SchemaError(format!(
                    "column {} is {} in the batch and {} in the table: {e}",
                    field.name,
                    column.data_type(),
                    field.field_type
                ))
            })?,
            None if !field.required => new_null_array(stored, batch.num_rows()),
            None => {
                return Err(ArrowError::SchemaError(format!(
                    "the batch has no column {}",
                    field.name
                )));
            }
        };
        columns.push(column);
    }
    RecordBatch::try_new(stored_schema, columns)
}

/// The Arrow schema of the table's data files for `schema`: its columns in order, each with
/// its field id, nullable where optional.
pub fn table_arrow_schema(schema: &Schema) -> Result<ArrowSchema, ArrowError> {
    let fields = schema
        .fields
        .iter()
        .map(|field| {
            let stored = arrow_type(&field.field_type).ok_or_else(|| {
                ArrowError::SchemaError(format!(
                    "column {} has type {}, which the lake does not write",
                    field.name, field.field_type
                ))
            })?;
            let id = std::collections::HashMap::from([(
                PARQUET_FIELD_ID_META_KEY.to_string(),
                field.id.to_string(),
            )]);
            Ok(Field::new(&field.name, stored, !field.required).with_metadata(id))
        })
        .collect::<Result<Vec<_>, ArrowError>>()?;
    Ok(ArrowSchema::new(fields))
}

/// The Iceberg primitive type a column of Arrow type `data_type` is stored as ([`arrow_type`]
/// the other way; milliseconds are stored as microseconds); `None` for a type the lake never
/// writes.
pub fn iceberg_type_of(data_type: &DataType) -> Option<&'static str> {
    Some(match data_type {
        DataType::Utf8 => "string",
        DataType::Int32 => "int",
        DataType::Int64 => "long",
        DataType::Boolean => "boolean",
        DataType::Float32 => "float",
        DataType::Float64 => "double",
        DataType::Date32 => "date",
        DataType::Timestamp(TimeUnit::Millisecond | TimeUnit::Microsecond, Some(_)) => {
            "timestamptz"
        }
        DataType::Timestamp(TimeUnit::Millisecond | TimeUnit::Microsecond, None) => "timestamp",
        _ => return None,
    })
}

/// The columns a writer of batches with these schemas writes: the lake's, then every further
/// column of the batches (first seen first), optional and typed from its Arrow type. Handed to
/// [`crate::Table::with_columns`], a column the table lacks is added before the append.
pub fn writer_columns<'a>(
    batches: impl IntoIterator<Item = &'a ArrowSchema>,
) -> Result<Schema, ArrowError> {
    let mut columns = crate::spec::lake_table_schema();
    for schema in batches {
        for field in schema.fields() {
            if columns.field(field.name()).is_some() {
                continue;
            }
            let field_type = iceberg_type_of(field.data_type()).ok_or_else(|| {
                ArrowError::SchemaError(format!(
                    "column {} is {}, which the table does not store",
                    field.name(),
                    field.data_type()
                ))
            })?;
            columns.fields.push(crate::spec::SchemaField {
                id: 0,
                name: field.name().clone(),
                required: false,
                field_type: field_type.into(),
                doc: None,
            });
        }
    }
    Ok(columns)
}

/// A table batch back in the lake's Arrow schema (timestamps in milliseconds), for the
/// readers built on the lake's rows (export, replay's checks, the tests). A nullable lake
/// column the file lacks (written before the column was added to the table) is all nulls;
/// the file's columns the lake lacks (added by a newer writer) are left out.
pub fn to_lake_batch(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let lake = lake::lake_schema();
    let columns = lake
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) => cast(column, field.data_type()),
            None if field.is_nullable() => Ok(new_null_array(field.data_type(), batch.num_rows())),
            None => Err(ArrowError::SchemaError(format!(
                "the data file has no column {}",
                field.name()
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(lake, columns)
}

/// Smallest and largest value of a column, in Iceberg's single-value binary form
/// (little-endian ints, longs and microsecond timestamps; UTF-8 strings).
fn bounds(batch: &RecordBatch, name: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let column = batch.column_by_name(name)?;
    if column.is_empty() {
        return None;
    }
    match column.data_type() {
        DataType::Int32 => {
            let values = column.as_primitive::<Int32Type>();
            let min = arrow::compute::min(values)?;
            let max = arrow::compute::max(values)?;
            Some((min.to_le_bytes().to_vec(), max.to_le_bytes().to_vec()))
        }
        DataType::Int64 => {
            let values = column.as_primitive::<Int64Type>();
            let min = arrow::compute::min(values)?;
            let max = arrow::compute::max(values)?;
            Some((min.to_le_bytes().to_vec(), max.to_le_bytes().to_vec()))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let values = column.as_primitive::<TimestampMicrosecondType>();
            let min = arrow::compute::min(values)?;
            let max = arrow::compute::max(values)?;
            Some((min.to_le_bytes().to_vec(), max.to_le_bytes().to_vec()))
        }
        DataType::Utf8 => {
            let values = column.as_string::<i32>();
            let min = arrow::compute::min_string(values)?;
            let max = arrow::compute::max_string(values)?;
            Some((min.as_bytes().to_vec(), max.as_bytes().to_vec()))
        }
        _ => None,
    }
}

/// Columns whose bounds go into the manifest: where each file sits on the topic and in time, and
/// the two dates of the record; readers prune by them and the offset check looks rows up by them.
pub const BOUNDED_COLUMNS: [&str; 6] = [
    "dob",
    "registered_date",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
];

/// A data file encoded and described, ready to store and to list in a manifest.
#[derive(Debug, Clone)]
pub struct EncodedFile {
    pub body: Vec<u8>,
    pub data_file: DataFile,
}

/// Encodes a table batch (from [`to_table_batch`]) whose rows share one hour of Kafka time as
/// one Parquet data file at `file_path`.
pub fn encode(
    batch: &RecordBatch,
    schema: &Schema,
    hour: i32,
    file_path: String,
    properties: &WriterProperties,
) -> Result<EncodedFile, ParquetError> {
    let body = lake::writer::encode(batch, properties, &[])?;
    let mut lower_bounds = BTreeMap::new();
    let mut upper_bounds = BTreeMap::new();
    let mut value_counts = BTreeMap::new();
    let mut null_value_counts = BTreeMap::new();
    for field in &schema.fields {
        if let Some(column) = batch.column_by_name(&field.name) {
            value_counts.insert(field.id, column.len() as i64);
            null_value_counts.insert(field.id, column.null_count() as i64);
        }
    }
    for name in BOUNDED_COLUMNS {
        if let (Some(field), Some((low, high))) = (schema.field(name), bounds(batch, name)) {
            lower_bounds.insert(field.id, low);
            upper_bounds.insert(field.id, high);
        }
    }
    Ok(EncodedFile {
        data_file: DataFile {
            file_path,
            partition_hour: Some(hour),
            record_count: batch.num_rows() as i64,
            file_size_in_bytes: body.len() as i64,
            value_counts,
            null_value_counts,
            lower_bounds,
            upper_bounds,
        },
        body,
    })
}

/// Every row of a data file, as one batch in the lake's Arrow schema.
pub fn decode(body: Bytes) -> Result<RecordBatch, ParquetError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)?.build()?;
    let batches = reader
        .map(|b| b.and_then(|b| to_lake_batch(&b)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(concat_batches(&lake::lake_schema(), &batches)?)
}

/// Every row of a data file in the table's form for `schema` ([`to_table_batch`]): what a
/// rewrite reads, so that it keeps every column the table has, including those added after
/// the rewriting code was built.
pub fn decode_table(body: Bytes, schema: &Schema) -> Result<RecordBatch, ParquetError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)?.build()?;
    let batches = reader
        .map(|b| b.and_then(|b| to_table_batch(&b, schema)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(concat_batches(
        &Arc::new(table_arrow_schema(schema)?),
        &batches,
    )?)
}

/// A little-endian integer bound of `width` bytes, widened to i64.
pub fn bound_value(bytes: &[u8]) -> Option<i64> {
    match bytes.len() {
        4 => Some(i32::from_le_bytes(bytes.try_into().ok()?).into()),
        8 => Some(i64::from_le_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_writers_columns_are_the_lakes_then_each_further_batch_column_once() {
        use arrow::datatypes::Field;
        // given two batches' schemas, each with the lake's columns and more
        let with = |extra: Vec<Field>| {
            let mut fields: Vec<Field> = (lake::lake_schema().fields().iter())
                .map(|f| f.as_ref().clone())
                .collect();
            fields.extend(extra);
            ArrowSchema::new(fields)
        };
        let first = with(vec![Field::new("nationality", DataType::Utf8, true)]);
        let second = with(vec![
            Field::new("nationality", DataType::Utf8, true),
            Field::new("seen_at", timestamp_micros(), true),
        ]);

        // when the writer's columns are taken from both
        let columns = writer_columns([&first, &second]).unwrap();

        // then they are the lake's and the two added, optional, once each
        let lake = crate::spec::lake_table_schema();
        assert_eq!(columns.fields[..lake.fields.len()], lake.fields[..]);
        let added: Vec<(&str, &str, bool)> = columns.fields[lake.fields.len()..]
            .iter()
            .map(|f| (f.name.as_str(), f.field_type.as_str(), f.required))
            .collect();
        assert_eq!(
            added,
            [
                ("nationality", "string", false),
                ("seen_at", "timestamptz", false)
            ]
        );
        // and a column of a type the table does not store is refused by name
        let odd = with(vec![Field::new("blob", DataType::Binary, true)]);
        let err = writer_columns([&odd]).unwrap_err().to_string();
        assert!(err.contains("blob"), "{err}");
    }

    use super::*;
    use crate::spec::lake_table_schema;
    use lake::{LakeRow, RowsBuilder};
    use parquet::{basic::Compression, file::reader::FileReader};

    fn rows() -> RecordBatch {
        let mut builder = RowsBuilder::default();
        for offset in 3..6 {
            builder.push_row(&LakeRow {
                record: user_record::UserRecord::from_json_owned(
                    format!(
                        r#"{{"id":"6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e{offset:02x}","first_name":"A","last_name":"B",
                        "gender":"female","address":"1 Main St","post_code":"0567","email":"a@b.c",
                        "username":"a","dob":"1987-05-04T10:11:12.345Z",
                        "registered_date":"2015-02-03T04:05:06Z","phone":"22","picture":"https://x/p.jpg"}}"#
                    )
                    .as_bytes(),
                )
                .unwrap(),
                topic: "users_created".into(),
                partition: 1,
                offset,
                timestamp: DateTime::from_timestamp_millis(1_795_525_198_100 + offset).unwrap(),
            });
        }
        builder.finish().unwrap()
    }

    #[test]
    fn a_data_file_carries_field_ids_microseconds_and_bounds_and_reads_back() {
        let schema = lake_table_schema();
        let lake_batch = rows();
        let table_batch = to_table_batch(&lake_batch, &schema).unwrap();
        let properties = lake::writer::writer_properties(Compression::SNAPPY, "test");
        let hour = hour_of(DateTime::from_timestamp_millis(1_795_525_198_100).unwrap());
        let file = encode(
            &table_batch,
            &schema,
            hour,
            "s3://b/f.parquet".into(),
            &properties,
        )
        .unwrap();
        assert_eq!(file.data_file.record_count, 3);
        assert_eq!(bound_value(&file.data_file.lower_bounds[&15]), Some(3));
        assert_eq!(bound_value(&file.data_file.upper_bounds[&15]), Some(5));
        assert_eq!(bound_value(&file.data_file.lower_bounds[&14]), Some(1));
        assert_eq!(file.data_file.lower_bounds[&13], b"users_created");

        let reader = parquet::file::serialized_reader::SerializedFileReader::new(Bytes::from(
            file.body.clone(),
        ))
        .unwrap();
        let parquet_schema = reader.metadata().file_metadata().schema_descr();
        let ids: Vec<i32> = parquet_schema
            .columns()
            .iter()
            .map(|c| c.self_type().get_basic_info().id())
            .collect();
        assert_eq!(ids, (1..=16).collect::<Vec<_>>());
        let dob = parquet_schema.column(8);
        assert!(
            format!("{:?}", dob.logical_type_ref()).contains("MICROS"),
            "{:?}",
            dob.logical_type_ref()
        );
        assert_eq!(decode(Bytes::from(file.body)).unwrap(), lake_batch);
    }

    #[test]
    fn a_column_the_rows_lack_is_null_when_optional_and_an_error_when_required() {
        // given the table's schema with one more, optional, column
        let mut schema = lake_table_schema();
        schema.fields.push(crate::spec::SchemaField {
            id: 17,
            name: "nationality".into(),
            required: false,
            field_type: "string".into(),
            doc: None,
        });

        // when rows without it are laid out in that schema
        let table_batch = to_table_batch(&rows(), &schema).unwrap();

        // then the column is there, all null, with its field id
        let column = table_batch.column_by_name("nationality").unwrap();
        assert_eq!(column.null_count(), 3);
        let field = table_batch
            .schema()
            .field_with_name("nationality")
            .unwrap()
            .clone();
        assert_eq!(field.metadata()[PARQUET_FIELD_ID_META_KEY], "17");
        assert!(field.is_nullable());
        // and laying it out again changes nothing; reading it back as the lake's rows drops it
        assert_eq!(to_table_batch(&table_batch, &schema).unwrap(), table_batch);
        assert_eq!(to_lake_batch(&table_batch).unwrap(), rows());

        // but when the column is required, the rows do not fit
        schema.fields[16].required = true;
        let error = to_table_batch(&rows(), &schema).unwrap_err();
        assert!(
            error.to_string().contains("no column nationality"),
            "{error}"
        );
    }

    #[test]
    fn a_value_that_does_not_convert_to_the_tables_type_is_an_error_not_a_null() {
        // given rows whose kafka_partition is text, one value not a number
        let batch = rows();
        let mut columns = batch.columns().to_vec();
        let index = batch.schema().index_of("kafka_partition").unwrap();
        columns[index] = Arc::new(arrow::array::StringArray::from(vec!["1", "x", "3"]));
        let mut fields = batch.schema().fields().to_vec();
        fields[index] = Arc::new(Field::new("kafka_partition", DataType::Utf8, false));
        let batch = RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), columns).unwrap();

        // when they are laid out in the table's schema, where it is an int
        let error = to_table_batch(&batch, &lake_table_schema()).unwrap_err();

        // then the column is named, and no value became a null
        assert!(
            error.to_string().contains("column kafka_partition"),
            "{error}"
        );
    }

    #[test]
    fn partition_paths_name_the_hour_as_iceberg_writers_do() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T08:59:59Z").unwrap();
        let hour = hour_of(at.with_timezone(&Utc));
        assert_eq!(partition_path(hour), "kafka_timestamp_hour=2026-12-07-08");
        let before_1970 = DateTime::parse_from_rfc3339("1969-12-31T23:30:00Z").unwrap();
        assert_eq!(hour_of(before_1970.with_timezone(&Utc)), -1);
    }
}
