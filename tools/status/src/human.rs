//! The status as a table for people (`--table`).

use chrono::{DateTime, Utc};

use crate::{
    ErrorsStatus, InvocationsStatus, KafkaView, LakeStatus, LakeView, Status, TableStatus,
};

/// The status as a table for people.
pub fn table(status: &Status) -> String {
    let mut out = String::new();
    let at = status.at.format("%Y-%m-%d %H:%M:%S UTC");
    match &status.kafka {
        KafkaView::Reached(kafka) => {
            out.push_str(&format!(
                "{at}  topic {} (group {}): lag {}\n",
                kafka.topic, kafka.group, kafka.lag
            ));
            out.push_str("  partition        end  committed        lag\n");
            for p in &kafka.partitions {
                let committed = p.committed.map_or("-".to_string(), |c| c.to_string());
                out.push_str(&format!(
                    "  {:>9} {:>10} {:>10} {:>10}\n",
                    p.partition, p.end, committed, p.lag
                ));
            }
        }
        KafkaView::Unreachable(kafka) => out.push_str(&format!(
            "{at}  topic {} (group {}): Kafka unreachable ({}): {}\n",
            kafka.topic, kafka.group, kafka.error_type, kafka.reason
        )),
    }
    match &status.lake {
        LakeView::Files(lake) => files_table(lake, &mut out),
        LakeView::Table(table) => table_table(table, &mut out),
    }
    if let Some(invocations) = &status.invocations {
        invocations_table(invocations, &mut out);
    }
    out
}

fn invocations_table(invocations: &InvocationsStatus, out: &mut String) {
    if let Some(reason) = &invocations.unreadable {
        out.push_str(&format!(
            "invocations: {} unreadable: {reason}\n",
            invocations.log.display()
        ));
        return;
    }
    out.push_str("invocations (from the functions log)\n");
    for f in &invocations.functions {
        let last = f.last.first();
        let outcome = last.map_or("-".to_string(), |i| {
            let at =
                i.at.map_or("?".to_string(), |t| t.format("%H:%M:%S").to_string());
            match &i.error_type {
                Some(kind) if !i.ok => format!("failed {at} ({kind})"),
                _ if !i.ok => format!("failed {at}"),
                _ => format!("ok {at}"),
            }
        });
        out.push_str(&format!(
            "  {:<10} {:>6} invocations, {:>4} failed; last: {outcome}\n",
            f.function, f.invocations, f.failed
        ));
    }
}

fn files_table(lake: &LakeStatus, out: &mut String) {
    out.push_str(&format!(
        "lake ({}): {} objects, {} records ({} rows, of which {} counted twice: in an original and the merged object replacing it)\n",
        lake.topic, lake.objects, lake.records, lake.rows, lake.rows_counted_twice
    ));
    if let Some(note) = &lake.topic_note {
        out.push_str(&format!("  note: {note}\n"));
    }
    errors_table(&lake.errors, out);
    out.push_str("  hour                      originals  merged       rows  counted twice\n");
    for h in &lake.hours {
        out.push_str(&format!(
            "  {:<25} {:>9} {:>7} {:>10} {:>14}\n",
            h.hour, h.originals, h.merged, h.rows, h.rows_counted_twice
        ));
    }
    match &lake.last_compaction {
        Some(c) => out.push_str(&format!(
            "last compaction: {} at {}\n",
            c.key,
            c.at.map_or("an unknown time".to_string(), |t| t.to_rfc3339())
        )),
        None => out.push_str("last compaction: none\n"),
    }
}

fn table_table(table: &TableStatus, out: &mut String) {
    let time = |t: Option<DateTime<Utc>>| {
        t.map_or("an unknown time".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        })
    };
    out.push_str(&format!("table {} ({})\n", table.location, table.catalog));
    match (&table.metadata_location, table.snapshot_id) {
        (None, _) => out.push_str("  not created yet\n"),
        (Some(_), None) => out.push_str(&format!("  no snapshot yet ({} kept)\n", table.snapshots)),
        (Some(_), Some(id)) => out.push_str(&format!(
            "  snapshot {id} ({}) at {}: {} records in {} data files; {} snapshots kept\n",
            table.operation.as_deref().unwrap_or("?"),
            time(table.snapshot_at),
            table.records,
            table.data_files,
            table.snapshots
        )),
    }
    if table.records != table.table_records {
        out.push_str(&format!(
            "  {} of its {} records are of topic {}\n",
            table.records, table.table_records, table.topic
        ));
    }
    if let Some(note) = &table.topic_note {
        out.push_str(&format!("  note: {note}\n"));
    }
    errors_table(&table.errors, out);
    if !table.hours.is_empty() {
        out.push_str("  hour                          files       rows\n");
        for h in &table.hours {
            out.push_str(&format!("  {:<25} {:>9} {:>10}\n", h.hour, h.files, h.rows));
        }
    }
    if !table.marks.is_empty() {
        let lag = table.lag.map_or(String::new(), |l| format!(": lag {l}"));
        out.push_str(&format!("  offset marks{lag}\n"));
        out.push_str("  topic                  partition       mark        end        lag\n");
        let or_dash = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
        for m in &table.marks {
            out.push_str(&format!(
                "  {:<22} {:>9} {:>10} {:>10} {:>10}\n",
                m.topic,
                m.partition,
                or_dash(m.mark),
                or_dash(m.end),
                or_dash(m.lag)
            ));
        }
    }
    match &table.last_compaction {
        Some(c) => {
            let count = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
            out.push_str(&format!(
                "last compaction: snapshot {} at {}, {} data files replaced by {}\n",
                c.snapshot_id,
                time(c.at),
                count(c.files_removed),
                count(c.files_added)
            ));
        }
        None => out.push_str("last compaction: none\n"),
    }
}

fn errors_table(errors: &ErrorsStatus, out: &mut String) {
    out.push_str(&format!(
        "  _errors/: {} objects, {} records\n",
        errors.error_objects, errors.error_records
    ));
    for (reason, n) in &errors.error_reasons {
        out.push_str(&format!("    {n:>6}  {reason}\n"));
    }
}
